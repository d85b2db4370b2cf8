"""The checks, one per thing an exercise asks for. Each returns a `Result` (or raises
CheckFailed with the hint); see the package docstring."""
from __future__ import annotations

import urllib.request
from typing import Any

from ._core import Result, both, find_node, find_service, here, node_names, run, running_tasks

STACK_LABEL = "com.docker.stack.namespace"


# -- nodes ------------------------------------------------------------------------------------
def node_count(n: int, lab: Any = None, wait: float = 15.0) -> Result:
    def probe(api) -> Result:
        nodes = api.nodes()
        ready = [x for x in nodes if x["Status"]["State"] == "ready"]
        if len(ready) == n:
            return Result(True, f"{n} nodes are ready in the swarm")
        return Result(False, f"the swarm has {len(ready)} ready node(s), not {n}: a node joins "
                      f"with the token a manager gives for its role",
                      pending=len(nodes) == n,
                      command=f"{both('docker swarm join-token worker')}, then `docker swarm "
                              f"join --token ...` on each node (--node NODE)")
    return run(probe, lab, wait)


def _managers(api) -> list[dict]:
    return [x for x in api.nodes() if x["Spec"]["Role"] == "manager"]


def manager_count(n: int, lab: Any = None, wait: float = 15.0) -> Result:
    def probe(api) -> Result:
        ms = _managers(api)
        reachable = [m for m in ms if (m.get("ManagerStatus") or {}).get("Reachability")
                     == "reachable"]
        if len(ms) == n and len(reachable) == n:
            return Result(True, f"{n} managers, all reachable")
        verb = "promote" if len(ms) < n else "demote"
        return Result(False, f"the swarm has {len(ms)} manager(s), not {n}: a manager "
                      f"changes a node's role", pending=len(ms) == n,
                      command=both(f'docker node {verb} NODE'))
    return run(probe, lab, wait)


def worker_count(n: int, lab: Any = None, wait: float = 15.0) -> Result:
    def probe(api) -> Result:
        ws = [x for x in api.nodes() if x["Spec"]["Role"] == "worker"]
        if len(ws) == n:
            return Result(True, f"{n} workers")
        return Result(False, f"the swarm has {len(ws)} worker(s), not {n}: a manager "
                      f"changes a node's role",
                      command=f"{both('docker node promote NODE')} / {both('docker node demote NODE')}")
    return run(probe, lab, wait)


def node_role(node: str, role: str, lab: Any = None, wait: float = 15.0) -> Result:
    def probe(api) -> Result:
        doc = find_node(api, node)
        if doc is None:
            return Result(False, f"no node {node} in the swarm (docker node ls)")
        if doc["Spec"]["Role"] == role:
            return Result(True, f"{node} is a {role}")
        verb = "promote" if role == "manager" else "demote"
        return Result(False, f"{node} is a {doc['Spec']['Role']}, not a {role}: a manager "
                      f"changes a node's role", command=both(f'docker node {verb} {node}'))
    return run(probe, lab, wait)


def node_availability(node: str, availability: str, lab: Any = None,
                      wait: float = 15.0) -> Result:
    def probe(api) -> Result:
        doc = find_node(api, node)
        if doc is None:
            return Result(False, f"no node {node} in the swarm (docker node ls)")
        now = doc["Spec"]["Availability"]
        if now == availability:
            return Result(True, f"{node} is {availability}")
        return Result(False, f"{node} is {now}, not {availability}: the availability is "
                      f"part of the node's spec, set from a manager",
                      command=both(f'docker node update --availability {availability} {node}'))
    return run(probe, lab, wait)


def drained(node: str, lab: Any = None, wait: float = 20.0) -> Result:
    """`node` is drained and no task runs there any more."""
    def probe(api) -> Result:
        doc = find_node(api, node)
        if doc is None:
            return Result(False, f"no node {node} in the swarm (docker node ls)")
        if doc["Spec"]["Availability"] != "drain":
            return Result(False, f"{node} is {doc['Spec']['Availability']}, not drained: "
                          f"draining is an availability, set from a manager",
                          command=both(f'docker node update --availability drain {node}'))
        left = [t for t in api.tasks(filters={"node": doc["ID"]})
                if t["Status"]["State"] == "running"]
        if left:
            return Result(False, f"{node} is drained but {len(left)} task(s) still run there; "
                          f"wait for them to move (docker node ps {node})", pending=True)
        return Result(True, f"{node} is drained and runs no task")
    return run(probe, lab, wait)


