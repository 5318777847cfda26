"""The ``process`` sandbox backend: jobs go to a warm worker process (``_worker/``).

Each job travels over a socket with a pipe of its own for the answer, so several
threads may run jobs at once and no answer can be mixed up with another. Call
jobs and test jobs share all of it; the wire JSON's ``mode`` tells them apart.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pickle
import select
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from ..errors import InfrastructureError
from . import _codec
from .interface import Call, CallJob, ExecResult, Limits, SuiteResult, TestJob, TestOutcome
from .registry import SANDBOXES

WORKER = Path(__file__).with_name("_worker")  # a package, run by the sandbox interpreter
# That interpreter may lack pytest_convcode (BigCodeBench's venv): the worker runs as the top-level
# package ``_worker``, its directory (with ``_codec.py``) first on sys.path where a script's own
# would be, and sys.argv[1:] as a script's (FD, preloaded modules). Landlock hides that directory.
BOOTSTRAP = (
    "import sys; sys.path[0] = sys.argv.pop(1); from _worker.main import main; main(int(sys.argv[1]), sys.argv[2:])"
)
BACKSTOP_SECONDS = 30.0  # beyond the job's own deadline, before we call the worker lost
PIPE_BYTES = 1 << 20  # a larger pipe: fewer context switches for big outputs
READ_BYTES = 1 << 22
# The runner writes a record per call; woken for each, the client spent more CPU than the
# calls. After a read that found the pipe far from full, it waits this long for records to
# gather (a job's answer ends at most this much later).
READ_PAUSE = 0.001
BUSY_READ_BYTES = 1 << 16  # a read this large finds the runner outpacing us: read on at once


@SANDBOXES.register("process")
class ProcessSandbox:
    name = "process"

    def __init__(self, python: str = sys.executable, preload: Sequence[str] = ()) -> None:
        """``preload``: modules the warm worker imports once, beyond its own list, so that jobs
        do not each pay for them (BigCodeBench's pandas, matplotlib, scikit-learn: ~2 s a job)."""
        self.python = python
        self.preload = list(preload)
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None
        self.isolation: dict[str, Any] = {}

    # -- worker life cycle

    def _start(self) -> socket.socket:
        ours, theirs = socket.socketpair()
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "PYTHONHASHSEED": "0"}
        try:
            self._proc = subprocess.Popen(
                [self.python, "-s", "-c", BOOTSTRAP, str(WORKER.parent), str(theirs.fileno()), *self.preload],
                pass_fds=[theirs.fileno()],
                env=env,  # the worker, and so every candidate, starts without secrets
                stdin=subprocess.DEVNULL,
            )
        except OSError as exc:
            raise InfrastructureError(f"cannot start sandbox interpreter {self.python!r}: {exc}") from exc
        theirs.close()
        hello = ours.makefile("rb").readline()
        if not hello:
            raise InfrastructureError(f"sandbox worker under {self.python!r} exited at start")
        self.isolation = json.loads(hello)
        self._sock = ours
        return ours

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self._proc is not None:
            self._proc.wait(timeout=10)
            self._proc = None

    def warnings(self) -> list[str]:
        with self._lock:
            if self._sock is None:
                self._start()
        out = []
        if not self.isolation.get("network"):
            out.append("no network namespace (needs root or user namespaces): candidates can reach the network")
        if not self.isolation.get("landlock"):
            out.append("no Landlock (Linux >= 5.13): candidates can read and write files outside their directory")
        if not self.isolation.get("uid_switch"):
            out.append("no per-job uid (needs root): the process-count limit is not applied")
        return out

    # -- jobs

    def run(self, job: CallJob) -> ExecResult:
        return self.run_all([job])[0]

    def run_all(self, jobs: Sequence[CallJob]) -> list[ExecResult]:
        """The jobs run at once; their answers are read here, in this one thread."""
        answers = []
        try:
            for job in jobs:
                inputs = pickle.dumps([list(args) for args in job.inputs], protocol=5)
                wall = sum(job.wall_limits) + job.load_wall
                answers.append(self._send_job(_wire(job), inputs, wall, job.limits.max_output_bytes))
            for answer in answers:
                answer.read_all(answers)
        finally:
            for answer in answers:
                answer.close()
        return [_parse(a.raw, len(job.inputs), a.overflow) for a, job in zip(answers, jobs, strict=True)]

    def run_tests(self, job: TestJob) -> SuiteResult:
        answer = self._send_job(_test_wire(job), b"", job.wall_budget, job.limits.max_output_bytes)
        try:
            answer.read_all([answer])
        finally:
            answer.close()
        return _parse_suite(answer.raw, job, answer.overflow)

    def _send_job(self, wire: dict[str, Any], inputs: bytes, wall: float, cap: int) -> _Answer:
        """Send a job with a pipe of its own for the answer; the worker gets ``wall`` seconds, plus a backstop."""
        header = json.dumps(wire).encode()
        read_end, write_end = os.pipe()
        with contextlib.suppress(OSError):  # a smaller pipe only costs speed
            fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        try:
            self._send(header, inputs, write_end)
        except BaseException:
            os.close(read_end)
            raise
        finally:
            os.close(write_end)
        return _Answer(read_end, time.monotonic() + wall + BACKSTOP_SECONDS, cap)

    def _send(self, header: bytes, inputs: bytes, fd: int) -> None:
        with self._lock:
            for attempt in range(2):  # a dead worker is restarted once
                sock = self._sock or self._start()
                try:
                    socket.send_fds(sock, [_codec.JOB_HEADER.pack(len(header), len(inputs))], [fd])
                    sock.sendall(header)
                    sock.sendall(inputs)
                    return
                except OSError as exc:
                    self._sock = None
                    if attempt:
                        raise InfrastructureError(f"sandbox worker is gone: {exc}") from exc


