"""BigCodeBench (v0.1.0_hf, the release ConvCodeWorld uses): tasks tested by unittest modules.

Each record holds the prompts, the reference solution (a continuation of
``complete_prompt``) and a test module defining ``TestCases``. ``libs`` is stored
as the text of a Python list; it names the modules the task's authors listed,
which misses some that only the tests import (see ``stdlib_only``).
"""

from __future__ import annotations

import ast
import hashlib
import sys
import warnings
from pathlib import Path
from typing import Any

from ..sandbox import Limits, TestJob
from ..tasks import UnitDataset, UnitTask
from . import hub
from .files import DATA_DIR, DatasetError, collect_tasks, read_tasks, require
from .registry import DATASETS, DatasetEntry

FILES = {"0.1.0_hf": "BigCodeBench-v0.1.0_hf.jsonl.gz"}  # version -> bundled file; the first is the default
HARD_IDS = "BigCodeBench-Hard-v0.1.0_hf-ids.txt"  # BigCodeBench-Hard: 148 of its tasks (data/README.md)
CPU_BUDGET = 60.0
WALL_BUDGET = 121.0  # ConvCodeWorld's per-task wall-clock budget (BigCodeBench 0.1's evaluator: 120 s + 1)
# BigCodeBench 0.2's evaluator (its leaderboard's) gives a task 240 s + 1 of wall clock, and no CPU
# limit: as a CPU budget too, a program that finishes there in time finishes here.
LEADERBOARD_BUDGET = 241.0
# What most tasks import and each job would otherwise load again (~2 s): the sandbox's warm
# worker imports these once, where they are installed.
PRELOAD = ("pandas", "matplotlib.pyplot", "scipy.stats", "sklearn", "seaborn")


def load(version: str | None, path: Path | None) -> UnitDataset:
    version = (version or next(iter(FILES))).removeprefix("v")
    if path is None:
        if version not in FILES:
            raise DatasetError(f"BigCodeBench has no bundled version {version!r}; bundled: {', '.join(FILES)}")
        path = DATA_DIR / FILES[version]
    tasks = read_tasks(path, _task)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return UnitDataset("BigCodeBench", "bigcodebench", version, str(path), digest, tasks)


def load_hub(text: str) -> UnitDataset:
    """``--dataset hf:NAME@VERSION``: any version BigCodeBench published, through ``datasets`` (hub.py)."""
    read = hub.load_rows(hub.parse_spec(text))
    records = ((f"{text} row {index}", row) for index, row in enumerate(read.rows))
    tasks = collect_tasks(records, _task, text)
    return UnitDataset("BigCodeBench", "bigcodebench", read.spec.version, text, read.digest, tasks)


DATASETS.register("bigcodebench")(
    DatasetEntry("unittest", lambda source: load_hub(source.hub) if source.hub else load(source.version, source.path))
)


def _task(record: dict[str, Any], where: str) -> UnitTask:
    text = {
        name: require(record, name, str, where)
        for name in (
            "task_id",
            "instruct_prompt",
            "complete_prompt",
            "code_prompt",
            "canonical_solution",
            "test",
            "entry_point",
        )
    }
    return UnitTask(**text, libs=_libs(require(record, "libs", (str, list), where), where))


def _libs(value: str | list[Any], where: str) -> tuple[str, ...]:
    """``libs`` as the release writes it ("['random', 'itertools']"), or as a JSON list."""
    if isinstance(value, str):
        try:
            value = ast.literal_eval(value)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            raise DatasetError(f"{where}: field 'libs' must be a list of module names, got {value[:80]!r}") from None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise DatasetError(f"{where}: field 'libs' must be a list of module names")
    return tuple(value)


def imported_modules(source: str) -> set[str]:
    """Top-level names of the modules a source imports (absolute imports only);
    empty when it does not parse."""
    try:
        with warnings.catch_warnings():  # invalid escapes in the tasks' regexes
            warnings.simplefilter("ignore")
            tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return set()
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.partition(".")[0])
    return found


def hard_ids() -> frozenset[str]:
    """The task ids of BigCodeBench-Hard (``--subset hard``)."""
    return frozenset((DATA_DIR / HARD_IDS).read_text().split())


def stdlib_only(task: UnitTask) -> bool:
    """The task needs nothing outside the standard library: neither its ``libs`` nor any
    module its prompt, reference solution or tests import. (``libs`` alone says 327
    tasks; the tests' own imports, such as faker or requests_mock, leave 300.)"""
    if not set(task.libs) <= sys.stdlib_module_names:
        return False  # most tasks: no need to parse them
    return imported_modules(task.reference_program + "\n" + task.test) <= sys.stdlib_module_names


def job_for(
    task: UnitTask,
    program: str,
    test_names: tuple[str, ...] | None = None,
    cpu_budget: float = CPU_BUDGET,
    wall_budget: float = WALL_BUDGET,
    limits: Limits | None = None,
) -> TestJob:
    """The sandbox job that runs ``task``'s tests (all, or ``test_names``) on a whole program
    (for a continuation of the prompt, pass ``task.program(completion)``)."""
    return TestJob(
        program=program,
        test_code=task.test,
        test_names=test_names,
        cpu_budget=cpu_budget,
        wall_budget=wall_budget,
        limits=limits or Limits(),
    )
