"""A seeded corpus of malformed compose files, made by mutating valid ones.

Every mutation is one that makes a file wrong (Docker would refuse it too): bad YAML,
duplicate or non-string keys, unknown keys, wrong types, bad ports, bad durations,
bad enums, undefined references, forbidden options, bad interpolation, bad versions,
invalid names or constraints, conflicting ports. `corpus(seed)` returns
``[(label, text)]``; the same seed gives the same corpus, and a failing label says
which mutation of which base made it.
"""
from __future__ import annotations

import copy
import random
from typing import Any, Callable

import yaml

from swarmlab.stack import sample_path

SMALL = {
    "version": "3.8",
    "services": {
        "web": {"image": "swarmlab/web:1", "ports": ["18080:80"],
                "healthcheck": {"test": ["CMD", "true"], "interval": "2s"},
                "deploy": {"replicas": 2,
                           "update_config": {"parallelism": 1, "delay": "1s", "order": "start-first"},
                           "restart_policy": {"condition": "on-failure", "delay": "1s", "window": "10s"},
                           "placement": {"constraints": ["node.role == worker"]},
                           "resources": {"limits": {"cpus": "0.5", "memory": "64M"}}}},
        "kv": {"image": "swarmlab/kv:1", "environment": {"A": "1"},
               "deploy": {"mode": "global"}},
    },
}


def _bases() -> dict[str, dict]:
    vote = yaml.safe_load(sample_path("vote").read_text())
    return {"small": SMALL, "vote": vote}


Mutation = Callable[[dict, random.Random], None]


def _svc(doc: dict, rng: random.Random) -> dict:
    return doc["services"][rng.choice(sorted(doc["services"]))]


def _deploy(doc: dict, rng: random.Random) -> dict:
    return _svc(doc, rng).setdefault("deploy", {})


def _set(path: tuple, value_choices: list) -> Mutation:
    def mutate(doc: dict, rng: random.Random) -> None:
        target = _svc(doc, rng)
        for key in path[:-1]:
            target = target.setdefault(key, {})
            if not isinstance(target, dict):
                return
        target[path[-1]] = rng.choice(value_choices)
        if path[0] == "deploy" and path[-1] == "replicas" and target.get("mode") == "global":
            target["mode"] = "replicated"
    return mutate


def _unknown_key(where: tuple) -> Mutation:
    def mutate(doc: dict, rng: random.Random) -> None:
        target = _svc(doc, rng)
        for key in where:
            target = target.setdefault(key, {})
        target[rng.choice(["replicaz", "imagee", "portz", "foo", "Deploy", "restart_polcy"])] = \
            rng.choice([1, "x", [1], {"a": 1}])
    return mutate


def _top(key: str, values: list) -> Mutation:
    def mutate(doc: dict, rng: random.Random) -> None:
        doc[key] = rng.choice(values)
    return mutate


def _drop_image(doc: dict, rng: random.Random) -> None:
    _svc(doc, rng).pop("image", None)


def _rename_service(doc: dict, rng: random.Random) -> None:
    name = rng.choice(sorted(doc["services"]))
    doc["services"][rng.choice(["my.svc", "a.b", "x" * 70, "-lead", "trail-"])] = doc["services"].pop(name)


def _port_clash(doc: dict, rng: random.Random) -> None:
    for svc in doc["services"].values():
        svc["ports"] = [f"{rng.randint(20000, 20100)}:80"] * 1
    first = sorted(doc["services"])[0]
    for svc in doc["services"].values():
        svc["ports"] = list(doc["services"][first]["ports"])


def _undefined(kind: str) -> Mutation:
    def mutate(doc: dict, rng: random.Random) -> None:
        _svc(doc, rng)[kind] = [rng.choice(["nope", "missing", "ghost"])]
    return mutate


