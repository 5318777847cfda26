"""Models behind an OpenAI-compatible endpoint: vLLM, OpenAI itself, any server of that protocol.

``--model`` names one by an alias (``ds6.7b``, from ``aliases.toml`` or the
project's own), by its full name (``deepseek-ai/deepseek-coder-6.7b-instruct``),
or as ``openai:NAME``. The alias gives the defaults of its requests; the reply
of a chat model goes through ``extract`` to become a program.
"""

from __future__ import annotations

import ast
import json
import os
import tomllib
import urllib.error
import urllib.request
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from ..errors import InfrastructureError, Retryable, UsageError
from ..extract import from_chat, from_completion
from ..tasks import Problem
from .interface import Answer, Message, Model, ModelSettings, Request
from .registry import MODELS

if TYPE_CHECKING:
    import openai  # imported when first used: it takes most of a second

ALIASES_FILE = Path(__file__).with_name("aliases.toml")
OPENAI_URL = "https://api.openai.com/v1"
NO_KEY = "EMPTY"  # vLLM and most local servers want some key, and check none


@dataclass(frozen=True)
class ModelSpec:
    """One model's request defaults, as an alias table gives them."""

    model: str
    style: Literal["chat", "completion"] = "chat"
    base_url: str | None = None
    api_key_env: str | None = None
    temperature: float = 0.0
    max_tokens: int = 1024
    stop: tuple[str, ...] = ()
    system: str = ""
    instruction: str = "{prompt}"
    samples: int = 1

    @classmethod
    def from_table(cls, name: str, table: dict[str, Any]) -> ModelSpec:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(table) - known)
        if unknown:
            raise UsageError(f"model alias {name!r}: unknown keys {unknown}; known: {sorted(known)}")
        values = dict(table)
        if "stop" in values:
            values["stop"] = tuple(values["stop"])
        if values.get("style", "chat") not in ("chat", "completion"):
            raise UsageError(f"model alias {name!r}: style must be 'chat' or 'completion'")
        return cls(**values)


def _tables(settings: ModelSettings) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The ``defaults`` table and the alias tables, each merged over it: the bundled ones,
    then the project's (a project's table replaces the keys it names)."""
    tables: dict[str, dict[str, Any]] = tomllib.loads(ALIASES_FILE.read_text())
    for name, table in settings.aliases.items():
        tables[name] = {**tables.get(name, {}), **table}
    defaults = tables.pop("defaults", {})
    return defaults, {name: {**defaults, **table} for name, table in tables.items()}


def aliases(settings: ModelSettings) -> dict[str, dict[str, Any]]:
    return _tables(settings)[1]


def from_alias_or_name(spec: str, settings: ModelSettings) -> Model | None:
    model_spec = spec_for(spec, settings, allow_unknown="/" in spec)
    if model_spec is None:
        return None
    return EndpointModel(spec, model_spec, settings, http_transport(spec, model_spec, settings))


def spec_for(name: str, settings: ModelSettings, allow_unknown: bool) -> ModelSpec | None:
    """The spec of an alias, or of the alias whose model this full name is, or (if allowed)
    of a model no alias knows, with the default settings."""
    defaults, tables = _tables(settings)
    if name in tables:
        return ModelSpec.from_table(name, tables[name])
    for alias, table in tables.items():
        if table.get("model") == name:
            return ModelSpec.from_table(alias, table)
    if not allow_unknown:
        return None
    return ModelSpec.from_table(name, {**defaults, "model": name})


@MODELS.register("openai")
def _openai(argument: str | None, settings: ModelSettings) -> Model:
    if not argument:
        raise UsageError("model 'openai' needs a model name: --model openai:gpt-4o-mini")
    known = spec_for(argument, settings, allow_unknown=True)
    assert known is not None
    spec = replace(known, model=argument, base_url=OPENAI_URL, api_key_env="OPENAI_API_KEY")
    name = f"openai:{argument}"
    return EndpointModel(name, spec, settings, http_transport(name, spec, replace(settings, base_url=None)))


@dataclass(frozen=True)
class Replies:
    """What one call gave: each choice's text and why it ended, and the call's token usage."""

    texts: list[str]
    usage: dict[str, int]
    finish_reasons: list[str]


class Transport(Protocol):
    """How a request reaches the model: over HTTP, or to an engine in this process."""

    @property
    def where(self) -> str:
        """Part of the cache key: the endpoint's URL, or which engine."""
        ...

    async def chat(self, body: dict[str, Any]) -> Replies: ...

    async def complete(self, body: dict[str, Any]) -> Replies: ...


