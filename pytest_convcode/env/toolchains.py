"""``python -m pytest_convcode.env multipl-e --language java,cpp,js``: install the toolchains of
MultiPL-E's languages that Debian packages (apt-get, as root), check each by running its trivial
program in the sandbox (which also times it: the limits its programs get), and report what could
not be had and why. Exit status: 0 when every language asked for is ready, 1 when some are not."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import TextIO

from ..datasets.multipl_e import support_files
from ..errors import InfrastructureError
from ..languages.catalog import KIT_LANGUAGES, LANGUAGES, Language
from ..languages.judge import Calibration, ProgramJudge
from ..languages.toolchain import installed
from ..sandbox import backend
from .build import StatusLine

NAME = "multipl-e"
APT = ("apt-get", "-y", "-q", "--no-install-recommends", "install")


def languages(value: str | None) -> list[Language]:
    """--language: names separated by commas, or all (default: the kit's seven)."""
    names = list(LANGUAGES) if value == "all" else value.split(",") if value else list(KIT_LANGUAGES)
    unknown = [name for name in names if name not in LANGUAGES]
    if unknown:
        raise ValueError(f"--language {unknown[0]}: unknown; known: {', '.join(LANGUAGES)}, or all")
    return [LANGUAGES[name] for name in names]


def run(value: str | None) -> int:
    """The command: the languages of ``--language`` made ready, or the usage error (status 2)."""
    try:
        wanted = languages(value)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return make(wanted, support_files())


def make(wanted: list[Language], support: dict[str, bytes], stream: TextIO = sys.stdout) -> int:
    status = StatusLine(stream)
    problems: dict[str, str] = {}
    try:
        missing = [language for language in wanted if not installed(language)]
        if any(not language.packages for language in missing):
            problems.update({lang.name: f"Debian has no package: get it from {lang.install}" for lang in missing})
        packaged = [language for language in missing if language.packages]
        if packaged:
            problems.update(_apt(packaged, status))
        ready = [language for language in wanted if language.name not in problems]
        checked = _check(ready, support, status)
    finally:
        status.end()
    for language in wanted:
        print(f"{language.name:6} {problems.get(language.name) or checked[language.name]}", file=stream)
    return 1 if problems or any(not line.startswith("ready") for line in checked.values()) else 0


def _apt(languages: list[Language], status: StatusLine) -> dict[str, str]:
    """Each language's packages, one language at a time (a package that will not install spoils
    only its own language); what apt-get said of those that failed."""
    if os.geteuid() != 0:
        return {
            language.name: f"not installed: run as root, or apt-get install {' '.join(language.packages)}"
            for language in languages
        }
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    status.show("apt-get update")
    subprocess.run(["apt-get", "-q", "update"], capture_output=True, env=env, check=False)
    failed = {}
    for language in languages:
        status.show(f"installing {language.title}", " ".join(language.packages))
        done = subprocess.run([*APT, *language.packages], capture_output=True, text=True, env=env, check=False)
        if done.returncode != 0:
            said = (done.stderr.strip() or done.stdout.strip()).splitlines()[-1:] or [f"status {done.returncode}"]
            failed[language.name] = f"apt-get install {' '.join(language.packages)} failed: {said[0]}"
        elif not installed(language):
            failed[language.name] = f"installed {' '.join(language.packages)}, but {language.tools} are not on PATH"
    return failed


def _check(languages: list[Language], support: dict[str, bytes], status: StatusLine) -> dict[str, str]:
    """Each toolchain's trivial program, run (and timed) in the sandbox: "ready" and its times, or why not."""
    sandbox = backend("process")()
    judge = ProgramJudge(sandbox, support)
    said = {}
    try:
        for language in languages:
            status.show(f"checking {language.title}", "its trivial program in the sandbox")
            try:
                _, calibration = judge.calibrated(language)
            except InfrastructureError as exc:
                said[language.name] = str(exc)
                continue
            said[language.name] = ready(language, calibration)
    finally:
        sandbox.close()
    return said


def ready(language: Language, calibration: Calibration) -> str:
    """What a checked toolchain's line says: its trivial program's times, and its programs' limits."""
    budget = calibration.budget
    if not language.compile:
        return f"ready: its trivial program ran in {calibration.run_s:.2f} s; a program gets {budget.run_s:g} s to run"
    times = f"compiled in {calibration.compile_s:.2f} s and ran in {calibration.run_s:.2f} s"
    limits = f"{budget.compile_s:g} s to compile, {budget.run_s:g} s to run"
    return f"ready: its trivial program {times}; a program gets {limits}"
