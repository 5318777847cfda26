"""Models answer tasks: the interface, its request/answer types and the registry.

``--model`` takes ``NAME`` or ``NAME:ARGUMENT`` (``replay:samples.jsonl``,
``openai:gpt-4o-mini``): the part before the colon picks a registered factory,
which gets the argument. Anything else is an alias from the models file or a
full model name, served by an OpenAI-compatible endpoint (``endpoint.py``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from ..errors import UsageError
from ..registry import Registry, UnknownNameError
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


@dataclass(frozen=True)
class Answer:
    """One sample: either a whole program or a continuation of the task's prompt.

    A request for n samples is one call: its token usage, latency and retries are
    recorded on its first sample only, so that sums over samples are exact.
    """

    text: str
    kind: Literal["solution", "completion"] = "solution"
    usage: dict[str, int] = field(default_factory=dict)
    latency: float = 0.0
    retries: int = 0
    reply: str | None = None  # the model's whole reply, when the code was taken out of it
    why: str = ""  # when text is "": why the reply gave no program
    cached: bool = False  # read back from the generation cache, not requested in this run

    def program(self, task: Problem) -> str:
        return task.program(self.text) if self.kind == "completion" else self.text

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        del data["cached"]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Answer:
        return cls(**data, cached=True)


class Model(Protocol):
    name: str
    cacheable: bool  # answers worth keeping on disk (an API's), not ones at hand (a file's)

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


ModelFactory = Callable[[str | None, ModelSettings], Model]
MODELS: Registry[ModelFactory] = Registry("model")
USAGE = {
    "reference": "reference",
    "replay": "replay:PATH",
    "openai": "openai:NAME",
    "vllm-offline": "vllm-offline:NAME",
}


def resolve(spec: str, settings: ModelSettings | None = None) -> Model:
    """Build the model a ``--model`` value names, or raise a UsageError listing the known ones."""
    from . import endpoint, reference, replay, vllm  # noqa: F401  (register themselves)

    settings = settings or ModelSettings()
    name, _, argument = spec.partition(":")
    try:
        factory = MODELS.get(name)
    except UnknownNameError:
        model = endpoint.from_alias_or_name(spec, settings)
        if model is None:
            known = ", ".join(USAGE.get(n, n) for n in MODELS)
            aliases = ", ".join(sorted(endpoint.aliases(settings)))
            raise UsageError(
                f"unknown model {spec!r}; known models: {known}; aliases: {aliases}; or a full model name"
                " (organisation/name) served at --base-url"
            ) from None
        return model
    return factory(argument or None, settings)


def project_aliases(path: Path) -> dict[str, dict[str, Any]]:
    """``[tool.convcode.models.ALIAS]`` tables of a pyproject.toml, or the top-level tables of
    another TOML file (the ``convcode_models`` ini option)."""
    import tomllib

    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"{path}: cannot read model aliases: {exc}") from None
    if path.name == "pyproject.toml":
        data = data.get("tool", {}).get("convcode", {}).get("models", {})
    return {name: table for name, table in data.items() if isinstance(table, dict)}
