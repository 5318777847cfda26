"""The wire format both sides of the sandbox share (jobs, records, their signatures), and the
outputs crossing the boundary back to the trusted side.

Outputs come back as pickles (fast for the 100 MB outputs some tasks have) read by
``SafeUnpickler``, which builds plain data only: any class other than a few
value types becomes an ``Opaque`` that equals nothing but itself, so a
candidate cannot smuggle in an object whose ``__eq__`` lies, and unpickling
runs none of its code. (Inputs are trusted and go in as plain pickles.)

Standard library only (numpy when an output holds arrays): the sandbox worker imports this
file by path under whatever interpreter runs the candidates.
"""

from __future__ import annotations

import contextlib
import hmac
import io
import math
import pickle
import signal
import struct
import sys
from itertools import repeat
from typing import Any, Literal

# A job on the worker's socket: these three lengths (the job's two answer pipes attached: the
# runner's records, the supervisor's trailer), the job as JSON, its inputs as a pickle, and a
# test job's key (empty for a call job): the key that signs its records, kept out of the job.
JOB_HEADER = struct.Struct("!QQQ")

# The runner's records: a fixed header (kind, call index, CPU seconds, payload size),
# then the payload: a pickled output, or a traceback as UTF-8 text.
RECORD = struct.Struct("!BIdI")
READY, LOADED, LOAD_ERROR, OK, ERROR, TIMEOUT, DONE = range(1, 8)
# A job with "describe" set (the reference's) ends, before DONE, with one more record: a
# ``describe_output`` byte for each OK call, in order.
DESCRIPTIONS = 10
# An output that would take the answer past its limit is not sent: TOO_LARGE says which call made
# it and its size (payload: SIZE), and that call is the last of its phase.
TOO_LARGE = 13
SIZE = struct.Struct("!Q")
# A job of phases (a task's base and plus tests) loads the program once, then runs each phase's
# calls in a fork of that process, one after another: PHASE (index: the phase) starts a phase's
# records; PHASE_ENDED (index: the phase; payload: JSON, how its process ended) closes those of a
# phase that ran in a fork. The last phase runs in the runner itself: the trailer says how it ended.
PHASE, PHASE_ENDED = 14, 15
CALL_RECORDS = frozenset({*range(READY, DONE + 1), DESCRIPTIONS, TOO_LARGE, PHASE, PHASE_ENDED})

# A unittest job ("tests" mode) reuses READY, LOAD_ERROR and DONE. Its LOADED record carries
# the names of the tests it will run, one a line; the index of TEST_START and TEST_END is a
# test's place in that list. A TEST_END payload is a status byte (its place in TEST_STATUSES),
# the test's name, a NUL, and the detail (a traceback or a skip reason) as UTF-8 text.
# Class or module fixtures that fail outside any test get a TEST_END past the end of the list.
# TAMPERED says the program changed the test machinery (its payload names what): the test of
# its index and every later one fail.
TEST_START, TEST_END, TAMPERED = 8, 9, 11
TEST_RECORDS = frozenset({READY, LOADED, LOAD_ERROR, DONE, TEST_START, TEST_END, TAMPERED})

# A command job ("command" mode) writes READY once it is set up, before its command starts, then
# EXITED when the command has ended: its wait status is the index. Its runner writes them, the
# command never holds the pipe. Its trailer is the JSON line, then the tails of the command's
# stdout and stderr ("stdout_bytes", "stderr_bytes" long).
EXITED = 12
COMMAND_RECORDS = frozenset({READY, EXITED})

# The kernel charges CPU limits and CPU timers by scheduler ticks, while rusage reports precise
# time; on a busy VM the ticks run 10 % and more ahead. So a SIGXCPU or SIGKILL after this share
# of the budget is the limit's (no one else can SIGKILL a runner that is PID 1 of its namespace).
CPU_LIMIT_SHARE = 0.5


def killed_by_cpu_limit(signal_number: int, cpu: float, budget: float) -> bool:
    """Whether a process that died of ``signal_number`` (or whose shell exited 128 + it) was ended
    by its CPU-time limit: SIGXCPU, or SIGKILL (the hard limit; a PID 1 ignores the soft limit's
    SIGXCPU), once it had used a good share of its budget."""
    return signal_number in (signal.SIGXCPU, signal.SIGKILL) and cpu >= CPU_LIMIT_SHARE * budget


TEST_STATUSES: tuple[Literal["passed", "failed", "error", "skipped"], ...] = ("passed", "failed", "error", "skipped")

# A test job's records are signed: each is followed by MAC_SIZE bytes of HMAC-SHA256, under the
# job's key, over its sequence number (0 for READY) and the record itself.
MAC_SIZE = 16
SEQUENCE = struct.Struct("!Q")

# The supervisor's trailer (how the runner ended, as JSON) comes on the job's other pipe, which
# no runner holds: it cannot be forged, and its end is the answer's end.


def signer(key: bytes) -> hmac.HMAC:
    """The MAC state of a job's key (the key itself is not kept in it)."""
    return hmac.new(key, digestmod="sha256")


def mac(state: hmac.HMAC, sequence: int, record: bytes | memoryview) -> bytes:
    """The tag of the ``sequence``-th record of a signed stream."""
    h = state.copy()
    h.update(SEQUENCE.pack(sequence))
    h.update(record)
    return h.digest()[:MAC_SIZE]


