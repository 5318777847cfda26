"""What a command job's copy-on-write tree costs, against copying the tree for each job.

A repository task runs the repository's own tests on a copy of its tree in which one file is
edited. Three ways to give each job such a copy, timed on this machine (median of ``--repeat``):

1. hard-linked copy (``cp -al``): directories made, every file linked. Not safe as it stands (a
   write through a link changes the original), and only on the tree's own filesystem;
2. full copy (``shutil.copytree``, links kept as links);
3. the sandbox's view (``_worker/trees.py``): an overlay over an idmapped read-only clone of the
   tree's mount, in the job's own mount namespace. Timed as whole jobs: ``true`` with the tree,
   against ``true`` without one; the difference is the view's cost. A third kind of job edits
   one file of the view and reads it back (the copy-up).

Each row gives the median wall time and CPU time (a copy's: this process's; a job's: its runner's,
which makes the mounts, and its command's; the zygote's fork is in neither).

The tree is Django 4.0.4's source (~6,600 files; the repository suite runs Django's tests):

    pip download --no-binary :all: --no-deps django==4.0.4 -d /var/tmp/convcode_bench
    tar xzf /var/tmp/convcode_bench/Django-4.0.4.tar.gz -C /var/tmp/convcode_bench
    .venv/bin/python bench/command_cost.py /var/tmp/convcode_bench/Django-4.0.4 [--repeat 5] [--jobs 30]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from pytest_convcode.sandbox import CommandJob
from pytest_convcode.sandbox.process import ProcessSandbox


def link_copy(tree: Path, target: Path) -> None:
    """What ``cp -al`` does: the directories made, every file (and link) hard-linked."""
    for folder, dirs, files in os.walk(tree):
        here = target / Path(folder).relative_to(tree)
        here.mkdir(exist_ok=True)
        for name in files:
            os.link(os.path.join(folder, name), here / name, follow_symlinks=False)
        for name in dirs:
            if os.path.islink(os.path.join(folder, name)):  # os.walk lists links to folders as folders
                os.link(os.path.join(folder, name), here / name, follow_symlinks=False)


def full_copy(tree: Path, target: Path) -> None:
    shutil.copytree(tree, target, symlinks=True)


Cost = tuple[float, float]  # median wall and CPU seconds


def time_copies(tree: Path, copy: Callable[[Path, Path], None], repeat: int) -> Cost:
    """``copy`` into a fresh folder beside the tree (hard links need its filesystem)."""
    walls, cpus = [], []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(dir=tree.parent) as scratch:
            target = Path(scratch) / "tree"
            start, cpu = time.perf_counter(), time.process_time()
            copy(tree, target)
            walls.append(time.perf_counter() - start)
            cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def time_jobs(sandbox: ProcessSandbox, jobs: list[CommandJob], rounds: int) -> list[Cost]:
    """Each job's wall time as its client waits for it, and its CPU time (the runner's, which
    sets up its mounts, and its command's); one of each a round, so that a machine busy with
    other work weighs on all alike."""
    walls: list[list[float]] = [[] for _ in jobs]
    cpus: list[list[float]] = [[] for _ in jobs]
    for _ in range(rounds):
        for i, job in enumerate(jobs):
            start = time.perf_counter()
            result = sandbox.run_command(job)
            walls[i].append(time.perf_counter() - start)
            cpus[i].append(result.cpu)
            if not result.ok:
                raise SystemExit(f"{job.argv} failed: {result.how_it_ended}\n{result.stderr}")
    return [(statistics.median(w), statistics.median(c)) for w, c in zip(walls, cpus, strict=True)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tree", type=Path, help="the tree (Django's source: see the module's docstring)")
    parser.add_argument("--repeat", type=int, default=5, help="copies of each kind (default 5)")
    parser.add_argument("--jobs", type=int, default=30, help="sandbox jobs of each kind (default 30)")
    args = parser.parse_args()
    tree = args.tree.resolve()
    files = sum(len(found) for _, _, found in os.walk(tree))
    print(f"tree: {tree} ({files} files), {os.cpu_count()} CPUs")
    rows = [
        ("hard-linked copy (cp -al)", time_copies(tree, link_copy, args.repeat)),
        ("full copy (shutil.copytree)", time_copies(tree, full_copy, args.repeat)),
    ]
    sandbox = ProcessSandbox()
    try:
        sandbox.warnings()  # the worker starts here, not in the first job's time
        edit = CommandJob(("sh", "-c", "echo '# edited' >> setup.py && tail -1 setup.py"), tree=str(tree))
        jobs = [CommandJob(("true",)), CommandJob(("true",), tree=str(tree)), edit]
        bare, view, edited = time_jobs(sandbox, jobs, args.jobs)
    finally:
        sandbox.close()
    rows += [
        ("sandbox job `true`, no tree", bare),
        ("sandbox job `true`, the tree's view", view),
        ("  the view's own cost (the difference)", (view[0] - bare[0], view[1] - bare[1])),
        ("sandbox job editing one file of the view", edited),
    ]
    width = max(len(name) for name, _ in rows)
    print(f"{'':<{width}}  {'wall ms':>9}  {'CPU ms':>9}")
    for name, (wall, cpu) in rows:
        print(f"{name:<{width}}  {wall * 1000:9.1f}  {cpu * 1000:9.1f}")


if __name__ == "__main__":
    main()
