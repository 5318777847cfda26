"""The relay: the docker sandbox's container runs it as its first process, between the client on
its stdin and stdout (``docker attach``'s streams, which carry bytes, not file descriptors) and the
warm worker it starts beside it, which takes each job with two pipes for its answer.

In: a job id (``ID``), then the job as the worker's socket takes it (``_codec.JOB_HEADER`` and
what it counts). The relay makes the job's two pipes, sends the job on, and writes back whatever
comes out of them as frames (``FRAME``: job id, which pipe, length, bytes; length 0: that pipe
ended). A job's records are all sent before its trailer ends, as the worker's own client reads
them. First of all it writes the worker's hello line. It ends when its stdin ends or the worker
does; as the container's first process, its end stops the container and everything in it.

Standard library only, run by the image's interpreter as a script beside ``_codec.py``:
``python -s _relay.py WORKER_ARGS...``, one of them ``{fd}`` (the worker's socket).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import selectors
import signal
import socket
import struct
import subprocess
import sys
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING or __package__:  # imported by the client, for the frames' formats
    from . import _codec
else:  # run in the container, beside _codec.py
    import _codec

ID = struct.Struct("!I")
FRAME = struct.Struct("!IBI")  # job id, pipe (RECORDS or TRAILER), length
RECORDS, TRAILER = 0, 1
FD_ARG = "{fd}"
CHUNK = 1 << 20
PIPE_BYTES = 1 << 20
DRAIN_READS = 16
# the worker's: a clean one, and the word that the container is its jobs' machine (_worker/isolation.py)
ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONHASHSEED": "0", "CONVCODE_CONTAINER": "1"}


def main(worker_args: list[str]) -> None:
    ours, theirs = socket.socketpair()
    args = [str(theirs.fileno()) if arg == FD_ARG else arg for arg in worker_args]
    subprocess.Popen([sys.executable, *args], pass_fds=[theirs.fileno()], env=ENV, stdin=subprocess.DEVNULL)
    theirs.close()
    # As the container's first process we adopt every orphan: ignored, SIGCHLD has them reaped.
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    hello = ours.makefile("rb").readline()
    if not hello:
        os._exit(1)
    out = Output(ours)
    out.write(hello)
    threading.Thread(target=_take_jobs, args=(ours, out), daemon=True).start()
    out.serve()


def _take_jobs(worker: socket.socket, out: Output) -> None:
    """Read jobs off stdin and hand each to the worker with two new pipes; out's loop reads them."""
    stdin = sys.stdin.buffer
    try:
        while head := stdin.read(ID.size + _codec.JOB_HEADER.size):
            if len(head) < ID.size + _codec.JOB_HEADER.size:
                break
            (job,) = ID.unpack_from(head)
            records_r, records_w = os.pipe()
            trailer_r, trailer_w = os.pipe()
            with contextlib.suppress(OSError):
                fcntl.fcntl(records_w, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
            out.watch(job, records_r, trailer_r)
            try:
                socket.send_fds(worker, [head[ID.size :]], [records_w, trailer_w])
            finally:
                os.close(records_w)
                os.close(trailer_w)
            left = sum(_codec.JOB_HEADER.unpack_from(head, ID.size))
            while left:
                chunk = stdin.read(min(left, CHUNK))
                if not chunk:
                    return
                worker.sendall(chunk)
                left -= len(chunk)
    except OSError:  # the worker is gone: out's loop sees it too
        pass
    finally:
        out.stop()


class Output:
    """Writes the frames: one loop over every job's pipes, and the worker's socket for its end."""

    def __init__(self, worker: socket.socket) -> None:
        self.selector = selectors.DefaultSelector()  # epoll: a pipe registered meanwhile is watched at once
        self.stop_r, self.stop_w = os.pipe()
        self.selector.register(self.stop_r, selectors.EVENT_READ, None)
        self.selector.register(worker, selectors.EVENT_READ, None)
        self.worker = worker
        self.records: dict[int, int] = {}  # job -> its records pipe, while it is open

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(1, view) :]

    def watch(self, job: int, records: int, trailer: int) -> None:
        self.records[job] = records
        self.selector.register(records, selectors.EVENT_READ, (job, RECORDS))
        self.selector.register(trailer, selectors.EVENT_READ, (job, TRAILER))

    def stop(self) -> None:
        os.write(self.stop_w, b"x")

    def serve(self) -> None:
        while True:
            for key, _ in self.selector.select():
                if key.data is not None:
                    self._forward(key.fd, *key.data)
                    continue
                if key.fileobj is self.worker:
                    with contextlib.suppress(OSError):
                        if self.worker.recv(1):
                            continue
                os._exit(0)  # stdin or the worker ended: so do we, the worker, and the container

    def _forward(self, fd: int, job: int, pipe: int) -> None:
        chunk = os.read(fd, CHUNK)
        if chunk:
            self.write(FRAME.pack(job, pipe, len(chunk)) + chunk)
            return
        records = self.records.pop(job, None)
        if pipe == TRAILER and records is not None:  # the runner has ended: what it wrote goes first
            os.set_blocking(records, False)
            with contextlib.suppress(BlockingIOError):
                for _ in range(DRAIN_READS):  # more only from a process it left, which holds the pipe
                    if not (chunk := os.read(records, CHUNK)):
                        break
                    self.write(FRAME.pack(job, RECORDS, len(chunk)) + chunk)
            self._end(records, job, RECORDS)
        self._end(fd, job, pipe)

    def _end(self, fd: int, job: int, pipe: int) -> None:
        self.selector.unregister(fd)
        os.close(fd)
        self.write(FRAME.pack(job, pipe, 0))


if __name__ == "__main__":
    main(sys.argv[1:])
