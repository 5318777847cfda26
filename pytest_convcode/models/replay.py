"""``replay:PATH`` answers from a samples file.

A ``.jsonl`` file is in EvalPlus's and BigCodeBench's format: each line holds ``task_id`` and
either ``solution`` (a whole program) or ``completion`` (appended to the task's prompt), and
BigCodeBench's the model's reply in ``raw_solution``; several lines for one task are several
samples, in file order. A file BigCodeBench did not sanitize (its name says so:
``bigcodebench_formats``) is sanitized here. The DeepSeek-Coder and Qwen2.5-Coder kits' MultiPL-E
generations, ``pred_<lang>_output.jsonl``, hold whole programs in ``generation``, and their file's
name gives their language, which their task ids get as MultiPL-E's here do
(``HumanEval_23_strlen-java``); ``replay:DIR`` reads every such file in a folder. A ``.json``
file is in CRUXEval's / CodeGlance's generations format, ``{"sample_0": ["prediction", ...]}``.
"""

from __future__ import annotations

import dataclasses
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

from ..datasets.bigcodebench_formats import sanitize, sanitized
from ..datasets.files import DatasetError, read_jsonl, require
from ..datasets.reasoning import read_generations
from ..errors import UsageError
from ..tasks import Problem
from .interface import Answer, Model, ModelSettings, Request
from .registry import MODELS

KIT_GENERATIONS = re.compile(r"pred_([\w-]+)_output\.jsonl(?:\.gz)?$")  # the kits' MultiPL-E files


class ReplayModel:
    cacheable = False
    concurrency: int | None = None  # answers at hand: nothing to wait for

    def __init__(self, path: Path) -> None:
        self.name = f"replay:{path}"
        self.path = path
        self.sanitized = sanitized(path)
        self.answers: dict[str, list[Answer]] = defaultdict(list)
        if path.is_dir():
            for file in sorted(p for p in path.iterdir() if KIT_GENERATIONS.match(p.name)):
                self._read_samples(file)
        elif path.suffix == ".json":
            for task_id, predictions in read_generations(path).items():
                self.answers[task_id] = [Answer(text) for text in predictions]
        else:
            self._read_samples(path)
        if not self.answers:
            raise DatasetError(f"{path}: holds no samples")

    def _read_samples(self, path: Path) -> None:
        kit = KIT_GENERATIONS.match(path.name)
        for lineno, record in read_jsonl(path):
            where = f"{path}:{lineno}"
            task_id = require(record, "task_id", str, where) + (f"-{kit[1]}" if kit else "")
            if "solution" in record:
                raw = require(record, "raw_solution", str, where) if "raw_solution" in record else None
                answer = Answer(require(record, "solution", str, where), "solution", reply=raw)
            elif "completion" in record:
                answer = Answer(require(record, "completion", str, where), "completion")
            elif "generation" in record:
                answer = Answer(require(record, "generation", str, where), "solution")
            else:
                needs = "a 'solution' or a 'completion' field (or the kits' 'generation')"
                raise DatasetError(f"{where}: a sample needs {needs}")
            self.answers[task_id].append(answer)

    def samples(self, task: Problem) -> int:
        return len(self.answers.get(task.task_id, ()))

    def identity(self) -> dict[str, Any]:
        return {"model": self.name}

    async def generate(self, request: Request) -> list[Answer]:
        answers = self.answers[request.task.task_id][: request.n]
        if self.sanitized:
            return answers
        entry_point = request.task.entry_point
        return [
            dataclasses.replace(a, text=sanitize(a.text, entry_point)) if a.kind == "solution" else a for a in answers
        ]


@MODELS.register("replay")
def _replay(argument: str | None, settings: ModelSettings) -> Model:
    if not argument:
        raise UsageError("model 'replay' needs a samples file: --model replay:PATH")
    return ReplayModel(Path(argument))
