"""Which of a repository's tests run each method: its tests, run once under coverage.py by
``tracer.py`` in the repository's environment, each in a coverage context of its own."""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..repos.environment import RepoEnvironment
from ..repos.runner import trusted_environ
from .methods import Method

TRACER = Path(__file__).with_name("tracer.py")
MAX_TESTS = 20  # a task's tests, as the seed runs them (max_num_tests)
TRACE_HOURS = 6.0  # the whole suite under coverage: a backstop, not a limit that should bite


@dataclass(frozen=True)
class Traced:
    tests: dict[str, tuple[str, float]]  # label -> its outcome ("passed", "failed", ...) and seconds
    covering: dict[str, list[str]]  # task id -> the passing tests that ran its code, fastest first, at most 20


def time_class(seconds: float) -> int:
    """Tests are ordered by decade of run time (under 0.1 s, under 1 s, ...), then by name: a
    test's time moves by tens of percent between runs, and its order should not."""
    return sum(seconds >= limit for limit in (0.1, 1.0, 10.0, 100.0))


def trace(
    env: RepoEnvironment, copy: Path, packages: Sequence[str], labels: Sequence[str], methods: list[Method]
) -> Traced:
    """Run ``labels`` (all the tests where empty) under coverage on ``copy``, the tree's copy, and
    map each method's code (its docstring left out) to the passing tests that ran it."""
    spans: dict[str, list[list[int]]] = {}
    for method in methods:
        spans.setdefault(method.file_path, []).append(list(method.code))
    request = {"runner": env.runner, "labels": list(labels), "source": list(packages), "spans": spans}
    with tempfile.TemporaryDirectory(prefix="convcode-trace-") as scratch:
        asked, answer, log = (Path(scratch) / name for name in ("request.json", "answer.json", "output.txt"))
        asked.write_text(json.dumps(request))
        with log.open("wb") as output:
            done = subprocess.run(
                [str(env.python), str(TRACER), str(asked), str(answer)],
                cwd=copy,
                env=trusted_environ(),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                timeout=TRACE_HOURS * 3600,
                check=False,
            )
        if done.returncode != 0 or not answer.is_file():
            tail = log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"the coverage run failed (exit status {done.returncode}):\n{tail}")
        found = json.loads(answer.read_text())
    tests = {label: (outcome, seconds) for label, (outcome, seconds) in found["tests"].items()}
    covering = {}
    for file_path, methods_covered in found["covered"].items():
        of_file = [m for m in methods if m.file_path == file_path]
        for method, labels_covering in zip(of_file, methods_covered, strict=True):
            passing = [label for label in labels_covering if tests[label][0] == "passed"]
            passing.sort(key=lambda label: (time_class(tests[label][1]), label))
            covering[method.task_id] = passing[:MAX_TESTS]
    return Traced(tests, covering)
