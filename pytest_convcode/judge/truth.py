"""The ground truth of a call-tested task: the reference solution's outputs and its CPU time per
call, from reference runs in the sandbox, cached on disk per data file and interpreter.

A CPU time that sets a candidate's limit (one above the floor) is the least of up to
``REFERENCE_RUNS`` runs, each alone: so a limit depends neither on one unlucky run nor on how busy
the machine was when the cache was made.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pickle
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, BinaryIO

from ..datasets import reference_costs
from ..errors import InfrastructureError
from ..machine_cache import computed_dir
from ..sandbox import FLOATS, HAS_NAN, Call, CallJob, Limits, Sandbox, describe_output, dump_output, load_output
from ..tasks import Dataset, Task, UnitDataset

GROUND_TRUTH_FORMAT = 4  # bump when the cached ground truth's layout or meaning changes
REFERENCE_RUNS = 3  # runs of the calls whose CPU time sets a limit; each call keeps its least
REFERENCE_CPU_LIMIT = 60.0  # per call, for the trusted reference solution only
REFERENCE_WALL_LIMIT = 3 * REFERENCE_CPU_LIMIT
REFERENCE_MEMORY = 16 << 30  # the reference is trusted: limits here only catch a broken data file
TRUTHS_IN_MEMORY = 4  # tasks whose ground truth stays loaded (samples of a task come together)
PHASES = ("base", "plus")


@dataclass
class GroundTruth:
    """The reference's outputs as pickled bytes (so equal answers are recognised without
    unpickling), what the comparison rules need to know of them, and its CPU times."""

    payloads: list[bytes]
    floats: list[bool]  # EvalPlus's "is a float output" test, for its tolerance rule
    byte_equal_ok: list[bool]  # identical bytes mean equal values (False when it holds a NaN)
    cpu: list[float]
    _outputs: dict[int, Any] = field(default_factory=dict, repr=False)

    @property
    def size(self) -> int:
        """The outputs' pickled bytes, all together."""
        return sum(map(len, self.payloads))

    def output(self, i: int) -> Any:
        if i not in self._outputs:
            self._outputs[i] = load_output(self.payloads[i])
        return self._outputs[i]

    @classmethod
    def of(cls, payloads: list[bytes], descriptions: Sequence[int], cpu: list[float]) -> GroundTruth:
        """From the outputs' ``describe_output`` bytes."""
        floats = [bool(d & FLOATS) for d in descriptions]
        return cls(payloads, floats, [not d & HAS_NAN for d in descriptions], cpu)


