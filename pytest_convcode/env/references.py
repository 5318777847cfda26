"""How each BigCodeBench task's reference solution does in one environment: whether it passes its
tests there (and why not), and which tests it skips.

A run asks only when a program fails: is it the program, or a task this machine cannot run (the
network, a data file a library downloads)? It keeps the answer in its own cache. ``python -m
pytest_convcode.env bigcodebench`` asks for every task once, when it makes the environment, and
keeps the answers in the machine's cache, per data file and interpreter, as BigCodeBench keeps its
ground truth: then no run of that environment pays for a reference again.
"""

from __future__ import annotations

import json
import os
import queue
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from ..datasets import reference_costs
from ..datasets.bigcodebench import CPU_BUDGET, PRELOAD, WALL_BUDGET, job_for
from ..machine_cache import cache_home, computed_dir
from ..sandbox import SuiteResult
from ..sandbox.process import ProcessSandbox
from ..tasks import UnitDataset, UnitTask
from .build import StatusLine

EXPLANATION_LINES = 12  # of the first failure's traceback, in an item's failure message


@dataclass(frozen=True)
class Reference:
    """``failure``: why the reference fails its tests here ("" when it passes them);
    ``skipped``: the tests it skips here (left out for every program)."""

    failure: str
    skipped: frozenset[str]


def verdict(result: SuiteResult) -> Reference:
    """The verdict of the reference's run."""
    skipped = frozenset(o.name for o in result.outcomes if o.status == "skipped")
    return Reference(explain(replace(result, outcomes=[o for o in result.outcomes if o.status != "skipped"])), skipped)


def explain(result: SuiteResult) -> str:
    """Why a program fails its tests, in a few lines ("" when it passes)."""
    if result.passed:
        return ""
    if result.load_error is not None:
        return "the program did not load:\n" + _tail(result.load_error)
    failures = result.failures
    if not failures:
        return f"the tests did not finish: {result.how_it_ended}"
    first = failures[0]
    return f"{len(failures)} of {len(result.outcomes)} tests did not pass; first, {first.name} ({first.status}):\n" + (
        _tail(first.detail)
    )


def _tail(text: str) -> str:
    return "\n".join(text.rstrip().splitlines()[-EXPLANATION_LINES:])


# -- where they are kept


def file_name(task_id: str, wall_budget: float) -> str:
    """A budget other than ConvCodeWorld's is in the name: what fails in 121 s may pass in 241 s."""
    budget = "" if wall_budget == WALL_BUDGET else f"-{wall_budget:g}s"
    return f"{task_id.replace('/', '_')}.reference{budget}.json"


def machine_dir(dataset: UnitDataset, python: str) -> Path:
    """Where the environment check keeps a data file's verdicts for one interpreter."""
    return computed_dir(cache_home() / "references", dataset.suite, dataset.version, dataset.digest, python)


def read(path: Path) -> Reference | None:
    try:
        stored = json.loads(path.read_text())
        return Reference(stored["failure"], frozenset(stored["skipped"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write(path: Path, reference: Reference) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(json.dumps({"failure": reference.failure, "skipped": sorted(reference.skipped)}))
    os.replace(tmp, path)  # processes may race: either write is right


# -- the environment check


def check_all(
    dataset: UnitDataset, python: str, budget: float, workers: int, status: StatusLine
) -> tuple[Path, dict[str, str]]:
    """Every task's reference, in ``workers`` sandboxes at once, the longest first (so that none
    is left to run alone at the end), each verdict kept as it comes: where, and the failures.
    A run that ended within half of ConvCodeWorld's budget (121 s, 60 CPU s) would have ended
    the same way under it: its verdict is kept for that budget too.
    A sandbox that cannot start raises (an ``InfrastructureError``), once the others stopped."""
    where = machine_dir(dataset, python)
    where.mkdir(parents=True, exist_ok=True)
    costs = reference_costs(dataset.digest)
    tasks = sorted(dataset.tasks.values(), key=lambda t: -costs.get(t.task_id, 0.0))
    todo: queue.SimpleQueue[UnitTask] = queue.SimpleQueue()
    for task in tasks:
        todo.put(task)
    failures: dict[str, str] = {}
    done = 0
    lock = threading.Lock()

    def work() -> None:
        nonlocal done
        sandbox = ProcessSandbox(python, preload=PRELOAD)
        try:
            while (task := _next(todo)) is not None:
                result = sandbox.run_tests(job_for(task, task.reference_program, cpu_budget=budget, wall_budget=budget))
                reference = verdict(result)
                write(where / file_name(task.task_id, budget), reference)
                if result.wall <= WALL_BUDGET / 2 and result.cpu <= CPU_BUDGET / 2:  # ended far from either
                    write(where / file_name(task.task_id, WALL_BUDGET), reference)  # ConvCodeWorld's too
                with lock:
                    if reference.failure:
                        failures[task.task_id] = reference.failure
                    done += 1
                    status.show("running the reference solutions", f"{done} of {len(tasks)}, {len(failures)} fail")
        except BaseException:
            while _next(todo) is not None:  # the others stop too
                pass
            raise
        finally:
            sandbox.close()

    workers = max(1, workers)
    with ThreadPoolExecutor(workers) as pool:
        for running in [pool.submit(work) for _ in range(workers)]:
            running.result()
    return where, failures


def _next(todo: queue.SimpleQueue[UnitTask]) -> UnitTask | None:
    try:
        return todo.get_nowait()
    except queue.Empty:
        return None
