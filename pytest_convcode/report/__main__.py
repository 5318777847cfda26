"""``python -m pytest_convcode.report RUN_DIR [-o OUT]``: a run folder's HTML report."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from . import ReportError, write_html


def main(argv: Sequence[str] | None = None) -> int:
    """Write the report; 0 when written, 2 (with the reason on stderr) when the folder has no results."""
    parser = argparse.ArgumentParser(
        prog="python -m pytest_convcode.report",
        description="Render a run folder (reports/<run-id>) as one self-contained HTML page.",
    )
    parser.add_argument(
        "run_dir", type=Path, metavar="RUN_DIR", help="the run's folder, e.g. reports/20261121-2149-aa50"
    )
    parser.add_argument("-o", "--out", type=Path, help="the page to write (default: RUN_DIR/report.html)")
    args = parser.parse_args(argv)
    out = args.out or args.run_dir / "report.html"
    started = time.perf_counter()
    try:
        write_html(args.run_dir, out)
    except ReportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    size = out.stat().st_size
    print(f"wrote {out} ({size / 1e6:.1f} MB in {time.perf_counter() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
