"""The bundled digests of the reference's outputs (``judge/expected.py``): before this machine has
made a task's ground truth, a candidate that returns the reference's very bytes within the floor
limit passes without the reference being run; every other candidate gets the verdict the ground
truth gives, as a judge without digests gives it."""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from pytest_convcode import datasets
from pytest_convcode.judge import DifferentialJudge, ExpectedOutputs, Verdict, expected_outputs
from pytest_convcode.judge import expected as expected_module
from pytest_convcode.judge.expected import bundled_path, dump, make, phase_digests
from pytest_convcode.judge.truth import REFERENCE_CPU_LIMIT, GroundTruth
from pytest_convcode.sandbox import CallJob, ExecResult, Limits
from pytest_convcode.sandbox.process import ProcessSandbox
from pytest_convcode.tasks import Dataset, Task

REFERENCE = """
import time

def f(x, seconds=0.0):
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass
    return x + 1
"""
TIMED = 0.2  # the reference's CPU seconds in plus test 0: over min_time / time_factor, it sets a limit
TASK = Task("Add/0", "", "f", REFERENCE, {"base": [[1], [2]], "plus": [[3, TIMED], [4]]})
DATA = Dataset("Add", "add", "0", "<memory>", "0" * 64, {TASK.task_id: TASK})
SLOWER = REFERENCE.replace("+ seconds", "+ 3 * seconds")  # 0.6 s: past the floor (0.5), within the limit (0.8)


class Counting:
    """A sandbox that keeps every job it ran."""

    name = "counting"

    def __init__(self, sandbox: ProcessSandbox) -> None:
        self.sandbox = sandbox
        self.jobs: list[CallJob] = []

    def run(self, job: CallJob) -> ExecResult:
        self.jobs.append(job)
        return self.sandbox.run(job)

    def run_all(self, jobs: Sequence[CallJob]) -> list[ExecResult]:
        self.jobs.extend(jobs)
        return self.sandbox.run_all(jobs)


@pytest.fixture(scope="module")
def digests(sandbox: ProcessSandbox) -> ExpectedOutputs:
    return ExpectedOutputs(make(DATA, sandbox, workers=1))


def judged(
    sandbox: ProcessSandbox, cache: Path, program: str, expected: ExpectedOutputs | None, **limits: float
) -> tuple[Verdict, list[CallJob]]:
    counting = Counting(sandbox)
    cache.mkdir(parents=True, exist_ok=True)
    judge = DifferentialJudge(
        DATA, counting, cache, min_time=0.5, time_factor=4.0, limits=Limits(**limits), expected=expected
    )
    return judge.judge(TASK, program), counting.jobs


def is_reference(job: CallJob) -> bool:
    """A ground-truth job: its first run (outputs described) or a timing run (the reference's limit)."""
    return job.describe or job.cpu_limits[0] == REFERENCE_CPU_LIMIT


def references(jobs: list[CallJob]) -> list[CallJob]:
    return [job for job in jobs if job.code == REFERENCE and is_reference(job)]


def candidates(jobs: list[CallJob], program: str) -> list[CallJob]:
    return [job for job in jobs if job.code == program and not is_reference(job)]


def same_verdict(
    sandbox: ProcessSandbox, tmp_path: Path, program: str, digests: ExpectedOutputs, **limits: float
) -> tuple[Verdict, list[CallJob]]:
    """The verdict with digests, its jobs, and a check that a judge without them gives the same."""
    verdict, jobs = judged(sandbox, tmp_path / "with", program, digests, **limits)
    without, _ = judged(sandbox, tmp_path / "without", program, None, **limits)
    assert shown(verdict) == shown(without)
    return verdict, jobs


def shown(verdict: Verdict) -> list[tuple[str, str, str]]:
    """Each phase's statuses and failure, its time limits aside (each judge measures its reference)."""
    limit = re.compile(r"\d+\.\d+ s of CPU")
    return [(p.phase, p.statuses, limit.sub("N s of CPU", p.failure)) for p in verdict.phases.values()]


def made_truth(cache: Path) -> bool:
    return any(cache.glob("*.pickle"))


def test_the_references_very_outputs_pass_with_no_reference_run(
    sandbox: ProcessSandbox, tmp_path: Path, digests: ExpectedOutputs
) -> None:
    verdict, jobs = same_verdict(sandbox, tmp_path, REFERENCE, digests)
    assert verdict.passed and verdict.phases["plus"].statuses == ".."
    assert references(jobs) == [] and len(jobs) == 2  # the candidate's two phases, nothing else
    assert [list(job.cpu_limits) for job in jobs] == [[0.5, 0.5], [0.5, 0.5]]  # the floor: no reference time
    assert [job.cpu_budget for job in jobs] == [Limits().min_job_cpu] * 2  # the least budget any job gets
    assert not made_truth(tmp_path / "with")


