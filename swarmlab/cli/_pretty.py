"""`inspect --pretty` for nodes and services, in the layout of Docker's pretty templates."""
from __future__ import annotations

from ._duration import format_duration
from ._table import capitalize
from ._tasks import parse_time

COL = 24  # where Docker's tab-aligned values land


def _line(label: str, value: object = "", col: int = COL) -> str:
    return f"{label:<{col}}{value}".rstrip() if value != "" else label


def bytes_size(n: int) -> str:
    """go-units BytesSize: 1.952GiB (4 significant digits, binary units)."""
    units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
    size, i = float(n), 0
    while size >= 1024 and i < len(units) - 1:
        size, i = size / 1024, i + 1
    return f"{size:.4g}{units[i]}"


def _cpus(nano: int) -> str:
    value = nano / 1e9
    return str(int(value)) if value == int(value) else repr(value)


def _when(text: str | None) -> str:
    t = parse_time(text)
    return t.strftime("%Y-%m-%d %H:%M:%S.%f000 +0000 utc") if t else ""


def node_pretty(n: dict, self_id: str = "") -> str:
    spec, desc = n.get("Spec") or {}, n.get("Description") or {}
    status, ms = n.get("Status") or {}, n.get("ManagerStatus")
    out = [_line("ID:", n["ID"] + (" *" if n["ID"] == self_id else ""))]
    if spec.get("Name"):
        out.append(_line("Name:", spec["Name"]))
    if spec.get("Labels"):
        out.append("Labels:")
        out += [f" - {k}" + (f"={v}" if v else "") for k, v in sorted(spec["Labels"].items())]
    out += [_line("Hostname:", desc.get("Hostname", "")), _line("Joined at:", _when(n.get("CreatedAt"))),
            "Status:", _line(" State:", capitalize(status.get("State")))]
    if status.get("Message"):
        out.append(_line(" Message:", status["Message"]))
    out.append(_line(" Availability:", capitalize(spec.get("Availability"))))
    if status.get("Addr"):
        out.append(_line(" Address:", status["Addr"]))
    if ms:
        out += ["Manager Status:", _line(" Address:", ms.get("Addr", "")),
                _line(" Raft Status:", capitalize(ms.get("Reachability"))),
                _line(" Leader:", "Yes" if ms.get("Leader") else "No")]
    platform, res = desc.get("Platform") or {}, desc.get("Resources") or {}
    out += ["Platform:", _line(" Operating System:", platform.get("OS", "")),
            _line(" Architecture:", platform.get("Architecture", "")),
            "Resources:", _line(" CPUs:", _cpus(res.get("NanoCPUs", 0))),
            _line(" Memory:", bytes_size(res.get("MemoryBytes", 0)))]
    engine = desc.get("Engine") or {}
    out.append(_line("Engine Version:", engine.get("EngineVersion", "")))
    if engine.get("Labels"):
        out.append("Engine Labels:")
        out += [f" - {k}" + (f"={v}" if v else "") for k, v in sorted(engine["Labels"].items())]
    tls = desc.get("TLSInfo") or {}
    out += ["TLS Info:", " TrustRoot:", (tls.get("TrustRoot") or "").rstrip(),
            _line(" Issuer Subject:", tls.get("CertIssuerSubject", "")),
            _line(" Issuer Public Key:", tls.get("CertIssuerPublicKey", ""))]
    return "\n".join(out)


def _mode(spec: dict) -> list[str]:
    mode = spec.get("Mode") or {}
    if "Global" in mode:
        return [_line("Service Mode:", "Global", 16)]
    if "Replicated" in mode:
        out = [_line("Service Mode:", "Replicated", 16)]
        replicas = (mode["Replicated"] or {}).get("Replicas")
        return out + ([_line(" Replicas:", replicas, 16)] if replicas is not None else [])
    if "ReplicatedJob" in mode:
        return [_line("Service Mode:", "Replicated Job", 16)]
    return [_line("Service Mode:", "Global Job", 16)]


def _policy(title: str, cfg: dict | None, order_label: str) -> list[str]:
    if not cfg:
        return []
    out = [title, _line(" Parallelism:", cfg.get("Parallelism", 0), 16)]
    if cfg.get("Delay"):
        out.append(_line(" Delay:", format_duration(cfg["Delay"]), 16))
    out.append(_line(" On failure:", cfg.get("FailureAction", ""), 16))
    if cfg.get("Monitor"):
        out.append(f" Monitoring Period: {format_duration(cfg['Monitor'])}")
    out.append(f" Max failure ratio: {cfg.get('MaxFailureRatio', 0)}")
    out.append(f" {order_label:<19}{cfg.get('Order', '')}")
    return out


