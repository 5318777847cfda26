"""The state of one pytest session: the model, the sandbox, data sets and judges.

Every xdist worker builds its own; only the controller writes the run log.
"""

from __future__ import annotations

import asyncio
import gc
import os
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

from . import conversation, datasets
from .comparison import Baseline
from .conversation import ConversationLog, Conversations, TurnResult
from .datasets.bigcodebench import PRELOAD as BIGCODEBENCH_PRELOAD
from .datasets.bigcodebench import stdlib_only
from .errors import UsageError
from .feedback import Setting
from .gates import Gate
from .generation import GenerationCache, Generator, Settings
from .judge import DifferentialJudge, ground_truth_dir
from .models import Answer, Message, Model, ModelSettings, Request
from .reasoning import STYLES as REASONING_STYLES
from .reasoning import PromptStyle, Question, ReasoningDataset, ReasoningJudge
from .results import RunLog
from .sandbox import Limits, Sandbox, backend
from .tasks import Dataset, Problem, Task, UnitDataset
from .testers import CallTester, UnitTester

SUBSETS = ("stdlib",)
T = TypeVar("T")
D = TypeVar("D", Dataset, UnitDataset, ReasoningDataset)


@dataclass(frozen=True)
class Case:
    """One item: a task and the index of the sample being judged."""

    task: Task
    sample: int
    samples: int  # how many the model gives for this task

    @property
    def base_id(self) -> str:
        """The id its samples share."""
        return self.task.task_id

    @property
    def id(self) -> str:
        return self.base_id if self.samples == 1 else f"{self.base_id}-s{self.sample}"

    @property
    def request(self) -> Request:
        """What is asked of the model: all samples of the task at once."""
        return Request(self.task, n=self.samples)


@dataclass(frozen=True)
class ReasoningCase:
    """One item of a code reasoning suite: a question (task and mode) and a sample index.
    Its id names the mode, so that ``-k output`` selects output prediction."""

    task: Question
    sample: int
    samples: int

    @property
    def base_id(self) -> str:
        return f"{self.task.task_id}-{self.task.mode}"

    @property
    def id(self) -> str:
        return self.base_id if self.samples == 1 else f"{self.base_id}-s{self.sample}"

    @property
    def request(self) -> Request:
        """The prompt goes out as written (no alias instruction around it); replies come back whole."""
        return Request(self.task, (Message("user", self.task.prompt),), n=self.samples, verbatim=True)


@dataclass(frozen=True)
class TurnCase:
    """One item of a conversation: a task, a feedback setting and a turn. Its id names the
    setting in words that ``-k`` selects ("BigCodeBench/13-cf-ef_full-expert-turn3")."""

    task: Problem
    setting: Setting
    turn: int

    @property
    def id(self) -> str:
        return f"{self.task.task_id}-{self.setting.id}-turn{self.turn}"


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
    task_ids: frozenset[str] | None = None  # --tasks
    subset: str | None = None  # --subset
    sandbox_python: str = sys.executable
    feedback: tuple[Setting, ...] | None = None  # --feedback: conversations on any suite
    conversation: conversation.Options = field(default_factory=conversation.Options)
    prompt: str | None = None  # --prompt: BigCodeBench's instruct / complete, code reasoning's direct / cot / rag
    rag_path: Path | None = None  # --rag-path: CodeGlance's API documentation file
    user_model: Model | None = None
    model_settings: ModelSettings = field(default_factory=ModelSettings)


