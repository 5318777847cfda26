"""Evaluation environments: virtual environments whose interpreter runs a suite's candidates.

BigCodeBench's tasks import some sixty libraries this package does not need, at the versions its
tests were written against. ``python -m pytest_convcode.env bigcodebench`` makes such an
environment (``build.py``) and records where; ``--sandbox-python auto`` reads that record.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from ..datasets import bigcodebench
from ..errors import UsageError
from ..machine_cache import cache_home

AUTO = "auto"  # --sandbox-python auto
MAKE_COMMAND = "python -m pytest_convcode.env bigcodebench"
JOB_TMP = "/tmp"  # what the process sandbox mounts over in each job (sandbox/_worker/isolation.py)
HIDDEN = "the sandbox mounts each job's own directory on /tmp, which hides an interpreter kept there"


@dataclass(frozen=True)
class Environment:
    name: str
    requirements: Path  # the pip requirements file it is made from
    modules: Callable[[], dict[str, tuple[str, ...]]]  # module -> the tasks that import it


@dataclass(frozen=True)
class Made:
    """What the record of a made environment keeps."""

    python: str  # its interpreter: what --sandbox-python takes
    requirements_sha256: str
    missing: dict[str, str]  # a module the tasks import that does not import there -> why
    made: str  # when, ISO 8601


def _bigcodebench_modules() -> dict[str, tuple[str, ...]]:
    """Every module a BigCodeBench task's libs, reference solution or tests name, with its tasks."""
    tasks: dict[str, list[str]] = {}
    for task in bigcodebench.load(None, None).tasks.values():
        needed = set(task.libs) | bigcodebench.imported_modules(task.reference_program + "\n" + task.test)
        for module in needed:
            tasks.setdefault(module, []).append(task.task_id)
    return {module: tuple(ids) for module, ids in sorted(tasks.items())}


ENVIRONMENTS = {
    "bigcodebench": Environment(
        "bigcodebench", Path(__file__).with_name("requirements-bigcodebench.txt"), _bigcodebench_modules
    ),
}


def default_path(name: str) -> Path:
    return cache_home() / "envs" / name


def record_file(name: str) -> Path:
    return cache_home() / "envs" / f"{name}.json"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def save(name: str, made: Made) -> None:
    record = record_file(name)
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps(asdict(made), indent=1) + "\n")


def sandbox_python(value: str) -> str:
    """``--sandbox-python``: a path as given, or ``auto``, the BigCodeBench environment made on
    this machine (any suite's candidates can run there: it is a Python with more libraries)."""
    python = _recorded("bigcodebench") if value == AUTO else value
    if hidden_from_jobs(Path(python)):
        raise UsageError(f"--sandbox-python {python}: {HIDDEN}; make the environment elsewhere")
    return python


def hidden_from_jobs(path: Path) -> bool:
    return path.absolute().is_relative_to(JOB_TMP)


def _recorded(name: str) -> str:
    record = record_file(name)
    try:
        python = json.loads(record.read_text())["python"]
    except (OSError, ValueError, KeyError, TypeError):
        python = None
    if not isinstance(python, str) or not Path(python).exists():
        raise UsageError(
            f"--sandbox-python auto: no BigCodeBench environment is recorded on this machine ({record}); "
            f"make one with `{MAKE_COMMAND}`, or pass the interpreter's path"
        )
    return python
