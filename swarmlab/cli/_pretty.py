"""`inspect --pretty` for nodes, services, secrets and configs, character for character
as docker 28 prints them (its templates align with tabs; so do these)."""
from __future__ import annotations

import base64
import re

from ..units import format_duration
from ._table import capitalize


def go_time(text: str | None) -> str:
    """Go's time.String() of an API timestamp, as Docker's pretty templates print it:
    `2026-11-25 12:24:28.596350123 +0000 utc` (trailing zeros of the fraction trimmed)."""
    m = re.match(r"(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)(?:\.(\d+))?Z$", text or "")
    if not m:
        return text or ""
    frac = (m.group(3) or "").rstrip("0")
    return f"{m.group(1)} {m.group(2)}{'.' + frac if frac else ''} +0000 utc"


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


def _labels(labels: dict | None, prefix: str) -> list[str]:
    if not labels:
        return []
    return ["Labels:"] + [f"{prefix}{k}" + (f"={v}" if v else "") for k, v in sorted(labels.items())]


def node_pretty(n: dict) -> str:
    spec, desc = n.get("Spec") or {}, n.get("Description") or {}
    status, ms = n.get("Status") or {}, n.get("ManagerStatus")
    out = [f"ID:\t\t\t{n['ID']}"]
    if spec.get("Name"):
        out.append(f"Name:\t\t\t{spec['Name']}")
    out += _labels(spec.get("Labels"), " - ")
    out += [f"Hostname:              \t{desc.get('Hostname', '')}",
            f"Joined at:             \t{go_time(n.get('CreatedAt'))}",
            "Status:", f" State:\t\t\t{capitalize(status.get('State'))}"]
    if status.get("Message"):
        out.append(f" Message:              \t{status['Message']}")
    out.append(f" Availability:         \t{capitalize(spec.get('Availability'))}")
    if status.get("Addr"):
        out.append(f" Address:\t\t{status['Addr']}")
    if ms:
        out += ["Manager Status:", f" Address:\t\t{ms.get('Addr', '')}",
                f" Raft Status:\t\t{capitalize(ms.get('Reachability'))}",
                f" Leader:\t\t{'Yes' if ms.get('Leader') else 'No'}"]
    platform, res = desc.get("Platform") or {}, desc.get("Resources") or {}
    out += ["Platform:", f" Operating System:\t{platform.get('OS', '')}",
            f" Architecture:\t\t{platform.get('Architecture', '')}",
            "Resources:", f" CPUs:\t\t\t{_cpus(res.get('NanoCPUs', 0))}",
            f" Memory:\t\t{bytes_size(res.get('MemoryBytes', 0))}"]
    engine = desc.get("Engine") or {}
    out.append(f"Engine Version:\t\t{engine.get('EngineVersion', '')}")
    if engine.get("Labels"):
        out.append("Engine Labels:")
        out += [f" - {k}" + (f"={v}" if v else "") for k, v in sorted(engine["Labels"].items())]
    tls = desc.get("TLSInfo") or {}
    out += ["TLS Info:", " TrustRoot:", (tls.get("TrustRoot") or "").rstrip("\n"),
            f" Issuer Subject:\t{tls.get('CertIssuerSubject', '')}",
            f" Issuer Public Key:\t{tls.get('CertIssuerPublicKey', '')}"]
    return "\n".join(out) + "\n"


def _mode(mode: dict) -> list[str]:
    if "Global" in mode:
        return ["Service Mode:\tGlobal"]
    if "Replicated" in mode:
        replicas = (mode["Replicated"] or {}).get("Replicas")
        return ["Service Mode:\tReplicated"] + ([f" Replicas:\t{replicas}"] if replicas else [])
    return ["Service Mode:"]


def _policy(title: str, cfg: dict | None, order_label: str) -> list[str]:
    if not cfg:
        return []
    out = [title, f" Parallelism:\t{cfg.get('Parallelism', 0)}"]
    if cfg.get("Delay"):
        out.append(f" Delay:\t\t{format_duration(cfg['Delay'])}")
    out.append(f" On failure:\t{cfg.get('FailureAction', '')}")
    if cfg.get("Monitor"):
        out.append(f" Monitoring Period: {format_duration(cfg['Monitor'])}")
    out += [f" Max failure ratio: {cfg.get('MaxFailureRatio', 0)}", f" {order_label}{cfg.get('Order', '')}"]
    return out


def _container(cs: dict) -> list[str]:
    out = ["ContainerSpec:", f" Image:\t\t{cs.get('Image', '')}"]
    if cs.get("Args"):
        out.append(" Args:\t\t" + "".join(a + " " for a in cs["Args"]))
    if cs.get("Env"):
        out.append(" Env:\t\t" + "".join(e + " " for e in cs["Env"]))
    if cs.get("Dir"):
        out.append(f" Dir:\t\t{cs['Dir']}")
    if "Init" in cs and cs["Init"] is not None:
        out.append(f" Init:\t\t{'true' if cs['Init'] else 'false'}")
    if cs.get("User"):
        out.append(f" User: {cs['User']}")
    if cs.get("Mounts"):
        out.append("Mounts:")
    for m in cs.get("Mounts") or []:
        out += [f" Target:\t{m.get('Target', '')}", f"  Source:\t{m.get('Source', '')}",
                f"  ReadOnly:\t{'true' if m.get('ReadOnly') else 'false'}", f"  Type:\t\t{m.get('Type', '')}"]
    for title, key, name in (("Configs:", "Configs", "ConfigName"), ("Secrets:", "Secrets", "SecretName")):
        if cs.get(key):
            out.append(title)
            for ref in cs[key]:
                out += [f" Target:\t{(ref.get('File') or {}).get('Name', '')}", f"  Source:\t{ref.get(name, '')}"]
    return out


