"""The client's side of the worker's wire: a job in the form the worker takes (``Form``), and its
answer as it came (``Raw``) read into a result.

The process backend sends forms to its own worker. The sandbox service (``service.py``) gets them
from its clients (``rest.py``) and hands them to its worker untouched: a call job's inputs are
pickled by the client and unpickled only in the sandbox, and the answer goes back as it came, to
be read by the client, with the same ``answers.py`` and so the same verdicts as the process backend.
"""

from __future__ import annotations

import pickle
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from typing import Any, overload

from .answers import PHASE_RECORDS_ROOM, calls_result, command_result, phases_result, suite_result
from .interface import CallJob, CommandJob, CommandResult, ExecResult, Limits, SuiteResult, TestJob

COMMAND_RECORD_BYTES = 1 << 12  # a command job's runner writes two small records; its output comes in the trailer


@dataclass(frozen=True)
class Form:
    """A job as the worker takes it, and what its client needs to read the answer."""

    header: dict[str, Any]  # the job as JSON: everything but a call job's inputs, limits flattened
    inputs: bytes = b""  # a call job's argument lists, pickled
    key: bytes = b""  # a test job's key, which signs its records (``_codec.mac``): kept out of the header
    wall: float = 0.0  # seconds the worker gets for it (its client adds a backstop)
    cap: int = 0  # the most of its records an answer keeps


@dataclass(frozen=True)
class Raw:
    """An answer as it came: the runner's records (their first ``cap`` bytes; ``overflow``: more
    came), and the supervisor's trailer."""

    records: bytearray
    trailer: bytes | bytearray
    overflow: bool


def form(job: CallJob | TestJob | CommandJob) -> Form:
    """A test job's records are signed with a key of its own; a command job's records are its
    runner's (READY, then the command's wait status): its output comes in the trailer."""
    if isinstance(job, CallJob):
        inputs = pickle.dumps([list(args) for args in job.inputs], protocol=5)
        wall = sum(job.wall_limits) + job.load_wall
        return Form(_call_header(job), inputs, b"", wall, job.limits.max_output_bytes)
    if isinstance(job, TestJob):
        return Form(_test_header(job), b"", secrets.token_bytes(32), job.wall_budget, job.limits.max_output_bytes)
    return Form(_command_header(job), b"", b"", job.wall_budget, COMMAND_RECORD_BYTES)


def call_forms(jobs: Sequence[CallJob]) -> list[Form]:
    """A task's phases (jobs of one program under the same limits, apart from their calls' and
    output limits) as one job of phases (``_worker/phases.py``); other jobs as a form each."""
    same = {(j.code, j.entry_point, j.guard, j.load_cpu, j.load_wall, _program_limits(j)) for j in jobs}
    if len(jobs) == 1 or len(same) > 1:
        return [form(job) for job in jobs]
    headers = [_call_header(job) for job in jobs]
    header = {key: value for key, value in headers[0].items() if key not in PHASE_FIELDS}
    header["phases"] = [{key: phase[key] for key in PHASE_FIELDS} for phase in headers]
    inputs = pickle.dumps([[list(args) for args in job.inputs] for job in jobs], protocol=5)
    wall = sum(sum(job.wall_limits) + job.load_wall for job in jobs)
    cap = sum(job.limits.max_output_bytes for job in jobs) + PHASE_RECORDS_ROOM
    return [Form(header, inputs, b"", wall, cap)]


def call_results(jobs: Sequence[CallJob], forms: Sequence[Form], raws: Sequence[Raw]) -> list[ExecResult]:
    """The results of ``call_forms(jobs)``, a job each."""
    if len(forms) == len(jobs):
        return [result(job, sent, raw) for job, sent, raw in zip(jobs, forms, raws, strict=True)]
    (raw,) = raws
    sizes = [(len(job.inputs), job.limits.max_output_bytes) for job in jobs]
    return phases_result(raw.records, raw.trailer, sizes, raw.overflow)


# what a phase of a job of phases sets for itself; the rest is the job's
PHASE_FIELDS = ("cpu_limits", "wall_limits", "cpu_budget", "stop_on_error", "describe", "max_output_bytes")


def _program_limits(job: CallJob) -> Limits:
    return replace(job.limits, max_output_bytes=0)


@overload
def result(job: CallJob, sent: Form, raw: Raw) -> ExecResult: ...
@overload
def result(job: TestJob, sent: Form, raw: Raw) -> SuiteResult: ...
@overload
def result(job: CommandJob, sent: Form, raw: Raw) -> CommandResult: ...
def result(job: CallJob | TestJob | CommandJob, sent: Form, raw: Raw) -> ExecResult | SuiteResult | CommandResult:
    """What the answer to ``job``, sent as ``sent``, says."""
    if isinstance(job, CallJob):
        return calls_result(raw.records, raw.trailer, len(job.inputs), sent.cap, raw.overflow)
    if isinstance(job, TestJob):
        return suite_result(raw.records, raw.trailer, job, sent.key, raw.overflow)
    return command_result(raw.records, raw.trailer, job)


def _call_header(job: CallJob) -> dict[str, Any]:
    header: dict[str, Any] = {"mode": "call"}
    header.update((f.name, getattr(job, f.name)) for f in fields(job) if f.name not in ("inputs", "limits"))
    header.update(_limits(job.limits))
    header["cpu_limits"], header["wall_limits"] = list(job.cpu_limits), list(job.wall_limits)
    return header


def _test_header(job: TestJob) -> dict[str, Any]:
    header: dict[str, Any] = {"mode": "tests"}
    header.update((f.name, getattr(job, f.name)) for f in fields(job) if f.name != "limits")
    header["test_names"] = None if job.test_names is None else list(job.test_names)
    header.update(_limits(job.limits))
    return header


def _command_header(job: CommandJob) -> dict[str, Any]:
    header: dict[str, Any] = {"mode": "command"}
    header.update((f.name, getattr(job, f.name)) for f in fields(job) if f.name != "limits")
    header["files"], header["env"] = dict(job.files), dict(job.env)
    header.update(_limits(job.limits))
    return header


def _limits(limits: Limits) -> dict[str, Any]:
    return {f.name: getattr(limits, f.name) for f in fields(limits)}