@dataclass
class GroundTruthCache:
    """Each task's ground truth: from memory, from disk, or from reference runs."""

    dataset: Dataset
    sandbox: Sandbox
    cache_dir: Path
    phases: tuple[str, ...]
    limits: Limits
    timed_above: float  # CPU seconds above which a call's time sets its limit (below it, the floor does)
    _truths: dict[str, dict[str, GroundTruth]] = field(default_factory=dict, repr=False)

    def get(self, task: Task) -> dict[str, GroundTruth]:
        if task.task_id not in self._truths:
            if len(self._truths) >= TRUTHS_IN_MEMORY:
                del self._truths[next(iter(self._truths))]
            self._truths[task.task_id] = self._load(task)
        return self._truths[task.task_id]

    def known(self, task: Task) -> bool:
        """Whether the task's ground truth is made (in memory or on disk)."""
        return task.task_id in self._truths or (self.cache_dir / f"{_file_name(task)}.pickle").exists()

    def expected_cost(self, task: Task) -> float:
        """The reference's CPU seconds for all phases: as measured on this machine when the
        ground truth was made, else as measured when the data file was bundled, else 0."""
        try:
            return float((self.cache_dir / f"{_file_name(task)}.cost").read_text())
        except (OSError, ValueError):
            return reference_costs(self.dataset.digest).get(task.task_id, 0.0)

    def cpu_now(self, task: Task, phase: str, i: int) -> float:
        """The reference's CPU time for one call, measured now, in a job of its own."""
        calls = self.sandbox.run(self._job(task, [task.tests[phase][i]], describe=False)).calls
        return calls[0].cpu if calls and calls[0].status == "ok" else 0.0

    def _load(self, task: Task) -> dict[str, GroundTruth]:
        path = self.cache_dir / f"{_file_name(task)}.pickle"
        truth = self._read(path)
        if truth is None:
            with _one_at_a_time(path.with_suffix(".lock")):  # another process may be making it: wait
                truth = self._read(path)
                if truth is None:
                    truth = self._reference_run(task)
                    self._write(path, truth)
        return truth

    def _read(self, path: Path) -> dict[str, GroundTruth] | None:
        try:
            stored = load_output(path.read_bytes())
            return {p: GroundTruth(*stored[p]) for p in self.phases}
        except (OSError, ValueError, KeyError, TypeError, EOFError):
            return None

    def _write(self, path: Path, truth: dict[str, GroundTruth]) -> None:
        stored = {p: (t.payloads, t.floats, t.byte_equal_ok, t.cpu) for p, t in truth.items()}
        _write_atomically(path, lambda f: pickle.dump(stored, f, protocol=5))  # no 240 MB copy in memory
        cost = sum(sum(t.cpu) for t in truth.values())
        _write_atomically(path.with_suffix(".cost"), lambda f: f.write(f"{cost:.6f}\n".encode()))

    def _reference_run(self, task: Task) -> dict[str, GroundTruth]:
        """Both phases in one job (one sandbox job less per task): the reference is trusted and
        keeps no state between calls, and EvalPlus too runs all its inputs in one process."""
        inputs = [args for phase in PHASES for args in task.tests[phase]]
        n = len(inputs)
        result = self.sandbox.run(self._job(task, inputs, describe=True))
        failed = next((c for c in result.calls if c.status != "ok"), None)
        if failed is not None:
            phase = "base" if failed.index < len(task.tests["base"]) else "plus"
            why = failed.error or "timed out"
            raise InfrastructureError(f"{task.task_id}: the canonical solution fails its own {phase} tests: {why}")
        if result.load_error is not None or not result.complete or len(result.descriptions) != n:
            why = result.load_error or f"the process {result.how_it_ended}"
            raise InfrastructureError(f"{task.task_id}: the canonical solution fails its own tests: {why}")
        cpu = self._least_cpu(task, inputs, [c.cpu for c in result.calls])
        truth, start = {}, 0
        for phase in PHASES:
            end = start + len(task.tests[phase])
            calls, descriptions = result.calls[start:end], result.descriptions[start:end]
            truth[phase] = _ground_truth_of(task, calls, descriptions, cpu[start:end])
            start = end
        return truth

    def _least_cpu(self, task: Task, inputs: list[Sequence[Any]], cpu: list[float]) -> list[float]:
        """Each call's least CPU time: a call whose time sets a limit above the floor runs again,
        in a job of the calls that do (nothing else of this item runs meanwhile), up to
        ``REFERENCE_RUNS`` runs in all; a call whose least time gives the floor is done."""
        least = list(cpu)
        for _ in range(REFERENCE_RUNS - 1):
            timed = [i for i, t in enumerate(least) if t > self.timed_above]
            if not timed:
                break
            for call in self.sandbox.run(self._job(task, [inputs[i] for i in timed], describe=False)).calls:
                if call.status == "ok":
                    least[timed[call.index]] = min(least[timed[call.index]], call.cpu)
        return least

    def _job(self, task: Task, inputs: list[Sequence[Any]], describe: bool) -> CallJob:
        n = len(inputs)
        return CallJob(
            code=task.program(task.canonical_solution),
            entry_point=task.entry_point,
            inputs=inputs,
            cpu_limits=[REFERENCE_CPU_LIMIT] * n,
            wall_limits=[REFERENCE_WALL_LIMIT] * n,
            load_wall=30.0,
            describe=describe,
            limits=replace(self.limits, memory_bytes=REFERENCE_MEMORY),
        )


def _ground_truth_of(task: Task, calls: list[Call], descriptions: bytes, cpu: list[float]) -> GroundTruth:
    payloads = [c.payload for c in calls]  # pickled by the runner, as answers are
    if task.oracle == "not_none":  # outputs that cannot be compared: only whether there was one
        outputs = [c.value is not None for c in calls]
        payloads = [dump_output(o) for o in outputs]
        return GroundTruth.of(payloads, [describe_output(o) for o in outputs], cpu)
    return GroundTruth.of(payloads, descriptions, cpu)


def ground_truth_dir(root: Path, dataset: Dataset | UnitDataset, python: str) -> Path:
    """Where a data set's ground truth is cached: keyed by file, interpreter and format."""
    path = computed_dir(root, dataset.suite, dataset.version, dataset.digest, python, str(GROUND_TRUTH_FORMAT))
    path.mkdir(parents=True, exist_ok=True)
    return path


def _file_name(task: Task) -> str:
    return task.task_id.replace("/", "_")


@contextlib.contextmanager
def _one_at_a_time(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` among processes (xdist's workers, two runs in one project):
    a task's reference runs once, and alone, not once in each process that needs it."""
    with open(path, "ab") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def _write_atomically(path: Path, write: Callable[[BinaryIO], object]) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    with os.fdopen(fd, "wb") as f:
        write(f)
    os.replace(tmp, path)
