"""Differential judging: a candidate passes when it returns what the reference returns.

The expected outputs and the reference's CPU time per call come from running
the canonical solution once in the sandbox (cached on disk, keyed by the data
file). Each call of a candidate may take ``max(min_time, time_factor x the
reference's CPU time)`` seconds of CPU, as EvalPlus derives its limits, but
measured in CPU time so that a busy machine does not change verdicts; a
wall-clock limit ``WALL_FACTOR`` times larger is only a backstop.

Outputs are compared as EvalPlus compares them, special oracles included.
"""

from __future__ import annotations

import hashlib
import math
import os
import pickle
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, BinaryIO

from .datasets import reference_costs
from .errors import InfrastructureError
from .sandbox import (
    FLOATS,
    HAS_NAN,
    Call,
    CallJob,
    ExecResult,
    Limits,
    Sandbox,
    describe_output,
    dump_output,
    is_floats,
    load_output,
)
from .tasks import Dataset, Task, UnitDataset

WALL_FACTOR = 3.0
GROUND_TRUTH_FORMAT = 3  # bump when the cached ground-truth layout changes
REFERENCE_CPU_LIMIT = 60.0  # per call, for the trusted reference solution only
REFERENCE_MEMORY = 16 << 30  # the reference is trusted: limits here only catch a broken data file
DETAIL_CHARS = 300
TRUTHS_IN_MEMORY = 4  # tasks whose ground truth stays loaded (samples of a task come together)

# per-test status letters, as in a results record
PASSED, WRONG, RAISED, TIMED_OUT, NOT_RUN = ".", "F", "E", "T", "-"


# ---------------------------------------------------------------- comparison


def _poly(xs: Sequence[float], x: float) -> float:
    return sum(c * math.pow(x, i) for i, c in enumerate(xs))


def _pyramid_surface(base_edge: float, height: float) -> float:
    slant = math.sqrt((base_edge / 2) ** 2 + height**2)
    return round(base_edge**2 + 2 * base_edge * slant)


def _digit_distance(a: int, b: int) -> int:
    sa, sb = str(a), str(b)
    width = max(len(sa), len(sb))
    return sum(abs(int(x) - int(y)) for x, y in zip(sa.zfill(width), sb.zfill(width), strict=False))


def _equal(out: Any, exp: Any) -> bool:
    try:
        return bool(out == exp)
    except Exception:  # numpy arrays and other ambiguous truth values
        return False


# oracle name -> is `out` acceptable where the reference gave `exp`, before tolerance
ORACLES: dict[str, Callable[[Any, Any, Sequence[Any], float], bool]] = {
    "exact": lambda out, exp, args, atol: _equal(out, exp),
    "any": lambda out, exp, args, atol: True,
    "exact_or_zero": lambda out, exp, args, atol: _equal(out, exp) or _equal(out, 0),
    "pyramid_surface": lambda out, exp, args, atol: _equal(out, exp) or abs(out - _pyramid_surface(*args)) <= atol,
    "digit_distance": lambda out, exp, args, atol: _equal(out, exp) or _equal(out, _digit_distance(*args)),
    "set": lambda out, exp, args, atol: set(out) == set(exp),
    "not_none": lambda out, exp, args, atol: _equal(out, exp) if isinstance(out, bool) else exp == (out is not None),
}


def outputs_match(task: Task, args: Sequence[Any], out: Any, exp: Any, atol: float) -> tuple[bool, float]:
    """EvalPlus's rule for one call; returns (verdict, the tolerance for the next calls).

    Like EvalPlus, once a phase meets a float output with ``atol == 0`` the
    tolerance becomes 1e-6 for the rest of that phase.
    """
    try:
        if task.oracle == "poly_root":  # any x with |poly(x)| <= atol is a root
            return abs(_poly(args[0], out)) <= task.atol, atol
        exact = ORACLES[task.oracle](out, exp, args, atol)
        if atol == 0 and is_floats(exp):
            atol = 1e-6
        if exact or atol == 0:
            return exact, atol
        if type(out) is not type(exp):
            return False, atol
        if isinstance(exp, (list, tuple)) and len(out) != len(exp):
            return False, atol
        import numpy  # here, where a comparison needs it: imported at start it costs each process ~0.1 s

        return bool(numpy.allclose(out, exp, rtol=1e-07, atol=atol)), atol
    except Exception:
        return False, atol


