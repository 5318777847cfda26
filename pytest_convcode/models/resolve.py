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
from .interface import Model, ModelSettings
from .registry import MODELS

USAGE = {
    "reference": "reference",
    "replay": "replay:PATH",
    "openai": "openai:NAME",
    "vllm-offline": "vllm-offline:NAME",
}


def resolve(spec: str, settings: ModelSettings | None = None) -> Model:
    """Build the model a ``--model`` value names, or raise a UsageError listing the known ones."""
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
