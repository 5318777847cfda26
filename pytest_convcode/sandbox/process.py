"""The ``process`` sandbox backend: jobs go to a warm worker process (``_worker/``).

Each job travels over a socket with two pipes of its own for the answer (the runner's records,
the supervisor's trailer), so several threads may run jobs at once and no answer can be mixed
up with another. Call, test and command jobs share all of it; the wire JSON's ``mode`` tells
them apart. ``wire.py`` makes a job's form and reads what its answer says (with ``answers.py``).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import select
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import InfrastructureError
from . import _codec, wire
from .interface import CallJob, CommandJob, CommandResult, ExecResult, SuiteResult, TestJob
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
        forms = wire.call_forms(jobs)
        return wire.call_results(jobs, forms, self.run_forms(forms))

    def run_tests(self, job: TestJob) -> SuiteResult:
        sent = wire.form(job)
        return wire.result(job, sent, self.run_forms([sent])[0])

    def run_command(self, job: CommandJob) -> CommandResult:
        sent = wire.form(job)
        return wire.result(job, sent, self.run_forms([sent])[0])

    def run_forms(self, forms: Sequence[wire.Form]) -> list[wire.Raw]:
        """Jobs in the worker's form, run at once; their answers are read here, in this one thread.
        The sandbox service runs its clients' jobs so: their call inputs stay as the client pickled them."""
        answers = []
        try:
            for sent in forms:
                answers.append(self._send_job(sent))
            for answer in answers:
                answer.read_all(answers)
        finally:
            for answer in answers:
                answer.close()
        return [wire.Raw(a.records, a.trailer, a.overflow) for a in answers]

    def _send_job(self, sent: wire.Form) -> _Answer:
        """Send a job with two pipes for its answer; the worker gets its wall time, plus a backstop."""
        header = json.dumps(sent.header).encode()
        records_r, records_w = os.pipe()
        trailer_r, trailer_w = os.pipe()
        with contextlib.suppress(OSError):  # a smaller pipe only costs speed
            fcntl.fcntl(records_w, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        try:
            head = _codec.JOB_HEADER.pack(len(header), len(sent.inputs), len(sent.key))
            self._send(head, (header, sent.inputs, sent.key), [records_w, trailer_w])
        except BaseException:
            os.close(records_r)
            os.close(trailer_r)
            raise
        finally:
            os.close(records_w)
            os.close(trailer_w)
        return _Answer(records_r, trailer_r, time.monotonic() + sent.wall + BACKSTOP_SECONDS, sent.cap)

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
