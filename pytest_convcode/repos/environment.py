"""A repository's environment: its source tree, the virtual environment its tests run in, and which
test runner it has. ``python -m pytest_convcode.env repo SPEC`` makes one and records it here;
the suite and the miner find it by the spec their tasks name."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ..errors import UsageError
from ..machine_cache import cache_home
from .source import Source, locate

MAKE_COMMAND = "python -m pytest_convcode.env repo"


@dataclass(frozen=True)
class RepoEnvironment:
    spec: str  # "django==4.0.4" or a local checkout's path
    tree: Path  # the unpacked source tree (read-only: jobs get copy-on-write copies)
    python: Path  # its virtual environment's interpreter (package installed from the tree + test deps)
    runner: str  # "django" (tests/runtests.py) or "pytest"


def runner_of(tree: Path) -> str:
    """Django's own runner where the tree has it, else pytest (which runs unittest tests too)."""
    return "django" if (tree / "tests" / "runtests.py").is_file() else "pytest"


def default_path(source: Source) -> Path:
    return cache_home() / "envs" / f"repo-{source.key}"


def record_file(spec: str) -> Path:
    return cache_home() / "envs" / f"repo-{locate(spec).key}.json"


def save(env: RepoEnvironment, skipped: dict[str, str]) -> None:
    """Record it, with the test requirements that would not install (and why) for a person to read."""
    record = record_file(env.spec)
    record.parent.mkdir(parents=True, exist_ok=True)
    fields = {"spec": env.spec, "tree": str(env.tree), "python": str(env.python), "runner": env.runner}
    made = datetime.now(UTC).isoformat(timespec="seconds")
    record.write_text(json.dumps({**fields, "skipped": skipped, "made": made}, indent=1) + "\n")


def find_environment(spec: str) -> RepoEnvironment:
    """The environment ``python -m pytest_convcode.env repo SPEC`` made; UsageError naming that command if none."""
    record = record_file(spec)
    try:
        found = json.loads(record.read_text())
        env = RepoEnvironment(spec, Path(found["tree"]), Path(found["python"]), found["runner"])
    except (OSError, ValueError, KeyError, TypeError):
        env = None
    if env is None or not env.python.exists() or not env.tree.is_dir():
        raise UsageError(
            f"repository {spec}: no environment is recorded on this machine ({record}); "
            f"make one with `{MAKE_COMMAND} {spec}`"
        )
    return env