@dataclass
class Run:
    options: Options
    model: Model
    log: RunLog | None  # None on xdist workers
    records: list[dict[str, Any]] = field(default_factory=list)
    other_failures: int = 0  # failed tests that are not benchmark items
    summary: dict[str, Any] | None = None  # set at the end of the run, on the controller
    baseline: Baseline | None = None  # --compare, on the controller
    started: float = field(default_factory=time.time)
    suites_scored: dict[str, dict[str, str]] = field(default_factory=dict)  # the workers' dataset_info()
    workers: int = 0  # xdist workers that finished
    report: Path | None = None  # the HTML report, once written
    report_problem: str = ""  # why the HTML report could not be written
    _sandbox: Sandbox | None = None
    _datasets: dict[str, Dataset] = field(default_factory=dict)
    _judges: dict[str, DifferentialJudge] = field(default_factory=dict)
    _answers: dict[str, list[Answer]] = field(default_factory=dict)  # by the case's base_id
    _reasoning_datasets: dict[str, ReasoningDataset] = field(default_factory=dict)
    _reasoning_judge: ReasoningJudge | None = None
    _generator: Generator | None = None
    _user_generator: Generator | None = None
    _unit_datasets: dict[str, UnitDataset] = field(default_factory=dict)
    _library_sandbox: Sandbox | None = None
    _conversations: dict[str, Conversations] = field(default_factory=dict)

    @property
    def sandbox_started(self) -> bool:
        return self._sandbox is not None

    @property
    def sandbox(self) -> Sandbox:
        if self._sandbox is None:
            self._sandbox = backend(self.options.sandbox)(python=self.options.sandbox_python)
        return self._sandbox

    @property
    def library_sandbox(self) -> Sandbox:
        """A sandbox whose warm worker has the data-science libraries imported already (those of
        BigCodeBench, which CodeGlance's sets use too; the ones the interpreter has)."""
        if self._library_sandbox is None:
            self._library_sandbox = backend(self.options.sandbox)(
                python=self.options.sandbox_python, preload=BIGCODEBENCH_PRELOAD
            )
        return self._library_sandbox

    def is_unit_suite(self, suite: str) -> bool:
        return datasets.holds_unit_tasks(suite)

    def is_reasoning_suite(self, suite: str) -> bool:
        return datasets.holds_reasoning_tasks(suite)

    def reasoning_dataset(self, suite: str) -> ReasoningDataset:
        def load(suite: str, version: str | None, path: Path | None) -> ReasoningDataset:
            return datasets.load_reasoning(suite, path, self.options.rag_path)

        return self._loaded(suite, self._reasoning_datasets, load)

    def reasoning_cases(self, suite: str) -> tuple[list[ReasoningCase], list[str]]:
        """Every selected task in each mode its data set allows, each sample an item; and a
        note for each record of the data file that was left out."""
        style = cast(PromptStyle, self.options.prompt or "direct")
        if style not in REASONING_STYLES:
            known = ", ".join(REASONING_STYLES)
            raise UsageError(f"--prompt {style} is not a code reasoning prompt; use one of {known}")
        dataset = self.reasoning_dataset(suite)
        cases: list[ReasoningCase] = []
        for task in self._selected(suite, dataset.tasks):
            for mode in dataset.modes:
                question = Question(task, mode, style)
                n = self.model.samples(question)
                cases.extend(ReasoningCase(question, i, n) for i in range(n))
        return cases, [f"left out: {why}" for why in dataset.skipped]

    @property
    def reasoning_judge(self) -> ReasoningJudge:
        if self._reasoning_judge is None:
            self._reasoning_judge = ReasoningJudge(self.library_sandbox)
        return self._reasoning_judge

    def scored_dataset(self, suite: str) -> Dataset | UnitDataset | ReasoningDataset:
        """The data set a suite scores, whichever kind it is."""
        if self.is_reasoning_suite(suite):
            return self.reasoning_dataset(suite)
        return self.unit_dataset(suite) if self.is_unit_suite(suite) else self.dataset(suite)

    def unit_dataset(self, suite: str) -> UnitDataset:
        return self._loaded(suite, self._unit_datasets, datasets.load_unit)

    def problems(self, suite: str) -> Sequence[Problem]:
        """The suite's tasks that --tasks and --subset leave, in data set order."""
        if not self.is_unit_suite(suite):
            if self.options.subset is not None:
                raise UsageError(f"--subset {self.options.subset} is for BigCodeBench; {suite} has no subsets")
            return self.tasks(suite)
        unit = self.unit_dataset(suite)
        return [t for t in self._selected(suite, unit.tasks) if self.options.subset != "stdlib" or stdlib_only(t)]

    def tasks(self, suite: str) -> list[Task]:
        """The tasks of a call-tested suite that --tasks leaves."""
        return self._selected(suite, self.dataset(suite).tasks)

    def _selected(self, suite: str, tasks: Mapping[str, T]) -> list[T]:
        wanted = self.options.task_ids
        if wanted is None:
            return list(tasks.values())
        unknown = sorted(wanted - set(tasks))
        if unknown:
            raise UsageError(f"--tasks names {len(unknown)} tasks that {suite} lacks, e.g. {unknown[0]!r}")
        return [task for task_id, task in tasks.items() if task_id in wanted]

    def feedback_settings(self, suite_default: str | None) -> tuple[Setting, ...] | None:
        """The settings to converse in: --feedback's, else the suite module's ``FEEDBACK``;
        None for a single-turn suite."""
        if self.options.feedback is not None:
            return self.options.feedback
        return parse_settings(suite_default) if suite_default else None

    def turn_cases(self, suite: str, settings: tuple[Setting, ...]) -> list[TurnCase]:
        turns = range(self.options.conversation.max_turns + 1)
        return [TurnCase(task, s, t) for task in self.problems(suite) for s in settings for t in turns]

    def conversations(self, suite: str) -> Conversations:
        if suite not in self._conversations:
            o = self.options
            tester: conversation.Tester[Any]
            if self.is_unit_suite(suite):
                truth = ground_truth_dir(o.cache_dir, self.unit_dataset(suite), o.sandbox_python)
                tester = UnitTester(self.library_sandbox, truth, o.prompt or "instruct")  # type: ignore[arg-type]
            else:
                tester = CallTester(self.judge(suite))
            worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
            workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
            self._conversations[suite] = Conversations(
                tester,
                ask_model=_asker(self.generator),
                ask_user=_asker(self.user_generator) if self.user_generator else None,
                options=o.conversation,
                log=ConversationLog(
                    o.reports_dir / o.run_id / "conversations" / f"{suite}-{worker}.jsonl", o.run_id, self.model.name
                ),
                evaluations=max(1, (os.cpu_count() or 1) // workers),
            )
        return self._conversations[suite]

    def turn(self, suite: str, case: TurnCase) -> TurnResult:
        return self.conversations(suite).result(case.task, case.setting, case.turn)

    def dataset(self, suite: str) -> Dataset:
        return self._loaded(suite, self._datasets, datasets.load)

    def _loaded(self, suite: str, loaded: dict[str, D], load: Callable[[str, str | None, Path | None], D]) -> D:
        if suite not in loaded:
            o = self.options
            loaded[suite] = load(suite, o.dataset_version, o.dataset_path)
            # A data set's test inputs are millions of objects that live for the whole run:
            # keep the garbage collector from scanning them again (~0.1 s per full pass).
            gc.freeze()
        return loaded[suite]

    def dataset_info(self) -> dict[str, dict[str, str]]:
        """The data sets this process loaded, by suite: what summary.json says was scored."""
        loaded: list[Dataset | UnitDataset | ReasoningDataset] = [
            *self._datasets.values(),
            *self._unit_datasets.values(),
            *self._reasoning_datasets.values(),
        ]
        return {
            d.suite: {"dataset": d.name, "version": d.version, "source": d.source, "sha256": d.digest} for d in loaded
        }

    def cases(self, suite: str) -> tuple[list[Case], list[str]]:
        """The items of a suite, and notes on samples that do not fit the data set."""
        dataset = self.dataset(suite)
        cases: list[Case] = []
        for task in self.tasks(suite):
            n = self.model.samples(task)
            cases.extend(Case(task, i, n) for i in range(n))
        notes = []
        covered = {c.task.task_id for c in cases}
        if self.options.task_ids is None and len(covered) < len(dataset.tasks):
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
                ground_truth_dir(o.cache_dir, dataset, o.sandbox_python),
                phases=("base",) if o.base_only else ("base", "plus"),
                time_factor=o.time_factor,
                min_time=o.min_time,
                limits=o.limits,
            )
        return self._judges[suite]

    @property
    def generator(self) -> Generator:
        if self._generator is None:
            cache = self._cache() if self.model.cacheable else None
            self._generator = Generator(self.model, self.options.generation, cache)
        return self._generator

    @property
    def user_generator(self) -> Generator | None:
        """The simulated user's model, through the same cache: a rerun asks it nothing again."""
        user = self.options.user_model
        if user is not None and self._user_generator is None:
            self._user_generator = Generator(user, self.options.generation, self._cache())
        return self._user_generator

    def _cache(self) -> GenerationCache:
        return GenerationCache(self.generation_cache, self.options.run_id)

    @property
    def generation_cache(self) -> Path:
        """The SQLite file of answers; with ``--cache off``, one of this run only (its xdist
        workers still share their answers and claims through it)."""
        if self.options.generation.cache == "off":
            return Path(tempfile.gettempdir(), f"pytest-convcode-{self.options.run_id}.sqlite")
        return self.options.generation_cache

    def prefetch(self, cases: Sequence[Case | ReasoningCase]) -> None:
        """Start generating for these cases, in order: items then find their answers ready."""
        if self.model.cacheable:  # only models that take time to answer are worth it
            requests = {c.base_id: c.request for c in cases}
            self.generator.prefetch(list(requests.values()))

    def answer(self, case: Case | ReasoningCase) -> Answer:
        """The sample of a case; all samples of a task are requested together."""
        if case.base_id not in self._answers:
            self._answers[case.base_id] = self.generator.answers(case.request)
        return self._answers[case.base_id][case.sample]

    def close(self) -> None:
        for conversations in self._conversations.values():
            conversations.close()
        for generator in (self._generator, self._user_generator):
            if generator is not None:
                generator.close()
                if generator.cache is not None:
                    generator.cache.close()
        if self.log is not None and self.options.generation.cache == "off":  # the controller, last to go
            for suffix in ("", "-wal", "-shm"):
                Path(f"{self.generation_cache}{suffix}").unlink(missing_ok=True)
        for sandbox in (self._sandbox, self._library_sandbox):
            if sandbox is not None:
                sandbox.close()
        if self.log is not None:
            self.log.close()


def parse_settings(text: str) -> tuple[Setting, ...]:
    """``all``, or setting ids separated by commas ("cf-ef_full,cf-expert")."""
    from .feedback import ALL_SETTINGS

    if text.strip() == "all":
        return ALL_SETTINGS
    return tuple(Setting.from_id(part.strip()) for part in text.split(",") if part.strip())


def _asker(generator: Generator) -> conversation.AskModel:
    async def ask(request: Request) -> Answer:
        return (await asyncio.wrap_future(generator.submit(request)))[0]

    return ask
