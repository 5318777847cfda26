"""Mining a repository's tasks: each method with a docstring and a body of 3 to 60 lines, whose
tests (the passing ones that run it, at most 20, fastest first) pass with its ground truth in the
sandbox and fail when its code is replaced by ``raise NotImplementedError``. For program repair,
the first of its mutations (in an order drawn from its task id) that those tests catch.

The miner's own runs (the stub, the mutants) are trusted code: they run directly, in working
copies of the tree, one per worker. The ground truth's run is the check a task ships with, so it
runs as the suite will run it: ``run_tests`` in the sandbox; its time is the task's reference time.
"""

from __future__ import annotations

import queue
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..repos.environment import RepoEnvironment
from ..repos.mutations import mutations, ordered
from ..repos.runner import TestRun, run_direct, run_tests
from ..repos.testoutput import failure_report
from ..sandbox import Sandbox
from .covering import trace
from .methods import Method, methods_of, packages, record_fields, source_files, stubbed

MIN_BODY, MAX_BODY = 3, 60  # the body's lines, its docstring left out
MUTANTS_TRIED = 4  # a method's mutations tried before it goes without a repair task
TIME_FACTOR, MIN_SECONDS = 10.0, 30.0  # a stub's or mutant's run may take this much longer than the reference's
REPORT_CHARS = 20_000  # of a mutant's failure report (the seed's feedback keeps as much)

STAGES = (
    "methods (module functions and methods of module classes)",
    "with a docstring",
    f"with a body of {MIN_BODY} to {MAX_BODY} lines",
    "run by a passing test",
    "whose tests pass in the sandbox",
    "whose tests fail on the stub",
)


@dataclass
class Checked:
    """How far a method got through the stages, and its task once it passed them all."""

    stage: int  # the index in STAGES of the last stage it passed
    record: dict[str, Any] | None = None


def candidates(tree: Path) -> tuple[dict[str, str], list[Method], list[int]]:
    """The source files' texts, the methods that pass the cheap stages, and how many passed each."""
    texts = {name: (tree / name).read_text() for name in source_files(tree)}
    counts = [0, 0, 0]
    kept = []
    for name, text in texts.items():
        lines = text.splitlines()
        for method in methods_of(name, text):
            counts[0] += 1
            if method.description:
                counts[1] += 1
                if MIN_BODY <= method.code_lines(lines) <= MAX_BODY:
                    counts[2] += 1
                    kept.append(method)
    return texts, sorted(kept, key=lambda m: m.task_id), counts


@contextmanager
def working_copies(tree: Path, count: int) -> Iterator[queue.Queue[Path]]:
    """``count`` copies of the tree for the miner's direct runs, one per worker at a time."""
    with tempfile.TemporaryDirectory(prefix="convcode-mine-") as scratch:
        copies: queue.Queue[Path] = queue.Queue()
        for index in range(count):
            copies.put(Path(shutil.copytree(tree, Path(scratch) / f"copy-{index}", symlinks=True)))
        yield copies


def run_edited(
    env: RepoEnvironment, copy: Path, file_path: str, content: str, labels: Sequence[str], timeout: float
) -> TestRun:
    """The tests on the working copy with one file replaced, put back afterwards."""
    target = copy / file_path
    original = target.read_text()
    target.write_text(content)
    try:
        return run_direct(env, copy, labels, timeout)
    finally:
        target.write_text(original)


def check(
    sandbox: Sandbox, env: RepoEnvironment, copies: queue.Queue[Path], method: Method, text: str, labels: list[str]
) -> Checked:
    """The method's last stages, and its task record when it passes them."""
    reference = run_tests(sandbox, env, method.file_path, text, labels)
    if not reference.passed:
        return Checked(3)
    timeout = max(MIN_SECONDS, TIME_FACTOR * reference.seconds)
    lines = text.splitlines()
    copy = copies.get()
    try:
        if run_edited(env, copy, method.file_path, stubbed(method, lines), labels, timeout).passed:
            return Checked(4)
        repair = {"file_with_buggy_method": "", "buggy_method": "", "mutation": "", "test_error_message": ""}
        for mutation in ordered(mutations(text, method.node), method.task_id)[:MUTANTS_TRIED]:
            buggy = mutation.apply(text)
            run = run_edited(env, copy, method.file_path, buggy, labels, timeout)
            if not run.crashed and run.failures + run.errors > 0:
                report = failure_report(env.runner, run.output).replace(f"{copy}/", "")
                buggy_lines = buggy.splitlines()[method.declaration[0] : method.body[1] + 1]
                repair = {
                    "file_with_buggy_method": buggy,
                    "buggy_method": "\n".join(buggy_lines),
                    "mutation": mutation.description,
                    "test_error_message": report[:REPORT_CHARS],
                }
                break
    finally:
        copies.put(copy)
    fields = record_fields(method, text)
    tests = {"full_paths": labels, "time_test_norm": round(reference.seconds, 2)}
    return Checked(5, {**fields, "repo": env.spec, "tests": tests, **repair})


def mine(
    env: RepoEnvironment,
    sandbox: Sandbox,
    labels: Sequence[str],
    jobs: int,
    limit: int | None,
    say: Callable[[str], None],
) -> tuple[list[dict[str, Any]], list[int], int]:
    """The tasks (sorted by task id, at most ``limit``), how many methods passed each stage, and
    how many went through the last stages (fewer than ran by a passing test when ``limit`` stopped them)."""
    texts, methods, counts = candidates(env.tree)
    say(f"{counts[0]} methods in {len(texts)} files, {counts[2]} with a docstring and a body of the size tasks have")
    with working_copies(env.tree, jobs) as copies:
        say(f"running {' '.join(labels) or 'all the tests'} under coverage (each test in a context of its own)")
        copy = copies.get()
        traced = trace(env, copy, packages(env.tree), labels, methods)
        copies.put(copy)
        passing = sum(outcome == "passed" for outcome, _ in traced.tests.values())
        say(f"{len(traced.tests)} tests ran, {passing} passed")
        covered = [m for m in methods if traced.covering.get(m.task_id)]
        stages = [*counts, len(covered), 0, 0]
        records: list[dict[str, Any]] = []
        checked = 0
        with ThreadPoolExecutor(jobs) as pool:
            for start in range(0, len(covered), 4 * jobs):  # in batches, so that --limit stops early
                batch = covered[start : start + 4 * jobs]
                for result in pool.map(
                    lambda m: check(sandbox, env, copies, m, texts[m.file_path], traced.covering[m.task_id]), batch
                ):
                    stages[4] += result.stage >= 4
                    stages[5] += result.stage >= 5
                    if result.record:
                        records.append(result.record)
                checked += len(batch)
                say(f"checked {checked} of {len(covered)} methods: {len(records)} tasks")
                if limit is not None and len(records) >= limit:
                    break
    return records[:limit], stages, checked
