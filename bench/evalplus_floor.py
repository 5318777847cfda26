"""The floor of judging a samples file: its canonical solutions' own CPU over every input.

One plain process, no isolation, no limits, no comparison: each task's reference program is
loaded once, then called on each of its base and plus inputs (a fresh copy of each, as a
candidate gets them), and the CPU seconds of the calls are summed. No evaluator of these
samples can do less work; ``evalplus_compare.py`` prints ours / floor beside ours / EvalPlus.
Divided by the workers it is the wall-clock floor on a machine with that many idle cores.

    .venv/bin/python bench/evalplus_floor.py [--suite humaneval] [--dataset-version 0.1.10]
"""

from __future__ import annotations

import argparse
import json
import pickle
import subprocess
import sys
import time

# Run in a fresh interpreter, so that nothing of the bench's own imports is warm: reads the
# tasks pickled on stdin (program, entry point, inputs by phase), prints the CPU seconds.
CHILD = """
import copy, json, pickle, sys, time
total = {"base": 0.0, "plus": 0.0}
for task in pickle.load(sys.stdin.buffer):
    space = {}
    exec(compile(task["program"], task["task_id"], "exec"), space)
    function = space[task["entry_point"]]
    for phase, inputs in task["inputs"].items():
        for args in inputs:
            args = copy.deepcopy(args)
            started = time.process_time()
            try:
                function(*args)
            except Exception:
                pass
            total[phase] += time.process_time() - started
print(json.dumps(total))
"""


def tasks(suite: str, version: str | None) -> bytes:
    """The tasks as the child reads them: the data set's decoded inputs, pickled."""
    from pytest_convcode import datasets

    records = [
        {
            "task_id": task.task_id,
            "program": task.program(task.canonical_solution),
            "entry_point": task.entry_point,
            "inputs": {phase: list(calls) for phase, calls in task.tests.items()},
        }
        for task in datasets.load(suite, version).tasks.values()
    ]
    return pickle.dumps(records)


def measure(suite: str = "humaneval", version: str | None = None, python: str = sys.executable) -> dict[str, float]:
    """CPU seconds of the canonical solutions' calls, by phase, and ``total``."""
    done = subprocess.run([python, "-c", CHILD], input=tasks(suite, version), capture_output=True)
    if done.returncode:
        raise RuntimeError(f"the floor's process failed:\n{done.stderr.decode()[-2000:]}")
    seconds: dict[str, float] = json.loads(done.stdout)
    seconds["total"] = sum(seconds.values())
    return seconds


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--suite", default="humaneval", choices=["humaneval", "mbpp"])
    p.add_argument("--dataset-version")
    a = p.parse_args()
    started = time.perf_counter()
    seconds = measure(a.suite, a.dataset_version)
    took = time.perf_counter() - started
    print(
        f"{a.suite} {a.dataset_version or '(default)'}: canonical solutions' calls {seconds['total']:.2f} CPU s "
        f"(base {seconds['base']:.2f}, plus {seconds['plus']:.2f}); the bench took {took:.1f} s"
    )


if __name__ == "__main__":
    main()
