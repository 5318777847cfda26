"""The state of one pytest session: the model, the sandbox, data sets and judges.

Every xdist worker builds its own; only the controller writes the run log.
"""

from __future__ import annotations

import gc
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import datasets
from .gates import Gate
from .generation import GenerationCache, Generator, Settings
from .judge import DifferentialJudge, ground_truth_dir
from .models import Answer, Model, Request
from .results import RunLog
from .sandbox import Limits, Sandbox, backend
from .tasks import Dataset, Task


@dataclass(frozen=True)
class Case:
    """One item: a task and the index of the sample being judged."""

    task: Task
    sample: int
    samples: int  # how many the model gives for this task

    @property
    def id(self) -> str:
        return self.task.task_id if self.samples == 1 else f"{self.task.task_id}-s{self.sample}"


@dataclass
class Options:
    model: str
    sandbox: str
    dataset_path: Path | None
    dataset_version: str | None
    base_only: bool
    time_factor: float
    min_time: float
    limits: Limits
    gates: list[Gate]
    run_id: str
    reports_dir: Path
    cache_dir: Path  # ground truth
    generation: Settings = field(default_factory=Settings)
    generation_cache: Path = Path(".convcode", "generations.sqlite")


@dataclass
class Run:
    options: Options
    model: Model
    log: RunLog | None  # None on xdist workers
    records: list[dict[str, Any]] = field(default_factory=list)
    other_failures: int = 0  # failed tests that are not benchmark items
    summary: dict[str, Any] | None = None  # set at the end of the run, on the controller
    _sandbox: Sandbox | None = None
    _datasets: dict[str, Dataset] = field(default_factory=dict)
    _judges: dict[str, DifferentialJudge] = field(default_factory=dict)
    _answers: dict[str, list[Answer]] = field(default_factory=dict)
    _generator: Generator | None = None

    @property
    def sandbox_started(self) -> bool:
        return self._sandbox is not None

    @property
    def sandbox(self) -> Sandbox:
        if self._sandbox is None:
            self._sandbox = backend(self.options.sandbox)()
        return self._sandbox

    def dataset(self, suite: str) -> Dataset:
        if suite not in self._datasets:
            o = self.options
            self._datasets[suite] = datasets.load(suite, o.dataset_version, o.dataset_path)
            # A data set's test inputs are millions of objects that live for the whole run:
            # keep the garbage collector from scanning them again (~0.1 s per full pass).
            gc.freeze()
        return self._datasets[suite]

    def cases(self, suite: str) -> tuple[list[Case], list[str]]:
        """The items of a suite, and notes on samples that do not fit the data set."""
        dataset = self.dataset(suite)
        cases: list[Case] = []
        for task in dataset.tasks.values():
            n = self.model.samples(task)
            cases.extend(Case(task, i, n) for i in range(n))
        notes = []
        covered = {c.task.task_id for c in cases}
        if len(covered) < len(dataset.tasks):
            notes.append(f"{self.model.name} answers {len(covered)} of the {len(dataset.tasks)} {dataset.name} tasks")
        unknown = sorted(set(getattr(self.model, "answers", {})) - set(dataset.tasks))
        if unknown:
            notes.append(
                f"{len(unknown)} samples name tasks that {dataset.name} {dataset.version} lacks "
                f"(e.g. {unknown[0]}): is --dataset-version right?"
            )
        return cases, notes

    def judge(self, suite: str) -> DifferentialJudge:
        if suite not in self._judges:
            dataset = self.dataset(suite)
            o = self.options
            self._judges[suite] = DifferentialJudge(
                dataset,
                self.sandbox,
                ground_truth_dir(o.cache_dir, dataset, sys.executable),
                phases=("base",) if o.base_only else ("base", "plus"),
                time_factor=o.time_factor,
                min_time=o.min_time,
                limits=o.limits,
            )
        return self._judges[suite]

    @property
    def generator(self) -> Generator:
        if self._generator is None:
            cache = GenerationCache(self.generation_cache, self.options.run_id) if self.model.cacheable else None
            self._generator = Generator(self.model, self.options.generation, cache)
        return self._generator

    @property
    def generation_cache(self) -> Path:
        """The SQLite file of answers; with ``--cache off``, one of this run only (its xdist
        workers still share their answers and claims through it)."""
        if self.options.generation.cache == "off":
            return Path(tempfile.gettempdir(), f"pytest-convcode-{self.options.run_id}.sqlite")
        return self.options.generation_cache

    def prefetch(self, cases: list[Case]) -> None:
        """Start generating for these cases, in order: items then find their answers ready."""
        if self.model.cacheable:  # only models that take time to answer are worth it
            tasks = {c.task.task_id: Request(c.task, n=c.samples) for c in cases}
            self.generator.prefetch(list(tasks.values()))

    def answer(self, case: Case) -> Answer:
        """The sample of a case; all samples of a task are requested together."""
        key = case.task.task_id
        if key not in self._answers:
            self._answers[key] = self.generator.answers(Request(case.task, n=case.samples))
        return self._answers[key][case.sample]

    def close(self) -> None:
        if self._generator is not None:
            self._generator.close()
            if self._generator.cache is not None:
                self._generator.cache.close()
        if self.log is not None and self.options.generation.cache == "off":  # the controller, last to go
            for suffix in ("", "-wal", "-shm"):
                Path(f"{self.generation_cache}{suffix}").unlink(missing_ok=True)
        if self._sandbox is not None:
            self._sandbox.close()
        if self.log is not None:
            self.log.close()
