"""Values crossing the sandbox boundary.

Test inputs go in as tagged JSON. Outputs come back as pickles (fast for the
100 MB outputs some tasks have) read by ``SafeUnpickler``, which builds plain
data only: any class other than a few value types becomes an ``Opaque`` that
equals nothing but itself, so a candidate cannot smuggle in an object whose
``__eq__`` lies, and unpickling runs none of its code.

Standard library only (numpy when importable): the sandbox worker imports this
file by path under whatever interpreter runs the candidates.
"""

from __future__ import annotations

import base64
import io
import json
import math
import pickle
from typing import Any

try:
    import numpy as _np
except ImportError:  # the sandbox interpreter may lack numpy
    _np = None  # type: ignore[assignment]

_NUMERIC_KINDS = "biufc"  # bool, int, uint, float, complex


class Opaque:
    """A value the codec cannot carry: equal only to itself, never None."""

    type_name = "object"
    text = ""

    def __init__(self, type_name: str = "object", text: str = "") -> None:
        self.type_name = type_name
        self.text = text

    def __setstate__(self, state: Any) -> None:
        pass  # state of an unknown class is dropped, never applied

    def __repr__(self) -> str:
        return f"<{self.type_name}{' ' + self.text if self.text else ''}>"


def dump_output(value: Any) -> bytes:
    """Pickle an output in the sandbox; ``fast`` skips the memo, so sharing cannot matter."""
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=5)
    pickler.fast = True
    try:
        pickler.dump(value)
    except Exception:  # unpicklable (generator, lambda, cycle): an opaque stand-in
        return pickle.dumps(Opaque(type(value).__qualname__, _safe_repr(value)), protocol=5)
    return buffer.getvalue()


# Classes an output may be built from: value types whose constructors only copy the
# data the pickle carries. Anything else unpickles as an Opaque.
_VALUE_CLASSES = {
    ("builtins", "complex"),
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("collections", "Counter"),
    ("collections", "OrderedDict"),
    ("collections", "defaultdict"),
    ("collections", "deque"),
    ("decimal", "Decimal"),
    ("fractions", "Fraction"),
    ("datetime", "date"),
    ("datetime", "datetime"),
    ("datetime", "time"),
    ("datetime", "timedelta"),
}
_NUMPY_MODULES = ("numpy", "numpy.core.multiarray", "numpy._core.multiarray", "numpy.core.numeric", "numpy._core.numeric")
MAX_ITEM_BYTES = 1 << 16


class _NdarrayClass(Opaque):
    """Stands in for ``numpy.ndarray``: arrays are only built from the bytes a pickle carries."""

    type_name = "numpy.ndarray"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass


def _reconstruct(subtype: Any, shape: Any, dtype: Any) -> Any:
    return _np.ndarray((0,), _np.uint8)  # setstate then supplies shape, dtype and the data itself


def _dtype(*args: Any) -> Any:
    dtype = _np.dtype(*args)
    if dtype.subdtype is not None or dtype.itemsize > MAX_ITEM_BYTES or dtype.hasobject:
        raise pickle.UnpicklingError(f"refusing numpy dtype {dtype}")
    return dtype


def _frombuffer(buffer: Any, dtype: Any, shape: Any, order: Any) -> Any:
    return _np.frombuffer(bytes(buffer), dtype=_dtype(dtype)).reshape(shape, order=order)


_NUMPY_FUNCTIONS: dict[str, Any] = {
    "ndarray": _NdarrayClass,
    "_reconstruct": _reconstruct,
    "dtype": _dtype,
    "_frombuffer": _frombuffer,
    "scalar": lambda dtype, data=b"": _np.frombuffer(bytes(data), dtype=_dtype(dtype))[0],
}


class SafeUnpickler(pickle.Unpickler):
    """Unpickles untrusted bytes into plain values; any other class becomes an ``Opaque``."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _VALUE_CLASSES:
            return super().find_class(module, name)
        if _np is not None and module in _NUMPY_MODULES and name in _NUMPY_FUNCTIONS:
            return _NUMPY_FUNCTIONS[name]
        return type(name, (Opaque,), {"type_name": f"{module}.{name}", "__init__": _ignore_arguments})


def _ignore_arguments(self: Opaque, *args: Any, **kwargs: Any) -> None:
    pass


def load_output(data: bytes) -> Any:
    return SafeUnpickler(io.BytesIO(data)).load()


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
