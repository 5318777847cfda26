"""Models answer tasks: the interface, its request/answer types and the registry.

``--model`` takes ``NAME`` or ``NAME:ARGUMENT`` (``replay:samples.jsonl``); the
part before the colon picks a registered factory, which gets the argument.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

from ..errors import UsageError
from ..registry import Registry, UnknownNameError
from ..tasks import Task


@dataclass(frozen=True)
class Message:
    role: Literal["system", "user", "assistant"]
    content: str


@dataclass(frozen=True)
class Request:
    task: Task
    messages: tuple[Message, ...] = ()
    n: int = 1  # samples wanted, requested together


@dataclass(frozen=True)
class Answer:
    """One sample: either a whole program or a continuation of the task's prompt."""

    text: str
    kind: Literal["solution", "completion"] = "solution"
    usage: dict[str, int] = field(default_factory=dict)

    def program(self, task: Task) -> str:
        return task.program(self.text) if self.kind == "completion" else self.text


class Model(Protocol):
    name: str

    def samples(self, task: Task) -> int:
        """How many samples this model gives for a task (known before generating)."""
        ...

    async def generate(self, request: Request) -> list[Answer]: ...


ModelFactory = Callable[[str | None], Model]
MODELS: Registry[ModelFactory] = Registry("model")
USAGE = {"reference": "reference", "replay": "replay:PATH"}


def resolve(spec: str) -> Model:
    """Build the model a ``--model`` value names, or raise a UsageError listing the known ones."""
    from . import reference, replay  # noqa: F401  (register themselves)

    name, _, argument = spec.partition(":")
    try:
        factory = MODELS.get(name)
    except UnknownNameError:
        known = ", ".join(USAGE.get(n, n) for n in MODELS)
        raise UsageError(f"unknown model {spec!r}; known models: {known}") from None
    return factory(argument or None)
