"""What a model is to the rest of the package: the ``Model`` protocol and its request and answer types."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from ..tasks import Problem


@dataclass(frozen=True)
class Message:
    role: Literal["system", "user", "assistant"]
    content: str


@dataclass(frozen=True)
class Request:
    """What is asked of a model: the task alone (the model words its own prompt), or a
    conversation about it. ``verbatim`` requests (the simulated user's) go out exactly as
    given, without the model alias's system prompt, and come back as text, not code."""

    task: Problem
    messages: tuple[Message, ...] = ()
    n: int = 1  # samples wanted, requested together
    verbatim: bool = False
    turn: int = 0  # the conversation's turn: a prompt repeated at a later turn is asked again


@dataclass(frozen=True)
class Answer:
    """One sample: either a whole program or a continuation of the task's prompt.

    A request for n samples is one call (or, to a server that ignores n, n calls): its token
    usage, latency, queueing and retries are recorded on its first sample only, so that sums
    over samples are exact; every sample names its request (``request_id``).
    """

    text: str
    kind: Literal["solution", "completion"] = "solution"
    usage: dict[str, int] = field(default_factory=dict)
    latency: float = 0.0  # seconds from sending the request to its whole reply
    queue_s: float = 0.0  # seconds the request waited for a free slot in the harness before that
    retries: int = 0
    reply: str | None = None  # the model's whole reply, when the code was taken out of it
    why: str = ""  # why the reply gave no (complete) program; text is "" or the cut code
    finish_reason: str = ""  # the server's: "stop", "length" (cut at max_tokens), ...
    request_id: str = ""  # the request's generation cache key, or an id of its own
    sample: int = 0  # which of the request's samples
    cached: bool = False  # not requested for this item: from an earlier run, or another item's

    def program(self, task: Problem) -> str:
        return task.program(self.text) if self.kind == "completion" else self.text

    def reused(self) -> Answer:
        """This answer as an item that did not cause its request sees it: cached, and the
        request's time not this item's."""
        return dataclasses.replace(self, cached=True, latency=0.0, queue_s=0.0)

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        del data["cached"]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Answer:
        return cls(**data)


class Model(Protocol):
    name: str
    cacheable: bool  # answers worth keeping on disk (an API's), not ones at hand (a file's)
    concurrency: int | None  # requests the server serves at once (None: unknown); more queue in the harness

    def samples(self, task: Problem) -> int:
        """How many samples this model gives for a task (known before generating)."""
        ...

    def identity(self) -> dict[str, Any]:
        """Everything that changes its answers (model, endpoint, parameters, prompt
        templates): the generation cache is keyed by it."""
        ...

    async def generate(self, request: Request) -> list[Answer]: ...


@dataclass(frozen=True)
class ModelSettings:
    """What the command line and the project's configuration say about the model."""

    base_url: str | None = None
    samples: int | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    timeout: float = 600.0
    aliases: dict[str, dict[str, Any]] = field(default_factory=dict)  # the project's own, over the bundled
    tensor_parallel: int | None = None  # for an engine in this process (vllm-offline)