MUTATIONS: dict[str, Mutation] = {
    "unknown-service-key": _unknown_key(()),
    "unknown-deploy-key": _unknown_key(("deploy",)),
    "unknown-update-key": _unknown_key(("deploy", "update_config")),
    "unknown-restart-key": _unknown_key(("deploy", "restart_policy")),
    "unknown-placement-key": _unknown_key(("deploy", "placement")),
    "unknown-top-key": _top("servicez", [{"a": {"image": "x"}}, 1]),
    "retype-replicas": _set(("deploy", "replicas"), ["many", [1], {"n": 1}, 1.5, "3"]),
    "retype-image": _set(("image",), [42, ["swarmlab/web:1"], {"name": "x"}, True]),
    "retype-ports": _set(("ports",), [{"80": 80}, "80:80", 80]),
    "retype-environment": _set(("environment",), ["A=1", 5, [{"A": 1}]]),
    "retype-deploy": _set(("deploy",), ["fast", [1, 2], 3]),
    "retype-labels": _set(("deploy", "labels"), ["a=b", 3]),
    "retype-constraints": _set(("deploy", "placement", "constraints"), ["node.role==worker", [1, 2]]),
    "retype-services": _top("services", [["web"], "web", 3]),
    "bad-port-short": _set(("ports",), [["abc:80"], ["80:80:80:80"], ["70000:80"], ["1-3:1-2"],
                                        ["80/xyz"], ["8080:"], ["-1:80"]]),
    "bad-port-long": _set(("ports",), [[{"target": "web"}], [{"target": 80, "published": "x"}],
                                       [{"target": 80, "mode": "bridge"}], [{"published": 80}],
                                       [{"target": 80, "protocol": "icmp"}], [{"target": 99999}]]),
    "bad-duration": _set(("deploy", "update_config", "delay"), ["10 seconds", "5x", "abc", "1..5s", 10]),
    "bad-duration-restart": _set(("deploy", "restart_policy", "window"), ["2 min", "forever", "1h-"]),
    "bad-duration-health": _set(("healthcheck", "interval"), ["2", "soon", "1d"]),
    "bad-stop-grace": _set(("stop_grace_period",), ["90", "1.5 minutes", "s"]),
    "bad-order": _set(("deploy", "update_config", "order"), ["sideways", "first", ""]),
    "bad-mode": _set(("deploy", "mode"), ["sometimes", "replica", "Global"]),
    "bad-endpoint-mode": _set(("deploy", "endpoint_mode"), ["round", "ipvs", "dns"]),
    "bad-failure-action": _set(("deploy", "update_config", "failure_action"), ["explode", "retry"]),
    "bad-restart-condition": _set(("deploy", "restart_policy", "condition"), ["sometimes", "always"]),
    "bad-ratio": _set(("deploy", "update_config", "max_failure_ratio"), [2, -0.5, 7.5]),
    "negative-replicas": _set(("deploy", "replicas"), [-1, -5]),
    "global-with-replicas": lambda d, r: _deploy(d, r).update(mode="global", replicas=2),
    "bad-cpus": _set(("deploy", "resources", "limits", "cpus"), ["lots", "1/0", "0.0000000001"]),
    "bad-memory": _set(("deploy", "resources", "limits", "memory"), ["12XB", "lots", "1 gig"]),
    "bad-constraint": _set(("deploy", "placement", "constraints"),
                           [["node.role ~ manager"], ["node.role"], ["== worker"], ["node.role = worker"]]),
    "undefined-secret": _undefined("secrets"),
    "undefined-config": _undefined("configs"),
    "undefined-network": _undefined("networks"),
    "forbidden": _set(("mem_limit",), ["1g"]),
    "forbidden-extends": _set(("extends",), [{"service": "web"}]),
    "forbidden-volumes-from": _set(("volumes_from",), [["web"]]),
    "bad-interpolation": _set(("image",), ["${", "swarmlab/${", "${NEED:?must be set}", "${A B}"]),
    "bad-version": _top("version", ["2.4", "4.0", 3.8, "1", ["3.8"]]),
    "drop-image": _drop_image,
    "bad-service-name": _rename_service,
    "port-clash": _port_clash,
    "health-test-and-disable": _set(("healthcheck",), [{"test": ["CMD", "true"], "disable": True}]),
    "missing-secret-file": lambda d, r: (d.setdefault("secrets", {}).update(s={"file": "./no-such-file"}),
                                         _svc(d, r).update(secrets=["s"])),
    "secret-without-source": lambda d, r: (d.setdefault("secrets", {}).update(s={"labels": {"a": "b"}}),
                                           _svc(d, r).update(secrets=["s"])),
}


