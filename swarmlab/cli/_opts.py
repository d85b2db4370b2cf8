"""Parsers for the value syntaxes of Docker's service flags, each to Engine API JSON.

`-p 8080:80/udp` and `-p published=8080,target=80,mode=host`, `--secret src` and
`--secret source=s,target=t,uid=0,gid=0,mode=0400`, `--mount type=volume,src=..,dst=..`,
`--limit-memory 512M`, `--limit-cpu 0.5`, `--update-delay 10s`, `--label k=v`, `-e KEY`.
Sizes, CPUs and durations are read by `swarmlab.units`, as the compose loader reads them.
Errors are ValueError with Docker's wording, turned into usage errors by the parser.
"""
from __future__ import annotations

import csv
import os

from .. import units

# -- publish ---------------------------------------------------------------------

def parse_publish(value: str) -> list[dict]:
    """One `-p` value to EndpointSpec.Ports entries (a range gives several)."""
    if "=" in value:
        return [_publish_long(value)]
    return _publish_short(value)


def _publish_long(value: str) -> dict:
    port: dict = {"Protocol": "tcp", "PublishMode": "ingress"}
    for field in _csv_fields(value):
        key, sep, val = field.partition("=")
        if not sep:
            raise ValueError(f"invalid field {field} must be a key=value pair")
        key = key.strip().lower()
        if key == "mode":
            if val not in ("ingress", "host"):
                raise ValueError(f"invalid publish mode value ({val}): must be either 'ingress' or 'host'")
            port["PublishMode"] = val
        elif key == "protocol":
            if val not in ("tcp", "udp", "sctp"):
                raise ValueError(f"invalid protocol value '{val}'")
            port["Protocol"] = val
        elif key == "target":
            port["TargetPort"] = _port_number(val)
        elif key == "published":
            port["PublishedPort"] = _port_number(val)
        else:
            raise ValueError(f"invalid field key {key}")
    if "TargetPort" not in port:
        raise ValueError("missing mandatory field 'target'")
    return _port_order(port)


def _publish_short(value: str) -> list[dict]:
    spec, _, proto = value.partition("/")
    proto = proto or "tcp"
    if proto not in ("tcp", "udp", "sctp"):
        raise ValueError(f"invalid proto: {proto}")
    parts = spec.split(":")
    if len(parts) > 2:
        raise ValueError("hostip is not supported")
    published, target = (parts if len(parts) == 2 else ["", parts[0]])
    targets = _port_range(target)
    publisheds = _port_range(published) if published else [0] * len(targets)
    if len(publisheds) != len(targets):
        raise ValueError(f"invalid ranges specified for container and host Ports: {target} and {published}")
    return [_port_order({"Protocol": proto, "TargetPort": t, "PublishedPort": p,
                         "PublishMode": "ingress"}) for p, t in zip(publisheds, targets)]


def _port_range(text: str) -> list[int]:
    lo, sep, hi = text.partition("-")
    start = _port_number(lo)
    end = _port_number(hi) if sep else start
    if end < start:
        raise ValueError(f"invalid range specified for port: {text}")
    return list(range(start, end + 1))


