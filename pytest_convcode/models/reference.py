"""The ``reference`` model answers with the data set's own canonical solution."""

from __future__ import annotations

from typing import Any

from ..errors import UsageError
from ..tasks import Problem
from .interface import Answer, Model, ModelSettings, Request
from .registry import MODELS


class ReferenceModel:
    name = "reference"
    cacheable = False
    concurrency: int | None = None  # answers at hand: nothing to wait for

    def samples(self, task: Problem) -> int:
        return 1

    def identity(self) -> dict[str, Any]:
        return {"model": self.name}

    async def generate(self, request: Request) -> list[Answer]:
        return [Answer(request.task.canonical_solution, "completion")] * request.n


@MODELS.register("reference")
def _reference(argument: str | None, settings: ModelSettings) -> Model:
    if argument:
        raise UsageError(f"model 'reference' takes no argument (got {argument!r})")
    return ReferenceModel()
