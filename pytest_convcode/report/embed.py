"""The data the page's script reads, embedded so that opening the page stays fast at any size.

The problems table gets one small JSON index (a row per problem, as arrays). The turns, which are
most of the bytes (~100k turns of code in a full ConvCodeWorld run), go in one gzip+base64 blob
per task (all of its samples or settings), each in its own non-executed script element: the
browser keeps them as text and the script decodes a task only when one of its problems is
opened. A task's settings share turn 0 and often later programs, so programs are stored once per
blob and turns refer to them by index.
"""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Sequence
from typing import Any

from markupsafe import Markup

from .problems import Problem

# The index's row layout; report.js reads rows by these positions.
COLUMNS = ("id", "suite", "task", "setting", "sample", "status", "label", "turns", "flip", "blob")


def script_json(value: Any) -> Markup:
    """JSON that is safe inside a ``<script>`` element: no ``</script>``, ``<!--`` or ``&`` can
    appear in it as such (each ``<``, ``>`` and ``&`` is written as a ``\\u`` escape)."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def pack(value: Any) -> str:
    """gzip + base64 of a value's JSON: the page unpacks it with DecompressionStream."""
    raw = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return base64.b64encode(gzip.compress(raw, compresslevel=6, mtime=0)).decode("ascii")


def unpack(blob: str) -> Any:
    """``pack`` undone (tests and tools; the page does it in JavaScript)."""
    return json.loads(gzip.decompress(base64.b64decode(blob)).decode("utf-8"))


def task_payload(problems: Sequence[Problem]) -> dict[str, Any]:
    """One task's problems: ``{"programs": [...], "rows": {row id: [turn, ...]}}``, each turn's
    ``program`` the index of its text in ``programs``."""
    programs: list[str] = []
    seen: dict[str, int] = {}
    rows: dict[str, list[dict[str, Any]]] = {}
    for problem in problems:
        turns = []
        for turn in problem.turns:
            data = turn.to_json()
            if "program" in data:
                data["program"] = seen.setdefault(data["program"], len(programs))
                if data["program"] == len(programs):
                    programs.append(turn.program or "")
            turns.append(data)
        rows[problem.row_id] = turns
    return {"programs": programs, "rows": rows}


def embed(problems: Sequence[Problem]) -> tuple[list[list[Any]], list[str]]:
    """The table's index rows (``COLUMNS``) and the packed turns, a blob per task."""
    by_task: dict[tuple[str, str], list[Problem]] = {}
    for problem in problems:
        by_task.setdefault((problem.suite, problem.task_id), []).append(problem)
    blob_of = {task: i for i, task in enumerate(by_task)}
    blobs = [pack(task_payload(group)) for group in by_task.values()]
    rows = [
        [
            p.row_id,
            p.suite,
            p.task_id,
            p.setting or p.variant or "",
            p.sample,
            p.status,
            p.label,
            len(p.turns),
            p.flip or "",
            blob_of[p.suite, p.task_id],
        ]
        for p in problems
    ]
    return rows, blobs
