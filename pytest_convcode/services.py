"""The services a run's suites share: the model and the simulated user, their generators, the
sandboxes, the data sets and the differential judges.

Each is made on first use (``functools.cached_property``, or a dict by suite), so that a run of one
suite starts only what it needs. Every xdist worker has its own ``Services``.
"""

from __future__ import annotations

import asyncio
import gc
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any, cast

from . import conversation
from .conversation import Tester
from .datasets import LoadedDataset, entry
from .datasets.bigcodebench import PRELOAD as BIGCODEBENCH_PRELOAD
from .datasets.options import DataOptions
from .env import references
from .errors import UsageError
from .generation import GenerationCache, GenerationOptions, Generator
from .judge import DifferentialJudge, expected_outputs, ground_truth_dir
from .judging import JudgeOptions, SandboxOptions
from .models import Answer, Model, ModelSettings, Request, resolve
from .models.endpoint import EndpointModel
from .models.options import ModelOptions
from .models.resolve import served_by_name
from .reasoning import ReasoningJudge
from .sandbox import Sandbox, Spread, add_jobs, backend
from .tasks import Dataset, UnitDataset
from .testers import CallTester, PromptKind, UnitTester


@dataclass(frozen=True)
class RunPlace:
    """Where a run writes and caches: its id, its reports folder, the ground-truth cache."""

    run_id: str
    reports_dir: Path
    cache_dir: Path  # ground truth, per data file and interpreter


