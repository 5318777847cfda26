"""The command line's sandbox and judging options: where candidates run, with which limits, and
against which tests."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

from . import env
from .errors import UsageError
from .options import option
from .sandbox import Limits, MiB


@dataclass(frozen=True)
class SandboxOptions:
    sandbox: str = option("--sandbox", default="process", help="sandbox backend (default: process)")
    sandbox_python: str = option(
        "--sandbox-python",
        default=sys.executable,
        parse=env.sandbox_python,
        help="interpreter that runs candidates (default: this one), or auto: the one "
        f"`{env.MAKE_COMMAND}` made, with the libraries BigCodeBench's tasks need",
    )
    docker_image: str | None = option(
        "--docker-image",
        record=False,  # as --sandbox-url: where the jobs ran
        help="the docker backend's image (default: the newest `python -m pytest_convcode.sandbox build-image` "
        "made for this version, of --sandbox-python's environment where there is one)",
    )
    docker_hosts: tuple[str, ...] | None = option(
        "--docker-host",
        parse=lambda text: tuple(url for url in text.split(",") if url),
        record=False,
        metavar="URL[,URL...]",
        help="the docker backend's daemons (default: DOCKER_HOST, else the local one); jobs spread by their CPUs",
    )
    memory_limit_mib: int = option(
        "--memory-limit",
        default=Limits.memory_bytes // MiB,
        type=int,
        help="address-space limit per candidate, MiB (default: 4096)",
    )
    sandbox_url: str = option(
        "--sandbox-url",
        default="",
        record=False,
        metavar="URL[,URL...]",
        help="--sandbox rest: the sandbox services that run the jobs (python -m pytest_convcode.sandbox serve), "
        "spread by their capacity; CONVCODE_SANDBOX_TOKEN holds their bearer token",
    )

    def __post_init__(self) -> None:
        if (self.sandbox == "rest") != bool(self.sandbox_url):
            raise UsageError("--sandbox rest and --sandbox-url URL[,URL...] go together: the services to run jobs on")

    @property
    def limits(self) -> Limits:
        return Limits(memory_bytes=self.memory_limit_mib * MiB)

    @property
    def backend_options(self) -> dict[str, Any]:
        """What the chosen backend takes beyond the interpreter and the modules it preloads."""
        if self.sandbox == "docker":
            return {"image": self.docker_image, "hosts": self.docker_hosts or ()}
        if self.sandbox == "rest":
            return {"url": self.sandbox_url}
        return {}


@dataclass(frozen=True)
class JudgeOptions:
    time_factor: float = option(
        "--time-factor",
        default=4.0,
        type=float,
        help="CPU-time limit per call as a multiple of the reference's (default: 4)",
    )
    min_time: float = option(
        "--min-time", default=1.0, type=float, help="floor of the CPU-time limit per call, seconds (default: 1)"
    )
    base_only: bool = option(
        "--base-only", default=False, action="store_true", help="run the original tests only, not the plus tests"
    )
    bundled_digests: bool = option(
        "--no-bundled-digests",
        default=True,
        action="store_false",
        record=False,  # the same verdicts either way
        help="judge every answer by this machine's ground truth, made by running the references, even where "
        "its outputs match the digests bundled with the data file",
    )

    @property
    def phases(self) -> tuple[str, ...]:
        return ("base",) if self.base_only else ("base", "plus")
