"""Flag values to Engine API JSON: durations, ports, secrets, mounts, sizes, specs."""
import pytest

from swarmlab.cli import build_parser, main
from swarmlab.cli._opts import (kv_map, parse_file_reference, parse_mem_bytes, parse_mount,
                                parse_nano_cpus, parse_publish)
from swarmlab.cli._service_lists import SpecError
from swarmlab.cli._service_spec import create_spec, normalize_image, update_spec
from swarmlab.units import format_duration, human_duration, parse_duration

S = 1_000_000_000


@pytest.mark.parametrize("text,ns", [
    ("10s", 10 * S), ("1m30s", 90 * S), ("500ms", S // 2), ("1h", 3600 * S), ("0", 0),
    ("1.5s", 3 * S // 2), (".5s", S // 2), ("2h45m", (2 * 3600 + 45 * 60) * S), ("100us", 100_000),
    ("100µs", 100_000), ("7ns", 7), ("-3s", -3 * S), ("1m0.5s", 60 * S + S // 2),
])
def test_parse_duration_like_go(text, ns):
    assert parse_duration(text) == ns


@pytest.mark.parametrize("text,message", [
    ("10x", 'time: unknown unit "x" in duration "10x"'),
    ("10", 'time: missing unit in duration "10"'),
    ("x", 'time: invalid duration "x"'),
    ("", 'time: invalid duration ""'),
])
def test_bad_durations_use_go_words(text, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        parse_duration(text)


@pytest.mark.parametrize("ns,text", [
    (0, "0s"), (10 * S, "10s"), (90 * S, "1m30s"), (S // 2, "500ms"), (3600 * S, "1h0m0s"),
    (3 * S // 2, "1.5s"), (1500, "1.5µs"), (7, "7ns"), (5400 * S, "1h30m0s"),
])
def test_format_duration_like_go(ns, text):
    assert format_duration(ns) == text
    assert parse_duration(text) == ns


@pytest.mark.parametrize("seconds,words", [
    (0.5, "Less than a second"), (1, "1 second"), (59, "59 seconds"), (60, "About a minute"),
    (119, "About a minute"), (120, "2 minutes"), (3599, "59 minutes"), (3600, "About an hour"),
    (2 * 3600, "2 hours"), (47 * 3600, "47 hours"), (3 * 86400, "3 days"), (15 * 86400, "2 weeks"),
    (90 * 86400, "3 months"), (800 * 86400, "2 years"),
])
def test_human_duration_like_go_units(seconds, words):
    assert human_duration(seconds) == words


def test_publish_short_syntax():
    assert parse_publish("8080:80") == [
        {"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 8080, "PublishMode": "ingress"}]
    assert parse_publish("53:53/udp")[0]["Protocol"] == "udp"
    assert parse_publish("80") == [{"Protocol": "tcp", "TargetPort": 80, "PublishMode": "ingress"}]
    assert [(p["PublishedPort"], p["TargetPort"]) for p in parse_publish("8000-8001:80-81")] == \
        [(8000, 80), (8001, 81)]


def test_publish_long_syntax():
    assert parse_publish("published=8080,target=80,mode=host,protocol=udp") == [
        {"Protocol": "udp", "TargetPort": 80, "PublishedPort": 8080, "PublishMode": "host"}]
    assert parse_publish("target=80") == [{"Protocol": "tcp", "TargetPort": 80, "PublishMode": "ingress"}]


@pytest.mark.parametrize("value,message", [
    ("1.2.3.4:80:80", "hostip is not supported"), ("published=80", "missing mandatory field"),
    ("target=80,mode=bridge", "invalid publish mode"), ("x:80", "invalid port"),
    ("target=80,colour=red", "invalid field key colour"), ("80/icmp", "invalid proto"),
])
def test_publish_errors(value, message):
    with pytest.raises(ValueError, match=message):
        parse_publish(value)


def test_secret_and_config_references():
    assert parse_file_reference("password", is_config=False) == {
        "File": {"Name": "password", "UID": "0", "GID": "0", "Mode": 0o444},
        "SecretID": "", "SecretName": "password"}
    ref = parse_file_reference("source=s2,target=/x,uid=1,gid=2,mode=0400", is_config=False)
    assert ref["File"] == {"Name": "/x", "UID": "1", "GID": "2", "Mode": 0o400}
    cfg = parse_file_reference("src=cfg", is_config=True)
    assert cfg["ConfigName"] == "cfg" and cfg["File"]["Name"] == "cfg"
    with pytest.raises(ValueError, match="source is required"):
        parse_file_reference("target=/x", is_config=False)


def test_mounts_sizes_cpus_labels():
    assert parse_mount("type=volume,src=data,dst=/data/db") == {
        "Type": "volume", "Source": "data", "Target": "/data/db"}
    assert parse_mount("type=bind,source=/a,target=/b,readonly")["ReadOnly"] is True
    assert parse_mem_bytes("512M") == 512 << 20 and parse_mem_bytes("1g") == 1 << 30
    assert parse_mem_bytes("1.5GiB") == 3 << 29 and parse_mem_bytes("100") == 100
    assert parse_nano_cpus("0.5") == 500_000_000 and parse_nano_cpus("2") == 2 * S
    with pytest.raises(ValueError, match="too precise"):
        parse_nano_cpus("0.0000000001")
    assert kv_map(["a=1", "b", "c=x=y"]) == {"a": "1", "b": "", "c": "x=y"}


def test_images_get_docker_default_tag():
    assert normalize_image("nginx") == "nginx:latest"
    assert normalize_image("swarmlab/web:1") == "swarmlab/web:1"
    assert normalize_image("localhost:5000/web") == "localhost:5000/web:latest"
    assert normalize_image("web@sha256:abc") == "web@sha256:abc"


def _args(line: str):
    return build_parser().parse_args(line.split())


def _resolve(kind, names):
    return {n: f"{kind}-{n}" for n in names if n != "missing"}


def test_course_service_create_spec_is_what_docker_sends():
    spec = create_spec(_args("service create --name www -p 8080:80 --replicas 3 nginx"), _resolve)
    assert spec == {
        "Name": "www", "Labels": {},
        "TaskTemplate": {"ContainerSpec": {"Image": "nginx:latest", "Init": False, "DNSConfig": {}},
                         "Resources": {"Limits": {}, "Reservations": {}}, "Placement": {},
                         "ForceUpdate": 0},
        "Mode": {"Replicated": {"Replicas": 3}},
        "EndpointSpec": {"Mode": "vip", "Ports": [
            {"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 8080, "PublishMode": "ingress"}]}}


def test_update_flags_group_with_swarmkit_defaults():
    spec = create_spec(_args("service create --update-delay 10s --restart-max-attempts 2 web"), _resolve)
    assert "Name" not in spec
    assert spec["UpdateConfig"] == {"Parallelism": 1, "Delay": 10 * S, "FailureAction": "pause",
                                    "Monitor": 5 * S, "MaxFailureRatio": 0, "Order": "stop-first"}
    assert spec["TaskTemplate"]["RestartPolicy"] == {"Condition": "any", "Delay": 5 * S, "MaxAttempts": 2}
    assert "RollbackConfig" not in spec


def test_modes():
    assert create_spec(_args("service create --mode global web"), _resolve)["Mode"] == {"Global": {}}
    job = create_spec(_args("service create --mode replicated-job --replicas 4 web"), _resolve)
    assert job["Mode"] == {"ReplicatedJob": {"MaxConcurrent": 4, "TotalCompletions": 4}}
    with pytest.raises(SpecError, match="replicas can only be used with replicated"):
        create_spec(_args("service create --mode global --replicas 2 web"), _resolve)
    with pytest.raises(SpecError, match="--no-healthcheck conflicts"):
        create_spec(_args("service create --no-healthcheck --health-retries 2 web"), _resolve)
    with pytest.raises(SpecError, match="secret not found: missing"):
        create_spec(_args("service create --secret missing web"), _resolve)
    with pytest.raises(SpecError, match="duplicate secret target"):
        create_spec(_args("service create --secret a --secret source=b,target=a web"), _resolve)


def test_command_and_args_after_the_image_are_args():
    spec = create_spec(_args("service create --name s busybox sleep --foo 10"), _resolve)
    assert spec["TaskTemplate"]["ContainerSpec"]["Args"] == ["sleep", "--foo", "10"]


def test_update_follows_dockers_list_rules():
    base = create_spec(_args(
        "service create --name www -p 8080:80 -p 53:53/udp -e A=1 -e B=2 --constraint b==1 "
        "--secret password --mount type=volume,src=d,dst=/d --label x=1 web:1"), _resolve)
    new = update_spec(base, _args(
        "service update --env-add A=9 --env-rm B --constraint-add a==1 --secret-rm password "
        "--secret-add s2 --publish-rm 80 --publish-add 9090:90 --mount-rm /d --label-rm x "
        "--label-add y=2 --force --replicas 5 --image web:2 www"), _resolve)
    cs = new["TaskTemplate"]["ContainerSpec"]
    assert cs["Env"] == ["A=9"] and cs["Image"] == "web:2" and "Mounts" not in cs
    assert cs["Secrets"] == [{"File": {"Name": "s2", "UID": "0", "GID": "0", "Mode": 292},
                              "SecretID": "secret-s2", "SecretName": "s2"}]
    assert new["TaskTemplate"]["Placement"]["Constraints"] == ["a==1", "b==1"]
    assert [p["TargetPort"] for p in new["EndpointSpec"]["Ports"]] == [53, 90]
    assert new["Labels"] == {"y": "2"} and new["Mode"] == {"Replicated": {"Replicas": 5}}
    assert new["TaskTemplate"]["ForceUpdate"] == 1
    assert base["TaskTemplate"]["ContainerSpec"]["Env"] == ["A=1", "B=2"]  # the old spec is untouched


@pytest.mark.parametrize("argv", [
    ["service", "create", "--update-delay", "10x", "web"],
    ["service", "create", "-p", "1.2.3.4:80:80", "web"],
    ["service", "create", "--placement-pref", "foo=bar", "web"],
    ["service", "create", "--mode", "sideways", "web"],
    ["node", "update", "--availability", "asleep", "node1"],
    ["swarm", "join-token"],
    ["nosuchcommand"],
])
def test_bad_flags_are_usage_errors_with_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert "usage: swarmlab" in capsys.readouterr().err


def test_bad_flag_message_names_the_flag(capsys):
    with pytest.raises(SystemExit):
        main(["service", "create", "--update-delay", "10x", "web"])
    assert 'invalid argument "10x" for "--update-delay" flag: time: unknown unit "x"' in capsys.readouterr().err


def test_log_since_values_become_unix_timestamps():
    from swarmlab.cli._logs import parse_details, since_value

    assert since_value("42m", now=10_000.0) == "7480.000000000"
    assert since_value("2026-11-25T15:00:00Z") == "1795618800.000000000"
    assert since_value("1700000000") == "1700000000" and since_value(None) == 0
    assert parse_details("com.docker.swarm.task.id=t1,x=a%20b") == {"com.docker.swarm.task.id": "t1", "x": "a b"}
    assert parse_details("not-details") is None


from hypothesis import given, strategies as st  # noqa: E402


@given(st.integers(min_value=0, max_value=10**15))
def test_any_duration_round_trips_through_gos_text(ns):
    assert parse_duration(format_duration(ns)) == ns


@given(st.integers(min_value=0, max_value=65535), st.integers(min_value=0, max_value=65535),
       st.sampled_from(["tcp", "udp", "sctp"]))
def test_short_and_long_publish_syntax_agree(published, target, proto):
    long = parse_publish(f"published={published},target={target},protocol={proto}")
    short = parse_publish(f"{published}:{target}/{proto}")
    assert long == short
