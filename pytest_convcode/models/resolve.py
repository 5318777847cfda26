"""From a ``--model`` value to a ``Model``.

``--model`` takes ``NAME`` or ``NAME:ARGUMENT`` (``replay:samples.jsonl``, ``openai:gpt-4o-mini``):
the part before the colon picks a registered factory, which gets the argument. Anything else is an
alias from the models file or a full model name, served by an OpenAI-compatible endpoint
(``endpoint.py``). The backends register on import, here; their heavy libraries (openai, vllm) are
imported by the factories, when used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..registry import UnknownNameError
from . import endpoint, llamacpp, reference, replay, vllm  # noqa: F401  (each registers its factory)
from .endpoint import ModelSpec
from .interface import Model, ModelSettings
from .registry import MODELS

USAGE = {  # how --model names each backend, in the order --help lists them
    "reference": "reference",
    "replay": "replay:PATH",
    "openai": "openai:NAME",
    "vllm-offline": "vllm-offline:NAME",
    "gguf": "gguf:PATH",
}


def known_models() -> str:
    """Every registered backend as ``--model`` takes it: what ``--help`` and the unknown-model
    error both list, so they cannot disagree."""
    registered = list(MODELS)
    return ", ".join([USAGE[n] for n in USAGE if n in registered] + [n for n in registered if n not in USAGE])


def resolve(spec: str, settings: ModelSettings | None = None) -> Model:
    """Build the model a ``--model`` value names, or raise a UsageError listing the known ones."""
    settings = settings or ModelSettings()
    name, _, argument = spec.partition(":")
    try:
        factory = MODELS.get(name)
    except UnknownNameError:
        model = endpoint.from_alias_or_name(spec, settings)
        if model is None:
            aliases = ", ".join(sorted(endpoint.aliases(settings)))
            raise UsageError(
                f"unknown model {spec!r}; known models: {known_models()}; aliases: {aliases}; or a full model name"
                " (organisation/name) served at --base-url"
            ) from None
        return model
    return factory(argument or None, settings)


def served_by_name(spec: str, settings: ModelSettings) -> ModelSpec | None:
    """The request defaults of a ``--model`` value that an endpoint serves by its name (an alias
    or a full model name); None for a registered backend (``NAME:ARGUMENT``) or an unknown name."""
    if spec.partition(":")[0] in list(MODELS):
        return None
    return endpoint.spec_for(spec, settings, allow_unknown="/" in spec)


def project_aliases(path: Path) -> dict[str, dict[str, Any]]:
    """``[tool.convcode.models.ALIAS]`` tables of a pyproject.toml, or the top-level tables of
    another TOML file (the ``convcode_models`` ini option)."""
    import tomllib

    if not path.is_file():
        if path.name == "pyproject.toml":
            return {}  # a project without one
        raise UsageError(f"convcode_models names {path}, which is not a file: fix the path in the pytest configuration")
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"{path}: cannot read model aliases: {exc}") from None
    if path.name == "pyproject.toml":
        data = data.get("tool", {}).get("convcode", {}).get("models", {})
    return {name: table for name, table in data.items() if isinstance(table, dict)}
