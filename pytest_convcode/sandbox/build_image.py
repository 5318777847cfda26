"""``python -m pytest_convcode.sandbox build-image [RECIPE...]``: make the docker sandbox's images
from this machine's files (``images.py``), each unless one with the same inputs is there, and say
how long it took. Exit status 0 when all were made or found, 2 when one could not be."""

from __future__ import annotations

import argparse
import sys

from ..errors import InfrastructureError, UsageError
from . import images
from .docker import connect

IMPORT_SECONDS = 1800  # the daemon answers once it has taken the whole tar (BigCodeBench's: gigabytes)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog=images.BUILD_COMMAND,
        description="Make the docker sandbox's images from this machine's files (never pulled).",
    )
    parser.add_argument(
        "recipes",
        nargs="*",
        default=["base"],
        metavar="RECIPE",
        help="base (this interpreter, standard library only; the default), bigcodebench (the environment "
        "`python -m pytest_convcode.env bigcodebench` made) or repo:SPEC (a repository's environment and tree)",
    )
    parser.add_argument("--docker-host", default="", help="the daemon's URL (default: DOCKER_HOST, else the local one)")
    args = parser.parse_args(argv)
    try:
        client = connect(args.docker_host, timeout=IMPORT_SECONDS)
        for name in args.recipes:
            built = images.build(client, images.recipe(name))
            done = "built" if built.new else "up to date"
            print(f"{built.tag}: {done} in {built.seconds:.1f} s ({built.files} files of this machine)")
    except (UsageError, InfrastructureError) as exc:
        print(f"build-image: {exc}", file=sys.stderr)
        return 2
    return 0
