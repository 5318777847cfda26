"""Tagged JSON for test inputs and outputs crossing the sandbox boundary.

Outputs of untrusted code come back as data, never as pickles: the trusted side
rebuilds plain values (tuples, sets, complex, numpy values) and compares them
itself, so a candidate cannot smuggle in an object whose ``__eq__`` lies.
Anything else becomes an ``Opaque`` that equals nothing but itself.

Standard library only (numpy when importable): the sandbox worker imports this
file by path under whatever interpreter runs the candidates.
"""

from __future__ import annotations

import base64
import json
import math
from typing import Any

try:
    import numpy as _np
except ImportError:  # the sandbox interpreter may lack numpy
    _np = None  # type: ignore[assignment]

_NUMERIC_KINDS = "biufc"  # bool, int, uint, float, complex


class Opaque:
    """A value the codec cannot carry: equal only to itself, never None."""

    def __init__(self, type_name: str, text: str) -> None:
        self.type_name = type_name
        self.text = text

    def __repr__(self) -> str:
        return f"<{self.type_name} {self.text}>"


def _float(x: float) -> Any:
    return x if math.isfinite(x) else {"$f": repr(x)}


def encode(value: Any) -> Any:
    """Turn a value into JSON-ready data; every JSON object in the result is a tag."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        # decimal conversion of huge ints is quadratic and capped at 4300 digits
        return int(value) if value.bit_length() < 12_000 else {"$i": hex(value)}
    if isinstance(value, float):
        return _float(float(value))
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, tuple):
        return {"$t": [encode(v) for v in value]}
    if isinstance(value, frozenset):
        return {"$fs": [encode(v) for v in value]}
    if isinstance(value, set):
        return {"$s": [encode(v) for v in value]}
    if isinstance(value, dict):
        return {"$d": [[encode(k), encode(v)] for k, v in value.items()]}
    if isinstance(value, complex):
        return {"$c": [_float(value.real), _float(value.imag)]}
    if isinstance(value, (bytes, bytearray)):
        return {"$b": base64.b64encode(bytes(value)).decode("ascii")}
    if _np is not None and isinstance(value, (_np.ndarray, _np.generic)):
        if value.dtype.kind in _NUMERIC_KINDS:
            items = value.tolist()
            tag = "$nd" if isinstance(value, _np.ndarray) else "$ns"
            return {tag: [value.dtype.str, encode(items)]}
    return {"$o": [type(value).__qualname__, _safe_repr(value)]}


def _safe_repr(value: Any) -> str:
    try:
        return repr(value)[:200]
    except BaseException:  # a hostile __repr__ must not break the runner
        return "?"


def dumps(value: Any) -> str:
    try:
        return json.dumps(encode(value), separators=(",", ":"))
    except (ValueError, RecursionError):  # circular or too deep
        return json.dumps({"$o": [type(value).__qualname__, "<unencodable>"]})


_SEQUENCES: dict[str, Any] = {"$t": tuple, "$s": set, "$fs": frozenset}


def decode(data: Any) -> Any:
    """Rebuild a value from ``encode``'s output (safe on untrusted input)."""
    if isinstance(data, list):
        return [decode(v) for v in data]
    if not isinstance(data, dict):
        return data
    ((tag, body),) = data.items()
    if tag in _SEQUENCES:
        return _SEQUENCES[tag](decode(v) for v in body)
    if tag == "$d":
        return {decode(k): decode(v) for k, v in body}
    if tag == "$f":
        return float(body)
    if tag == "$i":
        return int(body, 16)
    if tag == "$c":
        return complex(decode(body[0]), decode(body[1]))
    if tag == "$b":
        return base64.b64decode(body)
    if tag in ("$nd", "$ns") and _np is not None:
        dtype = _np.dtype(body[0])
        if dtype.kind not in _NUMERIC_KINDS:
            raise ValueError(f"refusing numpy dtype {body[0]!r}")
        array = _np.array(decode(body[1]), dtype=dtype)
        return array if tag == "$nd" else array[()]
    if tag == "$o":
        return Opaque(str(body[0]), str(body[1]))
    raise ValueError(f"unknown tag {tag!r}")


def loads(text: str | bytes) -> Any:
    return decode(json.loads(text))
