"""The docker sandbox's end of the relay (``_relay.py``): the worker's socket, stood in for by the
container's attached stdin and stdout, which carry bytes and no file descriptors.

The process backend sends each job with the two pipes its answer comes back on (``sendmsg`` with
``SCM_RIGHTS``, then ``sendall``). ``AttachedRelay`` keeps those pipes on this side, sends the job
under a number of its own, and a thread copies into them what the relay sends back for that
number; so the process backend's reading of answers, deadlines included, is the docker backend's.
"""

from __future__ import annotations

import array
import contextlib
import os
import socket
import struct
import sys
import threading
from collections.abc import Sequence
from typing import Any

from ._relay import CHUNK, FRAME, ID

DOCKER_FRAME = struct.Struct(">BxxxL")  # docker's multiplexed stream: which stream, length
STDERR = 2
RECV_BYTES = 1 << 20


class RelayEnded(EOFError):
    """The relay's stdout ended: the container is gone."""


class AttachedRelay:
    def __init__(self, attached: Any) -> None:
        """``attached``: what the docker SDK's ``attach_socket`` returned (a socket, or an object
        holding one; it keeps the HTTP response alive)."""
        self.attached = attached
        self.sock: socket.socket = getattr(attached, "_sock", attached)
        self.sock.settimeout(None)  # the SDK's request timeout: an idle sandbox waits for jobs
        self.buffer = bytearray()  # stdout's bytes, read from ``pos`` on
        self.pos = 0
        self.lock = threading.Lock()
        self.pipes: dict[int, list[int]] = {}  # job -> the write ends of its records and trailer pipes
        self.count = 0
        self.ended = False

    # -- what the process backend calls on its worker's socket

    def sendmsg(self, buffers: Sequence[bytes], ancdata: list[tuple[int, int, array.array[int]]]) -> int:
        """A job's header, with its pipes (``socket.send_fds``'s form)."""
        pipes = [os.dup(fd) for fd in ancdata[0][2]]
        with self.lock:
            if self.ended:
                for fd in pipes:
                    os.close(fd)
                raise BrokenPipeError("the sandbox container's relay has ended")
            self.count += 1
            job = self.count
            self.pipes[job] = pipes
        data = ID.pack(job) + b"".join(buffers)
        self.sock.sendall(data)
        return len(data)

    def sendall(self, data: bytes) -> None:
        self.sock.sendall(data)

    def close(self) -> None:
        """Ends the relay's stdin: the relay, the worker and the container end."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_WR)
        self.sock.close()

    # -- what comes back

    def hello(self) -> bytes:
        """The worker's hello line (empty if the container ended first); then the answers start."""
        try:
            while b"\n" not in self.buffer:
                self._fill()
        except RelayEnded:
            return b""
        self.pos = self.buffer.index(b"\n") + 1
        line = bytes(self.buffer[: self.pos])
        threading.Thread(target=self._copy_answers, name="docker-relay", daemon=True).start()
        return line

    def _copy_answers(self) -> None:
        try:
            while True:
                job, pipe, size = FRAME.unpack(self._read(FRAME.size))
                if size > CHUNK:  # not the relay's: the stream is garbled, and with it every answer
                    raise RelayEnded
                self._deliver(job, pipe, self._read(size))
        except RelayEnded:
            pass
        finally:
            with self.lock:
                self.ended = True
                left = [fd for pipes in self.pipes.values() for fd in pipes if fd >= 0]
                self.pipes.clear()
            for fd in left:  # their readers see an answer cut short: the container is gone
                os.close(fd)

    def _deliver(self, job: int, pipe: int, data: bytes) -> None:
        pipes = self.pipes.get(job)
        if pipes is None or pipes[pipe] < 0:
            return  # its reader gave up on it
        if data:
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(pipes[pipe], view) :]
                return
            except OSError:  # the reader closed its end
                pass
        os.close(pipes[pipe])
        pipes[pipe] = -1
        if pipes == [-1, -1]:
            with self.lock:
                del self.pipes[job]

    def _read(self, size: int) -> bytes:
        while len(self.buffer) - self.pos < size:
            self._fill()
        start, self.pos = self.pos, self.pos + size
        with memoryview(self.buffer) as view:
            return view[start : self.pos].tobytes()

    def _fill(self) -> None:
        """Add one docker frame's bytes: stdout's to the buffer, stderr's (the worker's tracebacks)
        to ours."""
        if self.pos:
            del self.buffer[: self.pos]
            self.pos = 0
        kind, size = DOCKER_FRAME.unpack(self._recv(DOCKER_FRAME.size))
        data = self._recv(size)
        if kind == STDERR:
            sys.stderr.buffer.write(data)
            sys.stderr.flush()
        else:
            self.buffer += data

    def _recv(self, size: int) -> bytes:
        parts, left = [], size
        while left:
            try:
                chunk = self.sock.recv(min(left, RECV_BYTES))
            except OSError:
                chunk = b""
            if not chunk:
                raise RelayEnded
            parts.append(chunk)
            left -= len(chunk)
        return b"".join(parts)
