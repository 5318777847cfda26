"""HumanEval+ runs of replayed samples, some right and some wrong: what the summary and the
run-bookkeeping tests run (``import replayed``: pytest puts this folder on the path)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_convcode import datasets

ROOT = Path(__file__).resolve().parents[1]
HUMANEVAL = datasets.load("humaneval")
TASKS = ["HumanEval/0", "HumanEval/2", "HumanEval/4", "HumanEval/7"]


def sample(task_id: str, right: bool) -> dict[str, str]:
    task = HUMANEVAL.tasks[task_id]
    if right:
        return {"task_id": task_id, "completion": task.canonical_solution}
    return {"task_id": task_id, "solution": f"def {task.entry_point}(*args):\n    return 'wrong'\n"}


def humaneval_suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(test_humaneval=(ROOT / "suites/humaneval/test_humaneval.py").read_text())
    return pytester


def run(pytester: pytest.Pytester, run_id: str, wrong: set[str], *args: str) -> pytest.RunResult:
    """The TASKS replayed, those in ``wrong`` wrong, as run ``run_id``."""
    samples = pytester.path / f"samples-{run_id}-{len(wrong)}.jsonl"
    samples.write_text("".join(json.dumps(sample(t, t not in wrong)) + "\n" for t in TASKS))
    return pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--run-id", run_id, "--model", f"replay:{samples}", "--tasks", ",".join(TASKS), *args
    )