@dataclass
class HttpTransport:
    """An OpenAI-compatible endpoint, through the openai SDK (its own retries off:
    ``generation.with_retries`` decides, the same way for every backend)."""

    base_url: str
    api_key_env: str | None
    timeout: float
    _client: openai.AsyncOpenAI | None = field(default=None, init=False, repr=False)

    @property
    def where(self) -> str:
        return self.base_url

    def check_reachable(self) -> None:
        """Ask the endpoint for its models once, so that a wrong URL or a server that is
        down gives one clear error at the start instead of one per item."""
        headers = {"Authorization": f"Bearer {self._api_key()}"}
        try:
            urllib.request.urlopen(urllib.request.Request(f"{self.base_url}/models", headers=headers), timeout=15)
        except urllib.error.HTTPError as exc:
            if exc.code in (401, 403):
                why = f"{self.base_url} refused the API key ({exc.code}): check {self.api_key_env}"
                raise UsageError(why) from None
            # other statuses: it answers; a server without /models is still usable
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise UsageError(
                f"cannot reach the model endpoint {self.base_url} ({reason}). Start the server, "
                "fix --base-url, or use --autorun to start vLLM"
            ) from None

    async def chat(self, body: dict[str, Any]) -> Replies:
        response = await _call(self._client_here().chat.completions.create(**body))
        return _replies(response, [choice.message.content or "" for choice in response.choices])

    async def complete(self, body: dict[str, Any]) -> Replies:
        response = await _call(self._client_here().completions.create(**body))
        return _replies(response, [choice.text or "" for choice in response.choices])

    def _api_key(self) -> str:
        return os.environ.get(self.api_key_env, NO_KEY) if self.api_key_env else NO_KEY

    def _client_here(self) -> openai.AsyncOpenAI:
        if self._client is None:  # made on first use, inside the generation thread's loop
            import openai

            self._client = openai.AsyncOpenAI(
                base_url=self.base_url, api_key=self._api_key(), max_retries=0, timeout=self.timeout
            )
        return self._client


def http_transport(name: str, spec: ModelSpec, settings: ModelSettings) -> HttpTransport:
    base_url = settings.base_url or spec.base_url
    if base_url is None:
        raise UsageError(
            f"model {name!r} ({spec.model}) needs an endpoint: give --base-url URL "
            "(an OpenAI-compatible server such as `vllm serve`), or --autorun to start vLLM"
        )
    if spec.api_key_env and not os.environ.get(spec.api_key_env):
        raise UsageError(f"model {name!r} needs an API key: set the {spec.api_key_env} variable")
    return HttpTransport(base_url.rstrip("/"), spec.api_key_env, settings.timeout)