def _text_mutations(text: str, rng: random.Random) -> list[tuple[str, str]]:
    lines = text.splitlines()
    image_lines = [i for i, line in enumerate(lines) if line.strip().startswith("image:")]
    i = rng.choice(image_lines)
    indent = lines[i][: len(lines[i]) - len(lines[i].lstrip())]
    dup = lines[:i + 1] + [f"{indent}image: swarmlab/web:2"] + lines[i + 1:]
    tab = lines[:i] + ["\t" + lines[i].lstrip()] + lines[i + 1:]
    unclosed = lines[:i] + [f"{indent}image: [swarmlab/web:1"] + lines[i + 1:]
    quote = lines[:i] + [f"{indent}image: \"swarmlab/web:1"] + lines[i + 1:]
    intkey = lines[:i] + [f"{indent}80: http"] + lines[i:]
    colon = lines[:i] + [f"{indent}image: a: b: c"] + lines[i:]
    stray = lines[:i + 1] + [f"{indent}- stray"] + lines[i + 1:]
    return [("yaml-duplicate-key", "\n".join(dup)), ("yaml-tab", "\n".join(tab)),
            ("yaml-unclosed", "\n".join(unclosed)), ("yaml-quote", "\n".join(quote)),
            ("yaml-int-key", "\n".join(intkey)), ("yaml-colons", "\n".join(colon)),
            ("yaml-stray-item", "\n".join(stray)),
            ("yaml-not-mapping", "- " + "\n- ".join(lines[:3])),
            ("yaml-scalar", "just a string"), ("yaml-empty", "")]


def corpus(seed: int = 7, rounds: int = 3) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    out: dict[str, str] = {}
    for base_name, base in _bases().items():
        base_text = yaml.safe_dump(base, sort_keys=False)
        for r in range(rounds):
            for name, mutate in MUTATIONS.items():
                doc = copy.deepcopy(base)
                mutate(doc, rng)
                text = yaml.safe_dump(doc, sort_keys=False)
                out.setdefault(text, f"{base_name}/{name}/{r}")
            for name, text in _text_mutations(base_text, rng):
                out.setdefault(text, f"{base_name}/{name}/{r}")
    return [(label, text) for text, label in out.items()]


# -- hostile files: small texts that try to make the loader huge or slow (issue 18) ---------
def _merge_bomb(levels: int = 12, width: int = 4) -> str:
    """Merge keys over aliases: each level merges the last one `width` times (4^12 entries)."""
    lines = ['version: "3.8"', "x-m0: &m0 {a: 1, b: 2, c: 3, d: 4}"]
    for i in range(1, levels + 1):
        lines.append(f"x-m{i}: &m{i} {{<<: [" + ", ".join([f"*m{i - 1}"] * width) + "]}")
    lines += ["services:", "  web:", "    image: swarmlab/web:1", f"    x-all: *m{levels}"]
    return "\n".join(lines) + "\n"


def _merge_alias_bomb(levels: int = 24) -> str:
    """Each level merges the last one and holds it once more: the tree doubles per level."""
    lines = ['version: "3.8"', "x-b0: &b0 {k: v}"]
    lines += [f"x-b{i}: &b{i} {{<<: *b{i - 1}, k{i}: *b{i - 1}}}" for i in range(1, levels + 1)]
    lines += ["services:", "  web:", "    image: swarmlab/web:1", f"    x-all: *b{levels}"]
    return "\n".join(lines) + "\n"


