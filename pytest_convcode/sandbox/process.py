"""The ``process`` sandbox backend: jobs go to a warm worker process (``_worker.py``).

Each job travels over a socket with a pipe of its own for the answer, so several
threads may run jobs at once and no answer can be mixed up with another.
"""

from __future__ import annotations

import json
import os
import select
import socket
import struct
import subprocess
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..errors import InfrastructureError
from . import SANDBOXES, Call, CallJob, ExecResult, _codec

WORKER = Path(__file__).with_name("_worker.py")
BACKSTOP_SECONDS = 30.0  # beyond the job's own deadline, before we call the worker lost


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
        payload = json.dumps(_wire(job)).encode()
        read_end, write_end = os.pipe()
        try:
            self._send(payload, write_end)
        finally:
            os.close(write_end)
        deadline = time.monotonic() + sum(job.wall_limits) + job.load_wall + BACKSTOP_SECONDS
        try:
            raw = _read_until_eof(read_end, deadline)
        finally:
            os.close(read_end)
        return _parse(raw, len(job.inputs))

    def _send(self, payload: bytes, fd: int) -> None:
        with self._lock:
            for attempt in range(2):  # a dead worker is restarted once
                sock = self._sock or self._start()
                try:
                    socket.send_fds(sock, [struct.pack("!Q", len(payload))], [fd])
                    sock.sendall(payload)
                    return
                except OSError as exc:
                    self._sock = None
                    if attempt:
                        raise InfrastructureError(f"sandbox worker is gone: {exc}") from exc


def _wire(job: CallJob) -> dict[str, Any]:
    wire = asdict(job)
    limits = wire.pop("limits")
    wire.update(limits)
    wire["inputs"] = list(job.inputs)
    return wire


def _read_until_eof(fd: int, deadline: float) -> bytes:
    chunks = []
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
            raise InfrastructureError("sandbox supervisor did not answer before its deadline")
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _parse(raw: bytes, n_inputs: int) -> ExecResult:
    head, _, body = raw.partition(b"\n")
    if not head:
        raise InfrastructureError("sandbox supervisor died without an answer")
    header = json.loads(head)
    calls: dict[int, Call] = {}
    load_error: str | None = ""  # no record at all: the process ended before loading finished
    complete = False
    for line in body.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue  # the candidate may write to any fd it finds; only well-formed records count
        if not isinstance(record, dict):
            continue
        if "load" in record:
            load_error = None if record["load"] == "ok" else str(record.get("error", ""))
        elif record.get("done"):
            complete = True
        elif isinstance(record.get("i"), int) and 0 <= record["i"] < n_inputs and record["i"] not in calls:
            calls[record["i"]] = _call(record)
    return ExecResult(
        calls=[calls[i] for i in sorted(calls)],
        load_error=load_error,
        complete=complete and len(calls) == n_inputs,
        ended=header["ended"],
        exit_code=header["code"],
        signal=header["signal"],
        wall=header["wall"],
        cpu=header["cpu"],
        output=header["output"],
    )


def _call(record: dict[str, Any]) -> Call:
    index, cpu = record["i"], float(record.get("cpu", 0.0))
    if record.get("timeout"):
        return Call(index, "timeout", cpu=cpu)
    if "ok" in record:
        try:
            return Call(index, "ok", value=_codec.decode(record["ok"]), cpu=cpu)
        except (ValueError, TypeError, KeyError) as exc:
            return Call(index, "error", error=f"the returned value could not be read back: {exc}", cpu=cpu)
    return Call(index, "error", error=str(record.get("error", "")), cpu=cpu)