@dataclass
class EndpointModel:
    """A language model: builds the request from the task (or the conversation), sends it
    through its transport, and takes the program out of each reply."""

    name: str
    spec: ModelSpec
    settings: ModelSettings
    transport: Transport
    cacheable: bool = True
    concurrency: int | None = None  # requests the server serves at once (llama.cpp: 1); None: unknown

    @property
    def temperature(self) -> float:
        return self.settings.temperature if self.settings.temperature is not None else self.spec.temperature

    @property
    def max_tokens(self) -> int:
        return self.settings.max_tokens if self.settings.max_tokens is not None else self.spec.max_tokens

    @property
    def http(self) -> HttpTransport | None:
        return self.transport if isinstance(self.transport, HttpTransport) else None

    def samples(self, task: Problem) -> int:
        return self.settings.samples or self.spec.samples

    def identity(self) -> dict[str, Any]:
        return {
            "model": self.spec.model,
            "endpoint": self.transport.where,
            "style": self.spec.style,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "stop": list(self.spec.stop),
            "system": self.spec.system,
            "instruction": self.spec.instruction,
        }

    def messages(self, request: Request) -> list[Message]:
        if request.verbatim:
            return list(request.messages)
        system = [Message("system", self.spec.system)] if self.spec.system else []
        if request.messages:
            return [*system, *request.messages]
        return [*system, Message("user", self.spec.instruction.format(prompt=request.task.prompt.strip()))]

    async def generate(self, request: Request) -> list[Answer]:
        task = request.task
        body: dict[str, Any] = {
            "model": self.spec.model,
            "n": request.n,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
        }
        if self.spec.stop:
            body["stop"] = list(self.spec.stop)
        chat = self.spec.style == "chat"
        if chat:
            body["messages"] = [{"role": m.role, "content": m.content} for m in self.messages(request)]
            replies = await self.transport.chat(body)
        elif request.messages:
            raise UsageError(
                f"model {self.name!r} continues prompts (style 'completion'): it cannot hold a conversation"
            )
        else:
            replies = await self.transport.complete({**body, "prompt": task.prompt})
        texts = replies.texts
        if not 1 <= len(texts) <= request.n:  # fewer: a server that ignores n (the Generator asks again)
            raise Retryable(f"the model gave {len(texts)} choices for n={request.n}")
        ends = replies.finish_reasons
        if request.verbatim:
            answers = [Answer(text, reply=text, finish_reason=end) for text, end in zip(texts, ends, strict=True)]
        else:
            answers = [self._program(task, text, end, chat) for text, end in zip(texts, ends, strict=True)]
        answers[0] = replace(answers[0], usage=replies.usage)
        return answers

    def _program(self, task: Problem, reply: str, finish_reason: str, chat: bool) -> Answer:
        """The program out of a reply. One that max_tokens cut before its program was whole (none,
        or code that does not parse) says so in ``why``, not as a syntax error; its code stays."""
        if chat:
            e = from_chat(reply, task.entry_point, task.prompt)
        else:
            e = from_completion(task.prompt, reply, self.spec.stop)
        answer = Answer(e.code, e.kind, reply=reply, why=e.why, finish_reason=finish_reason)
        if finish_reason == "length" and not (e.code and _parses(answer.program(task))):
            answer = replace(answer, why=f"reply cut at max_tokens ({self.max_tokens})")
        return answer


def _parses(program: str) -> bool:
    try:
        ast.parse(program)
    except (SyntaxError, ValueError):
        return False
    return True


def _replies(response: Any, texts: list[str]) -> Replies:
    return Replies(texts, _usage(response), [choice.finish_reason or "" for choice in response.choices])


def _usage(response: Any) -> dict[str, int]:
    usage = getattr(response, "usage", None)
    if usage is None:
        return {}
    return {"prompt_tokens": usage.prompt_tokens or 0, "completion_tokens": usage.completion_tokens or 0}


async def _call(pending: Any) -> Any:
    """Await an SDK call, sorting its failures into worth-retrying and not."""
    import openai

    try:
        return await pending
    except (openai.RateLimitError, openai.InternalServerError) as exc:
        raise Retryable(f"{exc.status_code} from the endpoint", _retry_after(exc.response)) from exc
    except openai.APITimeoutError as exc:
        raise Retryable("the request timed out") from exc
    except openai.APIConnectionError as exc:
        raise Retryable(f"connection failed: {exc.__cause__ or exc}") from exc
    except (openai.APIResponseValidationError, json.JSONDecodeError) as exc:
        raise Retryable(f"malformed response: {exc}") from exc
    except openai.APIStatusError as exc:
        if exc.status_code >= 500:
            raise Retryable(f"{exc.status_code} from the endpoint", _retry_after(exc.response)) from exc
        raise InfrastructureError(f"the endpoint refused the request ({exc.status_code}): {exc.message}") from exc


def _retry_after(response: Any) -> float | None:
    try:
        return float(response.headers.get("retry-after"))
    except (TypeError, ValueError, AttributeError):
        return None