def _port_number(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise ValueError(f"invalid port: {text}") from None
    if not 0 <= n <= 65535:
        raise ValueError(f"invalid port: {text}")
    return n


def _port_order(port: dict) -> dict:
    """Go's struct order and omitempty for swarm.PortConfig."""
    keys = ("Name", "Protocol", "TargetPort", "PublishedPort", "PublishMode")
    return {k: port[k] for k in keys if port.get(k)}


def port_key(port: dict) -> tuple:
    """What `--publish-rm` matches on: the published (or target) port and protocol."""
    return (port.get("PublishedPort") or port.get("TargetPort"), port.get("Protocol", "tcp"))

# -- secrets and configs ---------------------------------------------------------

def parse_file_reference(value: str, *, is_config: bool) -> dict:
    """`--secret`/`--config` to a reference with Docker's defaults (uid 0, gid 0, 0444).

    The name stays in SecretName/ConfigName; the caller resolves it to an ID."""
    ref = {"source": "", "target": "", "uid": "0", "gid": "0", "mode": 0o444}
    if "=" not in value:
        ref["source"] = value
    else:
        for field in _csv_fields(value):
            key, sep, val = field.partition("=")
            if not sep:
                raise ValueError(f"invalid field '{field}' must be a key=value pair")
            key = key.strip().lower()
            if key in ("source", "src"):
                ref["source"] = val
            elif key == "target":
                ref["target"] = val
            elif key in ("uid", "gid"):
                ref[key] = val
            elif key == "mode":
                try:
                    ref["mode"] = int(val, 8)
                except ValueError:
                    raise ValueError(f"invalid mode specified: {val}") from None
            else:
                raise ValueError(f"invalid field in secret request: {key}")
    if not ref["source"]:
        raise ValueError("source is required")
    kind = "Config" if is_config else "Secret"
    return {"File": {"Name": ref["target"] or ref["source"], "UID": ref["uid"],
                     "GID": ref["gid"], "Mode": ref["mode"]},
            f"{kind}ID": "", f"{kind}Name": ref["source"]}

# -- mounts ----------------------------------------------------------------------

_MOUNT_KEYS = {"type": "Type", "source": "Source", "src": "Source", "target": "Target",
               "destination": "Target", "dst": "Target", "consistency": "Consistency"}


def parse_mount(value: str) -> dict:
    mount: dict = {"Type": "volume"}
    for field in _csv_fields(value):
        key, sep, val = field.partition("=")
        key = key.strip().lower()
        if key in ("readonly", "ro"):
            mount["ReadOnly"] = (not sep) or val.lower() in ("1", "true")
        elif key in _MOUNT_KEYS and sep:
            mount[_MOUNT_KEYS[key]] = val
        elif key == "volume-nocopy":
            mount.setdefault("VolumeOptions", {})["NoCopy"] = (not sep) or val == "true"
        elif key == "volume-label" and sep:
            k, _, v = val.partition("=")
            mount.setdefault("VolumeOptions", {}).setdefault("Labels", {})[k] = v
        elif key == "tmpfs-size" and sep:
            mount.setdefault("TmpfsOptions", {})["SizeBytes"] = parse_mem_bytes(val)
        elif key == "tmpfs-mode" and sep:
            mount.setdefault("TmpfsOptions", {})["Mode"] = int(val, 8)
        elif key == "bind-propagation" and sep:
            mount.setdefault("BindOptions", {})["Propagation"] = val
        else:
            raise ValueError(f"unexpected key '{key}' in '{field}'")
    if mount["Type"] not in ("bind", "volume", "tmpfs", "npipe", "cluster"):
        raise ValueError(f"invalid mount type: {mount['Type']}")
    if "Target" not in mount:
        raise ValueError("target is required")
    return mount

# -- sizes, cpus, key=value lists --------------------------------------------------

def parse_mem_bytes(text: str) -> int:
    """go-units RAMInBytes: `512m`, `1G`, `1.5GiB`, `1024` (binary multiples)."""
    return units.ram_in_bytes(text)


def parse_nano_cpus(text: str) -> int:
    """Docker's NanoCPUs: `0.5` -> 500000000; finer than one nano-CPU is refused."""
    return units.parse_cpus(text)


def parse_positive_duration(text: str) -> int:
    """Docker's DurationOpt: a Go duration that must not be negative."""
    ns = units.parse_duration(text)
    if ns < 0:
        raise ValueError("duration cannot be negative")
    return ns


def kv_map(items: list[str] | None) -> dict[str, str]:
    """`--label k=v --label flag` -> {"k": "v", "flag": ""} (Docker's ConvertKVStringsToMap)."""
    out: dict[str, str] = {}
    for item in items or []:
        key, _, val = item.partition("=")
        out[key] = val
    return out


def env_list(items: list[str] | None) -> list[str]:
    """`-e KEY=V` as is; `-e KEY` takes KEY from this shell's environment, as Docker does."""
    out = []
    for item in items or []:
        if "=" not in item and item in os.environ:
            item = f"{item}={os.environ[item]}"
        out.append(item)
    return out


def _csv_fields(value: str) -> list[str]:
    return next(csv.reader([value]))
