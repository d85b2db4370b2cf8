"""Tables, templates and progress lines, rendered from Engine API JSON (as docker-py's
model objects hold it) with no network."""
import datetime as dt

import docker.models.nodes
import docker.models.services
import pytest

from swarmlab.cli._node import NODE_HEADERS, NODE_TABLE, node_rows
from swarmlab.cli._progress import SlotProgress, up_to_date
from swarmlab.cli._service import SERVICE_HEADERS, SERVICE_TABLE, replicas_text, service_rows
from swarmlab.cli._table import go_json_indent, render_inspect, render_list, tabwrite
from swarmlab.cli._tasks import task_rows
from swarmlab.cli._template import TemplateError, render

from .engine_double import node_json, task_json

NOW = dt.datetime(2026, 11, 25, 15, 10, tzinfo=dt.timezone.utc)


def test_tabwrite_pads_like_go_tabwriter():
    assert tabwrite(["ID\tNAME\tX", "abc\tlonger-name\t", "a\tb\tlast"]) == (
        "ID        NAME          X\n"
        "abc       longer-name   \n"
        "a         b             last\n")


def test_template_fields_functions_and_blocks():
    data = {"Spec": {"Labels": {}, "Role": "manager", "Availability": "active"},
            "Names": ["a", "b"], "Self": True, "Html": "<b>&"}
    assert render("{{ json .Spec }}", data) == '{"Labels":{},"Role":"manager","Availability":"active"}'
    assert render("{{json .Spec.Labels}}", data) == "{}"
    assert render("{{.Spec.Role}} {{.Spec.Role | upper}} {{title .Spec.Availability}}", data) == \
        "manager MANAGER Active"
    assert render('{{range .Names}}[{{.}}]{{end}} {{join .Names ", "}} {{index .Spec "Role"}}', data) == \
        "[a][b] a, b manager"
    assert render("{{if .Self}}*{{else}} {{end}}|{{if .Nope}}y{{else}}n{{end}}", data) == "*|n"
    assert render("{{.Spec}} {{.Missing}} {{json .Html}}", data) == \
        'map[Availability:active Labels:map[] Role:manager] <no value> "<b>&"'
    assert render("a {{- .Spec.Role -}} b\n", data) == "amanagerb\n"
    with pytest.raises(TemplateError):
        render("{{nosuchfunc .Spec}}", data)
    with pytest.raises(TemplateError):
        render("{{if .Self}}unclosed", data)


def test_node_table_stars_the_addressed_node_from_docker_py_models():
    raw = [node_json("n2bbbbbbbbbbbbbbbbbbbbbbb", "node2", availability="drain"),
           node_json("n10aaaaaaaaaaaaaaaaaaaaaa", "node10"),
           node_json("n1aaaaaaaaaaaaaaaaaaaaaaa", "node1", role="manager", leader=True)]
    models = [docker.models.nodes.Node(attrs=a) for a in raw]
    rows = node_rows([m.attrs for m in models], "n1aaaaaaaaaaaaaaaaaaaaaaa", {"TrustRoot": "ROOT"})
    assert [r["Hostname"] for r in rows] == ["node1", "node2", "node10"]  # natural order
    assert render_list(rows, None, NODE_TABLE, NODE_HEADERS) == (
        "ID                            HOSTNAME   STATUS    AVAILABILITY   MANAGER STATUS   ENGINE VERSION\n"
        "n1aaaaaaaaaaaaaaaaaaaaaaa *   node1      Ready     Active         Leader           swarmlab-0.1.0\n"
        "n2bbbbbbbbbbbbbbbbbbbbbbb     node2      Ready     Drain                           swarmlab-0.1.0\n"
        "n10aaaaaaaaaaaaaaaaaaaaaa     node10     Ready     Active                          swarmlab-0.1.0\n")
    assert render_list(rows[:1], "json", NODE_TABLE, NODE_HEADERS) == (
        '{"Availability":"Active","EngineVersion":"swarmlab-0.1.0","Hostname":"node1",'
        '"ID":"n1aaaaaaaaaaaaaaaaaaaaaaa","ManagerStatus":"Leader","Self":true,"Status":"Ready",'
        '"TLSStatus":"Ready"}\n')
    assert render_list(rows, "{{.Hostname}}", NODE_TABLE, NODE_HEADERS) == "node1\nnode2\nnode10\n"


def _service(mode, **spec):
    attrs = {"ID": "svc1234567890abcdef", "Spec": {"Name": "www", "Mode": mode, "TaskTemplate": {
        "ContainerSpec": {"Image": "swarmlab/web:1@sha256:" + "a" * 64}}, **spec}}
    return docker.models.services.Service(attrs=attrs).attrs


