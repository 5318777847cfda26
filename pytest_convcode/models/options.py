"""The command line's model options: which model answers, where, and how it samples."""

from __future__ import annotations

from dataclasses import dataclass

from ..options import option
from .resolve import known_models


@dataclass(frozen=True)
class ModelOptions:
    model: str = option(
        "--model",
        default="reference",
        help=f"model to evaluate: {known_models()}, a model alias, or a full model name served at --base-url "
        "(default: reference, the data set's own solutions)",
    )
    base_url: str | None = option(
        "--base-url", record=False, help="OpenAI-compatible endpoint of the model, e.g. http://gpu-box:8000/v1"
    )
    samples: int | None = option("--samples", type=int, help="samples per task (default: the model alias's, usually 1)")
    temperature: float | None = option(
        "--temperature", type=float, help="sampling temperature (default: the model alias's)"
    )
    max_tokens: int | None = option(
        "--max-tokens", type=int, help="longest answer, in tokens (default: the model alias's)"
    )
    user_model: str | None = option(
        "--user-model", help="the simulated user's model, any --model backend, e.g. openai:gpt-4o"
    )
    user_base_url: str | None = option(
        "--user-base-url",
        record=False,
        help="endpoint of the simulated user's model (default: its alias's own, else --base-url)",
    )
