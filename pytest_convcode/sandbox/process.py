"""The ``process`` sandbox backend: jobs go to a warm worker process (``_worker/``).

Each job travels over a socket with two pipes of its own for the answer (the runner's records,
the supervisor's trailer), so several threads may run jobs at once and no answer can be mixed
up with another. Call, test and command jobs share all of it; the wire JSON's ``mode`` tells
them apart. ``answers.py`` reads what an answer says.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pickle
import secrets
import select
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

from ..errors import InfrastructureError
from . import _codec
from .answers import calls_result, command_result, suite_result
from .interface import CallJob, CommandJob, CommandResult, ExecResult, Limits, SuiteResult, TestJob
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
DRAIN_READS = 4  # once the trailer came: one read takes all a pipe holds (PIPE_BYTES < READ_BYTES)
COMMAND_RECORD_BYTES = 1 << 12  # a command job's runner writes two small records; its output comes in the trailer


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
                answers.append(self._send_job(_wire(job), inputs, b"", wall, job.limits.max_output_bytes))
            for answer in answers:
                answer.read_all(answers)
        finally:
            for answer in answers:
                answer.close()
        return [
            calls_result(a.records, a.trailer, len(job.inputs), job.limits.max_output_bytes, a.overflow)
            for a, job in zip(answers, jobs, strict=True)
        ]

    def run_tests(self, job: TestJob) -> SuiteResult:
        """A test job's records are signed with a key of its own (see ``_codec.mac``)."""
        key = secrets.token_bytes(32)
        answer = self._send_job(_test_wire(job), b"", key, job.wall_budget, job.limits.max_output_bytes)
        try:
            answer.read_all([answer])
        finally:
            answer.close()
        return suite_result(answer.records, answer.trailer, job, key, answer.overflow)

    def run_command(self, job: CommandJob) -> CommandResult:
        """A command job's records are its runner's (READY, then the command's wait status): the
        runner closes their pipe before the command starts. Its output comes in the trailer."""
        answer = self._send_job(_command_wire(job), b"", b"", job.wall_budget, COMMAND_RECORD_BYTES)
        try:
            answer.read_all([answer])
        finally:
            answer.close()
        return command_result(answer.records, answer.trailer, job)

    def _send_job(self, wire: dict[str, Any], inputs: bytes, key: bytes, wall: float, cap: int) -> _Answer:
        """Send a job with two pipes for its answer; the worker gets ``wall`` seconds, plus a backstop."""
        header = json.dumps(wire).encode()
        records_r, records_w = os.pipe()
        trailer_r, trailer_w = os.pipe()
        with contextlib.suppress(OSError):  # a smaller pipe only costs speed
            fcntl.fcntl(records_w, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        try:
            head = _codec.JOB_HEADER.pack(len(header), len(inputs), len(key))
            self._send(head, (header, inputs, key), [records_w, trailer_w])
        except BaseException:
            os.close(records_r)
            os.close(trailer_r)
            raise
        finally:
            os.close(records_w)
            os.close(trailer_w)
        return _Answer(records_r, trailer_r, time.monotonic() + wall + BACKSTOP_SECONDS, cap)

    def _send(self, head: bytes, parts: tuple[bytes, ...], fds: list[int]) -> None:
        with self._lock:
            for attempt in range(2):  # a dead worker is restarted once
                sock = self._sock or self._start()
                try:
                    socket.send_fds(sock, [head], fds)
                    for part in parts:  # not joined: inputs reach hundreds of MB
                        sock.sendall(part)
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


def _command_wire(job: CommandJob) -> dict[str, Any]:
    wire: dict[str, Any] = {"mode": "command"}
    wire.update((f.name, getattr(job, f.name)) for f in fields(job) if f.name != "limits")
    wire["files"], wire["env"] = dict(job.files), dict(job.env)
    wire.update(_limits(job.limits))
    return wire


def _limits(limits: Limits) -> dict[str, Any]:
    return {f.name: getattr(limits, f.name) for f in fields(limits)}


class _Answer:
    """A job's answer: the runner's records (their first ``cap`` bytes; ``overflow`` says more
    came) and the supervisor's trailer. It is whole when the trailer's pipe closes: the
    supervisor writes it once the runner has ended, so all the runner wrote is in its pipe by
    then, even if a process it started (where there are no PID namespaces) holds that pipe open."""

    def __init__(self, records: int, trailer: int, deadline: float, cap: int) -> None:
        self.records_fd, self.trailer_fd, self.deadline, self.cap = records, trailer, deadline, cap
        self.records = bytearray()
        self.trailer = bytearray()
        self.overflow = False
        self.records_open = True
        self.done = False

    def fds(self) -> list[int]:
        return [self.records_fd, self.trailer_fd] if self.records_open else [self.trailer_fd]

    def read_all(self, answers: Sequence[_Answer]) -> None:
        """Read this answer to its end, and meanwhile whatever the others' pipes hold."""
        while not self.done:
            remaining = self.deadline - time.monotonic()
            pending = [fd for a in answers if not a.done for fd in a.fds()]
            if remaining <= 0 or not (ready := select.select(pending, [], [], remaining)[0]):
                raise InfrastructureError("sandbox supervisor did not answer before its deadline")
            busy = False
            for answer in answers:
                if answer.records_fd in ready and answer.records_open:
                    busy |= answer._read_records()
                if answer.trailer_fd in ready and not answer.done:
                    answer._read_trailer()
            if not busy and not self.done:
                time.sleep(READ_PAUSE)

    def _read_records(self) -> bool:
        """One read; True when it found the runner outpacing us."""
        chunk = os.read(self.records_fd, READ_BYTES)
        if not chunk:
            self.records_open = False
            return False
        room = self.cap - len(self.records)
        if len(chunk) > room:  # past the cap the records are dropped: the head says what happened
            self.overflow = True
            chunk = chunk[: max(room, 0)]
        self.records += chunk
        return len(chunk) >= BUSY_READ_BYTES

    def _read_trailer(self) -> None:
        chunk = os.read(self.trailer_fd, READ_BYTES)
        if chunk:
            self.trailer += chunk
            return
        for _ in range(DRAIN_READS):  # what the runner left in its pipe; more only from a process it left
            if not (self.records_open and select.select([self.records_fd], [], [], 0)[0]):
                break
            self._read_records()
        self.done = True

    def close(self) -> None:
        os.close(self.records_fd)
        os.close(self.trailer_fd)