# ---------------------------------------------------------------- results


@dataclass(frozen=True)
class PhaseResult:
    phase: str
    statuses: str  # one letter per test: . F E T -
    failure: str = ""  # what went wrong first, for a person

    @property
    def passed(self) -> bool:
        return not self.failure  # every failing path records why; a phase with no tests passes

    @property
    def n_passed(self) -> int:
        return self.statuses.count(PASSED)


@dataclass(frozen=True)
class Verdict:
    task_id: str
    program: str
    phases: dict[str, PhaseResult] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(p.passed for p in self.phases.values())

    @property
    def explanation(self) -> str:
        for phase in self.phases.values():
            if not phase.passed:
                return phase.failure
        return "all tests passed"


@dataclass
class GroundTruth:
    """The reference's outputs as pickled bytes (so equal answers are recognised without
    unpickling), what the comparison rules need to know of them, and its CPU times."""

    payloads: list[bytes]
    floats: list[bool]  # EvalPlus's "is a float output" test, for its tolerance rule
    byte_equal_ok: list[bool]  # identical bytes mean equal values (False when it holds a NaN)
    cpu: list[float]
    _outputs: dict[int, Any] = field(default_factory=dict, repr=False)

    def output(self, i: int) -> Any:
        if i not in self._outputs:
            self._outputs[i] = load_output(self.payloads[i])
        return self._outputs[i]

    @classmethod
    def of(cls, payloads: list[bytes], descriptions: Sequence[int], cpu: list[float]) -> GroundTruth:
        """From the outputs' ``describe_output`` bytes."""
        floats = [bool(d & FLOATS) for d in descriptions]
        return cls(payloads, floats, [not d & HAS_NAN for d in descriptions], cpu)


# ---------------------------------------------------------------- judge


