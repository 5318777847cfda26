"""``python -m pytest_convcode.export_ccb RUN_DIR OUT.parquet``: a ConvCodeWorld run's
conversations as a ConvCodeBench reference in the official format (docs/conversation-log.md), so
that others can score their models against it as against the published logs."""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from .errors import UsageError
from .feedback import compilation_feedback
from .official_log import Entry, write_official
from .reference_log import SETTINGS, TURNS, ReferenceLog, ReferenceTurn, read_run_folder


def export(run_dir: Path, out: Path) -> ReferenceLog:
    """Write the run's conversations of the five settings with a simulated user to ``out``: per
    setting, ITER=j+1 from the reference's turn j, with ``compile()``'s feedback on its code."""
    log = read_run_folder(run_dir)
    if not log.turns:
        raise UsageError(f"{run_dir}: no conversation in the settings {', '.join(SETTINGS)}; nothing to export")
    compiled = functools.cache(compilation_feedback)  # turn 0 is shared by the settings, a solved turn repeated
    columns: dict[str, list[list[Entry]]] = {}
    for setting, column in SETTINGS.items():
        tasks = sorted(task for task, at in log.turns if at == setting)
        if tasks:
            columns[column] = [
                [_entry(task, log.turns[(task, setting)][turn], compiled) for task in tasks] for turn in range(TURNS)
            ]
    try:
        write_official(columns, out)
    except OSError as exc:
        reason = exc.strerror or exc
        raise UsageError(f"{out}: could not be written ({reason}); give a file path you can write") from None
    return log


def _entry(task: str, turn: ReferenceTurn, compiled: Callable[[str], str]) -> Entry:
    return {
        "task_id": task,
        "previous_code": turn.code,
        "compilation_feedback": compiled(turn.code),
        "execution_feedback": turn.execution,
        "verbal_feedback": turn.verbal,
        "label": str(turn.passed),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """0 when written; 2 with one line on stderr when the run folder cannot be exported."""
    parser = argparse.ArgumentParser(
        prog="python -m pytest_convcode.export_ccb",
        description="Write a ConvCodeWorld run as a ConvCodeBench reference log in the official parquet format.",
    )
    parser.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="the run's folder, e.g. reports/ds67-ccw")
    parser.add_argument("out", type=Path, metavar="OUT.parquet", help="the parquet file to write")
    args = parser.parse_args(argv)
    try:
        log = export(args.run_dir, args.out)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    settings = sorted({setting for _, setting in log.turns})
    tasks = len({task for task, _ in log.turns})
    model = log.model or "a model"
    print(f"wrote {args.out}: {tasks} tasks x {len(settings)} settings ({', '.join(settings)}) of {model}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
