"""Digests of the reference's outputs, bundled with a data file: a candidate whose outputs are
the reference's very bytes passes without the reference being run on this machine.

Making the ground truth runs every reference solution on every input, which is half of a first
run's work (HumanEval+: 13 CPU s of calls). Yet most answers of a good model return exactly what
the reference returns. For those, an 8-byte BLAKE2b digest of each pickled output, computed once
when the data file was added (``bench/expected_digests.py``), decides the comparison, and the
floor limit (``min_time``) decides the time: a call within the floor is within any limit the
reference could set. A candidate that differs anywhere, or needs more than the floor, is judged
the usual way, by the ground truth. Pickled bytes, and what a program returns, can change between
Python versions: the digests are used only under the interpreter version that made them.
"""

from __future__ import annotations

import hashlib
import math
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from ..datasets import DATA_DIR
from ..sandbox import Limits, Sandbox, dump_output, load_output
from ..tasks import Dataset, Task
from .truth import PHASES, GroundTruth, GroundTruthCache

DIGEST_SIZE = 8
FORMAT = 1


@dataclass(frozen=True)
class PhaseDigests:
    digests: bytes  # DIGEST_SIZE bytes per input, in order
    output_bytes: int  # the reference's pickled outputs, all together: the phase's output limit

    def matched_by(self, payloads: Sequence[bytes]) -> bool:
        """Whether these outputs, one per input, are the reference's very bytes."""
        return len(payloads) * DIGEST_SIZE == len(self.digests) and b"".join(map(digest, payloads)) == self.digests


@dataclass(frozen=True)
class ExpectedOutputs:
    """One data file's digests, by task and phase: tasks whose oracle compares exactly, phases
    with no NaN among the outputs."""

    tasks: dict[str, dict[str, PhaseDigests]]

    def of(self, task_id: str) -> dict[str, PhaseDigests] | None:
        return self.tasks.get(task_id)


def digest(payload: bytes) -> bytes:
    return hashlib.blake2b(payload, digest_size=DIGEST_SIZE).digest()


def phase_digests(truth: GroundTruth) -> PhaseDigests | None:
    """None where an output holds a NaN: equal values need not share bytes there."""
    if not all(truth.byte_equal_ok):
        return None
    return PhaseDigests(b"".join(map(digest, truth.payloads)), truth.size)


def make(dataset: Dataset, sandbox: Sandbox, workers: int) -> dict[str, dict[str, PhaseDigests]]:
    """Each exactly compared task's digests, from reference runs (``workers`` at once) in a
    fresh cache: what ``bench/expected_digests.py`` bundles, and what its check compares."""
    tasks = [t for t in dataset.tasks.values() if t.oracle == "exact"]
    with tempfile.TemporaryDirectory(prefix="expected-digests-") as tmp:

        def truth(task: Task) -> dict[str, GroundTruth]:  # no time is kept: each run once
            return GroundTruthCache(dataset, sandbox, Path(tmp), PHASES, Limits(), math.inf).get(task)

        with ThreadPoolExecutor(workers) as pool:
            truths = list(pool.map(truth, tasks))
    made = {}
    for task, phases in zip(tasks, truths, strict=True):
        digests = {p: phase_digests(t) for p, t in phases.items()}
        made[task.task_id] = {p: d for p, d in digests.items() if d is not None}
    return made


def bundled_path(dataset: Dataset) -> Path:
    return DATA_DIR / f"expected-{dataset.suite}-{dataset.version}.pickle"


def dump(dataset: Dataset, tasks: dict[str, dict[str, PhaseDigests]]) -> bytes:
    """The bundled file: the data file's digest and the interpreter version it holds for."""
    stored = {t: {p: (d.digests, d.output_bytes) for p, d in phases.items()} for t, phases in tasks.items()}
    return dump_output({"format": FORMAT, "data": dataset.digest, "python": python_version(), "tasks": stored})


def load(dataset: Dataset, python: str) -> ExpectedOutputs | None:
    """The bundled digests of this very data file, where they hold for the sandbox's interpreter."""
    try:
        stored = load_output(bundled_path(dataset).read_bytes())
    except OSError:
        return None
    if stored["format"] != FORMAT or stored["data"] != dataset.digest:
        return None
    if stored["python"] != interpreter_version(python):
        return None
    tasks = {t: {p: PhaseDigests(*d) for p, d in phases.items()} for t, phases in stored["tasks"].items()}
    return ExpectedOutputs(tasks)


def python_version() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def interpreter_version(python: str) -> str | None:
    """``major.minor`` of an interpreter; None where it cannot be asked."""
    if Path(python).resolve() == Path(sys.executable).resolve():
        return python_version()
    ask = "import sys; print(f'{sys.version_info.major}.{sys.version_info.minor}')"
    try:
        done = subprocess.run([python, "-c", ask], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None