def node_label(node: str, key: str, value: str | None = None, lab: Any = None,
               wait: float = 15.0) -> Result:
    def probe(api) -> Result:
        doc = find_node(api, node)
        if doc is None:
            return Result(False, f"no node {node} in the swarm (docker node ls)")
        labels = doc["Spec"].get("Labels") or {}
        if key in labels and (value is None or labels[key] == value):
            return Result(True, f"{node} has the label {key}={labels[key]}")
        want = f"{key}={value if value is not None else 'VALUE'}"
        return Result(False, f"{node}'s labels are {labels or '{}'}, without {want}: labels "
                      f"are part of the node's spec, set from a manager",
                      command=both(f'docker node update --label-add {want} {node}'))
    return run(probe, lab, wait)


# -- services ---------------------------------------------------------------------------------
def _missing(name: str, how: str = "docker service create --name NAME ... IMAGE") -> Result:
    if "_" in name:  # STACK_SERVICE: a stack's service, made by deploying the stack
        stack = name.split("_", 1)[0]
        return Result(False, f"no service named {name}: a stack's services are named "
                      f"STACK_SERVICE, so the stack {stack} must be deployed first "
                      f"(docker stack services {stack} lists them)",
                      command=both(f'docker stack deploy -c FILE {stack}'))
    return Result(False, f"no service named {name} (docker service ls lists them)",
                  command=both(how.replace('NAME', name)))


def service_exists(name: str, lab: Any = None, wait: float = 15.0) -> Result:
    def probe(api) -> Result:
        return Result(True, f"service {name} exists") if find_service(api, name) \
            else _missing(name)
    return run(probe, lab, wait)


def service_absent(name: str, lab: Any = None, wait: float = 15.0) -> Result:
    def probe(api) -> Result:
        if find_service(api, name) is None:
            return Result(True, f"no service {name} any more")
        return Result(False, f"service {name} still exists", command=both(f'docker service rm {name}'))
    return run(probe, lab, wait)


def replicas(name: str, n: int, lab: Any = None, wait: float = 30.0) -> Result:
    """`name` is replicated with `n` replicas, and `n` tasks run."""
    def probe(api) -> Result:
        svc = find_service(api, name)
        if svc is None:
            return _missing(name, f"docker service create --name NAME --replicas {n} IMAGE")
        want = (svc["Spec"]["Mode"].get("Replicated") or {}).get("Replicas")
        if want != n:
            return Result(False, f"{name} asks for {want} replicas, not {n}: the replica "
                          f"count is part of the service's spec",
                          command=f"{both(f'docker service scale {name}={n}')} or "
                                  f"`docker service update --replicas {n} {name}`")
        got = len(running_tasks(api, name))
        if got != n:
            return Result(False, f"{name} asks for {n} replicas but {got} run; wait "
                          f"(docker service ps {name})", pending=True)
        return Result(True, f"{name} runs {n} replicas")
    return run(probe, lab, wait)


def global_service(name: str, lab: Any = None, wait: float = 30.0) -> Result:
    """`name` runs in global mode: one task on every active node."""
    def probe(api) -> Result:
        svc = find_service(api, name)
        if svc is None:
            return _missing(name, "docker service create --name NAME --mode global IMAGE")
        if "Global" not in svc["Spec"]["Mode"]:
            return Result(False, f"{name} is replicated; a service's mode cannot change: "
                          f"remove it and create it again in global mode",
                          command=both(f'docker service create --mode global --name {name} IMAGE'))
        active = {x["ID"] for x in api.nodes() if x["Spec"]["Availability"] == "active"
                  and x["Status"]["State"] == "ready"}
        on = {t["NodeID"] for t in running_tasks(api, name)}
        if not active <= on:
            return Result(False, f"{name} runs on {len(on)} of {len(active)} active nodes; "
                          f"wait (docker service ps {name})", pending=True)
        return Result(True, f"{name} runs one task on each of the {len(active)} active nodes")
    return run(probe, lab, wait)


def published(name: str, port: int, target: int | None = None, lab: Any = None,
              wait: float = 15.0) -> Result:
    def probe(api) -> Result:
        svc = find_service(api, name)
        if svc is None:
            return _missing(name, f"docker service create --name NAME -p {port}:80 IMAGE")
        ports = (svc["Spec"].get("EndpointSpec") or {}).get("Ports") or []
        hit = [p for p in ports if p.get("PublishedPort") == port
               and (target is None or p.get("TargetPort") == target)]
        if hit:
            return Result(True, f"{name} publishes {port}->{hit[0]['TargetPort']}")
        pair = f"{port}:{target or 80}"
        return Result(False, f"{name} does not publish port {port}: published ports are "
                      f"part of the service's endpoint spec",
                      command=both(f'docker service update --publish-add {pair} {name}'))
    return run(probe, lab, wait)


