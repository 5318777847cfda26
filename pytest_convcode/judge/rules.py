"""EvalPlus's rules for comparing a candidate's output with the reference's, special oracles included."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from ..sandbox import is_floats
from ..tasks import Task


def _poly(xs: Sequence[float], x: float) -> float:
    return sum(c * math.pow(x, i) for i, c in enumerate(xs))


def _pyramid_surface(base_edge: float, height: float) -> float:
    slant = math.sqrt((base_edge / 2) ** 2 + height**2)
    return round(base_edge**2 + 2 * base_edge * slant)


def _digit_distance(a: int, b: int) -> int:
    sa, sb = str(a), str(b)
    width = max(len(sa), len(sb))
    return sum(abs(int(x) - int(y)) for x, y in zip(sa.zfill(width), sb.zfill(width), strict=False))


def _equal(out: Any, exp: Any) -> bool:
    try:
        return bool(out == exp)
    except Exception:  # numpy arrays and other ambiguous truth values
        return False


# oracle name -> is `out` acceptable where the reference gave `exp`, before tolerance
ORACLES: dict[str, Callable[[Any, Any, Sequence[Any], float], bool]] = {
    "exact": lambda out, exp, args, atol: _equal(out, exp),
    "any": lambda out, exp, args, atol: True,
    "exact_or_zero": lambda out, exp, args, atol: _equal(out, exp) or _equal(out, 0),
    "pyramid_surface": lambda out, exp, args, atol: _equal(out, exp) or abs(out - _pyramid_surface(*args)) <= atol,
    "digit_distance": lambda out, exp, args, atol: _equal(out, exp) or _equal(out, _digit_distance(*args)),
    "set": lambda out, exp, args, atol: set(out) == set(exp),
    "not_none": lambda out, exp, args, atol: _equal(out, exp) if isinstance(out, bool) else exp == (out is not None),
}


def outputs_match(task: Task, args: Sequence[Any], out: Any, exp: Any, atol: float) -> tuple[bool, float]:
    """EvalPlus's rule for one call; returns (verdict, the tolerance for the next calls).

    Like EvalPlus, once a phase meets a float output with ``atol == 0`` the
    tolerance becomes 1e-6 for the rest of that phase.
    """
    try:
        if task.oracle == "poly_root":  # any x with |poly(x)| <= atol is a root
            return abs(_poly(args[0], out)) <= task.atol, atol
        exact = ORACLES[task.oracle](out, exp, args, atol)
        if atol == 0 and is_floats(exp):
            atol = 1e-6
        if exact or atol == 0:
            return exact, atol
        if type(out) is not type(exp):
            return False, atol
        if isinstance(exp, (list, tuple)) and len(out) != len(exp):
            return False, atol
        import numpy  # here, where a comparison needs it: imported at start it costs each process ~0.1 s

        return bool(numpy.allclose(out, exp, rtol=1e-07, atol=atol)), atol
    except Exception:
        return False, atol
