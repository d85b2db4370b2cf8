"""One widget per quiz question: answer, press "check" (or Enter), read why.

The answer is checked by `check()` inside the widget's callback; nothing runs
in the background.
"""
from __future__ import annotations

import html
from typing import Iterable

import ipywidgets as W

from .check import check, question
from .questions import QUESTIONS, Question

_PLACEHOLDER = {"command": "type the command", "option": "type the option",
                "text": "type your answer"}


def _md_code(text: str) -> str:
    """`code` spans as <code>, the rest escaped."""
    parts = html.escape(text).split("`")
    return "".join(f"<code>{p}</code>" if k % 2 else p for k, p in enumerate(parts))


def _choice_label(c) -> str:
    return c.text.replace("`", "") + (f"  ({c.text_en})" if c.text_en else "")


class QuestionWidget:
    def __init__(self, q: Question, number: int | None = None) -> None:
        self.q = q
        title = f"<b>{number}.</b> " if number is not None else ""
        title += _md_code(q.text)
        if q.text_en:
            title += f"<br><i>{_md_code(q.text_en)}</i>"
        self.title = W.HTML(title)
        self.result = W.HTML()
        self.button = W.Button(description="check", button_style="primary")
        self.button.on_click(lambda _b: self.check())
        self.input = self._input()
        self.widget = W.VBox([self.title, self.input, self.button, self.result],
                             layout=W.Layout(margin="0 0 14px 0"))

    def _input(self) -> W.Widget:
        q = self.q
        if q.kind == "single":
            return W.RadioButtons(options=[(_choice_label(c), k) for k, c in enumerate(q.choices)],
                                  value=None, layout=W.Layout(width="max-content"))
        if q.kind == "multiple":
            self.boxes = [W.Checkbox(False, description=_choice_label(c), indent=False)
                          for c in q.choices]
            return W.VBox(self.boxes)
        box = W.Text(placeholder=_PLACEHOLDER[q.kind], continuous_update=False,
                     layout=W.Layout(width="70%"))
        box.observe(lambda _c: self.check(), names="value")  # Enter or leaving the box
        return box

    def answer(self):
        if self.q.kind == "multiple":
            return [k for k, b in enumerate(self.boxes) if b.value]
        return self.input.value

    def check(self) -> bool:
        a = self.answer()
        if a is None or a == "":
            self.result.value = "<span style='color:#7f8c8d'>choose or type an answer</span>"
            return False
        ok, why = check(self.q.id, a)
        mark = ("<b style='color:#2e9e5b'>✔ right.</b>" if ok
                else "<b style='color:#c0392b'>✘ not quite.</b>")
        fr = f"<br><i>{_md_code(self.q.explanation_fr)}</i>" if self.q.explanation_fr else ""
        self.result.value = f"{mark} {_md_code(why)}{fr}"
        return ok

    def _ipython_display_(self) -> None:
        from IPython.display import display
        display(self.widget)


def question_widget(question_id: str, number: int | None = None) -> QuestionWidget:
    return QuestionWidget(question(question_id), number)


def quiz_widget(ids: Iterable[str] | None = None) -> W.VBox:
    """Every question (or those named), numbered, one under the other."""
    chosen = [question(i) for i in ids] if ids is not None else list(QUESTIONS)
    return W.VBox([QuestionWidget(q, k).widget for k, q in enumerate(chosen, start=1)])