def _container(cs: dict) -> list[str]:
    out = ["ContainerSpec:", _line(" Image:", cs.get("Image", ""), 16)]
    if cs.get("Args"):
        out.append(_line(" Args:", " ".join(cs["Args"]), 16))
    if cs.get("Env"):
        out.append(_line(" Env:", " ".join(cs["Env"]), 16))
    if cs.get("Dir"):
        out.append(_line(" Dir:", cs["Dir"], 16))
    if "Init" in cs:
        out.append(_line(" Init:", "true" if cs["Init"] else "false", 16))
    if cs.get("User"):
        out.append(f" User: {cs['User']}")
    for m in cs.get("Mounts") or []:
        out += [_line(" Target:", m.get("Target", ""), 16), _line("  Source:", m.get("Source", ""), 16),
                _line("  ReadOnly:", "true" if m.get("ReadOnly") else "false", 16),
                _line("  Type:", m.get("Type", ""), 16)]
    for title, key, name in (("Configs:", "Configs", "ConfigName"), ("Secrets:", "Secrets", "SecretName")):
        if cs.get(key):
            out.append(title)
            for ref in cs[key]:
                out += [_line(" Target:", (ref.get("File") or {}).get("Name", ""), 16),
                        _line("  Source:", ref.get(name, ""), 16)]
    return out


def _resources(res: dict) -> list[str]:
    out = []
    for title, key in ((" Reservations:", "Reservations"), (" Limits:", "Limits")):
        group = res.get(key) or {}
        lines = []
        if group.get("NanoCPUs"):
            lines.append(_line("  CPU:", _cpus(group["NanoCPUs"]), 16))
        if group.get("MemoryBytes"):
            lines.append(_line("  Memory:", bytes_size(group["MemoryBytes"]), 16))
        if group.get("Pids"):
            lines.append(_line("  PIDs:", group["Pids"], 16))
        out += [title] + lines if lines else []
    return (["Resources:"] + out) if out else []


def service_pretty(s: dict) -> str:
    spec = s.get("Spec") or {}
    tt = spec.get("TaskTemplate") or {}
    out = [_line("ID:", s["ID"], 16), _line("Name:", spec.get("Name", ""), 16)]
    if spec.get("Labels"):
        out.append("Labels:")
        out += [f" {k}" + (f"={v}" if v else "") for k, v in sorted(spec["Labels"].items())]
    out += _mode(spec)
    us = s.get("UpdateStatus")
    if us:
        out += ["UpdateStatus:", _line(" State:", us.get("State", ""), 16),
                _line(" Started:", _when(us.get("StartedAt")), 16)]
        if us.get("CompletedAt"):
            out.append(_line(" Completed:", _when(us["CompletedAt"]), 16))
        out.append(_line(" Message:", us.get("Message", ""), 16))
    placement = tt.get("Placement") or {}
    out.append("Placement:")
    if placement.get("Constraints"):
        out.append(_line(" Constraints:", "[" + " ".join(placement["Constraints"]) + "]", 16))
    if placement.get("Preferences"):
        prefs = [f"Spread={(p.get('Spread') or {}).get('SpreadDescriptor', '')}" for p in placement["Preferences"]]
        out.append(f" Preferences:   [{' '.join(prefs)}]")
    if placement.get("MaxReplicas"):
        out.append(f" Max Replicas Per Node:   {placement['MaxReplicas']}")
    out += _policy("UpdateConfig:", spec.get("UpdateConfig"), "Update order:")
    out += _policy("RollbackConfig:", spec.get("RollbackConfig"), "Rollback order:")
    out += _container(tt.get("ContainerSpec") or {})
    out += _resources(tt.get("Resources") or {})
    networks = [n.get("Target", "") for n in tt.get("Networks") or []]
    if networks:
        out.append("Networks: " + " ".join(networks))
    endpoint = spec.get("EndpointSpec") or {}
    out.append(_line("Endpoint Mode:", endpoint.get("Mode", "vip"), 16))
    if endpoint.get("Ports"):
        out.append("Ports:")
        for p in endpoint["Ports"]:
            out += [f" PublishedPort = {p.get('PublishedPort', 0)}", f"  Protocol = {p.get('Protocol', 'tcp')}",
                    f"  TargetPort = {p.get('TargetPort', 0)}", f"  PublishMode = {p.get('PublishMode', 'ingress')}"]
    hc = (tt.get("ContainerSpec") or {}).get("Healthcheck")
    if hc:
        out += [" Healthcheck:", f"  Interval = {format_duration(hc.get('Interval', 0))}",
                f"  Retries = {hc.get('Retries', 0)}", f"  StartPeriod = {format_duration(hc.get('StartPeriod', 0))}",
                f"  Timeout = {format_duration(hc.get('Timeout', 0))}"]
        if hc.get("Test"):
            out += ["  Tests:"] + [f"   Test = {t}" for t in hc["Test"]]
    return "\n".join(out)
