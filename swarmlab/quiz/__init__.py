"""The course's quiz: questions as data, answer checking, and a widget per question."""
from .check import check, question
from .commands import ParsedCommand, parse, same_command
from .questions import BY_ID, QUESTIONS, Choice, Question

__all__ = ["BY_ID", "QUESTIONS", "Choice", "ParsedCommand", "Question", "check", "parse",
           "question", "question_widget", "quiz_widget", "same_command"]


def __getattr__(name: str):
    # the widgets need ipywidgets; load them only when asked for
    if name in ("question_widget", "quiz_widget", "QuestionWidget"):
        from . import widget
        return getattr(widget, name)
    raise AttributeError(name)
