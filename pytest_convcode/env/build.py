"""Making an environment: a virtual environment, its requirements installed by pip, then every
module the tasks import imported once there. Each step shows on one status line, since pip's
own output for seventy requirements is hundreds of lines and the whole takes minutes."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from . import Environment, Made, sha256

IMPORT_CHECK = Path(__file__).with_name("import_check.py")
_COLLECTING = re.compile(r"^(?:Collecting|Processing) (\S+)(.*)$")  # from an index, or a local wheel
_SATISFIED = re.compile(r"^Requirement already satisfied: (\S+)(.*)$")
_INSTALLING = re.compile(r"^Installing collected packages: (.*)$")


class BuildError(Exception):
    """A step of the making failed: pip, or the virtual environment itself."""


class StatusLine:
    """One line that says what is happening and for how long: rewritten in place every second on a
    terminal (pip is silent for a minute while it unpacks), else printed when its step changes and
    every ``every`` seconds."""

    def __init__(self, stream: TextIO, every: float = 15.0) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.every = every
        self.start = time.monotonic()
        self.printed_at = -every
        self.step = self.detail = ""
        self.lock = threading.Lock()
        self.ended = threading.Event()
        if self.tty:
            threading.Thread(target=self._tick, daemon=True).start()

    def show(self, step: str, detail: str = "") -> None:
        with self.lock:
            now = time.monotonic()
            changed, self.step, self.detail = step != self.step, step, detail
            if self.tty:
                self.stream.write("\r" + self._line(now)[:160] + "\x1b[K")
            elif changed or now - self.printed_at >= self.every:
                self.stream.write(self._line(now) + "\n")
                self.printed_at = now
            self.stream.flush()

    def end(self) -> None:
        self.ended.set()
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()

    def _line(self, now: float) -> str:
        seconds = int(now - self.start)
        return f"[{seconds // 60}:{seconds % 60:02d}] {self.step}" + (f": {self.detail}" if self.detail else "")

    def _tick(self) -> None:
        while not self.ended.wait(1.0):
            self.show(self.step, self.detail)


def requirement_count(requirements: Path) -> int:
    lines = (line.partition("#")[0].strip() for line in requirements.read_text().splitlines())
    return sum(1 for line in lines if line and not line.startswith("-"))


def make_venv(path: Path, base_python: str, status: StatusLine) -> Path:
    python = path / "bin" / "python"
    if not python.exists():
        status.show("making the virtual environment", str(path))
        done = subprocess.run([base_python, "-m", "venv", str(path)], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise BuildError(f"{base_python} -m venv {path} failed: {done.stderr.strip()[-500:]}")
    return python


def install(python: Path, requirements: Path, status: StatusLine) -> None:
    """``pip install -r requirements``, counting what pip says it collects."""
    total = requirement_count(requirements)
    command = [str(python), "-m", "pip", "install", "--no-input", "--disable-pip-version-check"]
    command += ["--progress-bar", "off", "-r", str(requirements)]
    named = dependencies = 0
    errors: list[str] = []
    step, detail = "installing requirements", f"0 of {total}"
    status.show(step, detail)
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as pip:
        assert pip.stdout is not None
        for line in pip.stdout:
            line = line.rstrip()
            if found := _COLLECTING.match(line) or _SATISFIED.match(line):
                tail = found.group(2)
                if "(from " in tail and "(from -r " not in tail:
                    dependencies += 1
                else:
                    named += 1
                detail = f"{min(named, total)} of {total} (+{dependencies} dependencies): {found.group(1)}"
            elif installing := _INSTALLING.match(line):
                step = f"installing {len(installing.group(1).split(','))} packages"
                detail = "unpacking and compiling"
            elif line.startswith("ERROR:") or errors:
                errors.append(line)
            status.show(step, detail)  # on every line: the time moves on while pip works
    if pip.returncode != 0:
        raise BuildError("pip install failed: " + (" ".join(errors)[-800:] or f"exit status {pip.returncode}"))


def check(python: Path, modules: list[str], status: StatusLine) -> dict[str, str]:
    """Import each module in the environment: those that fail, with why."""
    missing: dict[str, str] = {}
    done = 0
    command = [str(python), str(IMPORT_CHECK), *modules]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) as checker:
        assert checker.stdout is not None
        for line in checker.stdout:
            name, error = json.loads(line)
            done += 1
            if error is not None:
                missing[name] = error
            status.show("checking imports", f"{done} of {len(modules)}: {name}")
    if checker.returncode != 0 or done != len(modules):
        crashed = modules[done] if done < len(modules) else "?"
        raise BuildError(f"the import check stopped at {crashed!r} (exit status {checker.returncode})")
    return missing


def make(env: Environment, path: Path, requirements: Path, base_python: str, stream: TextIO) -> Made:
    status = StatusLine(stream)
    try:
        python = make_venv(path, base_python, status)
        install(python, requirements, status)
        modules = sorted(env.modules())
        missing = check(python, modules, status)
    finally:
        status.end()
    return Made(str(python), sha256(requirements), missing, _now())


def check_existing(env: Environment, python: Path, stream: TextIO) -> Made:
    """An interpreter made elsewhere: its imports checked, no requirements file of ours."""
    status = StatusLine(stream)
    try:
        missing = check(python, sorted(env.modules()), status)
    finally:
        status.end()
    return Made(str(python), "", missing, _now())


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def default_base_python() -> str:
    """The interpreter the environment is made from: this one's base, never a venv in a venv."""
    return getattr(sys, "_base_executable", sys.executable)
