"""Differential judging: a candidate passes when it returns what the reference returns.

Each call of a candidate may take ``max(min_time, time_factor x the reference's CPU time)`` seconds
of CPU, as EvalPlus derives its limits, but measured in CPU time so that a busy machine does not
change verdicts; a wall-clock limit ``WALL_FACTOR`` times larger is only a backstop. Neither clock
is quite free of load (the CPU timers count scheduler ticks, a starved call meets the wall clock,
and on a busy machine CPU time itself runs dearer), so a call that runs out of time is measured
again, alone, with ``MARGIN`` times its limit, before it is called a time-out. A phase may answer
``OUTPUT_FACTOR`` times what the reference answers.

Outputs are compared as EvalPlus compares them (``rules.py``), special oracles included.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..sandbox import Call, CallJob, ExecResult, Limits, MiB, Sandbox
from ..tasks import Dataset, Task
from .expected import ExpectedOutputs, PhaseDigests
from .rules import outputs_match
from .truth import GroundTruth, GroundTruthCache

WALL_FACTOR = 3.0
MARGIN = 2.0  # a call that ran out of time is measured again with this many times its limit
OUTPUT_FACTOR = 4  # a phase's answers may be this many times the size of the reference's ...
MIN_OUTPUT = 64 * MiB  # ... or this size, whichever is larger
BUDGET_ENDINGS = ("cpu_limit", "wall_timeout")  # a job's own budgets ended it, not a call's limit
DETAIL_CHARS = 300
SHOW_CHARS = 100_000  # a value whose repr is longer is shown by its beginning, and not printed whole

# per-test status letters, as in a results record
PASSED, WRONG, RAISED, TIMED_OUT, NOT_RUN = ".", "F", "E", "T", "-"


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
class DifferentialJudge:
    dataset: Dataset
    sandbox: Sandbox
    cache_dir: Path
    phases: tuple[str, ...] = ("base", "plus")
    time_factor: float = 4.0
    min_time: float = 1.0
    limits: Limits = field(default_factory=Limits)
    expected: ExpectedOutputs | None = None  # the bundled digests, where they hold
    truths: GroundTruthCache = field(init=False, repr=False)

    def __post_init__(self) -> None:
        timed_above = self.min_time / self.time_factor  # below it, a call gets the floor however it is measured
        self.truths = GroundTruthCache(
            self.dataset, self.sandbox, self.cache_dir, self.phases, self.limits, timed_above
        )

    def judge(self, task: Task, program: str, fail_fast: bool = True) -> Verdict:
        """Each phase runs in a process of its own that starts from the loaded program, as EvalPlus
        runs them (one sandbox job: ``Sandbox.run_all``). Before this machine has the task's
        ground truth, the candidate runs under the floor limits first: where it returns the
        reference's very bytes, it passes on the bundled digests (``expected.py``); else it is
        judged by the ground truth, made then, and that run stands where no limit decided it."""
        floor_run = None if self.truths.known(task) else self._floor_run(task, program, fail_fast)
        if floor_run is not None and floor_run.matched():
            return Verdict(task.task_id, program, {p: PhaseResult(p, PASSED * len(task.tests[p])) for p in self.phases})
        truth = self.ground_truth(task)
        jobs = [self._job(task, program, p, truth[p].cpu, truth[p].size, fail_fast) for p in self.phases]
        results = self._run(jobs, floor_run)
        phases = {
            p: self._settle(task, p, job, result, truth[p])
            for p, job, result in zip(self.phases, jobs, results, strict=True)
        }
        return Verdict(task.task_id, program, phases)

    def unanswered(self, task: Task, why: str) -> Verdict:
        """The verdict on a reply that held no program: every test of every phase not run."""
        failure = f"the reply holds no program: {why}"
        phases = {p: PhaseResult(p, NOT_RUN * len(task.tests[p]), failure) for p in self.phases}
        return Verdict(task.task_id, "", phases)

    def ground_truth(self, task: Task) -> dict[str, GroundTruth]:
        """Expected outputs and reference CPU times; from memory, disk, or reference runs."""
        return self.truths.get(task)

    def expected_cost(self, task: Task) -> float:
        return self.truths.expected_cost(task)

    # -- before the ground truth: the bundled digests

    def _floor_run(self, task: Task, program: str, fail_fast: bool) -> _FloorRun | None:
        """The phases run with no reference time known: every call's limit is the floor
        (``min_time``), the job's budget the least; None where the task has no digests."""
        expected = self.expected.of(task.task_id) if self.expected and task.oracle == "exact" else None
        if expected is None or not all(p in expected for p in self.phases):
            return None
        digests = [expected[p] for p in self.phases]
        jobs = [
            self._job(task, program, p, [0.0] * len(task.tests[p]), d.output_bytes, fail_fast)
            for p, d in zip(self.phases, digests, strict=True)
        ]
        return _FloorRun(jobs, self.sandbox.run_all(jobs), digests)

    def _run(self, jobs: list[CallJob], floor_run: _FloorRun | None) -> list[ExecResult]:
        """The phases' results: a floor run's where it stands for these limits, the others run now."""
        kept = floor_run.standing(jobs) if floor_run is not None else [None] * len(jobs)
        rerun = [job for job, result in zip(jobs, kept, strict=True) if result is None]
        again = iter(self.sandbox.run_all(rerun) if rerun else [])
        return [result if result is not None else next(again) for result in kept]

    def _job(
        self, task: Task, program: str, phase: str, cpu: Sequence[float], output_bytes: int, fail_fast: bool
    ) -> CallJob:
        """``cpu``: the reference's CPU time per call; ``output_bytes``: its outputs' size."""
        cpu_limits = [max(self.min_time, self.time_factor * t) for t in cpu]
        # all calls together: time_factor x the reference's total with the margin a call gets (a
        # backstop against runaway jobs, not a verdict on speed), never below EvalPlus's allowance
        budget = max(self.limits.min_job_cpu, MARGIN * self.time_factor * sum(cpu))
        # the sandbox counts its output limit over all of a job's answers
        output = max(MIN_OUTPUT, OUTPUT_FACTOR * output_bytes)
        return CallJob(
            code=program,
            entry_point=task.entry_point,
            inputs=task.tests[phase],
            cpu_limits=cpu_limits,
            cpu_budget=budget,
            wall_limits=[WALL_FACTOR * t for t in cpu_limits],
            load_cpu=self.min_time,
            load_wall=WALL_FACTOR * self.min_time + 2.0,
            stop_on_error=fail_fast,
            guard=self.dataset.guard,
            limits=replace(self.limits, max_output_bytes=min(self.limits.max_output_bytes, output)),
        )

    # -- time-outs, measured again

    def _settle(self, task: Task, phase: str, job: CallJob, result: ExecResult, truth: GroundTruth) -> PhaseResult:
        """The phase's verdict. Where it turns on a call that ran out of time, that call is first
        measured again, once (``_remeasure``), and the phase judged anew."""
        remeasured: set[int] = set()
        while True:
            verdict, failed = self._compare(task, phase, job, result, truth)
            if failed is None or failed.status != "timeout" or failed.index in remeasured:
                return verdict
            remeasured.add(failed.index)
            result = self._remeasure(task, phase, job, result, failed.index)

    def _remeasure(self, task: Task, phase: str, job: CallJob, result: ExecResult, i: int) -> ExecResult:
        """The phase run again, alone (its item's other jobs have ended), with MARGIN times the
        limits of call ``i`` and of the calls before it; its calls from ``i`` on replace the first
        run's. The calls before ``i`` run again so that it starts from the state they left; their
        outputs and times were judged already, and their margin keeps them from stopping the run
        short of it. A call keeps within its limit by the runner's exact CPU clock."""
        limits = [t * MARGIN if k <= i else t for k, t in enumerate(job.cpu_limits)]
        again = self.sandbox.run(replace(job, cpu_limits=limits, wall_limits=[WALL_FACTOR * t for t in limits]))
        calls = [c for c in again.calls if c.index >= i]
        if not calls or calls[0].index != i:  # it did not get that far this time: the time-out stands
            return result
        kept = [c for c in result.calls if c.index < i]
        for call in calls:
            over = (
                call.status == "ok" and call.cpu > job.cpu_limits[call.index] and not self._kept_pace(task, phase, call)
            )
            kept.append(Call(call.index, "timeout", cpu=call.cpu) if over else call)
            if over and job.stop_on_error:
                break
        return replace(again, calls=kept)

    def _kept_pace(self, task: Task, phase: str, call: Call) -> bool:
        """Whether a call over its limit took no more than ``time_factor`` times the reference's
        CPU time measured now, alone, right after it: on a busy machine CPU time itself runs up
        to twice as dear (shared cores), for the reference as for the candidate. Only where the
        reference's time set the limit; the floor is a fixed allowance."""
        timed = self.time_factor * self.ground_truth(task)[phase].cpu[call.index] > self.min_time
        return timed and call.cpu <= self.time_factor * self.truths.cpu_now(task, phase, call.index)

    # -- comparison

    def _compare(
        self, task: Task, phase: str, job: CallJob, result: ExecResult, truth: GroundTruth
    ) -> tuple[PhaseResult, Call | None]:
        """The phase's verdict, and the call it failed at (None where it passed, or failed with no
        call to show for it)."""
        n = len(truth.payloads)
        if result.load_error is not None:
            why = result.load_error.strip() or f"the process {result.how_it_ended} before it finished loading"
            return PhaseResult(phase, NOT_RUN * n, f"the program did not load: {_cut(why, 2000)}"), None
        if task.oracle == "exact" and all(truth.byte_equal_ok) and [c.payload for c in result.calls] == truth.payloads:
            return PhaseResult(phase, PASSED * n, ""), None  # the reference's very bytes, call by call: at C speed
        calls = {c.index: c for c in result.calls}
        statuses, failure, failed, atol = [], "", None, task.atol
        for i in range(n):
            call = calls.get(i)
            if call is None or (failure and job.stop_on_error):
                statuses.append(NOT_RUN)
                if call is None and not failure:
                    failure = f"{phase} test {i}: not run: the process {result.how_it_ended}"
                continue
            ok, atol = self._check(task, phase, i, call, truth, atol)
            statuses.append(ok)
            if ok != PASSED and not failure:
                failure, failed = self._describe(task, phase, i, call, truth, job.cpu_limits[i]), call
        return PhaseResult(phase, "".join(statuses), failure), failed

    def _check(self, task: Task, phase: str, i: int, call: Call, truth: GroundTruth, atol: float) -> tuple[str, float]:
        if call.status == "timeout":
            return TIMED_OUT, atol
        if call.status in ("error", "output_limit"):  # it raised, or answered past the output limit
            return RAISED, atol
        if task.oracle == "exact" and truth.byte_equal_ok[i] and call.payload == truth.payloads[i]:
            return PASSED, 1e-6 if atol == 0 and truth.floats[i] else atol  # the same value
        try:
            value = call.value
        except Exception:  # an unreadable payload is the candidate's doing
            return RAISED, atol
        ok, atol = outputs_match(task, task.tests[phase][i], value, truth.output(i), atol)
        return (PASSED if ok else WRONG), atol

    def _describe(self, task: Task, phase: str, i: int, call: Call, truth: GroundTruth, cpu_limit: float) -> str:
        args = ", ".join(_show(a) for a in task.tests[phase][i])
        head = f"{phase} test {i}: {task.entry_point}({_cut(args, DETAIL_CHARS)})"
        if call.status == "timeout":
            return f"{head} exceeded its time limit ({cpu_limit:.2f} s of CPU)"
        if call.status == "error":
            return f"{head} raised:\n{_cut(call.error.strip(), 2000)}"
        if call.status == "output_limit":  # the sandbox says why: "returned 700 MiB, over the 64 MiB output limit"
            return f"{head} {call.error}"
        try:
            value = call.value
        except Exception as exc:
            return f"{head} returned a value that could not be read back: {exc!r}"
        if task.oracle == "poly_root":
            return f"{head} returned {_show(value)}, which is not a root (|poly(x)| > {task.atol})"
        return f"{head} returned {_show(value)}, expected {_show(truth.output(i))}"


