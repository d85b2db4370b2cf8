"""The course's quiz: questions as data, answer checking, and a widget per question."""
from .check import check, diagnose, model_answer, question
from .commands import ParsedCommand, parse, same_command
from .questions import BY_ID, QUESTIONS, Choice, Question

__all__ = ["BY_ID", "QUESTIONS", "Choice", "ParsedCommand", "Question", "Quiz", "check",
           "diagnose", "model_answer", "parse", "question", "question_widget", "quiz_widget",
           "same_command"]


def __getattr__(name: str):
    # the widgets need ipywidgets; load them only when asked for
    if name in ("question_widget", "quiz_widget", "QuestionWidget", "Quiz"):
        from . import widget
        return getattr(widget, name)
    raise AttributeError(name)
