"""The Docker runtime inside a real Docker-in-Docker node: tasks are containers of the
node's own dockerd, driven by the same protocol and checked like the process runtime.

How: one DinD node per module (the backend's `start_nodes`, with the code mounted),
the lab images loaded into it (`distribute`). Each scenario below runs INSIDE the
node (`python3 <this file> <scenario>`), where the agent would run: the executor
talks to the node's dockerd on its unix socket, and the node process reaches the
tasks at their addresses, as the node's mesh does. A scenario returns what it saw
as JSON; the pytest tests on the host assert on it, then check through the node's
Engine API that no task container or network is left.
"""
from __future__ import annotations

import asyncio
import json
import os
import sys
import textwrap
import time
import urllib.error
import urllib.request

try:
    import pytest
except ImportError:  # inside the node: only the scenarios run there
    pytest = None

NODE, PEER = "rt1", "rt2"
NODE_INDEX, PEER_INDEX = 7, 8
FAST = dict(interval_s=0.5, timeout_s=3.0, retries=2, start_period_s=5.0)
SCENARIOS = {}


def scenario(fn):
    SCENARIOS[fn.__name__] = fn
    return fn


# ============================== in the node ==============================================
def http_get(addr: str, port: int, path: str = "/", timeout: float = 15.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://{addr}:{port}{path}", timeout=timeout) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


async def aget(addr: str, port: int, path: str = "/") -> tuple[int, str]:
    return await asyncio.to_thread(http_get, addr, port, path)


def py(code: str) -> tuple[str, ...]:
    return ("python3", "-c", textwrap.dedent(code))


class Specs:
    def __init__(self) -> None:
        self.slot = 0

    def __call__(self, image: str = "swarmlab/web:1", service: str = "www", fast: bool = False, **kw):
        from swarmlab.runtime import HealthCheck, TaskRuntimeSpec
        self.slot += 1
        task_id = f"{os.urandom(12).hex()}x"[:25]
        if fast:
            kw["healthcheck"] = HealthCheck(("CMD", "python3", "-m", "swarmlab.workloads.healthcheck"),
                                            **FAST)
        return TaskRuntimeSpec(task_id=task_id, task_name=f"{service}.{self.slot}.{task_id}",
                               service_name=service, node_name=NODE, image=image, **kw)


def states(ctl) -> list[str]:
    return [s.state.value for s in ctl.history]


def final(ctl) -> dict:
    s = ctl.status
    return {"state": s.state.value, "message": s.message, "err": s.err, "exit_code": s.exit_code}


async def in_container(ex, ctl, *cmd: str) -> tuple[int, str]:
    container = ex.client.containers.get(ctl.container_id)
    res = await ex.call(container.exec_run, list(cmd))
    return res.exit_code, res.output.decode(errors="replace")


async def inspect(ex, ctl) -> dict:
    return await ex.call(ex.client.api.inspect_container, ctl.container_id)


async def wait_for_log(ctl, text: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not any(text in ln.line for ln in ctl.logs()):
        assert time.monotonic() < deadline, f"{text!r} never logged: {ctl.logs()}"
        await asyncio.sleep(0.05)


@scenario
async def web(ex, spec, node_address):
    seen = []
    ctls = [ex.controller(spec(fast=True), on_status=seen.append), ex.controller(spec(fast=True))]
    t0 = time.monotonic()
    await asyncio.gather(*(c.start() for c in ctls))
    took = time.monotonic() - t0
    answers = [await aget(*c.endpoint(80)) for c in ctls]
    info = await inspect(ex, ctls[0])
    await ex.close()
    return {"states": [s.state.value for s in seen], "health": ctls[0].health().status,
            "endpoints": [c.endpoint(80) for c in ctls], "answers": answers,
            "names": [c.spec.task_name for c in ctls], "hostname": ctls[0].hostname,
            "container_id": ctls[0].container_id, "name": info["Name"],
            "labels": info["Config"]["Labels"], "restart": info["HostConfig"]["RestartPolicy"],
            "networks": {k: v["IPAddress"] for k, v in info["NetworkSettings"]["Networks"].items()},
            "start_s": took, "after_close": final(ctls[0]), "subnet": ex.subnet}


@scenario
async def broken(ex, spec, node_address):
    ctl = ex.controller(spec("swarmlab/web:broken", env=("SWARMLAB_BROKEN_AFTER=1",), fast=True,
                             stop_grace_period_s=2))
    await ctl.start()
    running = ctl.status.state.value
    end = await asyncio.wait_for(ctl.wait(), 20)
    info = await inspect(ex, ctl)
    from swarmlab.runtime import HealthCheck
    never = ex.controller(spec(healthcheck=HealthCheck(("CMD-SHELL", "exit 1"), interval_s=0.3,
                                                       timeout_s=2, retries=2),
                               stop_grace_period_s=1))
    await never.start()
    return {"first": running, "final": final(ctl), "health": ctl.health().status,
            "streak": ctl.health().failing_streak, "health_log": list(ctl.health().log),
            "running_after": info["State"]["Running"], "never": final(never),
            "never_states": states(never)}


@scenario
async def exit_codes(ex, spec, node_address):
    out = {}
    ctls = {code: ex.controller(spec("swarmlab/worker:1", command=py(f"import sys; sys.exit({code})")))
            for code in (0, 1, 3)}
    for code, ctl in ctls.items():
        await ctl.start()
        await asyncio.wait_for(ctl.wait(), 20)
        out[str(code)] = final(ctl)
    sleeper = ex.controller(spec("swarmlab/worker:1", command=py("import time; time.sleep(60)")))
    await sleeper.start()
    await ex.call(ex.client.api.kill, sleeper.container_id)   # as the OOM killer would
    out["killed"] = final(await asyncio.wait_for(sleeper.wait(), 20) and sleeper)
    return out


@scenario
async def stop_grace(ex, spec, node_address):
    stubborn = py("""
        import signal, time
        signal.signal(signal.SIGTERM, lambda *a: print("got SIGTERM, ignoring", flush=True))
        print("ready", flush=True)
        time.sleep(60)
    """)
    ctl = ex.controller(spec("swarmlab/worker:1", command=stubborn, stop_grace_period_s=2.0))
    await ctl.start()
    await wait_for_log(ctl, "ready")
    t0 = time.monotonic()
    await ctl.shutdown()
    stubborn_s = time.monotonic() - t0
    await ctl.wait()
    web_ctl = ex.controller(spec(fast=True, stop_grace_period_s=10))
    await web_ctl.start()
    stop_timeout = (await inspect(ex, web_ctl))["Config"].get("StopTimeout")
    t0 = time.monotonic()
    await web_ctl.shutdown()
    web_s = time.monotonic() - t0
    return {"stubborn_s": stubborn_s, "stubborn": final(ctl),
            "stubborn_logs": [ln.line for ln in ctl.logs()], "web_s": web_s,
            "web": final(web_ctl), "stop_timeout": stop_timeout}


@scenario
async def logs(ex, spec, node_address):
    chatty = py("""
        import sys
        for i in range(5):
            print(f"out {i}", flush=True)
        print("oops", file=sys.stderr, flush=True)
        print("x" * 40000, flush=True)
    """)
    ctl = ex.controller(spec("swarmlab/worker:1", command=chatty))
    t0 = time.time()
    await ctl.start()
    await asyncio.wait_for(ctl.wait(), 20)
    lines = ctl.logs()
    followed = [ln async for ln in ctl.log_buffer.follow(tail=3)]
    return {"t0": t0, "t1": time.time(),
            "lines": [[ln.timestamp, ln.stream, ln.line] for ln in lines],
            "tail2": [ln.line for ln in ctl.logs(tail=2)],
            "since_last": [ln.line for ln in ctl.logs(since=lines[-1].timestamp)],
            "formatted": [ln for ln in lines if ln.stream == "stdout"][0].format(timestamps=True),
            "followed": [ln.line for ln in followed], "final": final(ctl)}


@scenario
async def secrets(ex, spec, node_address):
    from swarmlab.runtime import FileMount
    from swarmlab.runtime.process.executor import filesystem_type
    files = dict(secrets=(FileMount("password", b"hunter2", uid=1000, gid=1000, mode=0o400),
                          FileMount("api/token", b"tok", mode=0o440)),
                 configs=(FileMount("/app.conf", b"debug=1", mode=0o444),))
    ctl = ex.controller(spec(fast=True, **files))
    await ctl.start()
    seen = {"state": ctl.status.state.value, "root": str(ctl.files.root),
            "root_fs": filesystem_type(ctl.files.root)}
    for key, cmd in {"stat": ("stat", "-c", "%a %u %g", "/run/secrets/password"),
                     "read": ("cat", "/run/secrets/password"),
                     "token": ("stat", "-c", "%a", "/run/secrets/api/token"),
                     "config": ("cat", "/app.conf"),
                     "mountinfo": ("cat", "/proc/self/mountinfo"),
                     "write": ("sh", "-c", "echo x > /run/secrets/password")}.items():
        seen[key] = await in_container(ex, ctl, *cmd)
    seen["http"] = await aget(*ctl.endpoint(80), "/secret/password")
    info = await inspect(ex, ctl)
    seen["env_or_args"] = "hunter2" in json.dumps([info["Config"], info["Args"]])
    on_disk = [info["GraphDriver"]["Data"].get("UpperDir", ""), f"/var/lib/docker/containers/{info['Id']}"]
    grep = await asyncio.create_subprocess_exec("grep", "-rl", "hunter2", *on_disk,
                                                stdout=asyncio.subprocess.PIPE)
    seen["on_disk"] = (await grep.communicate())[0].decode().split()
    await ctl.shutdown()
    await ctl.remove()
    seen["root_after_remove"] = os.path.exists(ctl.files.root)
    return seen


@scenario
async def names(ex, spec, node_address):
    probe = py("""
        import socket, time
        print(socket.gethostname())
        print(sorted({a[4][0] for a in socket.getaddrinfo("kv", 80, proto=6)}))
        time.sleep(1.5)
        print(sorted({a[4][0] for a in socket.getaddrinfo("kv", 80, proto=6)}))
    """)
    ex.set_names({"kv": ["10.200.99.1", "10.200.99.2"]})
    named = ex.controller(spec("swarmlab/worker:1", command=probe, hostname="myhost"))
    await named.start()
    await wait_for_log(named, "['10.200")
    ex.set_names({"kv": ["10.200.99.3"]})          # rewritten in place, seen at once
    await asyncio.wait_for(named.wait(), 20)
    plain = ex.controller(spec("swarmlab/worker:1", command=("hostname",)))
    await plain.start()
    await asyncio.wait_for(plain.wait(), 20)
    return {"named": [ln.line for ln in named.logs()], "plain": [ln.line for ln in plain.logs()],
            "plain_id": plain.container_id}


@scenario
async def ports_and_limits(ex, spec, node_address):
    from swarmlab.runtime import PortConfig, Resources
    host_port = PortConfig(80, 18080, publish_mode="host")
    ctl = ex.controller(spec(fast=True, ports=(host_port,),
                             resources=Resources(nano_cpus=500_000_000, memory_bytes=64 << 20)))
    await ctl.start()
    answer = await aget(node_address, 18080)
    second = ex.controller(spec(ports=(host_port,)))
    await second.start()
    info = await inspect(ex, ctl)
    limit = await in_container(ex, ctl, "cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes")
    return {"answer": answer, "second": final(second),
            "nano_cpus": info["HostConfig"]["NanoCpus"], "memory": info["HostConfig"]["Memory"],
            "cgroup_limit": limit}


@scenario
async def rejected(ex, spec, node_address):
    from swarmlab.runtime import HealthCheck
    nope = ex.controller(spec("swarmlab/nope:1"))
    await nope.start()
    bad = ex.controller(spec("swarmlab/web:1", command=("no-such-program",)))
    await bad.start()
    odd = ex.controller(spec(healthcheck=HealthCheck(("SHELL", "true"))))
    await odd.start()
    left = await ex.call(ex.client.containers.list, all=True)
    return {"nope": final(nope), "nope_states": states(nope), "nope_container": nope.container_id,
            "bad": final(bad), "odd": final(odd), "addresses": len(ex.addresses),
            "containers": [c.name for c in left]}


@scenario
async def remove(ex, spec, node_address):
    ctl = ex.controller(spec(fast=True))
    await ctl.start()
    before = [c.name for c in await ex.call(ex.client.containers.list, all=True)]
    await ctl.shutdown()
    await ctl.remove()
    after = [c.name for c in await ex.call(ex.client.containers.list, all=True)]
    early = ex.controller(spec(fast=True))
    starting = asyncio.ensure_future(early.start())
    while early.status.state.value not in ("starting", "rejected"):
        await asyncio.sleep(0.01)
    await early.shutdown()
    await starting
    return {"name": ctl.spec.task_name, "before": before, "after": after,
            "files": os.path.exists(ctl.files.root), "early": final(await early.wait() and early),
            "early_states": states(early)}


@scenario
async def replicas(ex, spec, node_address, count: int):
    """`count` web tasks started together. The image's own check (2 s timeout, 2
    retries) starts python3 per probe; ten at once on two loaded cores miss that
    timeout and Docker rightly calls them unhealthy, so this uses a roomier one."""
    import threading
    from swarmlab.runtime import HealthCheck
    roomy = HealthCheck(("CMD", "python3", "-m", "swarmlab.workloads.healthcheck"),
                        interval_s=2.0, timeout_s=15.0, retries=3, start_period_s=30.0)
    ctls = [ex.controller(spec(healthcheck=roomy)) for _ in range(count)]
    t0 = time.monotonic()
    await asyncio.gather(*(c.start() for c in ctls))
    took = time.monotonic() - t0
    threads = threading.active_count()    # before this scenario's own HTTP threads
    answers = []
    for c in ctls:
        try:
            answers.append(await aget(*c.endpoint(80)))
        except OSError as exc:
            answers.append((0, f"{c.status.state.value} {c.status.err}: {exc}"))
    t0 = time.monotonic()
    await ex.close()
    return {"start_s": took, "close_s": time.monotonic() - t0, "threads": threads,
            "states": sorted({states(c)[-2] for c in ctls}),
            "addresses": len({c.address for c in ctls}),
            "answered": sum(code == 200 for code, _ in answers),
            "failures": [text for code, text in answers if code != 200]}


@scenario
async def peer_serve(ex, spec, node_address):
    """On the second node: one web task, its address told, kept until told to stop."""
    ctl = ex.controller(spec(fast=True))
    await ctl.start()
    print(f"READY {ctl.address}", flush=True)
    deadline = time.monotonic() + 90
    while not os.path.exists("/tmp/peer-stop") and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    return {"state": ctl.status.state.value, "address": ctl.address}


async def ip_routes() -> str:
    proc = await asyncio.create_subprocess_exec("ip", "route", stdout=asyncio.subprocess.PIPE)
    return (await proc.communicate())[0].decode()


@scenario
async def peer_fetch(ex, spec, node_address, peer_index: int, peer_address: str, target: str):
    """On the first node: route to the peer's task network, then reach its task."""
    await ex.set_peers({NODE_INDEX: node_address, peer_index: peer_address})
    routes = await ip_routes()
    answer = await aget(target, 80)
    await ex.close()
    return {"answer": answer, "routes": routes, "routes_after_close": await ip_routes()}


@scenario
async def contract(ex, spec, node_address):
    """The runtime contract suite (tests/runtime/runtime_contract.py), on this runtime;
    each check on a fresh executor."""
    from runtime_contract import Images, run_all

    from swarmlab.runtime.dockerapi.executor import DockerExecutor
    images = Images(runs="swarmlab/web:1", exits=lambda code: {
        "image": "swarmlab/worker:1", "command": py(f"import sys; sys.exit({code})")})
    return await run_all(
        lambda: DockerExecutor(NODE, node_index=NODE_INDEX, node_address=node_address),
        lambda image="swarmlab/web:1", **kw: spec(image, **kw), images)


async def run_scenario(name: str, node_address: str, kwargs: dict) -> dict:
    from swarmlab.runtime.dockerapi.executor import DockerExecutor
    global NODE
    NODE = kwargs.pop("node", NODE)
    ex = DockerExecutor(NODE, node_index=kwargs.pop("index", NODE_INDEX), node_address=node_address)
    try:
        return await SCENARIOS[name](ex, Specs(), node_address, **kwargs)
    finally:
        await ex.close()


if __name__ == "__main__" and len(sys.argv) >= 3:
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
    KWARGS = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}
    RESULT = asyncio.run(asyncio.wait_for(run_scenario(sys.argv[1], sys.argv[2], KWARGS), 150))
    print("RESULT " + json.dumps(RESULT), flush=True)


# ============================== on the host (pytest) =====================================
if pytest is not None:
    pytestmark = [pytest.mark.timeout(900)]
    IN_NODE = "/opt/swarmlab-test"

    def copy_in(node, files: dict[str, bytes]) -> None:
        import io
        import tarfile
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            for path, data in files.items():
                info = tarfile.TarInfo(path)
                info.size, info.mode = len(data), 0o644
                tar.addfile(info, io.BytesIO(data))
        node.exec("mkdir", "-p", IN_NODE)
        assert node.container.get_wrapped_container().put_archive(IN_NODE, buf.getvalue())

    def harness_files() -> dict[str, bytes]:
        """This file, and prometheus_client (pure Python), which the node image lacks
        but `swarmlab.runtime` imports through the mesh."""
        from pathlib import Path

        import prometheus_client
        files = {"scenarios.py": Path(__file__).read_bytes(),
                 "runtime_contract.py": (Path(__file__).parents[1] / "runtime" /
                                         "runtime_contract.py").read_bytes()}
        pkg = Path(prometheus_client.__file__).parent
        for path in pkg.rglob("*.py"):
            files[f"lib/prometheus_client/{path.relative_to(pkg)}"] = path.read_bytes()
        return files

    @pytest.fixture(scope="module")
    def rt_nodes(images, docker_host):
        """Two DinD nodes (started in parallel), the lab images loaded, this file in."""
        import secrets as tokens

        from swarmlab.lab.dind import distribute, leftovers, prune, start_nodes
        from swarmlab.lab.dind.nodes import NodeOptions
        from swarmlab.runtime.dockerapi.spec import dockerd_bip, task_subnet
        lab = f"r{tokens.token_hex(3)}"
        # NODE's dockerd has its default bridge on its task subnet, as a lab's nodes do;
        # PEER's dockerd does not, so its tasks go on a user-defined bridge instead
        bip = {NODE: NodeOptions(env={"SWARMLAB_DOCKERD_ARGS": dockerd_bip(task_subnet(NODE_INDEX))})}
        try:
            nodes = start_nodes(lab, [NODE, PEER], dev_code=True,
                                options=lambda name: bip.get(name, NodeOptions()))
            distribute(nodes)
            for node in nodes:
                copy_in(node, harness_files())
            yield nodes
        finally:
            prune(lab)
            assert leftovers(lab) == {"containers": [], "networks": [], "volumes": []}

    @pytest.fixture
    def rt_node(rt_nodes):
        return rt_nodes[0]

    def scenario_argv(node, name: str, **kwargs) -> list[str]:
        return ["python3", f"{IN_NODE}/scenarios.py", name, node.address,
                json.dumps({"node": node.name, **kwargs})]

    def result_of(name: str, code: int, out: str) -> dict:
        results = [ln for ln in out.splitlines() if ln.startswith("RESULT ")]
        assert code == 0 and results, f"scenario {name} failed in the node:\n{out}"
        return json.loads(results[-1][len("RESULT "):])

    def assert_clean(node) -> None:
        """Nothing of the runtime left in the node: containers, network, tmpfs."""
        client = node.client()
        assert client.containers.list(all=True, filters={"label": "swarmlab.runtime.node"}) == []
        assert client.networks.list(names=["swarmlab_tasks"]) == []
        _, mounts = node.exec("cat", "/proc/mounts")
        assert f"/run/swarmlab/{node.name}" not in mounts

    def in_node(node, name: str, **kwargs) -> dict:
        """Run one scenario in the node; then nothing of the runtime may be left there."""
        seen = result_of(name, *node.exec(*scenario_argv(node, name, **kwargs)))
        assert_clean(node)
        return seen

    @pytest.mark.docker
    def test_web_task_runs_on_the_task_network_with_swarms_names(rt_node, measure):
        seen = in_node(rt_node, "web")
        assert seen["states"] == ["preparing", "ready", "starting", "running", "shutdown"]
        assert seen["health"] == "healthy" and seen["after_close"]["state"] == "shutdown"
        (addr1, port1), (addr2, port2) = seen["endpoints"]
        assert addr1 != addr2 and port1 == port2 == 80     # two replicas, both on port 80
        assert seen["subnet"] == f"10.200.{NODE_INDEX}.0/24" and addr1.startswith("10.200.7.")
        assert seen["networks"] == {"bridge": addr1}      # the default bridge, as Swarm's
        for (code, body), name in zip(seen["answers"], seen["names"]):
            assert code == 200 and body.startswith(f"web v1 task={name} node={NODE} host=")
        assert seen["hostname"] == seen["container_id"][:12]   # Docker's default hostname
        assert seen["name"] == "/" + seen["names"][0]            # <service>.<slot>.<task id>
        labels = seen["labels"]
        assert labels["com.docker.swarm.service.name"] == "www"
        assert labels["com.docker.swarm.task.name"] == seen["names"][0]
        assert labels["com.docker.swarm.task.id"] == seen["names"][0].rsplit(".", 1)[1]
        assert labels["com.docker.swarm.node.id"] == NODE
        assert seen["restart"]["Name"] == "no"          # restarting is the orchestrator's job
        measure("docker runtime: 2 web tasks healthy", f"{seen['start_s']:.1f}s")

    @pytest.mark.docker
    def test_broken_image_goes_unhealthy_and_fails(rt_node):
        seen = in_node(rt_node, "broken")
        assert seen["first"] == "running"             # healthy at first, as in a rollout
        assert seen["final"]["state"] == "failed" and seen["final"]["err"] == "task: unhealthy container"
        assert seen["health"] == "unhealthy" and seen["streak"] >= 2
        assert seen["running_after"] is False         # stopped with its grace period
        assert seen["never"]["state"] == "failed"
        assert seen["never"]["err"] == "task: unhealthy container"
        assert "running" not in seen["never_states"]

    @pytest.mark.docker
    def test_exit_codes_map_to_complete_and_failed(rt_node):
        seen = in_node(rt_node, "exit_codes")
        assert seen["0"] == {"state": "complete", "message": "finished", "err": "", "exit_code": 0}
        for code in (1, 3):
            assert seen[str(code)] == {"state": "failed", "message": "started",
                                       "err": f"task: non-zero exit ({code})", "exit_code": code}
        assert seen["killed"]["state"] == "failed"
        assert seen["killed"]["err"] == "task: non-zero exit (137)"

    @pytest.mark.docker
    def test_stop_grace_period_then_sigkill(rt_node):
        seen = in_node(rt_node, "stop_grace")
        assert 1.9 <= seen["stubborn_s"] < 6, seen["stubborn_s"]
        assert seen["stubborn"]["state"] == "shutdown" and seen["stubborn"]["exit_code"] == 137
        assert "got SIGTERM, ignoring" in seen["stubborn_logs"]
        assert seen["web_s"] < 4 and seen["web"]["state"] == "shutdown"
        assert seen["web"]["exit_code"] == 0          # the web workload exits on SIGTERM
        assert seen["stop_timeout"] == 10             # `docker stop` from the node honours it too

    @pytest.mark.docker
    def test_logs_have_streams_timestamps_and_dockers_16k_split(rt_node):
        seen = in_node(rt_node, "logs")
        lines = seen["lines"]
        assert [ln for _, s, ln in lines if s == "stdout"][:5] == [f"out {i}" for i in range(5)]
        assert [ln for _, s, ln in lines if s == "stderr"] == ["oops"]
        assert [len(ln) for _, _, ln in lines if ln.startswith("x")] == [16384, 16384, 40000 - 32768]
        assert all(seen["t0"] - 2 <= t <= seen["t1"] + 1 for t, _, _ in lines)
        assert [t for t, _, _ in lines] == sorted(t for t, _, _ in lines)   # Docker's order
        assert seen["tail2"] == [ln for _, _, ln in lines][-2:]
        assert seen["since_last"][-1] == lines[-1][2]
        assert seen["formatted"].endswith("Z out 0")
        assert len(seen["followed"]) == 3    # follow() stops by itself: the output has ended
        assert seen["final"]["state"] == "complete"

    @pytest.mark.docker
    def test_secrets_are_read_only_files_on_a_tmpfs_and_never_on_disk(rt_node):
        seen = in_node(rt_node, "secrets")
        assert seen["state"] == "running"
        assert seen["root_fs"] == "tmpfs" and seen["root"].startswith(f"/run/swarmlab/{NODE}/")
        assert seen["stat"] == [0, "400 1000 1000\n"]
        assert seen["read"] == [0, "hunter2"]
        assert seen["token"] == [0, "440\n"]
        assert seen["config"] == [0, "debug=1"]
        mounts = {ln.split()[4]: ln for ln in seen["mountinfo"][1].splitlines()}
        assert mounts["/run/secrets/password"].split()[5].split(",")[0] == "ro"   # mount options
        assert " - tmpfs " in mounts["/run/secrets/password"]
        assert " - tmpfs " in mounts["/app.conf"]
        assert seen["write"][0] != 0 and "Read-only" in seen["write"][1]
        assert seen["http"] == [200, "hunter2"]
        assert seen["env_or_args"] is False and seen["on_disk"] == []
        assert seen["root_after_remove"] is False

    @pytest.mark.docker
    def test_service_names_and_hostname_in_the_container(rt_node):
        seen = in_node(rt_node, "names")
        assert seen["named"] == ["myhost", "['10.200.99.1', '10.200.99.2']", "['10.200.99.3']"]
        assert seen["plain"] == [seen["plain_id"][:12]]

    @pytest.mark.docker
    def test_host_mode_port_and_resource_limits(rt_node):
        seen = in_node(rt_node, "ports_and_limits")
        code, body = seen["answer"]
        assert code == 200 and body.startswith("web v1")
        assert seen["second"]["state"] == "rejected"
        assert "port is already allocated" in seen["second"]["err"]
        assert seen["nano_cpus"] == 500_000_000 and seen["memory"] == 64 << 20
        assert seen["cgroup_limit"] == [0, f"{64 << 20}\n"]

    @pytest.mark.docker
    def test_ten_replicas_start_together_on_one_node(rt_node, measure):
        seen = in_node(rt_node, "replicas", count=10)
        assert seen["failures"] == [] and seen["states"] == ["running"]
        assert seen["addresses"] == seen["answered"] == 10
        assert seen["threads"] <= 1 + 1 + 8 + 2 * 10      # main, events, pool, 2 log streams each
        measure("docker runtime: 10 web tasks healthy (python3 check every 2 s)",
                f"{seen['start_s']:.1f}s; all removed in {seen['close_s']:.1f}s; "
                f"{seen['threads']} threads in the agent")

    @pytest.mark.docker
    def test_unknown_image_and_bad_specs_are_rejected(rt_node):
        seen = in_node(rt_node, "rejected")
        assert seen["nope"] == {"state": "rejected", "message": "preparing",
                                "err": "No such image: swarmlab/nope:1", "exit_code": None}
        assert seen["nope_states"] == ["accepted", "preparing", "rejected"]
        assert seen["nope_container"] == ""           # never created, never pulled
        assert seen["bad"]["state"] == "rejected"
        assert seen["bad"]["err"].startswith("starting container failed:")
        assert "executable file not found" in seen["bad"]["err"]
        assert seen["odd"]["state"] == "rejected"
        assert seen["addresses"] == 0 and seen["containers"] == []

    @pytest.mark.docker
    def test_the_runtime_contract_holds(rt_node):
        from pathlib import Path
        sys.path.insert(0, str(Path(__file__).parents[1] / "runtime"))
        from runtime_contract import CHECKS  # the same file as in the node: the check names
        seen = in_node(rt_node, "contract")
        assert seen == {name: "ok" for name in CHECKS}

    def test_remove_leaves_no_container(rt_node):
        seen = in_node(rt_node, "remove")
        assert seen["name"] in seen["before"] and seen["after"] == [] and seen["files"] is False
        assert seen["early"]["state"] == "shutdown" and "running" not in seen["early_states"]

    @pytest.mark.docker
    def test_a_task_on_another_node_is_reached_through_its_route(rt_nodes):
        """The mesh of one node reaches tasks on the others: each node's task subnet is
        its own, routed through that node (set_peers)."""
        one, two = rt_nodes
        wrapped = two.container.get_wrapped_container()
        api = wrapped.client.api          # the host's engine, where the node container runs
        two.exec("rm", "-f", "/tmp/peer-stop")
        exec_id = api.exec_create(wrapped.id, scenario_argv(two, "peer_serve", index=PEER_INDEX))
        output = api.exec_start(exec_id["Id"], stream=True)
        text, address = "", ""
        try:
            for chunk in output:
                text += chunk.decode()
                address = next((ln.split()[1] for ln in text.splitlines()
                                if ln.startswith("READY ") and ln.count(".") == 3), "")
                if address:
                    break
            assert address.startswith(f"10.200.{PEER_INDEX}."), text
            seen = in_node(one, "peer_fetch", index=NODE_INDEX, peer_index=PEER_INDEX,
                           peer_address=two.address, target=address)
        finally:
            two.exec("touch", "/tmp/peer-stop")
            for chunk in output:
                text += chunk.decode()
        code = api.exec_inspect(exec_id["Id"])["ExitCode"]
        assert result_of("peer_serve", code, text)["state"] == "running"
        assert_clean(two)
        status, body = seen["answer"]
        assert status == 200 and body.startswith(f"web v1 task=www.1.") and f"node={PEER}" in body
        assert f"10.200.{PEER_INDEX}.0/24 via {two.address}" in seen["routes"]
        assert f"10.200.{NODE_INDEX}.0/24 dev" in seen["routes"]      # our own bridge
        assert "unreachable 10.200.0.0/16" in seen["routes"]         # the rest goes nowhere
        after = seen["routes_after_close"]
        kept = {" ".join(ln.split()[:3]) for ln in after.splitlines() if "10.200." in ln}
        assert kept <= {f"10.200.{NODE_INDEX}.0/24 dev docker0",  # dockerd's own bridge
                        "unreachable 10.200.0.0/16"}, after       # kept: nothing may leak later
        assert "unreachable 10.200.0.0/16" in after


    # -- the pure part (docker_spec): no engine needed ---------------------------------
    def test_spec_becomes_swarms_container_config():
        from swarmlab.runtime import HealthCheck, TaskRuntimeSpec, TaskState
        import swarmlab.runtime.dockerapi.spec as ds
        spec = TaskRuntimeSpec("t1", "www.1.t1", "www", "n1", "swarmlab/web:1",
                               env=("A=1", "SWARMLAB_NODE=mine"))
        assert ds.container_labels(spec, "NODEID")["com.docker.swarm.task.name"] == "www.1.t1"
        assert ds.container_env(spec) == ["A=1", "SWARMLAB_NODE=mine", "SWARMLAB_TASK_NAME=www.1.t1"]
        check = HealthCheck(("CMD", "true"), interval_s=0.5, timeout_s=2, retries=3, start_period_s=1)
        assert ds.healthcheck_config(check) == {"Test": ["CMD", "true"], "Interval": 500_000_000,
                                                "Timeout": 2 * ds.NS, "Retries": 3,
                                                "StartPeriod": ds.NS}
        assert ds.healthcheck_config(HealthCheck(("NONE",))) == {"Test": ["NONE"]}
        assert ds.healthcheck_config(None) is None
        assert not ds.has_healthcheck({"Test": ["NONE"]}) and ds.has_healthcheck({"Test": ["CMD", "x"]})
        assert [ds.stop_timeout_s(g) for g in (0, 0.2, 1.0, 2.5)] == [0, 1, 1, 3]
        assert ds.exit_status(0, False) == (TaskState.COMPLETE, "finished", "")
        assert ds.exit_status(3, False) == (TaskState.FAILED, "started", "task: non-zero exit (3)")
        assert ds.exit_status(137, True) == (TaskState.SHUTDOWN, "shutdown", "")
        assert ds.no_such_image("docker.io/nginx") == "No such image: nginx:latest"

    def test_subnets_routes_and_log_frames():
        import swarmlab.runtime.dockerapi.spec as ds
        assert ds.task_subnet(3) == "10.200.3.0/24" and ds.subnet_gateway("10.200.3.0/24") == "10.200.3.1"
        assert [str(a) for a in ds.task_pool("10.200.3.0/24")] == ["10.200.3.2", "10.200.3.254"]
        assert ds.peer_routes({1: "192.168.9.2", 3: "192.168.9.4"}, "10.200.3.0/24") == \
            {"10.200.1.0/24": "192.168.9.2"}
        frame = b"2026-11-25T15:39:04.958827019Z out 0\n"
        ((when, text),) = ds.parse_log_frame(frame)
        assert text == "out 0" and abs(when - 1795621144.958827019) < 1e-6
        assert ds.parse_log_frame(b"2026-11-25T15:39:04Z " + b"x" * 10) == [(1795621144.0, "x" * 10)]
        hosts = ds.hosts_text({"kv": ["10.0.0.1", "10.0.0.2"]}, "10.200.1.2", "abc", "t1")
        assert "10.200.1.2\tabc" in hosts and hosts.count("\tkv") == 2
