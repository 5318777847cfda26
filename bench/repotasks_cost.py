"""What a repository task's test run costs through ``run_tests`` (the job's copy-on-write view of the
tree, the sandbox, the runner's start, the tests), against running the same tests directly in the
unpacked tree (a plain subprocess, no copy).

Takes ``--count`` tasks spread evenly over a task file (without one: Django's utils_tests.test_text, the
file django/utils/text.py as it is), runs each task's tests with its ground truth both ways, in
turn, ``--rounds`` times, and prints each task's median wall seconds both ways and their ratio,
then the ratio of the totals. The repository's environment must have been made
(``python -m pytest_convcode.env repo SPEC``).

    .venv/bin/python bench/repotasks_cost.py                                   # Django 4.0.4, one module
    .venv/bin/python bench/repotasks_cost.py --tasks tasks/django-4.0.4.jsonl --count 20
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from pytest_convcode.repos.environment import find_environment
from pytest_convcode.repos.runner import run_direct, run_tests
from pytest_convcode.sandbox import backend

DEFAULT = ("django/utils/text.py", ["utils_tests.test_text"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", default="django==4.0.4", help="the repository whose environment runs the tests")
    parser.add_argument("--tasks", type=Path, help="a task file: its tasks' files and tests")
    parser.add_argument("--count", type=int, default=10, help="how many of the task file's tasks to run")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each task each way")
    args = parser.parse_args()
    env = find_environment(args.repo)
    if args.tasks:
        lines = args.tasks.read_text().splitlines()
        records = [json.loads(line) for line in lines[:: max(1, len(lines) // args.count)][: args.count]]
        tasks = [(r["task_id"], r["file_path"], r["tests"]["full_paths"]) for r in records]
    else:
        tasks = [(" ".join(DEFAULT[1]), *DEFAULT)]
    sandbox = backend("process")()
    totals = [0.0, 0.0]
    print(f"{'direct s':>9} {'sandbox s':>9} {'ratio':>6}  task ({args.rounds} rounds each, medians)")
    try:
        for task_id, file_path, labels in tasks:
            content = (env.tree / file_path).read_text()
            direct, boxed = [], []
            for _ in range(args.rounds):
                start = time.perf_counter()
                plain = run_direct(env, env.tree, labels, 600.0)
                middle = time.perf_counter()
                job = run_tests(sandbox, env, file_path, content, labels)
                direct.append(middle - start)
                boxed.append(time.perf_counter() - middle)  # the job's setting up and clearing away too
                if not (plain.passed and job.passed):
                    raise SystemExit(f"{task_id}: its ground truth failed: {(plain.output + job.output)[-800:]}")
            medians = statistics.median(direct), statistics.median(boxed)
            totals = [totals[0] + medians[0], totals[1] + medians[1]]
            print(f"{medians[0]:9.2f} {medians[1]:9.2f} {medians[1] / medians[0]:6.2f}  {task_id}")
    finally:
        sandbox.close()
    print(f"{totals[0]:9.2f} {totals[1]:9.2f} {totals[1] / totals[0]:6.2f}  all {len(tasks)} tasks")


if __name__ == "__main__":
    main()