def test_service_rows_replicas_mode_ports():
    svc = _service({"Replicated": {"Replicas": 3}}, EndpointSpec={"Ports": [
        {"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 8080, "PublishMode": "ingress"},
        {"Protocol": "tcp", "TargetPort": 81, "PublishedPort": 8081, "PublishMode": "host"}]})
    svc["ServiceStatus"] = {"RunningTasks": 2, "DesiredTasks": 3}
    assert render_list(service_rows([svc]), None, SERVICE_TABLE, SERVICE_HEADERS) == (
        "ID             NAME      MODE         REPLICAS   IMAGE            PORTS\n"
        "svc123456789   www       replicated   2/3        swarmlab/web:1   *:8080->80/tcp\n")
    job = _service({"ReplicatedJob": {"MaxConcurrent": 2, "TotalCompletions": 5}})
    job["ServiceStatus"] = {"RunningTasks": 2, "DesiredTasks": 2, "CompletedTasks": 1}
    assert replicas_text(job) == "2/2 (1/5 completed)"
    capped = _service({"Replicated": {"Replicas": 4}}, TaskTemplate={"Placement": {"MaxReplicas": 1}})
    capped["ServiceStatus"] = {"RunningTasks": 3, "DesiredTasks": 4}
    assert replicas_text(capped) == "3/4 (max 1 per node)"


def test_replicas_counted_from_tasks_without_service_status():
    svc = _service({"Global": {}})
    tasks = [task_json("t1", svc["ID"], 0, "n1"), task_json("t2", svc["ID"], 0, "n2", state="starting"),
             task_json("t3", svc["ID"], 0, "n3", state="shutdown", desired="shutdown")]
    assert replicas_text(svc, tasks, {"n1", "n2", "n3"}) == "1/2"


def _stamp(seconds_ago):
    return (NOW - dt.timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"


def test_task_rows_history_indent_errors_and_ports():
    tasks = [task_json("old0000000000000001", "s1", 1, "n2", state="failed", desired="shutdown",
                       created=_stamp(4000), err="task: non-zero exit (137): the process was killed"),
             task_json("new0000000000000002", "s1", 1, "n1", created=_stamp(150)),
             task_json("two0000000000000003", "s1", 2, "", state="pending", created=_stamp(5),
                       err="no suitable node")]
    tasks[1]["Status"]["PortStatus"] = {"Ports": [{"Protocol": "udp", "TargetPort": 53,
                                                    "PublishedPort": 5353, "PublishMode": "host"}]}
    rows = task_rows(tasks, {"s1": "www"}, {"n1": "node1", "n2": "node2"}, now=NOW)
    assert [(r["ID"], r["Name"], r["Node"], r["CurrentState"]) for r in rows] == [
        ("new000000000", "www.1", "node1", "Running 2 minutes ago"),
        ("old000000000", " \\_ www.1", "node2", "Failed about an hour ago"),
        ("two000000000", "www.2", "", "Pending 5 seconds ago")]
    assert rows[1]["Error"] == '"task: non-zero exit (137): th…"'
    assert rows[0]["Ports"] == "*:5353->53/udp" and rows[0]["Image"] == "swarmlab/web:1"
    full = task_rows(tasks, {"s1": "www"}, {}, trunc=False, now=NOW)
    assert full[1]["Error"] == '"task: non-zero exit (137): the process was killed"'


def test_inspect_output_is_go_json():
    objs = [{"ID": "x", "Spec": {"Labels": {}, "Note": "<a&b>"}, "List": []}]
    assert render_inspect(objs, None) == go_json_indent(objs) + "\n"
    assert '"Note": "\\u003ca\\u0026b\\u003e"' in render_inspect(objs, None)
    assert render_inspect(objs, "json") == '[{"ID":"x","Spec":{"Labels":{},"Note":"\\u003ca\\u0026b\\u003e"},"List":[]}]\n'
    assert render_inspect(objs, "{{.ID}}") == "x\n"


def test_slot_progress_lines_follow_docker():
    service = {"ID": "s1", "Spec": {"Mode": {"Replicated": {"Replicas": 3}}, "TaskTemplate": {}}}
    assert SlotProgress.initial(service) == [("overall progress", "0 out of 3 tasks", False),
                                             ("1/3", " ", False), ("2/3", " ", False), ("3/3", " ", False)]
    tasks = [task_json("a", "s1", 1, "n1"), task_json("b", "s1", 2, "n2", state="starting"),
             task_json("c", "s1", 3, "", state="pending", err="no suitable node (1 node drained)"),
             task_json("d", "s1", 1, "n1", state="shutdown", desired="shutdown")]
    lines, converged = SlotProgress().update(service, tasks, {"n1", "n2"})
    assert not converged
    assert lines == [("overall progress", "1 out of 3 tasks", False), ("1/3", "running", True),
                     ("2/3", "starting", True), ("3/3", "no suitable node (1 node drained)", False)]
    lines, converged = SlotProgress().update(service, tasks[:1], {"n1"})
    assert lines[0][1] == "1 out of 3 tasks"
    done = [task_json(i, "s1", n, "n1") for n, i in enumerate("xyz", 1)]
    assert SlotProgress().update(service, done, {"n1"})[1] is True
    assert SlotProgress().update(service, done, set())[1] is False  # tasks on down nodes don't count


def test_up_to_date_tasks_during_an_update():
    service = {"Spec": {"TaskTemplate": {"ContainerSpec": {"Image": "web:2"}}},
               "UpdateStatus": {"State": "updating"}}
    old = task_json("o", "s", 1, "n1", image="web:1")
    new = task_json("n", "s", 2, "n1", image="web:2")
    assert up_to_date(service, [old, new]) == [new]
    assert up_to_date(service, [old]) == []
    assert up_to_date({"Spec": service["Spec"]}, [old]) == [old]  # a daemon that filtered already


def test_template_variables_like_go():
    data = {"ID": "x", "Spec": {"Labels": {"b": "2", "a": "1"}}, "L": ["p", "q"]}
    assert render("{{range $k, $v := .Spec.Labels}}{{$k}}={{$v}} {{end}}", data) == "a=1 b=2 "
    assert render("{{range $i, $e := .L}}{{$i}}:{{$e}} {{end}}", data) == "0:p 1:q "
    assert render("{{$x := .ID}}{{$x}} {{range .L}}{{$.ID}}{{.}}{{end}}", data) == "x xpxq"
    with pytest.raises(TemplateError, match="undefined variable"):
        render("{{$nope}}", data)


def test_global_progress_waits_for_tasks_then_counts_nodes():
    service = {"ID": "g", "Spec": {"Mode": {"Global": {}}, "TaskTemplate": {}}}
    assert SlotProgress().update(service, [], {"n1"}) == (
        [("overall progress", "waiting for new tasks", False)], False)
    tasks = [task_json("a", "g", 0, "n1aaaaaaaaaaaaaaaaaaaaaaa"),
             task_json("b", "g", 0, "n2bbbbbbbbbbbbbbbbbbbbbbb", state="preparing")]
    lines, converged = SlotProgress().update(service, tasks, {"n1aaaaaaaaaaaaaaaaaaaaaaa", "n2bbbbbbbbbbbbbbbbbbbbbbb"})
    assert not converged
    assert lines == [("overall progress", "1 out of 2 tasks", False), ("n1aaaaaaaaaa", "running", True),
                     ("n2bbbbbbbbbb", "preparing", True)]


def test_screen_redraws_on_a_terminal_and_prints_changes_elsewhere():
    import io

    from swarmlab.cli._progress import Screen, bar

    class Tty(io.StringIO):
        def isatty(self):
            return True
    plain = io.StringIO()
    screen = Screen(plain, tty=False)
    screen.show([("overall progress", "0 out of 1 tasks", False), ("1/1", "running", True)])
    screen.show([("overall progress", "0 out of 1 tasks", False), ("verify", "Service www converged", False)])
    assert plain.getvalue() == "overall progress: 0 out of 1 tasks\nverify: Service www converged\n"
    term = Tty()
    screen = Screen(term, tty=True)
    screen.show([("overall progress", "0 out of 1 tasks", False), ("1/1", "starting", True)])
    screen.show([("overall progress", "1 out of 1 tasks", False), ("1/1", "running", True)])
    assert term.getvalue() == ("overall progress: 0 out of 1 tasks\n1/1: starting\n"
                               + "\x1b[1A\x1b[2K" * 2 + "overall progress: 1 out of 1 tasks\n1/1: running\n")
    assert bar("running", True) == "[" + "=" * 50 + ">]" and bar("running", False) == ""
    assert bar("new", True) == "[=====>" + " " * 45 + "]"


def test_a_notebooks_pseudo_terminal_gets_plain_progress(monkeypatch):
    """IPython's `!swarmlab ...` runs on a pty, but the notebook shows plain text: cursor
    moves there would print the block again on every poll (300 lines for one create)."""
    import io

    from swarmlab.cli._base import Ctx
    from swarmlab.cli._target import Target

    class Tty(io.StringIO):
        def isatty(self):
            return True
    monkeypatch.delenv("JPY_PARENT_PID", raising=False)
    ctx = Ctx(target=Target.__new__(Target), out=Tty())
    assert ctx.terminal
    monkeypatch.setenv("JPY_PARENT_PID", "1234")
    assert not ctx.terminal
    assert not Ctx(target=Target.__new__(Target), out=io.StringIO()).terminal
