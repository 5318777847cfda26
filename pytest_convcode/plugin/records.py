"""Records and results: each item's record is written to results.jsonl as its report reaches the
process that keeps the run's log; at the end, results.jsonl compacted to one record per item,
summary.json (with the comparison and the gates, and whether the run got through all its items),
the samples file, the HTML report and the exit status."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .. import gates
from ..comparison import Baseline, load_baseline
from ..errors import UsageError
from ..gates import Gate
from ..kinds import KINDS
from ..options import add_options, from_config, option
from ..records import item_key, kind_of
from ..summary import Items, build_summary
from . import options_group
from .collection import case_of
from .session import RUN, Run

MARKER = "convcode"  # on every benchmark item: its reports say so, on the controller too


def _gates(texts: list[str]) -> tuple[Gate, ...]:
    return tuple(gates.parse(text) for text in texts)


@dataclass(frozen=True)
class ReportOptions:
    gate: tuple[Gate, ...] | None = option(
        "--gate",
        action="append",
        metavar="EXPR",
        parse=_gates,
        help="fail the run unless EXPR holds, e.g. 'pass@1>=0.8' (errors count as not passed), "
        "'pass@1(ran)>=0.8' (excluding errors), 'mrr[cf-ef_full]>=40', 'pass@1>=baseline-1.0' (repeatable)",
    )
    compare: Path | None = option(
        "--compare",
        type=Path,
        metavar="PATH",
        help="an earlier run's folder or its summary.json: report deltas and the problems that flipped",
    )
    allow_incomplete_baseline: bool = option(
        "--allow-incomplete-baseline",
        action="store_true",
        default=False,
        record=False,
        help="let --compare take a run that stopped early (its summary says complete: false)",
    )
    html_report: str | None = option(
        "--html-report",
        metavar="PATH",
        help="write the HTML report here (default: the run's report.html); 'none': no report",
    )


@dataclass(frozen=True)
class Reporting:
    options: ReportOptions
    baseline: Baseline | None  # --compare, read on the controller


REPORTING = pytest.StashKey[Reporting]()


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(ReportOptions, options_group(parser))


def pytest_configure(config: pytest.Config) -> None:
    try:
        options = from_config(ReportOptions, config)
        relative = [g.text for g in options.gate or () if g.relative]
        if relative and options.compare is None:
            raise UsageError(f"gate {relative[0]!r} compares with a baseline: give --compare PATH (an earlier run)")
        controller = not hasattr(config, "workerinput")
        baseline = None
        if options.compare is not None and controller:
            baseline = load_baseline(options.compare, options.allow_incomplete_baseline)
    except UsageError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[REPORTING] = Reporting(options, baseline)
    if controller:
        config.pluginmanager.register(_LogHook(config), "convcode-log")


@pytest.hookimpl(trylast=True)  # after -k and --tasks have deselected
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if case_of(item) is not None:
            item.add_marker(MARKER)


class _LogHook:
    """Writes each item's record as its report arrives, on the process that keeps the run's log
    (a plugin object, because the report hooks are not given the config)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        run = self.config.stash.get(RUN, None)
        if run is None or run.log is None:
            return
        records = [v for name, v in report.user_properties if name == "convcode" and isinstance(v, dict)]
        for record in records:
            run.results.records.append(record)
            run.log.append(record)
        benchmark = MARKER in report.keywords
        if report.when == "setup" and not benchmark:
            run.results.other_tests += 1
        if benchmark and report.skipped:
            run.results.skipped += 1
        if report.failed and not records:
            run.results.other_failures += 1


def summarize(config: pytest.Config, items: Items | None = None) -> dict[str, Any] | None:
    """The run's summary, computed once, at sessionfinish (``items``: how far it got), of the
    records in results.jsonl (a resumed run's earlier ones too: the latest of each item)."""
    run = config.stash[RUN]
    results = run.results
    if results.summary is None and run.log is not None and items is not None:
        results.records = run.log.compact(results.records)
    if results.summary is None and results.records and items is not None:
        by_kind: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for record in results.records:
            by_kind[kind_of(record)].append(record)
        sections: dict[str, dict[str, Any]] = {}
        for name, records in by_kind.items():
            for section, values in KINDS.get(name).scores(records).items():
                sections.setdefault(section, {}).update(values)
        reporting = config.stash[REPORTING]
        model = run.services.model
        results.summary = build_summary(
            run_id=run.services.place.run_id,
            model=model.name,
            model_identity=model.identity(),
            settings=run.recorded_settings(),
            records=results.records,
            sections={section: dict(sorted(values.items())) for section, values in sections.items()},
            suites={**results.suites_scored, **run.services.dataset_info()},
            started=results.started,
            items=items,
            gates=reporting.options.gate or (),
            baseline=reporting.baseline,
        )
    return results.summary


@pytest.hookimpl(wrapper=True)  # the summary before the JSON report's (tryfirst) asks for it
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> Generator[None, None, None]:
    _finish(session, exitstatus)
    return (yield)


def _finish(session: pytest.Session, exitstatus: int) -> None:
    run = session.config.stash[RUN]
    if run.log is None:
        return
    summary = summarize(session.config, _items(session, exitstatus, run))
    if summary is None:
        return
    run.log.write_summary(summary)
    run.log.write_samples(run.results.records)
    _write_html(session.config, run)
    if summary["items"]["error"] or not all(g["passed"] for g in summary["gates"]):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    elif not summary["complete"]:  # never OK: its scores are of part of the run
        if exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
    elif exitstatus == pytest.ExitCode.TESTS_FAILED and not run.results.other_failures:
        session.exitstatus = pytest.ExitCode.OK  # wrong answers are measurements, not a failed run


def _items(session: pytest.Session, exitstatus: int, run: Run) -> Items:
    """How far the session got: the benchmark items it collected (all of them less the other
    tests, of those that ran), and whether each has a record or was skipped."""
    results = run.results
    interrupted = exitstatus == pytest.ExitCode.INTERRUPTED
    stop = session.shouldstop or session.shouldfail
    results.stopped = stop if isinstance(stop, str) and stop else "interrupted" if interrupted else ""
    planned = session.testscollected - results.other_tests
    done = len({item_key(record) for record in results.records})
    return Items(planned, complete=not interrupted and done + results.skipped >= planned, skipped=results.skipped)


def _write_html(config: pytest.Config, run: Run) -> None:
    """The HTML report; a failure to draw it is reported, and loses none of the run's files."""
    assert run.log is not None
    out = config.stash[REPORTING].options.html_report or run.log.directory / "report.html"
    if out == "none":
        return
    try:
        from ..report import write_html

        run.results.report = write_html(run.log.directory, Path(out))
    except Exception as exc:  # the results are written already: say so, do not lose them
        run.results.report_problem = f"{type(exc).__name__}: {exc}"
