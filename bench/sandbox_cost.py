"""What one sandbox job costs, against the least any fork-per-job sandbox could cost here.

Three measurements, on this machine, of CPU milliseconds per job (``--jobs`` of each):

1. bare fork: an interpreter with the zygote's preloaded modules (``_worker.PRELOAD``, frozen
   as the zygote freezes them) forks a child that exits at once. No namespace, no limits, no
   candidate: the floor of a process per job, the parent's side and the child's;
2. a sandbox job: ``ProcessSandbox`` running a trivial HumanEval-style call job (load a one-line
   function, call it twice), split into the zygote's CPU, its runners' CPU (both read from the
   zygote's ``/proc/PID/stat``) and the client's;
3. a trivial task's two phases (base and plus) as two such jobs, as the judge ran them before,
   and as one job of phases (``Sandbox.run_all``: loaded once, a fork a phase), as it runs them now.

The difference is what isolation, loading the candidate, running the calls and reporting
them add to the bare fork. ``bench/README.md`` uses these figures for what issue 3's target
(1000 answers within 1.3x of a plain asyncio loop, on two cores) leaves per answer.

    .venv/bin/python bench/sandbox_cost.py [--jobs 1000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from pytest_convcode.sandbox import CallJob
from pytest_convcode.sandbox.process import WORKER, ProcessSandbox

# Run by a fresh interpreter (argv: jobs, path of the _worker package): the zygote's imports, then a fork
# and exit per job.
BARE_FORK = """
import gc, os, resource, sys
sys.path.insert(0, os.path.dirname(sys.argv[2]))
import _worker
for name in _worker.PRELOAD:
    __import__(name)
gc.freeze()
jobs = int(sys.argv[1])
def cpu(who):
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime
parent, children = cpu(resource.RUSAGE_SELF), cpu(resource.RUSAGE_CHILDREN)
for _ in range(jobs):
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
print(cpu(resource.RUSAGE_SELF) - parent, cpu(resource.RUSAGE_CHILDREN) - children)
"""

JOB = CallJob(
    code="def add_one(x):\n    return x + 1\n",
    entry_point="add_one",
    inputs=[[1], [2]],
    cpu_limits=[1.0, 1.0],
    wall_limits=[3.0, 3.0],
    guard="evalplus",
)


def bare_fork(jobs: int) -> tuple[float, float]:
    """CPU ms per fork + exit: the parent's side, the child's."""
    out = subprocess.run(
        [sys.executable, "-s", "-c", BARE_FORK, str(jobs), str(WORKER)], check=True, capture_output=True, text=True
    ).stdout
    parent, child = (float(x) for x in out.split())
    return parent / jobs * 1e3, child / jobs * 1e3


def _zygote_cpu(pid: int) -> tuple[float, float]:
    """CPU seconds of the zygote itself, and of the runners it reaped."""
    ticks = os.sysconf("SC_CLK_TCK")
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    own = int(fields[11]) + int(fields[12])  # utime, stime
    reaped = int(fields[13]) + int(fields[14])  # cutime, cstime
    return own / ticks, reaped / ticks


def one_job(sandbox: ProcessSandbox) -> None:
    result = sandbox.run(JOB)
    assert [c.status for c in result.calls] == ["ok", "ok"], result


def phases_as_jobs(sandbox: ProcessSandbox) -> None:
    """A task's base and plus tests as the judge ran them before: a job each."""
    one_job(sandbox)
    one_job(sandbox)


def phases_in_one_job(sandbox: ProcessSandbox) -> None:
    """As ``Sandbox.run_all`` runs them now: one job that loads the program once, a fork a phase."""
    for result in sandbox.run_all([JOB, JOB]):
        assert [c.status for c in result.calls] == ["ok", "ok"], result


def sandbox_jobs(jobs: int, run: Callable[[ProcessSandbox], None]) -> tuple[float, float, float, float]:
    """CPU ms per ``run`` (zygote, runners, client) and wall ms per ``run``, one after another."""
    sandbox = ProcessSandbox()
    try:
        for _ in range(20):  # start the zygote, warm its code paths
            run(sandbox)
        zygote = sandbox.isolation["pid"]  # the process that forks and reaps the runners
        own, reaped = _zygote_cpu(zygote)
        client = time.process_time()
        started = time.perf_counter()
        for _ in range(jobs):
            run(sandbox)
        wall = time.perf_counter() - started
        client = time.process_time() - client
        own_after, reaped_after = _zygote_cpu(zygote)
    finally:
        sandbox.close()
    per_job = 1e3 / jobs
    return (own_after - own) * per_job, (reaped_after - reaped) * per_job, client * per_job, wall * per_job


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--jobs", type=int, default=1000)
    a = p.parse_args()
    fork_parent, fork_child = bare_fork(a.jobs)
    print(f"{a.jobs} of each, one after another; CPU ms each")
    fork = fork_parent + fork_child
    print(f"  bare fork + exit:  parent {fork_parent:5.2f}  child  {fork_child:5.2f}  total {fork:5.2f}")
    for label, run in (
        ("sandbox job:", one_job),
        ("two phases, 2 jobs:", phases_as_jobs),
        ("two phases, 1 job:", phases_in_one_job),
    ):
        zygote, runner, client, wall = sandbox_jobs(a.jobs, run)
        total = zygote + runner + client
        print(
            f"  {label:<19}zygote {zygote:5.2f}  runner {runner:5.2f}  client {client:5.2f}  total {total:5.2f}"
            f"   wall {wall:5.2f} ms"
        )


if __name__ == "__main__":
    main()