def service_image(name: str, image: str, lab: Any = None, wait: float = 60.0) -> Result:
    """The spec asks for `image` and every running task runs it (an update is complete)."""
    def probe(api) -> Result:
        svc = find_service(api, name)
        if svc is None:
            return _missing(name, f"docker service create --name NAME {image}")
        spec = svc["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"].split("@")[0]
        if spec != image:
            return Result(False, f"{name} runs {spec}, not {image}: changing the image is a "
                          f"rolling update of the service",
                          command=f"{both(f'docker service update --image {image} {name}')}"
                                  f" (or `docker service rollback {name}` to go back)")
        tasks = running_tasks(api, name)
        old = [t for t in tasks if t["Spec"]["ContainerSpec"]["Image"].split("@")[0] != image]
        want = (svc["Spec"]["Mode"].get("Replicated") or {}).get("Replicas", len(tasks))
        state = (svc.get("UpdateStatus") or {}).get("State", "")
        if old or len(tasks) < want or state in ("updating", "rollback_started"):
            return Result(False, f"{name} is updating: {len(old)} task(s) still run the old "
                          f"image, {len(tasks)} of {want} run (docker service ps {name})",
                          pending=True)
        return Result(True, f"every {name} task runs {image}")
    return run(probe, lab, wait)


def update_config(name: str, parallelism: int | None = None, delay_s: float | None = None,
                  failure_action: str | None = None, lab: Any = None,
                  wait: float = 15.0) -> Result:
    def probe(api) -> Result:
        svc = find_service(api, name)
        if svc is None:
            return _missing(name)
        uc = svc["Spec"].get("UpdateConfig") or {}
        have = (uc.get("Parallelism", 1), uc.get("Delay", 0) / 1e9,
                uc.get("FailureAction", "pause"))
        want = (parallelism, delay_s, failure_action)
        if all(w is None or w == h for w, h in zip(want, have)):
            return Result(True, f"{name} updates {have[0]} at a time, {have[1]:g}s apart, "
                          f"on failure: {have[2]}")
        flags = " ".join(f for f in (
            parallelism is not None and f"--update-parallelism {parallelism}",
            delay_s is not None and f"--update-delay {delay_s:g}s",
            failure_action and f"--update-failure-action {failure_action}") if f)
        return Result(False, f"{name} updates {have[0]} at a time, {have[1]:g}s apart, on "
                      f"failure {have[2]}: that is the service's update config",
                      command=both(f'docker service update {flags} {name}'))
    return run(probe, lab, wait)


def service_constraint(name: str, constraint: str, lab: Any = None,
                       wait: float = 15.0) -> Result:
    def probe(api) -> Result:
        svc = find_service(api, name)
        if svc is None:
            return _missing(name, f"docker service create --name NAME --constraint "
                            f"'{constraint}' IMAGE")
        have = [c.replace(" ", "") for c in ((svc["Spec"]["TaskTemplate"].get("Placement")
                                              or {}).get("Constraints") or [])]
        if constraint.replace(" ", "") in have:
            return Result(True, f"{name} is placed with {constraint}")
        return Result(False, f"{name}'s constraints are {have or 'none'}, without "
                      f"{constraint}: placement constraints are part of the service's spec",
                      command=both(f'docker service update --constraint-add {constraint!r} {name}'))
    return run(probe, lab, wait)


def runs_only_on(name: str, nodes: list[str], lab: Any = None, wait: float = 30.0) -> Result:
    def probe(api) -> Result:
        if find_service(api, name) is None:
            return _missing(name)
        names = node_names(api)
        on = sorted({names.get(t["NodeID"], "?") for t in running_tasks(api, name)})
        if on and set(on) <= set(nodes):
            return Result(True, f"{name} runs on {', '.join(on)} only")
        return Result(False, f"{name} runs on {on or 'no node'}; expected only {nodes}: a "
                      f"placement constraint does it (--constraint node.hostname==... or "
                      f"node.labels.KEY==VALUE)", pending=bool(on))
    return run(probe, lab, wait)


# -- secrets and configs ----------------------------------------------------------------------
def secret_exists(name: str, lab: Any = None, wait: float = 15.0) -> Result:
    def probe(api) -> Result:
        if any(s["Spec"]["Name"] == name for s in api.secrets()):
            return Result(True, f"secret {name} exists")
        return Result(False, f"no secret {name}: a secret is created on a manager, from a "
                      f"file or standard input",
                      command=f"`echo VALUE | docker secret create {name} -` "
                              f"(here: `echo VALUE | {here(f'docker secret create {name} -')}`)")
    return run(probe, lab, wait)


def config_exists(name: str, lab: Any = None, wait: float = 15.0) -> Result:
    def probe(api) -> Result:
        if any(c["Spec"]["Name"] == name for c in api.configs()):
            return Result(True, f"config {name} exists")
        return Result(False, f"no config {name}: a config is created on a manager, from a "
                      f"file", command=f"`docker config create {name} FILE` "
                                       f"(here: `{here(f'docker config create {name} FILE')}`)")
    return run(probe, lab, wait)


