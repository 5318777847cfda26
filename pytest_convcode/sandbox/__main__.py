"""``python -m pytest_convcode.sandbox SUBCOMMAND ...``: each subcommand is a module of its own,
imported only when named (``build-image``: ``build_image.py``; ``serve``: ``serve.py``)."""

from __future__ import annotations

import sys
from collections.abc import Callable


def _build_image(argv: list[str]) -> int:
    from .build_image import main

    return main(argv)


def _serve(argv: list[str]) -> int:
    from .serve import main

    return main(argv)


SUBCOMMANDS: dict[str, Callable[[list[str]], int]] = {"build-image": _build_image, "serve": _serve}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in SUBCOMMANDS:
        print(f"usage: python -m pytest_convcode.sandbox {{{','.join(SUBCOMMANDS)}}} ...", file=sys.stderr)
        return 2
    return SUBCOMMANDS[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main())