@dataclass
class Services:
    place: RunPlace
    models: ModelOptions
    model_settings: ModelSettings  # what resolving --model and --user-model takes (aliases, endpoint)
    generation: GenerationOptions
    sandboxes: SandboxOptions
    judging: JudgeOptions
    data: DataOptions
    conversations: conversation.Options
    _datasets: dict[str, LoadedDataset] = field(default_factory=dict)
    _judges: dict[str, DifferentialJudge] = field(default_factory=dict)
    _testers: dict[str, Tester[Any]] = field(default_factory=dict)
    _warned: bool = False

    # -- models

    @cached_property
    def model(self) -> Model:
        return resolve(self.models.model, self.model_settings)

    @cached_property
    def user_model(self) -> Model | None:
        """The simulated user's model: a language model, with its own defaults (not the coding
        model's sampling options), at --user-base-url, else where its alias says, else at the
        coder's endpoint (--base-url)."""
        spec = self.models.user_model
        if not spec:
            return None
        settings = ModelSettings(aliases=self.model_settings.aliases, timeout=self.model_settings.timeout)
        named = served_by_name(spec, settings)
        if self.models.user_base_url or (named is not None and named.base_url is None):
            settings = replace(settings, base_url=self.models.user_base_url or self.model_settings.base_url)
        model = resolve(spec, settings)
        if not isinstance(model, EndpointModel):
            raise UsageError(
                f"--user-model {spec!r}: the simulated user must be a language model (an alias or openai:NAME)"
            )
        return model

    @cached_property
    def generator(self) -> Generator:
        cache = self._cache() if self.model.cacheable else None
        return Generator(self.model, self.generation, cache)

    @cached_property
    def user_generator(self) -> Generator | None:
        """The simulated user's model, through the same cache: a rerun asks it nothing again."""
        user = self.user_model
        return Generator(user, self.generation, self._cache()) if user is not None else None

    def _cache(self) -> GenerationCache:
        return GenerationCache(self.generation_cache, self.place.run_id)

    @property
    def generation_cache(self) -> Path:
        """The SQLite file of answers; with ``--cache off``, one of this run only (its xdist
        workers still share their answers and claims through it)."""
        if self.generation.cache == "off":
            return Path(tempfile.gettempdir(), f"pytest-convcode-{self.place.run_id}.sqlite")
        return self.generation.cache_path

    def prefetch(self, requests: Sequence[Request]) -> None:
        """Start generating these answers, in order: items then find their answers ready."""
        if self.model.cacheable:  # only models that take time to answer are worth it
            self.generator.prefetch(requests)

    # -- sandboxes

    @cached_property
    def sandbox(self) -> Sandbox:
        return backend(self.sandboxes.sandbox)(python=self.sandboxes.sandbox_python, **self.sandboxes.backend_options)

    def sandbox_warnings(self) -> list[str]:
        """What isolation this machine could not give the sandbox: the first time asked, then
        nothing (a run says it once per process)."""
        if self._warned:
            return []
        self._warned = True
        return self.sandbox.warnings()

    def sandbox_jobs_per_host(self) -> dict[str, dict[str, int]]:
        """The jobs each host ran (and those resent elsewhere), of the sandboxes this process
        started that spread over several hosts."""
        total: dict[str, dict[str, int]] = {}
        for name in ("sandbox", "library_sandbox"):
            sandbox = self.__dict__.get(name)  # where cached_property keeps what was made
            if isinstance(sandbox, Spread):
                add_jobs(total, sandbox.jobs_per_host())
        return total

    @cached_property
    def library_sandbox(self) -> Sandbox:
        """A sandbox whose warm worker has the data-science libraries imported already (those of
        BigCodeBench, which CodeGlance's sets use too; the ones the interpreter has)."""
        options = self.sandboxes
        return backend(options.sandbox)(
            python=options.sandbox_python, preload=BIGCODEBENCH_PRELOAD, **options.backend_options
        )

    @cached_property
    def reasoning_judge(self) -> ReasoningJudge:
        return ReasoningJudge(self.library_sandbox)

    # -- data sets and judges

    def dataset(self, suite: str) -> LoadedDataset:
        if suite not in self._datasets:
            self._datasets[suite] = entry(suite).load(self.data.source)
            # A data set's test inputs are millions of objects that live for the whole run:
            # keep the garbage collector from scanning them again (~0.1 s per full pass).
            gc.freeze()
        return self._datasets[suite]

    def ground_truth_dir(self, dataset: Dataset | UnitDataset) -> Path:
        return ground_truth_dir(self.place.cache_dir, dataset, self.sandboxes.sandbox_python)

    def judge(self, suite: str) -> DifferentialJudge:
        """The differential judge of a data set whose tests are calls (HumanEval+, MBPP+)."""
        if suite not in self._judges:
            dataset = self.dataset(suite)
            assert isinstance(dataset, Dataset)  # the suite kinds ask only for these
            python = self.sandboxes.sandbox_python
            self._judges[suite] = DifferentialJudge(
                dataset,
                self.sandbox,
                self.ground_truth_dir(dataset),
                phases=self.judging.phases,
                time_factor=self.judging.time_factor,
                min_time=self.judging.min_time,
                limits=self.sandboxes.limits,
                expected=expected_outputs(dataset, python) if self.judging.bundled_digests else None,
            )
        return self._judges[suite]

    def tester(self, suite: str, budget: float | None = None) -> Tester[Any]:
        """How the suite's programs are tested, as a conversation tests them: a unittest-tested
        data set by its test classes (``UnitTester``; ``budget``: CPU and wall seconds per task, where
        not ConvCodeWorld's), a call-tested one by its judge."""
        key = f"{suite}@{budget}" if budget else suite
        if key not in self._testers:
            dataset = self.dataset(suite)
            if isinstance(dataset, UnitDataset):
                prompt = cast(PromptKind, self.data.prompt or "instruct")
                budgets = {"cpu_budget": budget, "wall_budget": budget} if budget else {}
                self._testers[key] = UnitTester(
                    self.library_sandbox, self.ground_truth_dir(dataset), prompt, known=self._known(dataset), **budgets
                )
            else:
                self._testers[key] = CallTester(self.judge(suite))
        return self._testers[key]

    def _known(self, dataset: UnitDataset) -> Path | None:
        """The environment check's reference verdicts, for the process backend's interpreter (a
        container's or a service's environment is another)."""
        where = references.machine_dir(dataset, self.sandboxes.sandbox_python)
        return where if self.sandboxes.sandbox == "process" and where.is_dir() else None

    def dataset_info(self) -> dict[str, dict[str, str]]:
        """The data sets this process loaded, by suite: what summary.json says was scored."""
        return {
            d.suite: {"dataset": d.name, "version": d.version, "source": d.source, "sha256": d.digest}
            for d in self._datasets.values()
        }

    # -- the end

    def close(self, last: bool) -> None:
        """Stop what was started; ``last``: the process that ends the run (the controller), which
        also removes a ``--cache off`` run's answers."""
        started = self.__dict__  # where cached_property keeps what was made
        for generator in (started.get("generator"), started.get("user_generator")):
            if generator is not None:
                generator.close()
                if generator.cache is not None:
                    generator.cache.close()
        if last and self.generation.cache == "off":
            for suffix in ("", "-wal", "-shm"):
                Path(f"{self.generation_cache}{suffix}").unlink(missing_ok=True)
        for name in ("sandbox", "library_sandbox"):
            sandbox = started.get(name)
            if sandbox is not None:
                sandbox.close()


def asker(generator: Generator) -> conversation.AskModel:
    """A conversation's way to ask a model: one answer, awaited in the conversation's own loop."""

    async def ask(request: Request) -> Answer:
        return (await asyncio.wrap_future(generator.submit(request)))[0]

    return ask
