"""BigCodeBench's own file formats (bigcode-project/bigcodebench), so that its samples run here and
its tools read our runs: what a samples file's name says of it, its sanitize and calibrate steps,
and its evaluator's ``_eval_results.json``.

Its codegen writes ``<model>--bigcodebench-<split>--<backend>-<temperature>-<n>...jsonl`` (lines of
``task_id``, ``solution`` and ``raw_solution``). Its evaluator tests ``solution`` as it is: the
sanitizing is a step of its own whose output is named ``...-sanitized.jsonl``
(``-sanitized-calibrated.jsonl`` with ``--calibrate``; codegen since 0.2 sanitizes as it writes,
``-sanitized_calibrated.jsonl``). Calibrating puts the task's ``code_prompt`` and ``pass`` before
the solution, so that the prompt's imports are there; its 0.1 evaluator decided it from
``sanitized-calibrate`` in the file's name, and since 0.2 it calibrates every file unless told not
to (``--calibrated False``): so does this harness (``--no-calibrate``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from ..extract.chat import from_chat
from ..tasks import UnitTask

PASS, FAIL = "pass", "fail"  # its statuses (and "timeout": here a test that did not finish fails)


def sanitized(path: Path) -> bool:
    """Whether the samples need no sanitizing: a file not in BigCodeBench's naming (ours, EvalPlus's)
    holds programs; one in it says so in its name."""
    return "--bigcodebench-" not in path.name or "-sanitized" in path.name


def sanitize(solution: str, entry_point: str) -> str:
    """What BigCodeBench's sanitize step keeps of a solution: the code of the entry point and what
    it needs, out of a reply's code blocks where there are some (this harness's own extraction)."""
    return from_chat(solution, entry_point).code


def calibrate(task: UnitTask, program: str) -> str:
    """The program as BigCodeBench's evaluator calibrates it: after the code prompt, its function
    given a body of ``pass`` (which the program's own definition replaces)."""
    return task.code_prompt + "\n    pass\n" + program


def eval_results(records: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """``<samples>_eval_results.json`` of BigCodeBench's evaluator, from unittest records: each
    task's samples in order, the program that ran, ``pass`` or ``fail``, and each test that did not
    pass with its message (``details``)."""
    by_task: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in sorted(records, key=lambda r: (r["task_id"], r["sample"])):
        by_task[record["task_id"]].append(
            {
                "task_id": record["task_id"],
                "solution": record["program"],
                "status": PASS if record["outcome"] == "passed" else FAIL,
                "details": record.get("details", {}),
            }
        )
    return {"date": datetime.now().strftime("%Y-%m-%d %H:%M"), "eval": dict(by_task)}
