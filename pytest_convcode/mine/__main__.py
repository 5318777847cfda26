"""``python -m pytest_convcode.mine django==4.0.4 --out tasks/django-4.0.4.jsonl``: mine a
repository's tasks (method generation, completion, program repair) from its methods and its own
tests, into the JSONL file the repository-task suite reads. The repository's environment must
have been made (``python -m pytest_convcode.env repo SPEC``).

Exit status: 0 when tasks were written, 1 when none passed the stages, 2 on a usage error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from ..errors import UsageError
from ..repos.environment import find_environment
from ..sandbox import backend
from .mining import STAGES, mine

# Django's whole suite under coverage takes more than 20 minutes on two cores; these apps' tests take
# 39 s and run 605 methods: 603 tasks in 41 minutes at --jobs 2 (bench/README.md has the figures).
DJANGO_TESTS = ("utils_tests", "template_tests", "forms_tests")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pytest_convcode.mine",
        description="Mine repository tasks from a repository's methods and its own tests.",
    )
    parser.add_argument("spec", help="the repository: a PyPI sdist pinned to a version (django==4.0.4) or a checkout")
    parser.add_argument("--out", type=Path, required=True, help="the JSONL file to write the tasks to")
    parser.add_argument("--tests", nargs="+", metavar="LABEL", help="the test labels to mine with "
                        f"(default: Django's {' '.join(DJANGO_TESTS)}; another repository's whole suite)")  # fmt: skip
    parser.add_argument("--limit", type=int, help="stop after this many tasks (the first by task id)")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="methods checked at once")
    args = parser.parse_args(argv)
    if (args.limit is not None and args.limit < 1) or args.jobs < 1:
        parser.exit(2, "error: --limit and --jobs take a number of at least 1\n")
    try:
        env = find_environment(args.spec)
    except UsageError as exc:
        parser.exit(2, f"error: {exc}\n")
    django = all((env.tree / "tests" / label).is_dir() for label in DJANGO_TESTS)
    labels = args.tests or (list(DJANGO_TESTS) if django else [])
    start = time.monotonic()

    def say(line: str) -> None:
        seconds = int(time.monotonic() - start)
        print(f"[{seconds // 60}:{seconds % 60:02d}] {line}", flush=True)

    sandbox = backend("process")()
    try:
        records, stages, checked = mine(env, sandbox, labels, args.jobs, args.limit, say)
    finally:
        sandbox.close()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w") as out:
        for record in sorted(records, key=lambda r: r["task_id"]):
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    print(funnel(stages, checked, sum(1 for r in records if r["buggy_method"]), len(records)))
    print(f"wrote {len(records)} tasks to {args.out} in {time.monotonic() - start:.0f} s")
    return 0 if records else 1


def funnel(stages: list[int], checked: int, repairs: int, written: int) -> str:
    """The methods that passed each stage, and their share of the stage before (of those checked,
    where --limit stopped the checking early)."""
    lines = []
    for index, (name, count) in enumerate(zip(STAGES, stages, strict=True)):
        before = checked if index == 4 else stages[index - 1]
        share = f" ({count / before:.0%} of the stage before)" if index and before else ""
        lines.append(f"  {count:6d} {name}{share}")
        if index == 3 and checked < count:
            lines.append(f"  {checked:6d} of them checked: --limit {written} was reached")
    lines.append(f"  {repairs:6d} of {written} tasks with a mutation their tests catch (program repair)")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