def test_a_wrong_answer_is_judged_by_the_ground_truth_made_then(
    sandbox: ProcessSandbox, tmp_path: Path, digests: ExpectedOutputs
) -> None:
    wrong = REFERENCE.replace("x + 1", "x + 2")
    verdict, jobs = same_verdict(sandbox, tmp_path, wrong, digests)
    assert verdict.explanation == "base test 0: f(1) returned 3, expected 2"
    assert references(jobs) and made_truth(tmp_path / "with")
    assert len(candidates(jobs, wrong)) == 2  # its run under the floor stands: no limit decided it
    again, jobs = judged(sandbox, tmp_path / "with", REFERENCE, digests)  # the ground truth is known now
    assert again.passed and len(jobs) == 2 and list(jobs[1].cpu_limits) == pytest.approx([4 * TIMED, 0.5], abs=0.1)


def test_an_equal_value_in_other_bytes_passes_by_the_ground_truth(
    sandbox: ProcessSandbox, tmp_path: Path, digests: ExpectedOutputs
) -> None:
    verdict, jobs = same_verdict(sandbox, tmp_path, REFERENCE.replace("x + 1", "float(x + 1)"), digests)
    assert verdict.passed and references(jobs)


def test_a_call_past_the_floor_is_judged_by_the_limit_its_reference_sets(
    sandbox: ProcessSandbox, tmp_path: Path, digests: ExpectedOutputs
) -> None:
    verdict, jobs = same_verdict(sandbox, tmp_path, SLOWER, digests)
    assert verdict.passed, verdict.explanation  # 0.6 s against the reference's 0.2 s: within 4 times
    assert references(jobs)
    _, floor_plus, plus_again = candidates(jobs, SLOWER)  # the plus phase again, under its limit
    assert plus_again.inputs == floor_plus.inputs and plus_again.cpu_limits[0] > floor_plus.cpu_limits[0] == 0.5
    too_slow, _ = same_verdict(sandbox, tmp_path / "slow", REFERENCE.replace("+ seconds", "+ 6 * seconds"), digests)
    assert too_slow.phases["plus"].statuses == "T-"


def test_a_time_out_at_the_floor_that_the_reference_keeps_is_not_run_again(
    sandbox: ProcessSandbox, tmp_path: Path, digests: ExpectedOutputs
) -> None:
    endless = REFERENCE.replace("    return x + 1", "    while x == 2:\n        pass\n    return x + 1")
    verdict, jobs = same_verdict(sandbox, tmp_path, endless, digests)
    assert verdict.phases["base"].statuses == ".T"
    assert "base test 1: f(2) exceeded its time limit (0.50 s of CPU)" in verdict.explanation
    floor_base, _, measured_again = candidates(jobs, endless)  # the time-out measured again, alone
    assert measured_again.inputs == floor_base.inputs and list(measured_again.cpu_limits) == [1.0, 1.0]


def test_a_phase_with_a_nan_among_its_outputs_has_no_digests() -> None:
    nan = GroundTruth([b"a", b"b"], [True, True], [True, False], [0.0, 0.0])
    assert phase_digests(nan) is None
    plain = phase_digests(GroundTruth([b"a", b"bc"], [False, False], [True, True], [0.0, 0.0]))
    assert plain is not None and len(plain.digests) == 16 and plain.output_bytes == 3


@pytest.mark.parametrize(
    ("suite", "version"), [("humaneval", "0.1.10"), ("humaneval", "0.1.9"), ("mbpp", "0.2.0"), ("mbpp", "0.1.0")]
)
def test_the_bundled_digests_hold_for_their_data_file_and_python(
    suite: str, version: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    dataset = datasets.load(suite, version)
    bundled = expected_outputs(dataset, sys.executable)
    assert bundled is not None
    exact = [t for t in dataset.tasks.values() if t.oracle == "exact"]
    assert len(bundled.tasks) == len(exact) > 100
    for task in exact:
        for phase, digests in (bundled.of(task.task_id) or {}).items():
            assert len(digests.digests) == 8 * len(task.tests[phase])
    other = Dataset(dataset.name, suite, version, "<other bytes>", "f" * 64, dataset.tasks)
    assert expected_outputs(other, sys.executable) is None
    monkeypatch.setattr(expected_module, "interpreter_version", lambda python: "3.99")
    assert expected_outputs(dataset, sys.executable) is None


def test_no_bundled_digests_judges_by_the_ground_truth(
    sandbox: ProcessSandbox, tmp_path: Path, digests: ExpectedOutputs
) -> None:
    verdict, jobs = judged(sandbox, tmp_path, REFERENCE, None)
    assert verdict.passed and references(jobs) and made_truth(tmp_path)


@pytest.mark.slow
def test_the_bundled_humaneval_digests_are_what_its_references_return_here(sandbox: ProcessSandbox) -> None:
    dataset = datasets.load("humaneval", "0.1.10")
    assert dump(dataset, make(dataset, sandbox, workers=2)) == bundled_path(dataset).read_bytes()
