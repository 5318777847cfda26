"""Measure how long each bundled task's reference solution runs, for the hint file.

A cold run (no ground truth cached yet) does not know which tasks are slow until it has run
them; under xdist a slow task that starts last leaves one worker busy while the other idles
(MBPP+'s Mbpp_599 runs its reference for ~37 s, and then the candidate as long). The plugin
starts slow tasks first, ordered by the reference's CPU seconds measured on this machine,
or before that by ``pytest_convcode/datasets/data/reference_costs.json``, which this script
writes: it runs ``pytest suites/<suite> --model reference`` for each bundled EvalPlus file
with a fresh cache folder and keeps the tasks whose reference took at least ``--floor`` s.
BigCodeBench's figures are wall seconds (``judge_s``: its tasks sleep, wait on servers and
threads, and a worker is held all the while), from a ``--model reference`` run with the task
libraries (``--sandbox-python auto``), or from the ``results.jsonl`` of one made before.

    .venv/bin/python bench/reference_costs.py [--workers 2] [--floor 0.05] [--only bigcodebench]
    .venv/bin/python bench/reference_costs.py --only bigcodebench --bigcodebench-results reports/ID/results.jsonl
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "pytest_convcode" / "datasets" / "data"
BUNDLED = {  # data file -> (suite, version)
    "HumanEvalPlus-v0.1.10.jsonl.gz": ("humaneval", "0.1.10"),
    "HumanEvalPlus-v0.1.9.jsonl.gz": ("humaneval", "0.1.9"),
    "MbppPlus-v0.2.0.jsonl.gz": ("mbpp", "0.2.0"),
    "MbppPlus-v0.1.0.jsonl.gz": ("mbpp", "0.1.0"),
    "BigCodeBench-v0.1.0_hf.jsonl.gz": ("bigcodebench", "0.1.0_hf"),
}
OUT = DATA_DIR / "reference_costs.json"


def measure(suite: str, version: str, workers: int) -> dict[str, float]:
    """Each task's reference CPU seconds (base and plus), from the ``.cost`` files its ground truth left."""
    with tempfile.TemporaryDirectory(prefix="reference-costs-") as tmp:
        command = [str(Path(sys.executable).parent / "pytest"), f"suites/{suite}", "--model", "reference"]
        command += ["--dataset-version", version, "-n", str(workers), "-q", "-o", f"cache_dir={tmp}/cache"]
        command += ["--no-bundled-digests"]  # every reference runs, and leaves its .cost file
        command += ["--reports-dir", f"{tmp}/reports", "--html-report", "none"]
        subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        (truth,) = Path(tmp, "cache", "d", "convcode", "groundtruth").glob(f"{suite}-{version}-*")
        return {_task_id(p.stem): float(p.read_text()) for p in truth.glob("*.cost")}


def measure_bigcodebench(workers: int, results: Path | None) -> dict[str, float]:
    """Each task's wall seconds, its reference against its tests: half the item's time where the
    reference failed (the harness ran it twice, as the candidate and to check the task)."""
    if results is None:
        tmp = Path(tempfile.mkdtemp(prefix="reference-costs-"))
        command = [str(Path(sys.executable).parent / "pytest"), "suites/bigcodebench", "--model", "reference"]
        command += ["--sandbox-python", "auto", "-n", str(workers), "-q", "-o", f"cache_dir={tmp}/cache"]
        command += ["--reports-dir", f"{tmp}/reports", "--run-id", "costs", "--html-report", "none"]
        subprocess.run(command, cwd=ROOT, check=False, stdout=subprocess.DEVNULL)  # a task may fail here
        results = tmp / "reports" / "costs" / "results.jsonl"
    rows = [json.loads(line) for line in results.read_text().splitlines()]
    return {r["task_id"]: r["judge_s"] / (1 if r["outcome"] == "passed" else 2) for r in rows}


def _task_id(file_stem: str) -> str:
    prefix, number = file_stem.rsplit("_", 1)  # "HumanEval_139" -> "HumanEval/139"
    return f"{prefix}/{number}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--floor", type=float, default=0.05, help="leave out tasks faster than this (seconds)")
    p.add_argument("--only", help="measure these suites (comma-separated); the others keep their figures")
    p.add_argument("--bigcodebench-results", type=Path, help="a --model reference run's results.jsonl")
    a = p.parse_args()
    only = set(a.only.split(",")) if a.only else {suite for suite, _ in BUNDLED.values()}
    files = json.loads(OUT.read_text())["files"] if OUT.exists() else {}
    for name, (suite, version) in BUNDLED.items():
        if suite not in only:
            continue
        if suite == "bigcodebench":
            costs = measure_bigcodebench(a.workers, a.bigcodebench_results)
        else:
            costs = measure(suite, version, a.workers)
        slow = {task: round(s, 2) for task, s in sorted(costs.items(), key=lambda kv: -kv[1]) if s >= a.floor}
        digest = hashlib.sha256((DATA_DIR / name).read_bytes()).hexdigest()
        files[digest] = {"file": name, "tasks": len(costs), "floor": a.floor, "seconds": slow}
        print(f"{name}: {len(slow)} of {len(costs)} tasks take >= {a.floor} s, {sum(costs.values()):.1f} s in all")
    about = (
        "Seconds of each slow task's reference solution against its tests (EvalPlus: CPU, base + plus; "
        "BigCodeBench: wall), by sha256 of the data file; written by bench/reference_costs.py "
        "(tasks under the file's floor left out). Only orders a run's items."
    )
    OUT.write_text(json.dumps({"about": about, "files": files}, indent=1) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