@dataclass(frozen=True)
class _FloorRun:
    """A task's phases run under the floor limits, before its ground truth is made, one job,
    result and set of digests a phase."""

    jobs: list[CallJob]
    results: list[ExecResult]
    digests: list[PhaseDigests]

    def matched(self) -> bool:
        """Every call of every phase returned the reference's very bytes: within the floor
        limit and the least budget, so within whatever limits the reference would set."""
        for job, result, digests in zip(self.jobs, self.results, self.digests, strict=True):
            calls = result.calls
            if result.load_error is not None or len(calls) != len(job.inputs):
                return False
            if any(c.status != "ok" for c in calls) or not digests.matched_by([c.payload for c in calls]):
                return False
        return True

    def standing(self, jobs: list[CallJob]) -> list[ExecResult | None]:
        """Each phase's result where it is what the ground truth's job would give, else None."""
        return [
            r if _stands(job, floor, r) else None for job, floor, r in zip(jobs, self.jobs, self.results, strict=True)
        ]


def _stands(job: CallJob, floor_job: CallJob, result: ExecResult) -> bool:
    """Whether the floor job's result is what ``job`` would give: the same limits on memory and
    output, no call out of a time ``job`` extends (its limits are never lower), and no end by
    the job's own budget (``job``'s is never lower either)."""
    extended = any(
        c.status == "timeout" and job.cpu_limits[c.index] != floor_job.cpu_limits[c.index] for c in result.calls
    )
    return not extended and job.limits == floor_job.limits and result.ended not in BUDGET_ENDINGS


