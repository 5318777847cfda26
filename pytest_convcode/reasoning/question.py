"""A reasoning task asked one way: the mode (output or input) and the prompt style."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..datasets.reasoning import MODES, PLACEHOLDER, STYLES, Mode, PromptStyle, ReasoningTask
from ..errors import UsageError
from ..templating import prompt_environment

TEMPLATES = Path(__file__).with_name("templates")
ENTRY_POINT = "f"  # CRUXEval's function is always f; CodeGlance's assertion names its own
BLANK = "??"  # what the prompt shows where the model's answer goes


@dataclass(frozen=True)
class Question:
    """What one pytest item asks: a ``tasks.Problem``, so the model layer can answer it.

    ``task_id`` has no mode suffix: the published generation files (one per mode)
    are keyed by the task id alone. ``program`` returns the answer unchanged: the
    answer is a value to judge, not a program to complete.
    """

    task: ReasoningTask
    mode: Mode = "output"
    style: PromptStyle = "direct"

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise UsageError(f"unknown reasoning mode {self.mode!r}: use one of {', '.join(MODES)}")
        if self.style not in STYLES:
            raise UsageError(f"unknown prompt style {self.style!r}: use one of {', '.join(STYLES)}")
        if self.mode == "input" and self.task.input is None:
            raise UsageError(f"task {self.task.task_id!r} has no input to predict: its data set is output-only")

    @property
    def task_id(self) -> str:
        return self.task.task_id

    @property
    def entry_point(self) -> str:
        return ENTRY_POINT

    @functools.cached_property
    def prompt(self) -> str:
        return render(self)

    @property
    def canonical_solution(self) -> str:
        """The reference answer: the value (output mode) or the call ``f(<input>)`` (input mode)."""
        return self.task.result if self.mode == "output" else f"f({self.task.input})"

    @property
    def expected(self) -> str:
        """What a prediction must equal, as Python source: the value in both modes, since
        input mode checks ``assert <output> == f(<predicted arguments>)``."""
        return self.task.result

    @property
    def assertion(self) -> str:
        """The assertion the model completes, with ``BLANK`` where the answer goes."""
        if self.mode == "output":
            return self.task.test.replace(PLACEHOLDER, BLANK)
        return f"assert f({BLANK}) == {self.task.result}"

    def program(self, completion: str) -> str:
        return completion


def render(question: Question) -> str:
    """The prompt of a question (``templates/<mode>.j2``).

    A "rag" prompt is the direct prompt with the task's API documentation put before
    it; for a task without documentation it is exactly the direct prompt, nothing
    added. A "cot" prompt asks for the execution to be traced before the answer.
    """
    values: dict[str, Any] = {
        "style": question.style,
        "code": question.task.code.rstrip(),
        "assertion": question.assertion.strip("\n"),
        "docs": question.task.apis if question.style == "rag" else (),
        "blank": BLANK,
    }
    return prompt_environment(TEMPLATES).get_template(f"{question.mode}.j2").render(**values).strip() + "\n"
