"""The worker's side of the wire: jobs off the socket, records and trailers into a job's pipes.

The codec is imported by its top-level name, ``_codec`` (its directory is on ``sys.path``, see
``process.py``), so that the stand-in a runner pickles for an unpicklable output keeps its name,
``_codec.Opaque``, which the trusted side shows; mypy knows the same file by its package name.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from itertools import count
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

if TYPE_CHECKING:
    from .. import _codec as codec
else:
    import _codec as codec

__all__ = [
    "Received",
    "Writer",
    "codec",
    "record",
    "recv_job",
    "signed_writer",
    "write_all",
    "write_trailer",
]

BIG_PAYLOAD = 1 << 16  # a record's payload this large is written apart from its header


class Writer(Protocol):
    def __call__(self, kind: int, index: int = 0, cpu: float = 0.0, payload: bytes = b"") -> None: ...


def write_all(fd: int, data: bytes) -> None:
    written = os.write(fd, data)  # all of it, unless a signal cut the write short
    if written < len(data):
        view = memoryview(data)[written:]
        while view:
            view = view[os.write(fd, view) :]


def record(fd: int, kind: int, index: int = 0, cpu: float = 0.0, payload: bytes = b"") -> None:
    header = codec.RECORD.pack(kind, index, cpu, len(payload))
    if len(payload) < BIG_PAYLOAD:
        write_all(fd, header + payload)
    else:  # not copied into one more buffer (outputs reach 150 MB)
        write_all(fd, header)
        write_all(fd, payload)


def signed_writer(fd: int, key: bytes) -> Writer:
    """A test job's ``record``: each record followed by its tag (``codec.mac``). The MAC state and
    the sequence live only in this closure; the caller drops the key."""
    state, sequence = codec.signer(key), count()

    def write(kind: int, index: int = 0, cpu: float = 0.0, payload: bytes = b"") -> None:
        data = codec.RECORD.pack(kind, index, cpu, len(payload)) + payload
        write_all(fd, data + codec.mac(state, next(sequence), data))

    return write


def write_trailer(fd: int, fields: dict[str, Any], tails: bytes | None = None) -> None:
    """The trailer's JSON; with ``tails`` (a command job's), a newline and those bytes after it."""
    data = json.dumps(fields).encode()
    with contextlib.suppress(BrokenPipeError):  # the client gave up on this job
        write_all(fd, data if tails is None else data + b"\n" + tails)


class Received(NamedTuple):
    """A job off the socket: the job, the pipes for its records and its trailer, and its key."""

    job: dict[str, Any]
    records: int
    trailer: int
    key: bytes


def recv_job(sock: socket.socket) -> Received:
    """A job, as ``codec.JOB_HEADER`` describes it."""
    size = codec.JOB_HEADER.size
    head, fds, _, _ = socket.recv_fds(sock, size, 2)
    if not head:
        raise EOFError
    head += _recv_exact(sock, size - len(head))
    json_length, inputs_length, key_length = codec.JOB_HEADER.unpack(head)
    job: dict[str, Any] = json.loads(_recv_exact(sock, json_length))
    job["inputs"] = _recv_exact(sock, inputs_length)  # unpickled by the runner, not here
    return Received(job, fds[0], fds[1], _recv_exact(sock, key_length))


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return bytes(buf)
