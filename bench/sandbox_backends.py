"""What one sandbox job costs on each backend, on this machine: a trivial HumanEval-style call job
(``sandbox_cost.JOB``: load a one-line function, call it twice) run ``--jobs`` times, one after
another; wall milliseconds per job, and this process's CPU milliseconds per job.

Rows (``--rows``, comma-separated; default all):

- ``process``: the process backend's warm worker, the baseline;
- ``docker-warm``: the docker backend as it runs, jobs to the worker in one long-lived container,
  over its attached stdin and stdout (``sandbox/attached.py``);
- ``docker-exec``: one ``docker exec`` per job into a warm container, a fresh interpreter running the
  job's function: the floor of exec-per-job, with no worker and none of its isolation or limits;
- ``docker-run``: a container per job (``docker run``, the relay and worker started, the job, the
  container removed): what "one ``docker run`` per job" costs with the same verdicts;
- ``rest``: the rest backend, to one sandbox service on 127.0.0.1 (``serve --jobs 2``): the process
  backend's job, plus HTTP both ways on loopback.

The docker rows need the base image (``python -m pytest_convcode.sandbox build-image base``).

Then (``--throughput``, default 1,3) jobs per second through one and through three local services
(``--jobs 2`` each), from 8 threads: trivial jobs, bound by this machine's cores whatever the
services; and jobs of two 50 ms sleeps, bound by the services' slots, which the rest backend fills
on every service.

    .venv/bin/python bench/sandbox_backends.py [--jobs 200] [--rows process,docker-warm,rest] [--throughput 1,3]
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from sandbox_cost import JOB

from pytest_convcode.sandbox import Sandbox
from pytest_convcode.sandbox.docker import DockerSandbox, connect, find_image, hardened
from pytest_convcode.sandbox.images import PYTHON_LABEL, USER
from pytest_convcode.sandbox.process import ProcessSandbox
from pytest_convcode.sandbox.rest import RestSandbox

WARM_UP = 10
# the job's function, called as the runner calls it, by a fresh interpreter
EXEC_CODE = JOB.code + "print([add_one(1), add_one(2)])\n"
SLOW_ROWS = {"docker-exec", "docker-run"}  # a tenth of --jobs: each job costs a process or a container


@dataclass(frozen=True)
class Row:
    name: str
    jobs: int
    wall_ms: float
    cpu_ms: float  # this process's

    def line(self) -> str:
        return f"  {self.name:<12} {self.wall_ms:9.2f} ms wall  {self.cpu_ms:7.2f} ms CPU here   ({self.jobs} jobs)"


def timed(name: str, jobs: int, one_job: Callable[[], None]) -> Row:
    for _ in range(min(WARM_UP, jobs)):
        one_job()
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(jobs):
        one_job()
    return Row(name, jobs, (time.perf_counter() - wall) * 1e3 / jobs, (time.process_time() - cpu) * 1e3 / jobs)


def run_job(sandbox: Sandbox) -> None:
    result = sandbox.run(JOB)
    assert [c.value for c in result.calls] == [2, 3], result


def warm(name: str, sandbox: Sandbox, jobs: int) -> Row:
    try:
        return timed(name, jobs, lambda: run_job(sandbox))
    finally:
        sandbox.close()


def docker_exec(jobs: int) -> Row:
    client = connect()
    image = find_image(client, "", None)
    python = image.labels[PYTHON_LABEL]
    config = {**hardened(), "auto_remove": False}
    container = client.containers.run(image.id, ["sleep", "infinity"], user=USER, detach=True, **config)

    def one_job() -> None:
        done: Any = container.exec_run([python, "-s", "-c", EXEC_CODE])
        assert done.output == b"[2, 3]\n", done

    try:
        return timed("docker-exec", jobs, one_job)
    finally:
        container.remove(force=True)


def docker_run(jobs: int) -> Row:
    def one_job() -> None:
        sandbox = DockerSandbox()
        try:
            run_job(sandbox)
        finally:
            sandbox.close()

    return timed("docker-run", jobs, one_job)


@contextlib.contextmanager
def services(count: int, slots: int = 2) -> Iterator[str]:
    """``count`` sandbox services on 127.0.0.1: their URLs, comma-separated."""
    command = [sys.executable, "-m", "pytest_convcode.sandbox", "serve", "--port", "0", "--jobs", str(slots)]
    started = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(count)]
    try:
        yield ",".join(p.stdout.readline().split()[-1] for p in started if p.stdout is not None)
    finally:
        for process in started:
            process.terminate()
            process.wait(timeout=30)


def rest(jobs: int) -> Row:
    with services(1) as url:
        return warm("rest", RestSandbox(url=url), jobs)


SLEEP_JOB = replace(JOB, code="import time\ndef add_one(x):\n    time.sleep(0.05)\n    return x + 1\n", guard=None)
THREADS = 8


def throughput(count: int, jobs: int) -> str:
    """Jobs per second through ``count`` services, trivial and sleeping (two 50 ms calls)."""
    rates = []
    with services(count) as url:
        sandbox = RestSandbox(url=url)
        with ThreadPoolExecutor(THREADS) as pool:
            for job, n in ((JOB, jobs), (SLEEP_JOB, jobs // 4)):
                list(pool.map(sandbox.run, [job] * THREADS))  # warm: every service's worker started
                start = time.perf_counter()
                assert all([c.value for c in r.calls] == [2, 3] for r in pool.map(sandbox.run, [job] * n))
                rates.append(f"{n / (time.perf_counter() - start):7.1f} jobs/s ({n} jobs)")
        spread = ", ".join(str(counts["jobs"]) for counts in sandbox.jobs_per_host().values())
        sandbox.close()
    services_text = f"{count} service{'s' if count > 1 else ' '}"
    return f"  {services_text}  trivial {rates[0]}   sleeping {rates[1]}   per service: {spread}"


ROWS: dict[str, Callable[[int], Row]] = {
    "process": lambda jobs: warm("process", ProcessSandbox(), jobs),
    "rest": rest,
    "docker-warm": lambda jobs: warm("docker-warm", DockerSandbox(), jobs),
    "docker-exec": docker_exec,
    "docker-run": docker_run,
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--jobs", type=int, default=200)
    p.add_argument("--rows", default=",".join(ROWS), help=f"of {', '.join(ROWS)}")
    p.add_argument("--throughput", default="1,3", help="numbers of local sandbox services to compare ('': none)")
    a = p.parse_args()
    print("per job, one after another:")
    for name in a.rows.split(","):
        jobs = max(a.jobs // 10, 1) if name in SLOW_ROWS else a.jobs
        print(ROWS[name](jobs).line(), flush=True)
    if a.throughput:
        print(f"throughput through local sandbox services (2 slots each), {THREADS} threads:")
        for count in a.throughput.split(","):
            print(throughput(int(count), a.jobs), flush=True)


if __name__ == "__main__":
    main()
