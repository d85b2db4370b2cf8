"""One widget per quiz question: answer, press "check" (or Enter), read why.

A wrong answer says what is wrong and lets the student try again; the model answer and its
explanation come after a second wrong try, or at once with "show the answer". The quiz
keeps a score, and `Quiz.done()` is the lab's final check: it passes once every question
is answered right. The answer is checked by `check()` inside the widget's callback;
nothing runs in the background.
"""
from __future__ import annotations

import html
from typing import Callable, Iterable

import ipywidgets as W

from .check import check, diagnose, model_answer, question
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
    #: wrong tries after which the model answer is shown
    TRIES = 2

    def __init__(self, q: Question, number: int | None = None,
                 on_change: Callable[[], None] | None = None) -> None:
        self.q, self.number, self._on_change = q, number, on_change
        self.tries, self.right, self.revealed = 0, False, False
        title = f"<b>{number}.</b> " if number is not None else ""
        title += _md_code(q.text)
        if q.text_en:
            title += f"<br><i>{_md_code(q.text_en)}</i>"
        self.title = W.HTML(title)
        self.result = W.HTML()
        self.button = W.Button(description="check", button_style="primary")
        self.button.on_click(lambda _b: self.check())
        self.reveal = W.Button(description="show the answer", button_style="")
        self.reveal.on_click(lambda _b: self.show_answer())
        self.input = self._input()
        self.widget = W.VBox([self.title, self.input, W.HBox([self.button, self.reveal]),
                              self.result], layout=W.Layout(margin="0 0 14px 0"))

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

    def _explained(self) -> str:
        fr = f"<br><i>{_md_code(self.q.explanation_fr)}</i>" if self.q.explanation_fr else ""
        return f"{_md_code(self.q.explanation)}{fr}"

    def check(self) -> bool:
        a = self.answer()
        if a is None or a == "" or a == []:
            self.result.value = "<span style='color:#7f8c8d'>choose or type an answer</span>"
            return False
        ok, _why = check(self.q.id, a)
        if ok:
            self.right = True
            self.result.value = f"<b style='color:#2e9e5b'>\u2714 right.</b> {self._explained()}"
        else:
            self.tries += 1
            text = (f"<b style='color:#c0392b'>\u2718 not quite:</b> "
                    f"{_md_code(diagnose(self.q.id, a))}.")
            if self.tries >= self.TRIES or self.revealed:
                text += self._answer_html()
            else:
                text += " Try again."
            self.result.value = text
        if self._on_change:
            self._on_change()
        return ok

    def _answer_html(self) -> str:
        self.revealed = True
        return (f"<br><b>The answer:</b> {_md_code(model_answer(self.q.id))}. "
                f"{self._explained()}")

    def show_answer(self) -> None:
        self.result.value = self._answer_html()[4:]
        if self._on_change:
            self._on_change()

    def _ipython_display_(self) -> None:
        from IPython.display import display
        display(self.widget)


class Quiz(W.VBox):
    """The score, then the questions one under the other."""

    def __init__(self, chosen: list[Question]) -> None:
        self.score = W.HTML()
        self.questions = [QuestionWidget(q, k, self._update) for k, q in enumerate(chosen, start=1)]
        super().__init__([self.score, *(w.widget for w in self.questions)])
        self._update()

    @property
    def right(self) -> int:
        return sum(w.right for w in self.questions)

    def _update(self) -> None:
        shown = sum(w.revealed and not w.right for w in self.questions)
        extra = f", {shown} answer{'s' if shown != 1 else ''} shown" if shown else ""
        self.score.value = (f"<b>score: {self.right} of {len(self.questions)} right</b>{extra}")

    def done(self) -> None:
        """The lab's check: every question answered right (a shown answer still counts as
        answered once it is typed or ticked and checked)."""
        from ..check import CheckFailed
        left = [w.number for w in self.questions if not w.right]
        if left:
            raise CheckFailed(f"{len(left)} of {len(self.questions)} questions are not answered "
                              f"right yet: {', '.join(map(str, left))} (scroll up, answer, press "
                              f"check)")
        print(f"ok: all {len(self.questions)} questions answered right")


def question_widget(question_id: str, number: int | None = None) -> QuestionWidget:
    return QuestionWidget(question(question_id), number)


def quiz_widget(ids: Iterable[str] | None = None) -> Quiz:
    """Every question (or those named), numbered, one under the other, with the score."""
    chosen = [question(i) for i in ids] if ids is not None else list(QUESTIONS)
    return Quiz(chosen)
