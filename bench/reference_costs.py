"""Measure how long each bundled task's reference solution runs, for the hint file.

A cold run (no ground truth cached yet) does not know which tasks are slow until it has run
them; under xdist a slow task that starts last leaves one worker busy while the other idles
(MBPP+'s Mbpp_599 runs its reference for ~37 s, and then the candidate as long). The plugin
starts slow tasks first, ordered by the reference's CPU seconds measured on this machine,
or before that by ``pytest_convcode/datasets/data/reference_costs.json``, which this script
writes: it runs ``pytest suites/<suite> --model reference`` for each bundled EvalPlus file
with a fresh cache folder and keeps the tasks whose reference took at least ``--floor`` s.

    .venv/bin/python bench/reference_costs.py [--workers 2] [--floor 0.05]
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
}


def measure(suite: str, version: str, workers: int) -> dict[str, float]:
    """Each task's reference CPU seconds (base and plus), from the ``.cost`` files its ground truth left."""
    with tempfile.TemporaryDirectory(prefix="reference-costs-") as tmp:
        command = [str(Path(sys.executable).parent / "pytest"), f"suites/{suite}", "--model", "reference"]
        command += ["--dataset-version", version, "-n", str(workers), "-q", "-o", f"cache_dir={tmp}/cache"]
        command += ["--reports-dir", f"{tmp}/reports", "--html-report", "none"]
        subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        (truth,) = Path(tmp, "cache", "d", "convcode", "groundtruth").glob(f"{suite}-{version}-*")
        return {_task_id(p.stem): float(p.read_text()) for p in truth.glob("*.cost")}


def _task_id(file_stem: str) -> str:
    prefix, number = file_stem.rsplit("_", 1)  # "HumanEval_139" -> "HumanEval/139"
    return f"{prefix}/{number}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--floor", type=float, default=0.05, help="leave out tasks faster than this (seconds)")
    a = p.parse_args()
    files = {}
    for name, (suite, version) in BUNDLED.items():
        costs = measure(suite, version, a.workers)
        slow = {task: round(s, 2) for task, s in sorted(costs.items(), key=lambda kv: -kv[1]) if s >= a.floor}
        digest = hashlib.sha256((DATA_DIR / name).read_bytes()).hexdigest()
        files[digest] = {"file": name, "tasks": len(costs), "seconds": slow}
        print(f"{name}: {len(slow)} of {len(costs)} tasks take >= {a.floor} s, {sum(costs.values()):.1f} s in all")
    about = (
        "CPU seconds of each slow task's reference solution (base + plus tests), by sha256 of the data file; "
        f"written by bench/reference_costs.py (tasks under {a.floor} s left out). Only orders a cold run's items."
    )
    out = DATA_DIR / "reference_costs.json"
    out.write_text(json.dumps({"about": about, "files": files}, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
