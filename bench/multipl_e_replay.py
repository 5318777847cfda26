#!/usr/bin/env python3
"""Replay Qwen2.5-Coder-1.5B's published MultiPL-E generations through pytest-convcode and compare
each task's verdict with the one its authors' evaluator gave (../shared/validation).

    /work/main/.venv/bin/python bench/multipl_e_replay.py                 # the 7 languages, -n 2
    /work/main/.venv/bin/python bench/multipl_e_replay.py --language java,cpp -n 1

It runs ``pytest suites/multipl_e --model replay:DIR --language ... -n N`` as a user would, timed
by wall clock, then prints per language: the tasks whose verdict agrees, our pass@1 beside the
published one, each difference (our status and output beside theirs), and the seconds per
program spent compiling and running (from each record's ``compile_s`` and ``run_s``).

Exit status: 0 when every verdict agrees (apart from --allow), 1 when some differ, 3 when the
run itself failed (an error item: a toolchain missing here).
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
VALIDATION = ROOT.parent / "shared" / "validation" / "qwen2.5-coder-1.5b-multipl-e"
LANGUAGES = "cpp,cs,java,js,php,sh,ts"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--validation", type=Path, default=VALIDATION, help=f"the published files (default: {VALIDATION})")
    p.add_argument("--language", default=LANGUAGES, help=f"languages, separated by commas (default: {LANGUAGES})")
    p.add_argument("-n", "--workers", type=int, default=2, help="pytest -n (default: 2)")
    p.add_argument(
        "--allow", action="append", default=[], help="a task (HumanEval_16_...-php) whose difference is known"
    )
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="multipl-e-replay-") as scratch:
        started = time.perf_counter()
        records = run(args.validation, args.language, args.workers, Path(scratch))
        wall = time.perf_counter() - started
    print(f"replay of {len(records)} programs with -n {args.workers}: {wall:.0f} s wall\n")
    with gzip.open(args.validation / "results.json.gz", "rt") as f:
        published = json.load(f)
    differences = 0
    for language in args.language.split(","):
        mine = {r["task_id"].removesuffix(f"-{language}"): r for r in records if r.get("language") == language}
        theirs = details(args.validation, language)
        agree = [t for t in theirs if t in mine and (mine[t]["outcome"] == "passed") == theirs[t]["passed"]]
        ours = sum(r["outcome"] == "passed" for r in mine.values()) / max(len(theirs), 1)
        print(
            f"{language:5} agree {len(agree)}/{len(theirs)}  pass@1 {100 * ours:.2f} (published {published[language]}) "
            f"{timing(mine.values())}"
        )
        for task in sorted(set(theirs) - set(agree)):
            record = mine.get(task, {})
            if f"{task}-{language}" not in args.allow:
                differences += 1
            ours_text = record.get("failure", record.get("outcome", "not run")).replace("\n", " ")[:160]
            print(f"    {task}: ours {record.get('outcome')} ({ours_text}); theirs {theirs[task]['result'][:160]!r}")
    if any(r["outcome"] == "error" for r in records):
        return 3
    return 1 if differences else 0


def run(validation: Path, languages: str, workers: int, scratch: Path) -> list[dict[str, Any]]:
    command = [
        sys.executable, "-m", "pytest", "suites/multipl_e", f"--model=replay:{validation}",
        f"--language={languages}", "-n", str(workers), "-q", "-p", "no:cacheprovider", "--html-report=none",
        f"--reports-dir={scratch}", "--run-id=replay",
    ]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    print(done.stdout.splitlines()[-1] if done.stdout else done.stderr[-2000:])
    results = scratch / "replay" / "results.jsonl"
    return [json.loads(line) for line in results.read_text().splitlines()] if results.is_file() else []


def details(validation: Path, language: str) -> dict[str, dict[str, Any]]:
    """The published verdict of each task: {passed, result}."""
    with gzip.open(validation / f"humaneval-{language}-details.json.gz", "rt") as f:
        return {task: runs[0][1] for task, runs in json.load(f).items()}


def timing(records: Any) -> str:
    """Median seconds compiling and running one program."""
    compiled = [r["compile_s"] for r in records if "compile_s" in r]
    ran = [r["run_s"] for r in records if r.get("run_s")]
    if not compiled:
        return ""
    return f" compile {statistics.median(compiled):.2f} s, run {statistics.median(ran) if ran else 0:.2f} s (medians)"


if __name__ == "__main__":
    sys.exit(main())
