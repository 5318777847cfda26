"""The ``process`` sandbox backend: jobs go to a warm worker process (``_worker.py``).

Each job travels over a socket with a pipe of its own for the answer, so several
threads may run jobs at once and no answer can be mixed up with another.
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
from dataclasses import fields
from pathlib import Path
from typing import Any

from ..errors import InfrastructureError
from . import SANDBOXES, Call, CallJob, ExecResult, _codec

WORKER = Path(__file__).with_name("_worker.py")
BACKSTOP_SECONDS = 30.0  # beyond the job's own deadline, before we call the worker lost
PIPE_BYTES = 1 << 20  # a larger pipe: fewer context switches for big outputs
READ_BYTES = 1 << 22


@SANDBOXES.register("process")
class ProcessSandbox:
    name = "process"

    def __init__(self, python: str = sys.executable) -> None:
        self.python = python
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
                [self.python, "-s", str(WORKER), str(theirs.fileno())],
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
        header = json.dumps(_wire(job)).encode()
        inputs = pickle.dumps([list(args) for args in job.inputs], protocol=5)
        read_end, write_end = os.pipe()
        with contextlib.suppress(OSError):  # a smaller pipe only costs speed
            fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        try:
            self._send(header, inputs, write_end)
        finally:
            os.close(write_end)
        deadline = time.monotonic() + sum(job.wall_limits) + job.load_wall + BACKSTOP_SECONDS
        try:
            raw, overflow = _read_answer(read_end, deadline, job.limits.max_output_bytes)
        finally:
            os.close(read_end)
        return _parse(raw, len(job.inputs), overflow)

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
    wire = {f.name: getattr(job, f.name) for f in fields(job) if f.name not in ("inputs", "limits")}
    wire.update((f.name, getattr(job.limits, f.name)) for f in fields(job.limits))
    wire["cpu_limits"], wire["wall_limits"] = list(job.cpu_limits), list(job.wall_limits)
    return wire


def _read_answer(fd: int, deadline: float, cap: int) -> tuple[bytearray, bool]:
    """Read a job's answer to EOF. Past ``cap`` bytes the records are dropped (the end is
    kept: it holds the supervisor's trailer); the flag says that happened."""
    answer = bytearray()
    overflow = False
    keep = len(_codec.TRAILER_MAGIC) + _codec.TRAILER_LENGTH.size + (1 << 16)
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
            raise InfrastructureError("sandbox supervisor did not answer before its deadline")
        chunk = os.read(fd, READ_BYTES)
        if not chunk:
            return answer, overflow
        answer += chunk
        if len(answer) > cap + keep:
            overflow = True
            del answer[:-keep]


def _records(raw: bytearray, stop: int) -> tuple[list[tuple[int, int, float, memoryview]], bool]:
    """Split the runner's stream (``raw[:stop]``) into (kind, index, cpu, payload) records,
    and say whether it was garbled.

    The candidate can write to any fd it finds, so a stream it garbled ends the
    records there: the calls after that point count as not run.
    """
    view = memoryview(raw)
    records = []
    pos = 0
    while pos + _codec.RECORD.size <= stop:
        kind, index, cpu, size = _codec.RECORD.unpack_from(raw, pos)
        if not _codec.READY <= kind <= _codec.DONE or pos + _codec.RECORD.size + size > stop:
            break
        pos += _codec.RECORD.size
        records.append((kind, index, cpu, view[pos : pos + size]))
        pos += size
    return records, pos != stop


def _parse(raw: bytearray, n_inputs: int, overflow: bool) -> ExecResult:
    if not raw.endswith(_codec.TRAILER_MAGIC):
        raise InfrastructureError("sandbox supervisor died without an answer")
    end = len(raw) - len(_codec.TRAILER_MAGIC) - _codec.TRAILER_LENGTH.size
    (length,) = _codec.TRAILER_LENGTH.unpack_from(raw, end)
    trailer = json.loads(bytes(raw[end - length : end]))
    if trailer["ended"] == "supervisor_error":
        raise InfrastructureError(f"sandbox supervisor failed:\n{trailer['error']}")
    stop = 0 if overflow else end - length - 1
    calls: dict[int, Call] = {}
    load_error: str | None = ""  # no record at all: the process ended before loading finished
    complete = ready = False
    records, garbled = _records(raw, stop)
    for kind, index, cpu, payload in records:
        if not ready:  # the runner's first record, written before the candidate starts
            ready = kind == _codec.READY
            if not ready:
                break
        elif kind == _codec.LOADED:
            load_error = None
        elif kind == _codec.LOAD_ERROR:
            load_error = bytes(payload).decode("utf-8", "replace")
        elif kind == _codec.DONE:
            complete = True
        elif index < n_inputs and index not in calls:
            calls[index] = _call(kind, index, cpu, payload)
    if not ready:
        raise InfrastructureError(f"the sandbox could not set up the job:\n{trailer['output'][-3000:]}")
    return ExecResult(
        calls=[calls[i] for i in sorted(calls)],
        load_error=load_error,
        complete=complete and len(calls) == n_inputs,
        ended="output_limit" if overflow else trailer["ended"],
        exit_code=trailer["code"],
        signal=trailer["signal"],
        wall=trailer["wall"],
        cpu=trailer["cpu"],
        output=trailer["output"],
        garbled=garbled,
    )


def _call(kind: int, index: int, cpu: float, payload: memoryview) -> Call:
    if kind == _codec.TIMEOUT:
        return Call(index, "timeout", cpu=cpu)
    if kind == _codec.ERROR:
        return Call(index, "error", error=bytes(payload).decode("utf-8", "replace"), cpu=cpu)
    return Call(index, "ok", payload=bytes(payload), cpu=cpu)  # unpickled only when needed