def _refs(svc: dict, kind: str) -> list[str]:
    return [r.get("SecretName" if kind == "Secrets" else "ConfigName")
            for r in svc["Spec"]["TaskTemplate"]["ContainerSpec"].get(kind) or []]


def service_has_secret(service: str, secret: str, present: bool = True, lab: Any = None,
                       wait: float = 30.0) -> Result:
    """The service's tasks get `secret` in /run/secrets (or no longer, `present=False`)."""
    return _has_ref(service, secret, "Secrets", "secret", present, lab, wait)


def service_has_config(service: str, config: str, present: bool = True, lab: Any = None,
                       wait: float = 30.0) -> Result:
    return _has_ref(service, config, "Configs", "config", present, lab, wait)


def _has_ref(service: str, name: str, kind: str, word: str, present: bool, lab: Any,
             wait: float) -> Result:
    def probe(api) -> Result:
        svc = find_service(api, service)
        if svc is None:
            return _missing(service, f"docker service create --name NAME --{word} {name} IMAGE")
        if (name in _refs(svc, kind)) != present:
            flag = f"--{word}-add" if present else f"--{word}-rm"
            return Result(False, f"{service} {'lacks' if present else 'still has'} the {word} "
                          f"{name}: a service gets a {word} by its spec",
                          command=both(f'docker service update {flag} {name} {service}'))
        stale = [t for t in running_tasks(api, service)
                 if (name in [r.get("SecretName" if kind == "Secrets" else "ConfigName")
                              for r in t["Spec"]["ContainerSpec"].get(kind) or []]) != present]
        if stale:
            return Result(False, f"{service}'s tasks are being replaced ({len(stale)} left)",
                          pending=True)
        return Result(True, f"{service}'s tasks {'get' if present else 'no longer get'} the "
                      f"{word} {name}")
    return run(probe, lab, wait)


# -- stacks -----------------------------------------------------------------------------------
def stack_deployed(name: str, services: list[str] | None = None, lab: Any = None,
                   wait: float = 60.0) -> Result:
    """Stack `name` exists (with these services, if given) and every service runs."""
    def probe(api) -> Result:
        mine = [s for s in api.services(filters={"label": f"{STACK_LABEL}={name}"})]
        if not mine:
            return Result(False, f"no stack {name}: a stack is deployed from a compose file "
                          f"(docker stack ls lists them)",
                          command=both(f'docker stack deploy -c FILE {name}'))
        have = {s["Spec"]["Name"].removeprefix(f"{name}_") for s in mine}
        if services and not set(services) <= have:
            return Result(False, f"stack {name} lacks {sorted(set(services) - have)}: was the "
                          f"right file deployed?", command=both(f'docker stack services {name}'))
        short = [s["Spec"]["Name"] for s in mine if "Replicated" in s["Spec"]["Mode"]
                 and len(running_tasks(api, s["Spec"]["Name"]))
                 < s["Spec"]["Mode"]["Replicated"]["Replicas"]]
        if short:
            return Result(False, f"stack {name} is starting: {', '.join(short)} not at full "
                          f"strength (docker stack ps {name})", pending=True)
        return Result(True, f"stack {name} runs {len(mine)} services: {', '.join(sorted(have))}")
    return run(probe, lab, wait)


def stack_removed(name: str, lab: Any = None, wait: float = 15.0) -> Result:
    def probe(api) -> Result:
        if api.services(filters={"label": f"{STACK_LABEL}={name}"}):
            return Result(False, f"stack {name} is still there", command=both(f'docker stack rm {name}'))
        return Result(True, f"no stack {name}")
    return run(probe, lab, wait)


# -- the routing mesh -------------------------------------------------------------------------
def port_answers(port: int, contains: str = "", lab: Any = None, wait: float = 20.0) -> Result:
    """Every node of the lab answers on `port` (the routing mesh)."""
    from ._core import current_lab
    the_lab = current_lab(lab)

    def probe(_api) -> Result:
        bad = []
        for n in the_lab.record.nodes:
            try:
                with urllib.request.urlopen(f"http://{n.addr}:{port}/", timeout=3) as r:
                    if contains not in r.read().decode(errors="replace"):
                        bad.append(f"{n.name} (unexpected answer)")
            except OSError as e:
                bad.append(f"{n.name} ({e.__class__.__name__})")
        if not bad:
            return Result(True, f"every node answers on port {port}")
        publishing = any(p.get("PublishedPort") == port for s in _api.services()
                         for p in (s["Spec"].get("EndpointSpec") or {}).get("Ports") or [])
        return Result(False, f"port {port} does not answer on {', '.join(bad)}: the routing "
                      f"mesh answers on every node for a published port", pending=publishing,
                      command=both(f'docker service create -p {port}:80 ...'))
    return run(probe, the_lab, wait)