def _numpy() -> Any:
    """numpy, imported only when an output needs it: the sandbox's zygote imports this module,
    and numpy's pages would make each of its forks dearer. None where it is missing."""
    try:
        import numpy
    except ImportError:  # the sandbox interpreter may lack numpy
        return None
    return numpy


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
    """Pickle an output in the sandbox. The memo stays on: it keeps shared objects
    shared, so a million-tuple answer does not unpickle into a billion strings."""
    try:
        return pickle.dumps(value, protocol=5)
    except Exception:  # unpicklable (generator, lambda, local class): an opaque stand-in
        return pickle.dumps(Opaque(type(value).__qualname__, _safe_repr(value)), protocol=5)


# What the trusted side needs to know of a reference output to compare answers with it as
# EvalPlus does. The runner that made the output works it out: the trusted side would have to
# unpickle every output to do so (HumanEval+'s come to 240 MB).
FLOATS, HAS_NAN = 1, 2


def describe_output(value: Any) -> int:
    return (FLOATS if is_floats(value) else 0) | (HAS_NAN if has_nan(value) else 0)


def is_floats(value: Any) -> bool:
    """EvalPlus's test for a float output (its tolerance rule applies to these)."""
    if isinstance(value, float):
        return True
    if isinstance(value, (list, tuple)) and value:
        return all(map(isinstance, value, repeat(float)))
    np = sys.modules.get("numpy")  # no arrays while numpy is not loaded
    if np is not None and isinstance(value, np.ndarray):
        return value.dtype in (np.float64, np.float32)
    return False


# Types that hold no NaN: containers made of these alone are cleared in one pass at C speed
# (outputs are often lists of a hundred thousand ints or strings).
_NAN_FREE = frozenset({int, bool, str, bytes, type(None)})


def has_nan(value: Any) -> bool:
    """Whether equal pickles may stand for unequal values (NaN != NaN; arrays compare elementwise)."""
    if isinstance(value, (float, complex)):
        return value != value
    if isinstance(value, (list, tuple, set, frozenset)):
        if _NAN_FREE.issuperset(map(type, value)):
            return False
        # plain numbers (HumanEval/130 gives ten million floats and ints) in a second C pass
        with contextlib.suppress(TypeError, ValueError, OverflowError):  # not plain numbers only
            return any(map(math.isnan, value))
        return any(has_nan(v) for v in value)
    if isinstance(value, dict):
        plain = _NAN_FREE.issuperset(map(type, value)) and _NAN_FREE.issuperset(map(type, value.values()))
        return not plain and any(has_nan(k) or has_nan(v) for k, v in value.items())
    np = sys.modules.get("numpy")
    return np is not None and isinstance(value, (np.ndarray, np.generic))


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
_NUMPY_MODULES = (
    "numpy",
    "numpy.core.multiarray",
    "numpy._core.multiarray",
    "numpy.core.numeric",
    "numpy._core.numeric",
)
MAX_ITEM_BYTES = 1 << 16


class _NdarrayClass(Opaque):
    """Stands in for ``numpy.ndarray``: arrays are only built from the bytes a pickle carries."""

    type_name = "numpy.ndarray"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass


def _reconstruct(subtype: Any, shape: Any, dtype: Any) -> Any:
    np = _numpy()
    return np.ndarray((0,), np.uint8)  # setstate then supplies shape, dtype and the data itself


def _dtype(*args: Any) -> Any:
    dtype = _numpy().dtype(*args)
    if dtype.subdtype is not None or dtype.itemsize > MAX_ITEM_BYTES or dtype.hasobject:
        raise pickle.UnpicklingError(f"refusing numpy dtype {dtype}")
    return dtype


def _frombuffer(buffer: Any, dtype: Any, shape: Any, order: Any) -> Any:
    return _numpy().frombuffer(bytes(buffer), dtype=_dtype(dtype)).reshape(shape, order=order)


_NUMPY_FUNCTIONS: dict[str, Any] = {
    "ndarray": _NdarrayClass,
    "_reconstruct": _reconstruct,
    "dtype": _dtype,
    "_frombuffer": _frombuffer,
    "scalar": lambda dtype, data=b"": _numpy().frombuffer(bytes(data), dtype=_dtype(dtype))[0],
}


class SafeUnpickler(pickle.Unpickler):
    """Unpickles untrusted bytes into plain values; any other class becomes an ``Opaque``."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _VALUE_CLASSES:
            return super().find_class(module, name)
        if module in _NUMPY_MODULES and name in _NUMPY_FUNCTIONS and _numpy() is not None:
            return _NUMPY_FUNCTIONS[name]
        return type(name, (Opaque,), {"type_name": f"{module}.{name}", "__init__": _ignore_arguments})


def _ignore_arguments(self: Opaque, *args: Any, **kwargs: Any) -> None:
    pass


def load_output(data: bytes | memoryview) -> Any:
    return SafeUnpickler(io.BytesIO(data)).load()


def _safe_repr(value: Any) -> str:
    try:
        return repr(value)[:200]
    except BaseException:  # a hostile __repr__ must not break the runner
        return "?"
