"""Checking an answer: `check(question_id, answer) -> (ok, explanation)`."""
from __future__ import annotations

from typing import Iterable

from .commands import CommandError, parse, same_command
from .questions import BY_ID, Question

Answer = int | str | Iterable[int | str]


def question(question_id: str) -> Question:
    try:
        return BY_ID[question_id]
    except KeyError:
        raise KeyError(f"no quiz question {question_id!r} "
                       f"(there are: {', '.join(BY_ID)})") from None


def check(question_id: str, answer: Answer) -> tuple[bool, str]:
    """Whether `answer` is right, and the explanation to show either way.

    Choices are given by index or by their text; commands and options as typed."""
    q = question(question_id)
    ok = {"single": _single, "multiple": _multiple, "command": _command,
          "option": _option, "text": _text}[q.kind](q, answer)
    return ok, q.explanation


def _choice_index(q: Question, a: int | str) -> int | None:
    if isinstance(a, int) and not isinstance(a, bool):
        return a if 0 <= a < len(q.choices) else None
    text = str(a).strip().strip("`")
    for k, c in enumerate(q.choices):
        if text in (c.text.strip("`"), (c.text_en or "").strip("`")):
            return k
    return None


def _single(q: Question, a: Answer) -> bool:
    if not isinstance(a, (int, str)):
        return False
    return _choice_index(q, a) == q.correct[0]


def _multiple(q: Question, a: Answer) -> bool:
    items = [a] if isinstance(a, (int, str)) else list(a)
    picked = {_choice_index(q, x) for x in items}
    return None not in picked and picked == set(q.correct)


def _command(q: Question, a: Answer) -> bool:
    return isinstance(a, str) and any(same_command(a, f, q.allow_extra) for f in q.accepted)


def _option(q: Question, a: Answer) -> bool:
    if not isinstance(a, str):
        return False
    try:
        got = parse(a).options
    except CommandError:
        return False
    return any(parse(f).options <= got for f in q.accepted)


def _text(q: Question, a: Answer) -> bool:
    if not isinstance(a, str):
        return False
    norm = a.strip().strip("`'\"").rstrip("/")
    return any(norm == f.rstrip("/") for f in q.accepted)
