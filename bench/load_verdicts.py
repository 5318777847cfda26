#!/usr/bin/env python3
"""Verdicts that do not depend on load: the same samples judged on a quiet machine and under two
CPU hogs must get the same verdicts, task by task.

    .venv/bin/python bench/load_verdicts.py                    # StarCoder2's HumanEval+ and MBPP+ samples
    .venv/bin/python bench/load_verdicts.py --suite mbpp --rounds 1

For each suite, ``--rounds`` rounds (default 3) of one quiet run and one loaded run (two processes
spinning on the CPU, one per core of a two-core machine, for as long as the run lasts), each
``pytest suites/<suite> --model replay:<samples> -n 2`` from the project root. The ground truth
is cached in folders of the bench's own: round 1 makes one cache quietly and one under load (cold
runs); the later rounds use them crosswise (warm runs), so that candidates under load meet the
limits measured quietly and the other way round. It prints each run's wall and CPU seconds and the
tasks whose verdicts differ from the first run's. Exit status 0: no verdict differs; 1: some do.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VALIDATION = ROOT.parent / "shared" / "validation" / "starcoder2-15b-instruct-v0.1"
SUITES = {"humaneval": "0.1.9", "mbpp": "0.1.0"}  # the versions StarCoder2's samples were scored on
HOG = "while True: pass"

Verdicts = dict[str, tuple[bool, bool]]  # task id -> (base passed, plus passed)


@contextmanager
def hogs(n: int) -> Iterator[None]:
    """``n`` processes that spin on the CPU until the block ends."""
    procs = [subprocess.Popen([sys.executable, "-c", HOG]) for _ in range(n)]
    try:
        yield
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


def run(suite: str, samples: Path, cache: Path, reports: Path, run_id: str) -> tuple[Verdicts, float, float]:
    """One run of a suite; its verdicts, wall seconds and CPU seconds (pytest and all it waited for)."""
    command = [sys.executable, "-m", "pytest", f"suites/{suite}", f"--model=replay:{samples}", "-n", "2", "-q"]
    command += [f"--dataset-version={SUITES[suite]}", f"--reports-dir={reports}", f"--run-id={run_id}"]
    command += ["-o", f"cache_dir={cache}", "-p", "no:warnings"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    records = [json.loads(line) for line in (reports / run_id / "results.jsonl").read_text().splitlines()]
    verdicts = {r["task_id"]: (r["phases"]["base"]["passed"], r["phases"]["plus"]["passed"]) for r in records}
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return verdicts, wall, cpu


def show(verdict: tuple[bool, bool] | None) -> str:
    if verdict is None:
        return "no record"
    return f"base={'pass' if verdict[0] else 'fail'} plus={'pass' if verdict[1] else 'fail'}"


def bench(suite: str, samples: Path, rounds: int, tmp: Path) -> int:
    """Runs a suite quietly and under load; prints them; returns how many verdicts differed."""
    caches = {"quiet": tmp / f"{suite}-cache-quiet", "loaded": tmp / f"{suite}-cache-loaded"}
    first: Verdicts | None = None
    differences = 0
    print(f"{suite} ({samples.name}):")
    for r in range(1, rounds + 1):
        for condition in ("quiet", "loaded"):
            # round 1 makes each condition's cache; later rounds use the other condition's
            other = "loaded" if condition == "quiet" else "quiet"
            cache = caches[condition if r == 1 else other]
            with hogs(2 if condition == "loaded" else 0):
                verdicts, wall, cpu = run(suite, samples, cache, tmp / "reports", f"{suite}-{r}-{condition}")
            label = f"round {r} {condition:<6} ({'cold' if r == 1 else 'warm, ' + other + ' cache'})"
            print(
                f"  {label:<36} {wall:7.1f} s wall  {cpu:7.1f} CPU s  passed {sum(all(v) for v in verdicts.values())}"
            )
            if first is None:
                first = verdicts
                continue
            for task_id in sorted(set(first) | set(verdicts)):
                if first.get(task_id) != verdicts.get(task_id):
                    differences += 1
                    was, now = show(first.get(task_id)), show(verdicts.get(task_id))
                    print(f"    DIFFERS {task_id}: first run {was}, this run {now}")
    return differences


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", choices=list(SUITES), action="append", help="default: both")
    parser.add_argument("--rounds", type=int, default=3, help="quiet and loaded runs of each suite (default: 3)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (caches and reports)")
    args = parser.parse_args()
    if os.cpu_count() != 2:
        print(f"note: this machine has {os.cpu_count()} CPUs; two hogs load a two-core machine fully")
    tmp = Path(tempfile.mkdtemp(prefix="load-verdicts-"))
    try:
        differences = 0
        for suite in args.suite or list(SUITES):
            samples = VALIDATION / f"evalplus-starcoder2-15b-instruct-v0.1-{suite}.jsonl"
            differences += bench(suite, samples, args.rounds, tmp)
        print(f"{differences} verdict difference(s) between runs")
        return 1 if differences else 0
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
