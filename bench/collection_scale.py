"""Collection at full scale: ConvCodeWorld's grid, 1140 tasks x 9 settings x 11 turns (112,860 items),
and ConvCodeBench's, 1140 tasks x the 5 default settings x 11 turns (62,700 items) with
``--reference-log`` a synthetic ConvCodeWorld run folder written to a temporary folder first.

Measures, in one run on this machine, for each grid:
- ``--collect-only`` in one process: wall time and peak memory (the process's own rusage);
- ``-n WORKERS`` with every item deselected (so that only collection and scheduling run):
  wall time and each worker's peak memory (VmHWM, read from /proc while it runs);
and, for ConvCodeBench, ``reference_log.read_run_folder`` on that folder alone, in a process of its
own: the call's wall time (imports excluded) and the process's peak memory. With each, the CPU
seconds of its processes and the CPU other processes used meanwhile (/proc/stat; 1.0 is a core).

    .venv/bin/python bench/collection_scale.py [--workers 2] [--keep]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTEST = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q"]
DATA = ROOT / "pytest_convcode/datasets/data/BigCodeBench-v0.1.0_hf.jsonl.gz"
SETTINGS = ("cf-ef_partial-novice", "cf-ef_full-novice", "cf-expert", "cf-ef_partial-expert", "cf-ef_full-expert")
TURNS = 11  # turns 0..10, all unsolved: the reader needs turn j+1's line for an unsolved turn j
READ = """
import json, sys, time
from pathlib import Path
from pytest_convcode.reference_log import read_run_folder
tasks, settings = dict.fromkeys(json.loads(sys.argv[2])), json.loads(sys.argv[3])  # as the kind asks
start = time.perf_counter()
log = read_run_folder(Path(sys.argv[1]), tasks, settings)
print(time.perf_counter() - start, len(log.turns))
"""


def descendants(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children")
    try:
        direct = [int(c) for c in children.read_text().split()]
    except OSError:
        return []
    return direct + [d for c in direct for d in descendants(c)]


def peak_kib(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    match = re.search(r"VmHWM:\s+(\d+) kB", status)
    return int(match.group(1)) if match else 0


def busy_seconds() -> float:
    """CPU seconds the whole machine has spent not idle (/proc/stat)."""
    fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


class Run:
    """What run_watched measured of one command."""

    def __init__(self, wall: float, peak_kib: int, cpu: float, others: float, peaks: dict[int, int], out: str):
        self.wall, self.peak_kib, self.cpu, self.peaks, self.out = wall, peak_kib, cpu, peaks, out
        self.others = others  # other processes' CPU over the run, in CPUs (0.5: half a core busy)

    def load(self) -> str:
        return f"{self.cpu:.1f} CPU s; others {self.others:.2f} CPU"


def run_watched(args: list[str]) -> Run:
    """Run a command; return wall time, its own peak memory (KiB, rusage), its CPU seconds and
    its children's, other processes' CPU, the peak memory (VmHWM, polled) of each of its
    processes, and its output. Output goes to a file: a --collect-only lists every item, more
    than a pipe holds."""
    with tempfile.TemporaryFile("w+", encoding="utf-8") as out:
        busy = busy_seconds()
        start = time.perf_counter()
        proc = subprocess.Popen(args, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, text=True)
        peaks: dict[int, int] = {}
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            for child in [proc.pid, *descendants(proc.pid)]:
                peaks[child] = max(peaks.get(child, 0), peak_kib(child))
            time.sleep(0.05)
        wall = time.perf_counter() - start
        busy = busy_seconds() - busy
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read()
    cpu = usage.ru_utime + usage.ru_stime
    return Run(wall, usage.ru_maxrss, cpu, max(busy - cpu, 0.0) / wall, peaks, text)


def last_line(text: str) -> str:
    return text.strip().splitlines()[-1] if text.strip() else ""


def write_reference(folder: Path, tasks: list[str]) -> int:
    """A ConvCodeWorld run folder (docs/conversation-log.md): every task, the five settings, turns
    0..10, none solved, small programs; two files, as two xdist workers write. Returns its bytes."""
    conversations = folder / "conversations"
    conversations.mkdir(parents=True)
    files = [(conversations / f"bigcodebench-gw{n}.jsonl").open("w", encoding="utf-8") for n in range(2)]
    for index, task in enumerate(tasks):
        lines = files[index % 2]
        for setting in SETTINGS:
            for turn in range(TURNS):
                program = f"def task_func(x):\n    return x + {turn}  # {task}\n"
                feedback = None
                if turn:
                    feedback = {"compilation": "", "user": f"Turn {turn - 1} misses the empty input.",
                                "user_raw": f"Turn {turn - 1} misses the empty input.", "user_asked": True,
                                "leaked": False, "leak_ngrams": []}  # fmt: skip
                    if "ef_" in setting:
                        feedback |= {"execution": "FAIL: test_empty\nAssertionError: 1 != 0", "tests_shown": []}
                entry = {
                    "run_id": "synthetic", "model": "synthetic-reference", "task_id": task, "setting": setting,
                    "turn": turn, "messages": [{"role": "user", "content": f"Write task_func for {task}."}],
                    "reply": f"```python\n{program}```", "program": program, "passed": False,
                    "tests": {"test_empty": "failed"}, "run_error": "", "usage": {"prompt_tokens": 100,
                    "completion_tokens": 20}, "latency_s": 0.1, "cached": False, "feedback": feedback,
                }  # fmt: skip
                lines.write(json.dumps(entry) + "\n")
    for lines in files:
        lines.close()
    return sum(path.stat().st_size for path in conversations.iterdir())


def measure(name: str, args: list[str], workers: int) -> None:
    run = run_watched([*PYTEST, *args, "--collect-only"])
    print(
        f"{name}, one process, --collect-only: {last_line(run.out)}; wall {run.wall:.1f} s; "
        f"peak {run.peak_kib / 1024:.0f} MiB; {run.load()}"
    )
    run = run_watched([*PYTEST, *args, "-n", str(workers), "-k", "no_item_has_this_name"])
    print(f"{name}, -n {workers}, all deselected: {last_line(run.out)}; wall {run.wall:.1f} s; {run.load()}")
    peaks_mib = ", ".join(f"{k / 1024:.0f}" for k in sorted(run.peaks.values(), reverse=True)[: workers + 1])
    print(f"{name}, peak memory of the pytest processes (controller and workers), MiB: {peaks_mib}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="keep the synthetic reference folder")
    args = parser.parse_args()

    with gzip.open(DATA, "rt", encoding="utf-8") as data:
        tasks = [json.loads(line)["task_id"] for line in data]
    folder = Path(tempfile.mkdtemp(prefix="collection-scale-"))
    reference = folder / "reports" / "synthetic"
    size = write_reference(reference, tasks)
    print(f"reference log: {reference}, {len(tasks)} tasks x {len(SETTINGS)} settings x {TURNS} turns, "
          f"{size / 2**20:.1f} MiB")  # fmt: skip

    read = [sys.executable, "-c", READ, str(reference), json.dumps(tasks), json.dumps(SETTINGS)]
    run = run_watched(read)
    seconds, conversations = run.out.split()
    print(f"read_run_folder alone: {conversations} conversations in {float(seconds):.1f} s "
          f"(process {run.wall:.1f} s, peak {run.peak_kib / 1024:.0f} MiB; {run.load()})")  # fmt: skip

    measure("ConvCodeWorld", ["suites/convcodeworld"], args.workers)
    measure("ConvCodeBench", ["suites/convcodebench", f"--reference-log={reference}"], args.workers)
    if args.keep:
        print(f"kept {folder}")
    else:
        shutil.rmtree(folder)


if __name__ == "__main__":
    main()