def _wire(job: CallJob) -> dict[str, Any]:
    """The job as the worker reads it: everything but the inputs, limits flattened."""
    wire: dict[str, Any] = {"mode": "call"}
    wire.update((f.name, getattr(job, f.name)) for f in fields(job) if f.name not in ("inputs", "limits"))
    wire.update(_limits(job.limits))
    wire["cpu_limits"], wire["wall_limits"] = list(job.cpu_limits), list(job.wall_limits)
    return wire


def _test_wire(job: TestJob) -> dict[str, Any]:
    wire: dict[str, Any] = {"mode": "tests"}
    wire.update((f.name, getattr(job, f.name)) for f in fields(job) if f.name != "limits")
    wire["test_names"] = None if job.test_names is None else list(job.test_names)
    wire.update(_limits(job.limits))
    return wire


def _limits(limits: Limits) -> dict[str, Any]:
    return {f.name: getattr(limits, f.name) for f in fields(limits)}


class _Answer:
    """A job's answer, read to EOF. Past ``cap`` bytes the records are dropped (the end is
    kept: it holds the supervisor's trailer); ``overflow`` says that happened."""

    KEEP = len(_codec.TRAILER_MAGIC) + _codec.TRAILER_LENGTH.size + (1 << 16)

    def __init__(self, fd: int, deadline: float, cap: int) -> None:
        self.fd, self.deadline, self.cap = fd, deadline, cap
        self.raw = bytearray()
        self.overflow = False
        self.done = False

    def read_all(self, answers: Sequence[_Answer]) -> None:
        """Read this answer to its end, and meanwhile whatever the others' pipes hold."""
        while not self.done:
            remaining = self.deadline - time.monotonic()
            pending = [a.fd for a in answers if not a.done]
            if remaining <= 0 or not (ready := select.select(pending, [], [], remaining)[0]):
                raise InfrastructureError("sandbox supervisor did not answer before its deadline")
            busy = False
            for answer in answers:
                if answer.fd in ready:
                    busy |= answer._read()
            if not busy and not self.done:
                time.sleep(READ_PAUSE)

    def _read(self) -> bool:
        """One read; True when it found the runner outpacing us."""
        chunk = os.read(self.fd, READ_BYTES)
        if not chunk:
            self.done = True
            return False
        self.raw += chunk
        if len(self.raw) > self.cap + self.KEEP:
            self.overflow = True
            del self.raw[: -self.KEEP]
        return len(chunk) >= BUSY_READ_BYTES

    def close(self) -> None:
        os.close(self.fd)


def _records(
    raw: bytearray, stop: int, kinds: frozenset[int] = _codec.CALL_RECORDS
) -> tuple[list[tuple[int, int, float, memoryview]], bool]:
    """Split the runner's stream (``raw[:stop]``) into (kind, index, cpu, payload) records,
    and say whether it was garbled.

    The candidate can write to any fd it finds, so a stream it garbled ends the
    records there: the calls (or tests) after that point count as not run.
    """
    view = memoryview(raw)
    unpack, head = _codec.RECORD.unpack_from, _codec.RECORD.size  # a run may hold millions of records
    records: list[tuple[int, int, float, memoryview]] = []
    pos = 0
    while pos + head <= stop:
        kind, index, cpu, size = unpack(raw, pos)
        end = pos + head + size
        if kind not in kinds or end > stop:
            break
        records.append((kind, index, cpu, view[pos + head : end]))
        pos = end
    return records, pos != stop


def _trailer(raw: bytearray, overflow: bool) -> tuple[dict[str, Any], int]:
    """The supervisor's trailer, and where the runner's records end."""
    if not raw.endswith(_codec.TRAILER_MAGIC):
        raise InfrastructureError("sandbox supervisor died without an answer")
    end = len(raw) - len(_codec.TRAILER_MAGIC) - _codec.TRAILER_LENGTH.size
    (length,) = _codec.TRAILER_LENGTH.unpack_from(raw, end)
    trailer: dict[str, Any] = json.loads(bytes(raw[end - length : end]))
    if trailer["ended"] == "supervisor_error":
        raise InfrastructureError(f"sandbox supervisor failed:\n{trailer['error']}")
    return trailer, 0 if overflow else end - length - 1