def _alias_bomb() -> str:
    lines = ['version: "3.8"', "x-a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"x-a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    return "\n".join(lines) + "\nservices: {}\n"


def _merge_chain(n: int = 1000) -> str:
    """A long chain of anchors, each merging the one before: n^2/2 entries copied."""
    lines = ['version: "3.8"', "x-c0: &c0 {k0: 0}"]
    lines += [f"x-c{i}: &c{i} {{<<: *c{i - 1}, k{i}: {i}}}" for i in range(1, n + 1)]
    return "\n".join(lines) + "\nservices: {}\n"


def _alias_chain(n: int = 2000) -> str:
    """A long chain of anchors, each holding the one before: nesting n deep, in a flat file."""
    lines = ['version: "3.8"', "x-d0: &d0 [x]"]
    lines += [f"x-d{i}: &d{i} [*d{i - 1}]" for i in range(1, n + 1)]
    return "\n".join(lines) + "\nservices: {}\n"


def _many_keys(n: int = 60_000) -> str:
    return 'version: "3.8"\nservices: {}\nx-many:\n' + "".join(f"  k{i}: {i}\n" for i in range(n))


def _many_services(n: int = 2000) -> str:
    return 'version: "3.8"\nservices:\n' + "".join(f"  s{i}: {{image: swarmlab/web:1}}\n" for i in range(n))


def _aliased_services(n: int = 3000) -> str:
    return ('version: "3.8"\nx-svc: &svc {image: swarmlab/web:1}\nservices:\n'
            + "".join(f"  s{i}: *svc\n" for i in range(n)))


def _service(extra: str) -> str:
    return 'version: "3.8"\nservices:\n  web:\n    image: swarmlab/web:1\n' + extra


HOSTILE: dict[str, tuple[Callable[[], str], str]] = {
    # label: (text maker, what the error must say)
    "merge-bomb": (_merge_bomb, "once merge keys are expanded"),
    "merge-alias-bomb": (_merge_alias_bomb, "once aliases are expanded"),
    "alias-bomb": (_alias_bomb, "once aliases are expanded"),
    "merge-chain": (_merge_chain, "once merge keys are expanded"),
    "alias-chain": (_alias_chain, "exceeded max depth of"),
    "self-alias": (lambda: 'version: "3.8"\nx-loop: &loop [*loop]\nservices: {}\n',
                   "anchor 'loop' value contains itself"),
    "self-merge": (lambda: 'version: "3.8"\nx-loop: &loop {k: {<<: *loop}}\nservices: {}\n',
                   "anchor 'loop' value contains itself"),
    "deep-flow-seq": (lambda: 'version: "3.8"\nservices: {}\nx-deep: ' + "[" * 20000 + "]" * 20000 + "\n",
                      "exceeded max depth of"),
    "deep-flow-map": (lambda: 'version: "3.8"\nservices: {}\nx-deep: ' + "{a: " * 20000 + "1" + "}" * 20000 + "\n",
                      "exceeded max depth of"),
    "deep-block-seq": (lambda: 'version: "3.8"\nservices: {}\nx-deep:\n  ' + "- " * 20000 + "x\n",
                       "exceeded max depth of"),
    "deep-block-map": (lambda: 'version: "3.8"\nservices: {}\nx-deep:\n'
                       + "".join(" " * (i + 1) + "a:\n" for i in range(1000)) + " " * 1001 + "x\n",
                       "exceeded max depth of"),
    "huge-scalar": (lambda: _service("    x-big: " + "a" * (8 << 20) + "\n"), "file too large"),
    "huge-quoted-scalar": (lambda: _service('    x-big: "' + "a" * 600_000 + '"\n'), "scalar too long"),
    "many-keys": (_many_keys, "document too large"),
    "many-services": (_many_services, "too many services"),
    "aliased-services": (_aliased_services, "too many services"),
    "many-replicas": (lambda: _service("    deploy:\n      replicas: 1000000000\n"), "replicas"),
    "port-range": (lambda: _service('    ports: ["1-65535:1-65535"]\n'), "ports"),
    "interpolation-bomb": (lambda: _service("    environment:\n" + "".join(
        f"      V{i}: {'${BIG}' * 200}\n" for i in range(100))), "error while interpolating"),
    "nested-defaults": (lambda: _service("    deploy:\n      replicas: " + "${A:-" * 20000
                                         + "1" + "}" * 20000 + "\n"), "replicas"),
    "extends-chain": (lambda: 'version: "3.8"\nservices:\n  s0: {image: a}\n' + "".join(
        f"  s{i}: {{image: a, extends: {{service: s{i - 1}}}}}\n" for i in range(1, 90)),
        "extends: Support for `extends` is not implemented yet."),
    "long-integer": (lambda: _service("    deploy:\n      replicas: " + "1" * 5000 + "\n"), "integer too long"),
    "sexagesimal-integer": (lambda: _service("    x-n: " + "1:" * 30000 + "1\n"), "integer too long"),
    "huge-memory": (lambda: _service("    deploy:\n      resources:\n        limits:\n"
                                     '          memory: "' + "9" * 100_000 + 'g"\n'), "invalid size"),
    "secret-from-dev-zero": (lambda: _service("    secrets: [z]\nsecrets:\n  z:\n    file: /dev/zero\n"),
                             "secret data must be larger than 0 and less than"),
}

#: What `${BIG}` is in the interpolation bomb: 100 KiB, 20,000 times.
HOSTILE_ENV = {"BIG": "x" * 100_000}


def hostile() -> list[tuple[str, str, str]]:
    """``[(label, text, expected words)]``: every one must be refused fast, in little memory."""
    return [(label, make(), words) for label, (make, words) in HOSTILE.items()]
