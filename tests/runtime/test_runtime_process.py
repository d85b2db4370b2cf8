"""The process runtime runs real lab workloads as child processes."""
from __future__ import annotations

import asyncio
import ipaddress
import os
import signal
import stat
import sys
import textwrap
import time
import urllib.request

import pytest

from swarmlab.runtime import FileMount, HealthCheck, TaskState

from runtime_helpers import arun, live_pids, pids_with_env

FAST_CHECK = HealthCheck(("CMD", "python3", "-m", "swarmlab.workloads.healthcheck"),
                         interval_s=0.3, timeout_s=2.0, retries=2, start_period_s=5.0)


def http_get(addr: str, port: int, path: str = "/", timeout: float = 3.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://{addr}:{port}{path}", timeout=timeout) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


async def aget(addr: str, port: int, path: str = "/") -> tuple[int, str]:
    return await asyncio.to_thread(http_get, addr, port, path)


def py(code: str) -> tuple[str, ...]:
    return ("python3", "-c", textwrap.dedent(code))


def test_web_runs_on_its_own_address_and_passes_its_health_check(node):
    executor, spec, _ = node

    async def scenario():
        ex = executor()
        states = []
        ctl = ex.controller(spec(healthcheck=FAST_CHECK), on_status=lambda s: states.append(s))
        await ctl.start()
        assert ctl.status.state == TaskState.RUNNING, ctl.status
        assert [s.state.value for s in states] == ["preparing", "ready", "starting", "running"]
        assert ctl.health().status == "healthy"
        addr, port = ctl.endpoint(80)
        assert ipaddress.IPv4Address(addr) >= ex.addresses.first and addr != "127.0.0.1"
        code, body = await aget(addr, port)
        assert code == 200 and f"task={ctl.spec.task_name}" in body and "web v1" in body
        await ex.close()
        assert ctl.status.state == TaskState.SHUTDOWN

    arun(scenario())


def test_replicas_on_one_node_all_bind_port_80(node):
    executor, spec, _ = node

    async def scenario():
        ex = executor()
        ctls = [ex.controller(spec(healthcheck=FAST_CHECK)) for _ in range(3)]
        await asyncio.gather(*(c.start() for c in ctls))
        endpoints = {c.endpoint(80) for c in ctls}
        assert len(endpoints) == 3 and {p for _, p in endpoints} == {80 if ex.privileged else 10080}
        names = {(await aget(*ep))[1].split()[2] for ep in endpoints}
        assert names == {f"task={c.spec.task_name}" for c in ctls}
        await ex.close()

    arun(scenario())


def test_broken_image_goes_unhealthy_and_fails(node):
    executor, spec, _ = node

    async def scenario():
        ex = executor()
        ctl = ex.controller(spec("swarmlab/web:broken", env=("SWARMLAB_BROKEN_AFTER=1",),
                                 healthcheck=FAST_CHECK, stop_grace_period_s=2))
        await ctl.start()
        assert ctl.status.state == TaskState.RUNNING  # healthy at first, as in a rollout
        final = await asyncio.wait_for(ctl.wait(), 10)
        assert final.state == TaskState.FAILED
        assert final.err == "task: unhealthy container"
        assert ctl.health().status == "unhealthy" and ctl.health().failing_streak >= 2
        assert live_pids([ctl.pid]) == []
        await ex.close()

    arun(scenario())


def test_unhealthy_from_the_start_never_runs(node):
    executor, spec, _ = node

    async def scenario():
        ex = executor()
        never = HealthCheck(("CMD-SHELL", "exit 1"), interval_s=0.2, timeout_s=1, retries=2)
        ctl = ex.controller(spec(healthcheck=never, stop_grace_period_s=1))
        await ctl.start()
        assert ctl.status.state == TaskState.FAILED and ctl.status.err == "task: unhealthy container"
        assert TaskState.RUNNING not in [s.state for s in ctl.history]
        await ex.close()

    arun(scenario())


@pytest.mark.parametrize("code, state, err", [
    (0, TaskState.COMPLETE, ""),
    (1, TaskState.FAILED, "task: non-zero exit (1)"),
    (3, TaskState.FAILED, "task: non-zero exit (3)"),
])
def test_exit_codes_map_to_complete_and_failed(node, code, state, err):
    executor, spec, _ = node

    async def scenario():
        ex = executor()
        ctl = ex.controller(spec("swarmlab/worker:1", command=py(f"import sys; sys.exit({code})")))
        await ctl.start()
        final = await ctl.wait()
        assert (final.state, final.err, final.exit_code) == (state, err, code)
        assert final.message == ("finished" if code == 0 else "started")
        await ex.close()

    arun(scenario())


def test_killed_task_reports_exit_137(node):
    executor, spec, _ = node

    async def scenario():
        ex = executor()
        ctl = ex.controller(spec("swarmlab/worker:1", command=py("import time; time.sleep(30)")))
        await ctl.start()
        os.kill(ctl.pid, signal.SIGKILL)
        final = await ctl.wait()
        assert final.state == TaskState.FAILED and final.err == "task: non-zero exit (137)"
        await ex.close()

    arun(scenario())


def test_stop_grace_period_then_sigkill(node):
    executor, spec, _ = node
    stubborn = py("""
        import signal, time
        signal.signal(signal.SIGTERM, lambda *a: print("got SIGTERM, ignoring", flush=True))
        print("ready", flush=True)
        time.sleep(60)
    """)

    async def scenario():
        ex = executor()
        ctl = ex.controller(spec("swarmlab/worker:1", command=stubborn, stop_grace_period_s=1.0))
        await ctl.start()
        await wait_for_log(ctl, "ready")
        t0 = time.monotonic()
        await ctl.shutdown()
        took = time.monotonic() - t0
        assert 0.9 <= took < 4, took
        assert ctl.status.state == TaskState.SHUTDOWN and ctl.status.exit_code == 137
        assert any("got SIGTERM" in ln.line for ln in ctl.logs())
        await ex.close()

    arun(scenario())


def test_web_stops_on_sigterm_well_within_grace(node):
    executor, spec, _ = node

    async def scenario():
        ex = executor()
        ctl = ex.controller(spec(healthcheck=FAST_CHECK, stop_grace_period_s=10))
        await ctl.start()
        t0 = time.monotonic()
        await ctl.shutdown()
        assert time.monotonic() - t0 < 3
        assert ctl.status.state == TaskState.SHUTDOWN and ctl.status.exit_code == 0
        await ex.close()

    arun(scenario())


async def wait_for_log(ctl, text: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not any(text in ln.line for ln in ctl.logs()):
        assert time.monotonic() < deadline, f"{text!r} never logged: {ctl.logs()}"
        await asyncio.sleep(0.05)


def test_logs_are_captured_with_streams_and_timestamps(node):
    executor, spec, _ = node
    chatty = py("""
        import sys
        for i in range(5):
            print(f"out {i}", flush=True)
        print("oops", file=sys.stderr, flush=True)
        print("x" * 40000, flush=True)
    """)

    async def scenario():
        ex = executor()
        ctl = ex.controller(spec("swarmlab/worker:1", command=chatty))
        t0 = time.time()
        await ctl.start()
        await ctl.wait()
        lines = ctl.logs()
        assert [ln.line for ln in lines if ln.stream == "stdout"][:5] == [f"out {i}" for i in range(5)]
        assert [ln.line for ln in lines if ln.stream == "stderr"] == ["oops"]
        long = [len(ln.line) for ln in lines if ln.line.startswith("x")]
        assert long == [16384, 16384, 40000 - 32768]  # cut at 16 KiB, as Docker does
        assert all(t0 - 1 <= ln.timestamp <= time.time() for ln in lines)
        assert ctl.logs(tail=2) == lines[-2:]  # stdout and stderr interleave as they come
        assert ctl.logs(since=lines[-1].timestamp)[-1] == lines[-1]
        assert lines[0].format(timestamps=True).endswith("Z out 0")
        followed = [ln async for ln in ctl.log_buffer.follow(tail=3)]
        assert followed == lines[-3:]  # the output has ended: follow stops by itself
        await ex.close()

    arun(scenario())


def test_secrets_are_in_the_tasks_view_with_mode_and_gone_after_remove(node):
    executor, spec, _ = node

    async def scenario():
        ex = executor()
        secrets = (FileMount("password", b"hunter2", uid=1000, gid=1000, mode=0o400),
                   FileMount("api/token", b"tok", mode=0o440))
        configs = (FileMount("/app.conf", b"debug=1", mode=0o444),)
        ctl = ex.controller(spec(secrets=secrets, configs=configs, healthcheck=FAST_CHECK))
        await ctl.start()
        path = ctl.files.secrets_dir / "password"
        st = os.stat(path)
        assert stat.S_IMODE(st.st_mode) == 0o400 and (st.st_uid, st.st_gid) == (1000, 1000)
        assert path.read_bytes() == b"hunter2"
        assert stat.S_IMODE(os.stat(ctl.files.secrets_dir / "api" / "token").st_mode) == 0o440
        assert (ctl.files.root / "app.conf").read_bytes() == b"debug=1"
        assert str(ctl.files.root).startswith("/dev/shm/")
        code, body = await aget(*ctl.endpoint(80), "/secret/password")
        assert (code, body) == (200, "hunter2")
        for part in ("environ", "cmdline"):  # never in the task's environment or arguments
            assert b"hunter2" not in open(f"/proc/{ctl.pid}/{part}", "rb").read()
        await ctl.shutdown()
        await ctl.wait()
        # stopped, not yet removed (the task history keeps it): its files are gone already
        assert ctl.files.root.exists() and not path.exists()
        assert not (ctl.files.root / "app.conf").exists()
        await ctl.remove()
        assert not ctl.files.root.exists()
        await ex.close()

    arun(scenario())


@pytest.mark.skipif(os.geteuid() != 0, reason="needs mount namespaces (root)")
def test_task_sees_run_secrets_hosts_and_hostname_in_its_own_namespace(node):
    executor, spec, _ = node
    probe = py("""
        import socket, os
        print(open("/run/secrets/password").read())
        print(socket.gethostname())
        print(sorted({a[4][0] for a in socket.getaddrinfo("kv", 80, proto=6)}))
        try:
            open("/run/secrets/password", "w")
        except OSError as exc:
            print("read-only", exc.errno)
    """)

    async def scenario():
        ex = executor()
        assert ex.isolate
        ex.set_names({"kv": ["127.200.0.1", "127.200.0.2"]})
        ctl = ex.controller(spec("swarmlab/worker:1", command=probe, hostname="myhost",
                                 secrets=(FileMount("password", b"pw", mode=0o400),)))
        await ctl.start()
        final = await ctl.wait()
        lines = [ln.line for ln in ctl.logs()]
        assert final.state == TaskState.COMPLETE, lines
        assert lines[:3] == ["pw", "myhost", "['127.200.0.1', '127.200.0.2']"]
        assert lines[3].startswith("read-only 30")  # EROFS
        assert not os.path.exists("/run/secrets/password")  # the host's view is untouched
        await ex.close()

    arun(scenario())


def test_unknown_image_is_rejected_with_dockers_message(node):
    executor, spec, _ = node

    async def scenario():
        ex = executor()
        ctl = ex.controller(spec("swarmlab/nope:1"))
        await ctl.start()
        assert ctl.status.state == TaskState.REJECTED
        assert ctl.status.err == "No such image: swarmlab/nope:1"
        assert ctl.pid == 0 and len(ex.addresses) == 0
        bad = ex.controller(spec("swarmlab/web:1", command=("no-such-program",)))
        await bad.start()
        assert bad.status.state == TaskState.REJECTED and "executable file not found" in bad.status.err
        odd = ex.controller(spec(healthcheck=HealthCheck(("SHELL", "true"))))
        await odd.start()
        assert odd.status.state == TaskState.REJECTED and "invalid health check" in odd.status.err
        await ex.close()

    arun(scenario())


def test_no_process_left_after_close_even_grandchildren(node):
    executor, spec, marker = node
    forks = ("/bin/sh", "-c", "sleep 60 & sleep 60 & echo started; wait")

    async def scenario():
        ex = executor()
        ctls = [ex.controller(spec("swarmlab/worker:1", command=forks)) for _ in range(2)]
        ctls.append(ex.controller(spec(healthcheck=FAST_CHECK)))
        for ctl in ctls:
            await ctl.start()
        await wait_for_log(ctls[0], "started")
        assert len(pids_with_env(marker)) >= 7  # 2 x (sh + 2 sleeps) + web
        await ex.close()
        assert pids_with_env(marker) == []

    arun(scenario())


def test_tasks_die_with_a_killed_agent(node, tmp_path):
    """`lab kill` SIGKILLs a node agent: its tasks must not live on (PDEATHSIG)."""
    _, spec, marker = node
    agent = tmp_path / "agent.py"
    agent.write_text(textwrap.dedent(f"""
        import asyncio, sys, time
        from swarmlab.runtime import ProcessExecutor, TaskRuntimeSpec
        async def main():
            ex = ProcessExecutor("{spec().node_name}", node_index=154)
            ctl = ex.controller(TaskRuntimeSpec("killtest1", "w.1.killtest1", "w", "n",
                                "swarmlab/worker:1", command=("sleep", "60"), env=("{marker}",)))
            await ctl.start()
            print(ctl.pid, flush=True)
            await asyncio.sleep(60)
        asyncio.run(main())
    """))

    async def scenario():
        proc = await asyncio.create_subprocess_exec(sys.executable, str(agent),
                                                    stdout=asyncio.subprocess.PIPE)
        task_pid = int(await asyncio.wait_for(proc.stdout.readline(), 20))
        assert live_pids([task_pid]) == [task_pid]
        proc.kill()
        await proc.wait()
        deadline = time.monotonic() + 5
        while live_pids([task_pid]) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert live_pids([task_pid]) == []

    arun(scenario())


def test_shutdown_while_starting_leaves_no_process(node):
    executor, spec, _ = node

    async def scenario():
        ex = executor()
        ctl = ex.controller(spec(healthcheck=FAST_CHECK))
        starting = asyncio.ensure_future(ctl.start())
        while ctl.status.state < TaskState.STARTING:
            await asyncio.sleep(0)
        await ctl.shutdown()
        await starting
        final = await ctl.wait()
        assert final.state == TaskState.SHUTDOWN
        assert ctl.pid == 0 or live_pids([ctl.pid]) == []
        await ex.close()

    arun(scenario())


def test_exec_health_check_runs_in_the_tasks_view(node):
    executor, spec, _ = node
    # passes only where the task's secrets are visible, as `docker exec` would see them
    in_view = HealthCheck(("CMD-SHELL", 'test "$(cat "$SWARMLAB_SECRETS_DIR/flag")" = up'),
                          interval_s=0.2, timeout_s=2, retries=2)

    async def scenario():
        ex = executor()
        ctl = ex.controller(spec(healthcheck=in_view, secrets=(FileMount("flag", b"up"),)))
        await ctl.start()
        assert ctl.status.state == TaskState.RUNNING and ctl.health().status == "healthy"
        await ex.close()

    arun(scenario())
