"""Judging programs of MultiPL-E's languages in the sandbox, each language with limits of its own.

A compiler needs more processes, memory and time than a Python call, and how much more depends on
the machine; so the limits come from a reference run: the language's trivial program (its tests'
least program) compiled and run here, timed, once per toolchain and machine. A toolchain whose
runtime needs more than half the sandbox's default address space (a JVM, node, mono reserve it up
front) runs without that limit, and one that starts more than half its default process count of
threads, with more: twice what the reference run needs, as it gets four times its time. The
limits are kept in the machine's cache (``limits.json``).
"""

from __future__ import annotations

import json
import os
import secrets
import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InfrastructureError
from ..machine_cache import cache_home
from ..sandbox import CommandJob, Limits, Sandbox
from .catalog import Language
from .running import Budget, Outcome, outcome, script, support_text
from .toolchain import Toolchain, find

# no less than the Qwen2.5-Coder kit's 10 s to run a program; a compiler gets 30 s at least (MultiPL-E's
# give 15 s to 45 s), which no HumanEval program needs but a loaded machine may
MIN_COMPILE_S = 30.0
MIN_RUN_S = 10.0
TIME_FACTOR = 4.0  # times the reference run's seconds, where that is more
REFERENCE = Budget(compile_s=300.0, run_s=120.0)  # what the reference run itself gets
# What a reference run tries, in order, until its program passes, and what its programs then get:
# twice what it passed with, since a real program (its compile above all) needs more than the
# trivial one. The sandbox's default limits; then no address-space limit (runtimes that reserve
# it up front: a JVM, node, mono); then more processes (threads) too.
_DEFAULT = Limits()
LIMIT_LADDER = (
    (Limits(memory_bytes=_DEFAULT.memory_bytes // 2, max_processes=_DEFAULT.max_processes // 2), _DEFAULT),
    (Limits(memory_bytes=0, max_processes=_DEFAULT.max_processes // 2), Limits(memory_bytes=0)),
    (Limits(memory_bytes=0, max_processes=256), Limits(memory_bytes=0, max_processes=512)),
)
CALIBRATION = "2"  # how calibrations are made: one made otherwise is made again
OUTPUT_BYTES = 1 << 20  # of each stream: far more than any test prints


@dataclass(frozen=True)
class Calibration:
    """A toolchain's reference run on this machine, and the limits it gives."""

    identity: str  # how it was made (CALIBRATION) and the toolchain's (tools' paths, sizes, times)
    compile_s: float
    run_s: float
    memory_bytes: int
    max_processes: int

    @property
    def budget(self) -> Budget:
        return Budget(
            compile_s=round(max(MIN_COMPILE_S, TIME_FACTOR * self.compile_s), 1),
            run_s=round(max(MIN_RUN_S, TIME_FACTOR * self.run_s), 1),
        )

    @property
    def limits(self) -> Limits:
        return Limits(memory_bytes=self.memory_bytes, max_processes=self.max_processes)


@dataclass
class ProgramJudge:
    """``support``: the bundled files a language's jobs get (the javatuples jar), by name."""

    sandbox: Sandbox
    support: Mapping[str, bytes] = field(default_factory=dict)
    cache: Path = field(default_factory=lambda: cache_home() / "multipl-e" / "limits.json")  # the calibrations
    _calibrations: dict[str, tuple[Toolchain, Calibration]] = field(default_factory=dict, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def judge(self, language: Language, program: str) -> Outcome:
        """The program's verdict; a missing or broken toolchain raises (an E, naming the fix)."""
        toolchain, calibration = self.calibrated(language)
        return self._run(toolchain, program, calibration.budget, calibration.limits)

    def calibrated(self, language: Language) -> tuple[Toolchain, Calibration]:
        with self._lock:
            if language.name not in self._calibrations:
                toolchain = find(language)
                self._calibrations[language.name] = (toolchain, self._calibration(toolchain))
            return self._calibrations[language.name]

    def _calibration(self, toolchain: Toolchain) -> Calibration:
        key = toolchain.language.name
        known = _read(self.cache)
        identity = f"{CALIBRATION} {toolchain.identity}"
        if key in known and known[key].get("identity") == identity:
            return Calibration(**known[key])
        result, limits = self._reference_run(toolchain)
        calibration = Calibration(identity, result.compile_s, result.run_s, limits.memory_bytes, limits.max_processes)
        _write(self.cache, key, calibration)
        return calibration

    def _reference_run(self, toolchain: Toolchain) -> tuple[Outcome, Limits]:
        """The trivial program's passing run, on the first rung of the ladder it passes at, and
        the limits that rung grants; a toolchain that passes at none is broken here (an E)."""
        why = ""
        for probe, granted in LIMIT_LADDER:
            result = self._run(toolchain, toolchain.language.trivial, REFERENCE, probe)
            if result.passed:
                return result, granted
            why = result.detail.splitlines()[0] if result.detail else "no output"
        name = toolchain.language.name
        raise InfrastructureError(
            f"MultiPL-E {toolchain.language.title}: the toolchain cannot run its trivial program in the sandbox "
            f"({why}): check it with `python -m pytest_convcode.env multipl-e --language {name}`"
        )

    def _run(self, toolchain: Toolchain, program: str, budget: Budget, limits: Limits) -> Outcome:
        language = toolchain.language
        mark = secrets.token_hex(16)
        job = CommandJob(
            argv=("sh", "-c", script(language, budget)),
            files={language.source: program, **{f"{n}.b64": support_text(self.support[n]) for n in language.support}},
            env=toolchain.environment,
            readable=toolchain.readable,
            stdin=mark + "\n",
            cpu_budget=2 * budget.job_s,  # every process of the job together: two cores' worth
            wall_budget=budget.job_s,
            output_bytes=OUTPUT_BYTES,
            limits=limits,
        )
        return outcome(language, self.sandbox.run_command(job), mark)


def _read(path: Path) -> dict[str, dict[str, Any]]:
    try:
        known = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return known if isinstance(known, dict) else {}


def _write(path: Path, key: str, calibration: Calibration) -> None:
    """Add one toolchain's calibration; xdist workers may race, and either write is right."""
    known = _read(path)
    known[key] = asdict(calibration)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.tmp")
    partial.write_text(json.dumps(known, indent=1, sort_keys=True) + "\n")
    os.replace(partial, path)