def _resources(res: dict) -> list[str]:
    out = []
    for title, key in ((" Reservations:", "Reservations"), (" Limits:", "Limits")):
        group = res.get(key) or {}
        lines = []
        if group.get("NanoCPUs"):
            lines.append(f"  CPU:\t\t{_cpus(group['NanoCPUs'])}")
        if group.get("MemoryBytes"):
            lines.append(f"  Memory:\t{bytes_size(group['MemoryBytes'])}")
        if lines:
            out += [title] + lines
    pids = (res.get("Limits") or {}).get("Pids")
    return (["Resources:"] + out if out else []) + ([f"  PIDs:\t\t{pids}"] if pids else [])


def service_pretty(s: dict) -> str:
    spec = s.get("Spec") or {}
    tt = spec.get("TaskTemplate") or {}
    out = [f"ID:\t\t{s['ID']}", f"Name:\t\t{spec.get('Name', '')}"]
    out += _labels(spec.get("Labels"), " ")
    out += _mode(spec.get("Mode") or {})
    us = s.get("UpdateStatus")
    if us:
        out += ["UpdateStatus:", f" State:\t\t{us.get('State', '')}"]
        if us.get("StartedAt"):
            out.append(f" Started:\t{go_time(us['StartedAt'])}")
        if us.get("State") == "completed" and us.get("CompletedAt"):
            out.append(f" Completed:\t{go_time(us['CompletedAt'])}")
        out.append(f" Message:\t{us.get('Message', '')}")
    placement = tt.get("Placement") or {}
    out.append("Placement:")
    if placement.get("Constraints"):
        out.append(f" Constraints:\t[{' '.join(placement['Constraints'])}]")
    if placement.get("Preferences"):
        prefs = [f"Spread={(p.get('Spread') or {}).get('SpreadDescriptor', '')}" for p in placement["Preferences"]]
        out.append(f" Preferences:   [{' '.join(prefs)}]")
    if placement.get("MaxReplicas"):
        out.append(f" Max Replicas Per Node:   {placement['MaxReplicas']}")
    out += _policy("UpdateConfig:", spec.get("UpdateConfig"), "Update order:      ")
    out += _policy("RollbackConfig:", spec.get("RollbackConfig"), "Rollback order:    ")
    out += _container(tt.get("ContainerSpec") or {})
    out += _resources(tt.get("Resources") or {})
    networks = [n.get("Target", "") for n in tt.get("Networks") or []]
    if networks:
        out.append("Networks:" + "".join(f" {n}" for n in networks) + " ")
    endpoint = spec.get("EndpointSpec") or {}
    out.append(f"Endpoint Mode:\t{endpoint.get('Mode', '')}")
    if endpoint.get("Ports"):
        out.append("Ports:")
        for p in endpoint["Ports"]:
            out += [f" PublishedPort = {p.get('PublishedPort', 0)}", f"  Protocol = {p.get('Protocol', '')}",
                    f"  TargetPort = {p.get('TargetPort', 0)}", f"  PublishMode = {p.get('PublishMode', '')}"]
        out[-1] += " "
    out += _healthcheck((tt.get("ContainerSpec") or {}).get("Healthcheck"))
    return "\n" + "\n".join(out) + "\n\n"


def _healthcheck(hc: dict | None) -> list[str]:
    if not hc:
        return []
    out = [" Healthcheck:", f"  Interval = {format_duration(hc.get('Interval', 0))}",
           f"  Retries = {hc.get('Retries', 0)}", f"  StartPeriod =\t{format_duration(hc.get('StartPeriod', 0))}",
           f"  Timeout =\t{format_duration(hc.get('Timeout', 0))}"]
    if hc.get("Test"):
        out += ["  Tests:"] + [f"\t Test = {t}" for t in hc["Test"]]
    return out


def secret_pretty(item: dict) -> str:
    spec = item["Spec"]
    out = [f"ID:              {item['ID']}", f"Name:              {spec['Name']}"]
    out += _labels(spec.get("Labels"), " - ")
    out += [f"Driver:            {(spec.get('Driver') or {}).get('Name', '')}",
            f"Created at:        {go_time(item.get('CreatedAt'))}",
            f"Updated at:        {go_time(item.get('UpdatedAt'))}"]
    return "\n".join(out) + "\n"


def config_pretty(item: dict) -> str:
    spec = item["Spec"]
    out = [f"ID:\t\t\t{item['ID']}", f"Name:\t\t\t{spec['Name']}"]
    out += _labels(spec.get("Labels"), " - ")
    out += [f"Created at:            \t{go_time(item.get('CreatedAt'))}",
            f"Updated at:            \t{go_time(item.get('UpdatedAt'))}",
            "Data:", base64.b64decode(spec.get("Data") or "").decode("utf-8", "replace")]
    return "\n".join(out) + "\n"
