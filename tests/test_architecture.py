"""The layering, enforced: each rule below fails the moment an import breaks it.

The package is read as text (ast), never imported, so a rule holds for function-level and
TYPE_CHECKING imports too: an import dodged into a function is still an import. The rules
are the design's (README, "How it is built"):

- the Raft core is pure: it imports nothing of the outside world, only itself and a few
  computational stdlib modules (randomness comes in as an injected `random.Random`);
- the object model, the clock, the timing profiles and Docker's units are leaves;
- the store never imports Raft; the control plane knows no HTTP, no Raft shell, no node;
- runtimes know only their spec (and the task-state leaf), never the mesh or the control plane;
- figures (`viz/`) are pure: no lab, no docker-py, no network;
- the node is a composition root: nothing imports the daemon but the node's entry points,
  and the Engine API and the agent stand below the node;
- no import circles anywhere in the package.
"""
from __future__ import annotations

import ast
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1] / "swarmlab"
STDLIB = set(sys.stdlib_module_names)


def _module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES: dict[str, pathlib.Path] = {
    _module_name(p): p for p in ROOT.rglob("*.py") if "__pycache__" not in p.parts}


def _package_of(name: str) -> str:
    path = MODULES[name]
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


def _imports(name: str) -> set[str]:
    """Every module `name` imports, as dotted names; a `from pkg import sub` of a submodule
    counts as importing the submodule itself."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(MODULES[name].read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = _package_of(name).split(".")
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            subs = {f"{mod}.{a.name}" for a in node.names if f"{mod}.{a.name}" in MODULES}
            out |= subs
            if len(subs) < len(node.names):
                out.add(mod)
    return out


IMPORTS = {name: _imports(name) for name in MODULES}


def _in(name: str, *prefixes: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _violations(sources: list[str], allowed) -> list[str]:
    return sorted(f"{m} imports {i}" for m in sources for i in IMPORTS[m] if not allowed(m, i))


def _modules_in(*prefixes: str, but: tuple[str, ...] = ()) -> list[str]:
    mods = [m for m in MODULES if _in(m, *prefixes) and not _in(m, *but)]
    assert mods, f"no modules under {prefixes}: the layout moved, update this test"
    return mods


PURE_STDLIB = {"__future__", "abc", "bisect", "collections", "dataclasses", "enum",
               "functools", "heapq", "itertools", "math", "typing"}


def test_the_raft_core_is_pure():
    def ok(m: str, i: str) -> bool:
        if i == "random":
            return _random_ok(m)
        return (i.split(".")[0] in PURE_STDLIB
                or _in(i, "swarmlab.raft") and not _in(i, "swarmlab.raft.shell"))
    # `python -m swarmlab.raft` runs the shell: the entry point is not the core
    core = _modules_in("swarmlab.raft", but=("swarmlab.raft.shell", "swarmlab.raft.__main__"))
    bad = _violations(core, ok)
    assert not bad, bad


def _random_ok(name: str) -> bool:
    """`from random import Random` (a type to inject) is fine; `import random` is not."""
    for node in ast.walk(ast.parse(MODULES[name].read_text())):
        if isinstance(node, ast.Import) and any(a.name == "random" for a in node.names):
            return False
        if isinstance(node, ast.ImportFrom) and node.module == "random":
            if [a.name for a in node.names] != ["Random"]:
                return False
    return True


@pytest.mark.parametrize("leaf", ["swarmlab.objects", "swarmlab.clock", "swarmlab.profiles",
                                  "swarmlab._version"])
def test_leaves_import_nothing_of_swarmlab(leaf):
    bad = _violations(_modules_in(leaf), lambda m, i: not _in(i, "swarmlab") or _in(i, leaf))
    assert not bad, bad


def test_leaves_do_no_io():
    io = ("asyncio", "socket", "threading", "subprocess", "aiohttp", "docker", "requests")
    bad = _violations(_modules_in("swarmlab.objects", "swarmlab.profiles", "swarmlab.units"),
                      lambda m, i: not _in(i, *io))
    assert not bad, bad


def test_the_store_never_imports_raft():
    bad = _violations(_modules_in("swarmlab.store"), lambda m, i: not _in(i, "swarmlab.raft"))
    assert not bad, bad


CONTROL_PLANE = ("swarmlab.store", "swarmlab.manager", "swarmlab.orchestrator",
                 "swarmlab.scheduler", "swarmlab.dispatcher")


def test_the_control_plane_knows_no_http_no_raft_shell_and_no_node():
    banned = ("swarmlab.node", "swarmlab.engine", "swarmlab.agent", "swarmlab.lab",
              "swarmlab.runtime", "swarmlab.mesh", "swarmlab.raft.shell", "aiohttp",
              "asyncio", "threading", "socket", "subprocess", "docker", "requests")
    bad = _violations(_modules_in(*CONTROL_PLANE), lambda m, i: not _in(i, *banned))
    assert not bad, bad


def test_runtimes_know_only_their_spec():
    allowed_swarmlab = ("swarmlab.runtime", "swarmlab.net", "swarmlab.objects._states",
                        "swarmlab.workloads", "swarmlab.clock")
    bad = _violations(_modules_in("swarmlab.runtime"),
                      lambda m, i: not _in(i, "swarmlab") or _in(i, *allowed_swarmlab))
    assert not bad, bad


def test_addresses_stand_below_the_runtime_and_the_mesh():
    bad = _violations(_modules_in("swarmlab.net"),
                      lambda m, i: not _in(i, "swarmlab") or _in(i, "swarmlab.net"))
    assert not bad, bad


def test_figures_are_pure():
    banned = ("swarmlab.lab", "swarmlab.widgets", "swarmlab.node", "swarmlab.engine",
              "swarmlab.cli", "docker", "aiohttp", "requests", "urllib", "socket",
              "http", "subprocess", "ipywidgets")
    bad = _violations(_modules_in("swarmlab.viz"), lambda m, i: not _in(i, *banned))
    assert not bad, bad


NODE_ENTRY_POINTS = {"swarmlab.node", "swarmlab.node.__main__", "swarmlab.node.launcher"}


def test_the_node_is_a_composition_root():
    importers = sorted(m for m, imps in IMPORTS.items()
                       if "swarmlab.node.daemon" in imps and m not in NODE_ENTRY_POINTS)
    assert not importers, f"only the node's entry points import the daemon: {importers}"


def test_the_engine_api_and_the_agent_stand_below_the_node():
    bad = _violations(_modules_in("swarmlab.engine", "swarmlab.agent"),
                      lambda m, i: not _in(i, "swarmlab.node"))
    assert not bad, bad


def _cycles() -> list[list[str]]:
    """Tarjan's strongly connected components of the swarmlab import graph."""
    graph = {m: sorted(i for i in imps if i in MODULES) for m, imps in IMPORTS.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(max(10_000, sys.getrecursionlimit()))
    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_no_import_circles():
    # A package face (`__init__`) re-exporting its modules is not a circle unless a module
    # imports the face back; the graph has an edge to the face only for names that are not
    # submodules, so such a back edge shows up here.
    assert not _cycles(), _cycles()