def _show(value: Any) -> str:
    """The value's repr, cut to DETAIL_CHARS. A value whose repr is huge (a candidate's 60 MB
    string, a list of ten million references to one object) is shown by its beginning, without
    building the rest."""
    pieces, size = [], 0
    try:
        for piece in _repr_pieces(value):
            pieces.append(piece)
            size += len(piece)
            if size > SHOW_CHARS:
                return f"{''.join(pieces)[: DETAIL_CHARS // 2]} ... [over {SHOW_CHARS} chars cut]"
    except Exception:  # ints beyond the decimal conversion limit, very deep nesting
        return f"<{type(value).__name__} too large to print>"
    return _cut("".join(pieces), DETAIL_CHARS)


_BRACKETS: dict[type, tuple[str, str]] = {
    list: ("[", "]"),
    tuple: ("(", ")"),
    set: ("{", "}"),
    frozenset: ("frozenset({", "})"),
    dict: ("{", "}"),
}


def _repr_pieces(value: Any) -> Iterator[str]:
    """``repr(value)`` piece by piece: containers item by item, long strings from a slice."""
    kind = type(value)
    if kind in (str, bytes, bytearray) and len(value) > SHOW_CHARS:
        yield repr(value[:SHOW_CHARS])
    elif kind in _BRACKETS and value:
        opening, closing = _BRACKETS[kind]
        yield opening
        for k, item in enumerate(value):
            if k:
                yield ", "
            yield from _repr_pieces(item)
            if kind is dict:
                yield ": "
                yield from _repr_pieces(value[item])
        yield "," + closing if kind is tuple and len(value) == 1 else closing
    else:
        yield repr(value)


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]} ... [{len(text) - limit} chars cut] ... {text[-half:]}"
