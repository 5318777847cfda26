"""What the sandbox service and its clients exchange: a batch of jobs in the worker's form
(``wire.Form``) as one JSON body, and their answers as NDJSON lines, one per job as it ends.

Bytes (a call job's pickled inputs, a test job's key, the runner's records, the trailer) travel as
base64. Neither side unpickles or evaluates anything here: the service hands the forms to its
worker as they came, and the client reads the answers with ``answers.py``, as the process backend
reads its own worker's.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .wire import Form, Raw

MODES = frozenset({"call", "tests", "command"})
MAX_KEY_BYTES = 64
MAX_PRELOAD = 64  # module names a batch may ask the service's worker to import ahead
MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
HEARTBEAT = b'{"heartbeat": true}\n'  # the service is alive and its jobs still run


class BatchError(ValueError):
    """A request that is not a batch of jobs: the client's mistake."""


def request_body(forms: Mapping[int, Form], preload: Sequence[str]) -> bytes:
    """The body of ``POST /jobs``: the forms by the client's index for each, and the modules the
    service's worker should have imported (a client's ``preload``)."""
    jobs = [
        {"index": i, "header": f.header, "inputs": _b64(f.inputs), "key": _b64(f.key), "wall": f.wall, "cap": f.cap}
        for i, f in forms.items()
    ]
    return json.dumps({"preload": list(preload), "jobs": jobs}).encode()


@dataclass(frozen=True)
class Batch:
    forms: dict[int, Form]
    preload: tuple[str, ...]


def read_request(body: bytes) -> Batch:
    """A request body checked to be a batch (``BatchError`` saying what is wrong, if not)."""
    try:
        data = json.loads(body)
        preload = tuple(data.get("preload", ()))
        forms = {int(job["index"]): _form(job) for job in data["jobs"]}
    except BatchError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise BatchError(f"not a batch of jobs: {type(exc).__name__}: {exc}") from None
    if not forms:
        raise BatchError("the batch holds no job")
    if len(preload) > MAX_PRELOAD or not all(isinstance(m, str) and MODULE.fullmatch(m) for m in preload):
        raise BatchError(f"preload must be at most {MAX_PRELOAD} module names")
    return Batch(forms, preload)


def _form(job: dict[str, Any]) -> Form:
    header = job["header"]
    if not isinstance(header, dict) or header.get("mode") not in MODES:
        raise BatchError(f"a job's header must be a JSON object whose mode is one of {sorted(MODES)}")
    key = base64.b64decode(job["key"], validate=True)
    if len(key) > MAX_KEY_BYTES:
        raise BatchError(f"a job's key is at most {MAX_KEY_BYTES} bytes")
    wall, cap = float(job["wall"]), int(job["cap"])
    if not (0 <= wall < float("inf") and cap >= 0):
        raise BatchError("a job's wall time and answer cap must be finite and not negative")
    return Form(header, base64.b64decode(job["inputs"], validate=True), key, wall, cap)


def answer_line(index: int, raw: Raw) -> bytes:
    fields = {"index": index, "records": _b64(raw.records), "trailer": _b64(raw.trailer), "overflow": raw.overflow}
    return json.dumps(fields).encode() + b"\n"


def error_line(index: int, message: str) -> bytes:
    """A job the service could not run (its worker failed): the harness's trouble, not the job's."""
    return json.dumps({"index": index, "error": message}).encode() + b"\n"


@dataclass(frozen=True)
class Line:
    """One line of the answer stream: a job's answer, its error, or (``index`` None) a heartbeat."""

    index: int | None
    raw: Raw | None = None
    error: str = ""


def read_line(line: bytes) -> Line:
    """Raises ValueError on a line that is none of those (a service that is not ours)."""
    try:
        data = json.loads(line)
        if data.get("heartbeat"):
            return Line(None)
        index = int(data["index"])
        if "error" in data:
            return Line(index, error=str(data["error"]))
        records = bytearray(base64.b64decode(data["records"], validate=True))
        trailer = base64.b64decode(data["trailer"], validate=True)
        return Line(index, Raw(records, trailer, bool(data["overflow"])))
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"not an answer line: {type(exc).__name__}: {exc}") from None


def _b64(data: bytes | bytearray) -> str:
    return base64.b64encode(data).decode("ascii")
