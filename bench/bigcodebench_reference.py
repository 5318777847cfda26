"""Run BigCodeBench's reference solutions through the process sandbox, and list what fails.

A reference solution that fails says something about the environment (a missing
library, no network, a missing program), not about a model: this is the ceiling
any model's score is measured against on this machine.

    .venv/bin/python bench/bigcodebench_reference.py                      # stdlib-only tasks
    .venv/bin/python -m pytest_convcode.env bigcodebench    # the evaluation environment, once
    BCB=~/.cache/pytest-convcode/envs/bigcodebench/bin/python  # where it made it
    .venv/bin/python bench/bigcodebench_reference.py --all --python $BCB
    .venv/bin/python bench/bigcodebench_reference.py --task BigCodeBench/13 --task BigCodeBench/176

The sandbox's warm worker preloads the heavy libraries most tasks import (``--preload``;
those the interpreter lacks are skipped), so that each job does not pay ~2 s for them.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from pytest_convcode import datasets
from pytest_convcode.datasets.bigcodebench import PRELOAD as HEAVY_LIBRARIES
from pytest_convcode.datasets.bigcodebench import job_for, stdlib_only
from pytest_convcode.sandbox import SuiteResult
from pytest_convcode.sandbox.process import ProcessSandbox
from pytest_convcode.tasks import UnitTask

PRELOAD = " ".join(HEAVY_LIBRARIES)


def first_failure(result: SuiteResult) -> str:
    """One line that says why a suite did not pass."""
    if result.load_error is not None:
        return "load: " + _last_line(result.load_error)
    for outcome in result.failures:
        return f"{outcome.name} {outcome.status}: {_last_line(outcome.detail)}"
    return f"incomplete: the process {result.how_it_ended}"


def _last_line(text: str) -> str:
    """The last line that says something (nltk ends its errors with a row of stars)."""
    lines = [line.strip() for line in text.splitlines() if any(c.isalnum() for c in line)]
    return lines[-1][:200] if lines else ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--python", default=sys.executable, help="the interpreter that runs the candidates")
    parser.add_argument("--all", action="store_true", help="every task, not only the stdlib-only ones")
    parser.add_argument("--task", action="append", default=[], help="only this task (repeatable)")
    parser.add_argument("--threads", type=int, default=2, help="jobs in flight at once")
    parser.add_argument("--cpu", type=float, default=60.0, help="CPU seconds per task")
    parser.add_argument("--wall", type=float, default=121.0, help="wall-clock seconds per task")
    parser.add_argument("--out", type=Path, help="write one JSON line per task here")
    parser.add_argument("--preload", default=PRELOAD, help=f"modules the worker imports once (default: {PRELOAD})")
    args = parser.parse_args()

    dataset = datasets.load_unit("bigcodebench")
    if args.task:
        tasks = [dataset.tasks[task_id] for task_id in args.task]
    else:
        tasks = [t for t in dataset.tasks.values() if args.all or stdlib_only(t)]
    sandbox = ProcessSandbox(python=args.python, preload=args.preload.split())
    for warning in sandbox.warnings():
        print(f"warning: {warning}", file=sys.stderr)

    def run(task: UnitTask) -> tuple[UnitTask, SuiteResult, float]:
        start = time.monotonic()
        result = sandbox.run_tests(job_for(task, task.reference_program, cpu_budget=args.cpu, wall_budget=args.wall))
        return task, result, time.monotonic() - start

    start = time.monotonic()
    failed: dict[str, str] = {}
    out = args.out.open("w") if args.out else None
    try:
        with ThreadPoolExecutor(args.threads) as pool:
            futures = [pool.submit(run, task) for task in tasks]
            for done, future in enumerate(as_completed(futures), 1):
                task, result, seconds = future.result()
                if not result.passed:
                    failed[task.task_id] = first_failure(result)
                    print(f"[{done}/{len(tasks)}] FAIL {task.task_id} ({seconds:.1f} s): {failed[task.task_id]}")
                if out is not None:
                    record = {
                        "task_id": task.task_id,
                        "passed": result.passed,
                        "seconds": round(seconds, 3),
                        "cpu": result.cpu,
                        "ended": result.how_it_ended,
                        "load_error": result.load_error,
                        "outcomes": [[o.name, o.status, o.detail] for o in result.outcomes],
                        "output": result.output[-2000:],
                    }
                    out.write(json.dumps(record) + "\n")
                    out.flush()
    finally:
        sandbox.close()
        if out is not None:
            out.close()
    elapsed = time.monotonic() - start
    passed = len(tasks) - len(failed)
    print(f"\n{passed}/{len(tasks)} reference solutions pass ({args.python}, {elapsed:.0f} s, {args.threads} threads)")
    for task_id in sorted(failed, key=lambda t: int(t.rsplit("/", 1)[1])):
        print(f"  {task_id}: {failed[task_id]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
