"""Malformed compose files (a seeded corpus of 250+) never crash and never half-deploy."""
from __future__ import annotations

import time

import pytest

from swarmlab import stack
from swarmlab.stack import ComposeError, StackError

from .fuzz_corpus import corpus

CORPUS = corpus(seed=7)


def test_corpus_is_big_and_varied():
    assert len(CORPUS) >= 200
    kinds = {label.split("/")[1] for label, _ in CORPUS}
    assert len(kinds) >= 40


def test_load_refuses_with_a_clear_error_or_leaves_it_to_the_preflight():
    """Offline: only ComposeError ever comes out of load(), with a file, a line and words."""
    preflight_only = {"bad-constraint", "bad-restart-condition", "bad-service-name", "port-clash"}
    for label, text in CORPUS:
        try:
            stack.load(text + "\n", env={})
        except ComposeError as err:
            assert err.file == "<string>" and err.line >= 1 and err.message, label
            assert "Traceback" not in str(err)
            continue
        assert label.split("/")[1] in preflight_only, f"{label} was accepted:\n{text}"


def _nothing_there(c) -> bool:
    return not (c.api.services() or c.api.secrets() or c.api.configs())


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_refused_files_change_nothing_on_a_live_lab(client, tmp_path):
    start = time.monotonic()
    for i, (label, text) in enumerate(CORPUS):
        path = tmp_path / f"case{i}.yml"
        path.write_text(text + "\n")
        lines: list[str] = []
        with pytest.raises((ComposeError, StackError), match=".") as e:
            try:
                stack.deploy(client, str(path), "fz", lines.append, env={})
            except (ComposeError, StackError):
                raise
            else:
                pytest.fail(f"{label} was deployed:\n{text}\n{lines}")
        if isinstance(e.value, ComposeError):
            assert e.value.file == str(path), label
        assert not any(line.startswith(("Creating", "Updating")) for line in lines), label
        assert _nothing_there(client), f"{label} left something behind: {e.value}"
    assert time.monotonic() - start < 60