def _parse(raw: bytearray, n_inputs: int, overflow: bool) -> ExecResult:
    trailer, stop = _trailer(raw, overflow)
    calls: dict[int, Call] = {}
    load_error: str | None = ""  # no record at all: the process ended before loading finished
    descriptions = b""
    complete = ready = False
    records, garbled = _records(raw, stop)
    for kind, index, cpu, payload in records:
        if kind == _codec.OK and ready:  # most records: checked first
            if index < n_inputs and index not in calls:
                calls[index] = Call(index, "ok", bytes(payload), "", cpu)  # unpickled only when needed
        elif not ready:  # the runner's first record, written before the candidate starts
            ready = kind == _codec.READY
            if not ready:
                break
        elif kind == _codec.LOADED:
            load_error = None
        elif kind == _codec.LOAD_ERROR:
            load_error = bytes(payload).decode("utf-8", "replace")
        elif kind == _codec.DONE:
            complete = True
        elif kind == _codec.DESCRIPTIONS:
            descriptions = bytes(payload)
        elif index < n_inputs and index not in calls:
            calls[index] = _failed_call(kind, index, cpu, payload)
    if not ready:
        raise InfrastructureError(f"the sandbox could not set up the job:\n{trailer['output'][-3000:]}")
    return ExecResult(
        calls=[calls[i] for i in sorted(calls)],
        load_error=load_error,
        complete=complete and len(calls) == n_inputs,
        descriptions=descriptions,
        **_ending(trailer, overflow, garbled),
    )


def _ending(trailer: dict[str, Any], overflow: bool, garbled: bool) -> dict[str, Any]:
    """The ``Ending`` fields of a result, from the supervisor's trailer."""
    return {
        "ended": "output_limit" if overflow else trailer["ended"],
        "exit_code": trailer["code"],
        "signal": trailer["signal"],
        "wall": trailer["wall"],
        "cpu": trailer["cpu"],
        "output": trailer["output"],
        "garbled": garbled,
    }


def _failed_call(kind: int, index: int, cpu: float, payload: memoryview) -> Call:
    if kind == _codec.TIMEOUT:
        return Call(index, "timeout", cpu=cpu)
    return Call(index, "error", error=bytes(payload).decode("utf-8", "replace"), cpu=cpu)


def _parse_suite(raw: bytearray, job: TestJob, overflow: bool) -> SuiteResult:
    """Outcomes from a test job's records. A test that started but never ended is the one
    the process died in: an "error" saying how it ended; the tests after it did not run."""
    trailer, stop = _trailer(raw, overflow)
    records, garbled = _records(raw, stop, _codec.TEST_RECORDS)
    names = list(job.test_names or ())
    load_error: str | None = None
    finished: dict[int, TestOutcome] = {}
    running: int | None = None
    ready = loaded = complete = False
    for kind, index, cpu, payload in records:
        if not ready:  # the runner's first record, written before the candidate starts
            ready = kind == _codec.READY
            if not ready:
                break
        elif kind == _codec.LOADED and not loaded:
            loaded = True
            if job.test_names is None and payload:
                names = bytes(payload).decode("utf-8", "replace").split("\n")
        elif kind == _codec.LOAD_ERROR:
            load_error = bytes(payload).decode("utf-8", "replace")
        elif kind == _codec.TEST_START:
            running = index
        elif kind == _codec.TEST_END and index not in finished:
            outcome = _test_outcome(payload, cpu)
            if outcome is None:  # a forged record: the stream is not to be trusted from here on
                garbled = True
                break
            finished[index] = outcome
            running = None if running == index else running
        elif kind == _codec.DONE:
            complete = True
    if not ready:
        raise InfrastructureError(f"the sandbox could not set up the job:\n{trailer['output'][-3000:]}")
    result = SuiteResult(
        outcomes=[],
        load_error=None,
        complete=complete and loaded,
        **_ending(trailer, overflow, garbled),
    )
    how = result.how_it_ended
    if not loaded:
        return replace(result, load_error=load_error or f"the program did not finish loading ({how})")
    outcomes = []
    for i, name in enumerate(names):
        if i in finished:
            outcomes.append(replace(finished[i], name=name))
        elif i == running and not complete:
            outcomes.append(TestOutcome(name, "error", f"the test did not finish ({how})"))
        elif complete:
            outcomes.append(TestOutcome(name, "not_run", "not run: a class or module fixture failed"))
        else:
            outcomes.append(TestOutcome(name, "not_run", f"not run: the process ended earlier ({how})"))
    outcomes += [finished[i] for i in sorted(finished) if i >= len(names)]  # fixtures outside any test
    return replace(result, outcomes=outcomes)


def _test_outcome(payload: memoryview, cpu: float) -> TestOutcome | None:
    data = bytes(payload)
    name, nul, detail = data[1:].partition(b"\0")
    if not data or data[0] >= len(_codec.TEST_STATUSES) or not nul:
        return None
    status = _codec.TEST_STATUSES[data[0]]
    return TestOutcome(name.decode("utf-8", "replace"), status, detail.decode("utf-8", "replace"), cpu)