@dataclass
class DifferentialJudge:
    dataset: Dataset
    sandbox: Sandbox
    cache_dir: Path
    phases: tuple[str, ...] = ("base", "plus")
    time_factor: float = 4.0
    min_time: float = 1.0
    limits: Limits = field(default_factory=Limits)
    _truths: dict[str, dict[str, GroundTruth]] = field(default_factory=dict, repr=False)

    def judge(self, task: Task, program: str, fail_fast: bool = True) -> Verdict:
        """Both phases run at once, each in a process of its own, as EvalPlus runs them."""
        truth = self.ground_truth(task)
        jobs = [self._job(task, program, p, truth[p], fail_fast) for p in self.phases]
        results = self.sandbox.run_all(jobs)
        phases = {
            p: self._compare(task, p, result, truth[p], job.cpu_limits, fail_fast)
            for p, job, result in zip(self.phases, jobs, results, strict=True)
        }
        return Verdict(task.task_id, program, phases)

    def unanswered(self, task: Task, why: str) -> Verdict:
        """The verdict on a reply that held no program: every test of every phase not run."""
        failure = f"the reply holds no program: {why}"
        phases = {p: PhaseResult(p, NOT_RUN * len(task.tests[p]), failure) for p in self.phases}
        return Verdict(task.task_id, "", phases)

    def _job(self, task: Task, program: str, phase: str, truth: GroundTruth, fail_fast: bool) -> CallJob:
        cpu_limits = [max(self.min_time, self.time_factor * t) for t in truth.cpu]
        return CallJob(
            code=program,
            entry_point=task.entry_point,
            inputs=task.tests[phase],
            cpu_limits=cpu_limits,
            # all calls together: time_factor x the reference's total, but never below
            # EvalPlus's per-task allowance (nor above the sum of the per-call limits)
            cpu_budget=max(self.limits.min_job_cpu, self.time_factor * sum(truth.cpu)),
            wall_limits=[WALL_FACTOR * t for t in cpu_limits],
            load_cpu=self.min_time,
            load_wall=WALL_FACTOR * self.min_time + 2.0,
            stop_on_error=fail_fast,
            guard=self.dataset.guard,
            limits=self.limits,
        )

    def _compare(
        self,
        task: Task,
        phase: str,
        result: ExecResult,
        truth: GroundTruth,
        cpu_limits: Sequence[float],
        fail_fast: bool,
    ) -> PhaseResult:
        n = len(truth.payloads)
        if result.load_error is not None:
            why = result.load_error.strip() or f"the process {result.how_it_ended} before it finished loading"
            return PhaseResult(phase, NOT_RUN * n, f"the program did not load: {_cut(why, 2000)}")
        if task.oracle == "exact" and all(truth.byte_equal_ok) and [c.payload for c in result.calls] == truth.payloads:
            return PhaseResult(phase, PASSED * n, "")  # the reference's very bytes, call by call: at C speed
        calls = {c.index: c for c in result.calls}
        statuses, failure, atol = [], "", task.atol
        for i in range(n):
            call = calls.get(i)
            if call is None or (failure and fail_fast):
                statuses.append(NOT_RUN)
                if call is None and not failure:
                    failure = f"{phase} test {i}: not run: the process {result.how_it_ended}"
                continue
            ok, atol = self._check(task, phase, i, call, truth, atol)
            statuses.append(ok)
            if ok != PASSED and not failure:
                failure = self._describe(task, phase, i, call, truth.output(i), cpu_limits[i])
        return PhaseResult(phase, "".join(statuses), failure)

    def _check(self, task: Task, phase: str, i: int, call: Call, truth: GroundTruth, atol: float) -> tuple[str, float]:
        if call.status == "timeout":
            return TIMED_OUT, atol
        if call.status == "error":
            return RAISED, atol
        if task.oracle == "exact" and truth.byte_equal_ok[i] and call.payload == truth.payloads[i]:
            return PASSED, 1e-6 if atol == 0 and truth.floats[i] else atol  # the same value
        try:
            value = call.value
        except Exception:  # an unreadable payload is the candidate's doing
            return RAISED, atol
        ok, atol = outputs_match(task, task.tests[phase][i], value, truth.output(i), atol)
        return (PASSED if ok else WRONG), atol

    def _describe(self, task: Task, phase: str, i: int, call: Call, expected: Any, cpu_limit: float) -> str:
        args = ", ".join(_show(a) for a in task.tests[phase][i])
        head = f"{phase} test {i}: {task.entry_point}({_cut(args, DETAIL_CHARS)})"
        if call.status == "timeout":
            return f"{head} exceeded its time limit ({cpu_limit:.2f} s of CPU)"
        if call.status == "error":
            return f"{head} raised:\n{_cut(call.error.strip(), 2000)}"
        try:
            value = call.value
        except Exception as exc:
            return f"{head} returned a value that could not be read back: {exc!r}"
        if task.oracle == "poly_root":
            return f"{head} returned {_show(value)}, which is not a root (|poly(x)| > {task.atol})"
        return f"{head} returned {_show(value)}, expected {_show(expected)}"

    # -- inputs and ground truth

    def ground_truth(self, task: Task) -> dict[str, GroundTruth]:
        """Expected outputs and reference CPU times; from memory, disk, or a reference run."""
        if task.task_id not in self._truths:
            if len(self._truths) >= TRUTHS_IN_MEMORY:
                del self._truths[next(iter(self._truths))]
            self._truths[task.task_id] = self._load_ground_truth(task)
        return self._truths[task.task_id]

    def _load_ground_truth(self, task: Task) -> dict[str, GroundTruth]:
        path = self.cache_dir / f"{_file_name(task)}.pickle"
        try:
            stored = load_output(path.read_bytes())
            return {p: GroundTruth(*stored[p]) for p in self.phases}
        except (OSError, ValueError, KeyError, TypeError, EOFError):
            pass
        truth = self._reference_run(task)
        stored = {p: (t.payloads, t.floats, t.byte_equal_ok, t.cpu) for p, t in truth.items()}
        _write_atomically(path, lambda f: pickle.dump(stored, f, protocol=5))  # no 240 MB copy in memory
        cost = sum(sum(t.cpu) for t in truth.values())
        _write_atomically(path.with_suffix(".cost"), lambda f: f.write(f"{cost:.6f}\n".encode()))
        return truth

    def expected_cost(self, task: Task) -> float:
        """The reference's CPU seconds for all phases: as measured on this machine when the
        ground truth was made, else as measured when the data file was bundled, else 0."""
        try:
            return float((self.cache_dir / f"{_file_name(task)}.cost").read_text())
        except (OSError, ValueError):
            return reference_costs(self.dataset.digest).get(task.task_id, 0.0)

    def _reference_run(self, task: Task) -> dict[str, GroundTruth]:
        """Both phases in one job (one sandbox job less per task): the reference is trusted and
        keeps no state between calls, and EvalPlus too runs all its inputs in one process."""
        phases = ("base", "plus")
        inputs = [args for phase in phases for args in task.tests[phase]]
        n = len(inputs)
        job = CallJob(
            code=task.program(task.canonical_solution),
            entry_point=task.entry_point,
            inputs=inputs,
            cpu_limits=[REFERENCE_CPU_LIMIT] * n,
            wall_limits=[WALL_FACTOR * REFERENCE_CPU_LIMIT] * n,
            load_wall=30.0,
            describe=True,
            limits=replace(self.limits, memory_bytes=REFERENCE_MEMORY),
        )
        result = self.sandbox.run(job)
        failed = next((c for c in result.calls if c.status != "ok"), None)
        if failed is not None:
            phase = "base" if failed.index < len(task.tests["base"]) else "plus"
            why = failed.error or "timed out"
            raise InfrastructureError(f"{task.task_id}: the canonical solution fails its own {phase} tests: {why}")
        if result.load_error is not None or not result.complete or len(result.descriptions) != n:
            why = result.load_error or f"the process {result.how_it_ended}"
            raise InfrastructureError(f"{task.task_id}: the canonical solution fails its own tests: {why}")
        truth, start = {}, 0
        for phase in phases:
            end = start + len(task.tests[phase])
            truth[phase] = self._ground_truth_of(task, result.calls[start:end], result.descriptions[start:end])
            start = end
        return truth

    @staticmethod
    def _ground_truth_of(task: Task, calls: list[Call], descriptions: bytes) -> GroundTruth:
        payloads = [c.payload for c in calls]  # pickled by the runner, as answers are
        cpu = [c.cpu for c in calls]
        if task.oracle == "not_none":  # outputs that cannot be compared: only whether there was one
            outputs = [c.value is not None for c in calls]
            payloads = [dump_output(o) for o in outputs]
            return GroundTruth.of(payloads, [describe_output(o) for o in outputs], cpu)
        return GroundTruth.of(payloads, descriptions, cpu)


def ground_truth_dir(root: Path, dataset: Dataset | UnitDataset, python: str) -> Path:
    """Where a data set's ground truth is cached: keyed by file, interpreter and format
    (the interpreter by its directory and real binary: ``python`` and ``python3`` of one
    virtual environment share a cache, two environments do not)."""
    interpreter = f"{os.path.dirname(os.path.abspath(python))}:{os.path.realpath(python)}"
    key = hashlib.sha256(f"{dataset.digest}:{interpreter}:{GROUND_TRUTH_FORMAT}".encode()).hexdigest()[:16]
    path = root / f"{dataset.suite}-{dataset.version}-{key}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _file_name(task: Task) -> str:
    return task.task_id.replace("/", "_")


def _write_atomically(path: Path, write: Callable[[BinaryIO], object]) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    with os.fdopen(fd, "wb") as f:
        write(f)
    os.replace(tmp, path)


def _show(value: Any) -> str:
    try:
        return _cut(repr(value), DETAIL_CHARS)
    except Exception:  # ints beyond the decimal conversion limit, very deep nesting
        return f"<{type(value).__name__} too large to print>"


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]} ... [{len(text) - limit} chars cut] ... {text[-half:]}"
