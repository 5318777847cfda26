"""What a repository task asks of the model, per kind (jinja2 templates in ``templates/``): write
the method from its description, complete it, or repair it; and a method-generation turn's
feedback, the seed's: "Correct the answer. Tests failed:" with the tail of the tests' output and
the task again. Contexts and histories are kept within the seed's character budgets."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..models import Message
from ..templating import prompt_environment
from .tasks import RepoTask

TaskKind = Literal["method_gen", "completion", "repair"]
KINDS: tuple[TaskKind, ...] = ("method_gen", "completion", "repair")
TEMPLATES = Path(__file__).with_name("templates")
MAX_CONTEXT = 60_000  # the seed's max_context_symb: a prompt's file context, and a conversation's history
MAX_FEEDBACK = 20_000  # the seed's max_test_feedback_symb: the tail of the tests' output shown


@dataclass(frozen=True)
class RepoProblem:
    """What a request names (the ``Problem`` protocol): the task and its kind's ground truth, as a
    continuation of ``prompt`` (the method's first part for completion, else nothing): what the
    ``reference`` model answers."""

    task_id: str
    prompt: str
    entry_point: str
    canonical_solution: str

    def program(self, completion: str) -> str:
        return self.prompt + completion


def problem(task: RepoTask, kind: TaskKind) -> RepoProblem:
    if kind == "completion":
        return RepoProblem(task.task_id, task.completion_prefix, task.method.name, task.completion_target)
    return RepoProblem(task.task_id, "", task.method.name, task.source)


def first_message(task: RepoTask, kind: TaskKind) -> str:
    """The task, as the first (and for completion and repair, only) user message."""
    values = _names(task)
    if kind == "method_gen":
        context = task.class_without_method if task.class_name else task.file_without_method
        values.update(
            declaration=task.method.declaration.strip(),
            description=task.method.description.strip(),
            context=head(context or task.file_without_method, MAX_CONTEXT),
        )
    elif kind == "completion":
        values["context"] = tail("".join(task.lines[: task.completion_split]), MAX_CONTEXT).rstrip("\n")
    else:
        values.update(
            output=output_tail(task.test_error_message),
            method=task.buggy_method.rstrip("\n"),
            context=head(task.file_with_buggy_method, MAX_CONTEXT),
        )
    return _render(kind, values)


def feedback_message(task: RepoTask, output: str) -> str:
    """A method-generation turn's user message after a failed one: what its tests (or the format
    check) said, and the task again."""
    return _render("feedback", {**_names(task), "output": output_tail(output)})


def output_tail(output: str) -> str:
    return output[-MAX_FEEDBACK:].strip("\n")


def history(messages: Sequence[Message], limit: int = MAX_CONTEXT) -> tuple[Message, ...]:
    """A conversation as sent: the task first, then the latest answer and feedback pairs that fit
    in ``limit`` characters with it (the oldest pairs dropped first; the last pair always kept)."""
    first, rest = list(messages[:1]), list(messages[1:])
    while len(rest) > 2 and sum(len(m.content) for m in first + rest) > limit:
        rest = rest[2:]
    return tuple(first + rest)


def head(text: str, limit: int) -> str:
    """The first lines of ``text`` that fit in ``limit`` characters, saying what was left out."""
    if len(text) <= limit:
        return text
    kept = text[: text.rfind("\n", 0, limit) + 1]
    return f"{kept}# ... ({text.count(chr(10)) - kept.count(chr(10))} more lines left out)\n"


def tail(text: str, limit: int) -> str:
    """The last lines of ``text`` that fit in ``limit`` characters, saying what was left out."""
    if len(text) <= limit:
        return text
    kept = text[text.find("\n", len(text) - limit) + 1 :]
    return f"# ... ({text.count(chr(10)) - kept.count(chr(10))} lines left out)\n{kept}"


def _names(task: RepoTask) -> dict[str, str]:
    return {"name": task.method.name, "class_name": task.class_name, "file_path": task.file_path, "repo": task.repo}


def _render(name: str, values: dict[str, str]) -> str:
    return prompt_environment(TEMPLATES).get_template(f"{name}.j2").render(**values)
