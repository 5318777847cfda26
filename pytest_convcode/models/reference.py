"""The ``reference`` model answers with the data set's own canonical solution."""

from __future__ import annotations

from ..errors import UsageError
from ..tasks import Task
from . import MODELS, Answer, Model, Request


class ReferenceModel:
    name = "reference"

    def samples(self, task: Task) -> int:
        return 1

    async def generate(self, request: Request) -> list[Answer]:
        return [Answer(request.task.canonical_solution, "completion")] * request.n


@MODELS.register("reference")
def _reference(argument: str | None) -> Model:
    if argument:
        raise UsageError(f"model 'reference' takes no argument (got {argument!r})")
    return ReferenceModel()
