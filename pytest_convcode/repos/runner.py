"""Running a repository's own tests on a copy of its tree in which one file is replaced.

Django runs as ``python tests/runtests.py LABELS --verbosity 2 --noinput --parallel 1``. The seed
ran at verbosity 0, which prints only the failed tests' reports and the closing lines; at 2 each
test's line says how it ended ("test_chars (utils_tests.test_text.TestUtilsText) ... FAIL"), which
the model's feedback gains from. It also prints the test database's making (model_forms: 129
lines, 8.5 KB, against 5 lines at 0), but first: the tail that feedback keeps (the seed's last
20,000 characters) drops it before any test's report. Repositories that use pytest run as
``python -m pytest LABELS -v -p no:cacheprovider``: -v for the same per-test lines; no -x, since
the share of tests passed needs every selected test's outcome; no cache, which would write
.pytest_cache into the tree and remember failures between runs.

The tests must import the copy, not the pristine tree nor the copy pip installed into the
environment: they run with the copy as their working directory and ``PYTHONPATH=src:.``, which
comes before site-packages on sys.path, for both layouts a package's tree has.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..sandbox import CommandJob, Sandbox
from .environment import RepoEnvironment
from .testoutput import counts

DJANGO_OPTIONS = ("--verbosity", "2", "--noinput", "--parallel", "1")
PYTEST_OPTIONS = ("-v", "-p", "no:cacheprovider")
OUTPUT_CHARS = 60_000  # the output's tail that a run keeps (the seed's feedback shows 20,000 of it)
# the import path that puts the copy first, and a fixed hash seed: the same run gives the same output
ENVIRON = {"PYTHONPATH": "src:.", "PYTHONHASHSEED": "0", "LANG": "C.UTF-8"}
# A direct run edits files of a working copy in place and puts them back: a bytecode file written
# for an edit could be taken for the file put back (same size, same second) by the next run.
TRUSTED_ENVIRON = {**ENVIRON, "PYTHONDONTWRITEBYTECODE": "1"}


@dataclass(frozen=True)
class TestRun:
    __test__ = False  # not a pytest test class, whatever its name says

    passed: bool  # ran > 0 and no failures, errors or skips
    ran: int  # every test run, skipped ones included
    failures: int
    errors: int
    skipped: int
    crashed: str  # "" when the runner reported; else why not (time limit, killed, did not start)
    output: str  # the runner's output (the tail kept), what the model sees as feedback
    seconds: float

    @property
    def share_passed(self) -> float:
        """The share of tests that passed; a skipped test did not (the seed counted it as passed).
        unittest counts each failed subtest, so there can be more failures than tests."""
        if self.ran == 0:
            return 0.0
        return max(0.0, 1 - (self.failures + self.errors + self.skipped) / self.ran)


def command(env: RepoEnvironment, labels: Sequence[str]) -> list[str]:
    """The test runner's command line, run from the tree's root."""
    if env.runner == "django":
        return [str(env.python), "tests/runtests.py", *labels, *DJANGO_OPTIONS]
    return [str(env.python), "-m", "pytest", *labels, *PYTEST_OPTIONS]


def outcome(runner: str, output: str, seconds: float, stopped: str = "") -> TestRun:
    """A run's result from its output; ``stopped``: why the run did not end by itself."""
    output = output[-OUTPUT_CHARS:]
    found = counts(runner, output)
    if found is None or stopped:
        crashed = stopped or "the test runner printed no summary: it stopped before the tests ended"
        return TestRun(False, 0, 0, 0, 0, crashed, output, seconds)
    passed = found.ran > 0 and found.failures == found.errors == found.skipped == 0
    return TestRun(passed, found.ran, found.failures, found.errors, found.skipped, "", output, seconds)


def trusted_environ() -> dict[str, str]:
    """A direct run's environment variables: this machine's PATH and HOME, and ``TRUSTED_ENVIRON``."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/"), **TRUSTED_ENVIRON}


def run_direct(env: RepoEnvironment, tree: Path, labels: Sequence[str], timeout: float) -> TestRun:
    """Trusted code only (the repository's own tests, the miner's mutants): the tests on ``tree`` in
    a plain subprocess, no sandbox."""
    start = time.monotonic()
    try:
        done = subprocess.run(
            command(env, labels),
            cwd=tree,
            env=trusted_environ(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as stopped:
        partial = stopped.output.decode(errors="replace") if stopped.output else ""
        return outcome(env.runner, partial, time.monotonic() - start, f"stopped at the time limit ({timeout:g} s)")
    return outcome(env.runner, done.stdout.decode(errors="replace"), time.monotonic() - start)


def run_tests(
    sandbox: Sandbox,
    env: RepoEnvironment,
    file_path: str,
    content: str,
    labels: Sequence[str],
    wall_budget: float = 80.0,
) -> TestRun:
    """Run the repository's own tests ``labels`` with ``file_path`` replaced by ``content``, in a
    copy-on-write copy of the tree, in the sandbox (its limits, no network)."""
    job = CommandJob(
        argv=tuple(command(env, labels)),
        files={file_path: content},
        tree=str(env.tree),
        env=ENVIRON,
        readable=(str(env.python.parent.parent),),  # the virtual environment
        cpu_budget=wall_budget,
        wall_budget=wall_budget,
        output_bytes=OUTPUT_CHARS * 4,
    )
    result = sandbox.run_command(job)
    stopped = "" if result.ended == "exit" else result.how_it_ended
    return outcome(env.runner, result.stdout + result.stderr, result.wall, stopped)
