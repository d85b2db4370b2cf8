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


def model_answer(question_id: str) -> str:
    """The answer to show once the student has tried twice (or asks)."""
    q = question(question_id)
    if q.kind in ("single", "multiple"):
        return "; ".join(q.choices[k].text for k in q.correct)
    return f"`{q.accepted[0]}`"


def diagnose(question_id: str, answer: Answer) -> str:
    """What is wrong with a wrong answer, without giving the right one away."""
    q = question(question_id)
    if q.kind == "single":
        return "not this one: reread what each choice would make the swarm do"
    if q.kind == "multiple":
        items = [answer] if isinstance(answer, (int, str)) else list(answer)
        picked = {_choice_index(q, x) for x in items} - {None}
        wrong, missing = len(picked - set(q.correct)), len(set(q.correct) - picked)
        parts = []
        if wrong:
            parts.append(f"{wrong} of the boxes you ticked {'is' if wrong == 1 else 'are'} not right")
        if missing:
            parts.append(f"{missing} right {'box is' if missing == 1 else 'boxes are'} not ticked")
        return " and ".join(parts) or "tick every right box"
    if not isinstance(answer, str):
        return "type your answer in the box"
    if q.kind == "text":
        return "not that: the answer is a short value (a path, a count)"
    try:
        got = parse(answer)
    except CommandError as exc:
        return f"that does not read as a command: {exc}"
    forms = [parse(f) for f in q.accepted]
    if q.kind == "option":
        return "not that option: which flag of the command does this?"
    if not any(got.words[:2] == f.words[:2] for f in forms):
        what = " ".join(got.words[:2]) or "nothing"
        return f"`docker {what}` is not the command that does this"
    extra = {n for n in got.option_names() - set(q.allow_extra)
             if all(n not in f.option_names() for f in forms)}
    if extra:
        return f"the right command, but {', '.join(sorted(extra))} does not belong here"
    return "the right command, but its options or arguments are not the ones asked for"
