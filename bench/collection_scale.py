"""Collection at full ConvCodeWorld scale: 1140 tasks x 9 settings x 11 turns (112,860 items).

Measures, in one run on this machine:
- ``--collect-only`` in one process: wall time and peak memory;
- ``-n WORKERS`` with every item deselected (so that only collection and scheduling run):
  wall time and each worker's peak memory (VmHWM, read from /proc while it runs).

    .venv/bin/python bench/collection_scale.py [--workers 2]
"""

from __future__ import annotations

import argparse
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTEST = [sys.executable, "-m", "pytest", "suites/convcodeworld", "-p", "no:cacheprovider", "-q"]


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


def run_watched(args: list[str]) -> tuple[float, dict[int, int], str]:
    """Run pytest; return wall time, peak memory (KiB) of each pytest process, and its last line."""
    start = time.perf_counter()
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peaks: dict[int, int] = {}
    while proc.poll() is None:
        for pid in [proc.pid, *descendants(proc.pid)]:
            peaks[pid] = max(peaks.get(pid, 0), peak_kib(pid))
        time.sleep(0.05)
    out = proc.stdout.read() if proc.stdout else ""
    return time.perf_counter() - start, peaks, out.strip().splitlines()[-1] if out.strip() else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    start = time.perf_counter()
    out = subprocess.run([*PYTEST, "--collect-only"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    wall = time.perf_counter() - start
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"one process, --collect-only: {out.strip().splitlines()[-1]}; wall {wall:.1f} s; peak {peak_mib:.0f} MiB")

    wall, peaks, last = run_watched([*PYTEST, "-n", str(args.workers), "-k", "no_item_has_this_name"])
    workers = sorted(peaks.values(), reverse=True)[: args.workers + 1]
    print(f"-n {args.workers}, all deselected: {last}; wall {wall:.1f} s")
    peaks_mib = ", ".join(f"{k / 1024:.0f}" for k in workers)
    print(f"peak memory of the pytest processes (controller and workers), MiB: {peaks_mib}")


if __name__ == "__main__":
    main()
