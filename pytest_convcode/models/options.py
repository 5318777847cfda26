"""The command line's model options: which model answers, where, and how it samples."""

from __future__ import annotations

from dataclasses import dataclass

from ..options import option


@dataclass(frozen=True)
class ModelOptions:
    model: str = option(
        "--model",
        default="reference",
        help="model to evaluate: reference (the data set's own solutions, the default), replay:PATH (a samples "
        "file), a model alias, a full model name served at --base-url, openai:NAME, or vllm-offline:NAME",
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
