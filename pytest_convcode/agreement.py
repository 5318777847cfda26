"""``python -m pytest_convcode.agreement RUN_DIR...``: do ConvCodeBench and ConvCodeWorld rank models alike?

ConvCodeBench is the cheap, reproducible stand-in for ConvCodeWorld (issue 18); it is worth running
only while it orders models as the live benchmark does. Given the run folders of several models in
both, this pairs the runs by ``summary["model"]`` and, per suite and feedback setting, ranks the
models by MRR in each and says how well the two rankings agree: Spearman's rank correlation and
Kendall's tau (scipy's, ties included).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from .errors import UsageError
from .feedback import ALL_SETTINGS

# summary.json's section of each benchmark -> its name in tables
BENCHMARKS = {"conversations": "ConvCodeWorld", "convcodebench": "ConvCodeBench"}
WORLD, BENCH = BENCHMARKS
MIN_MODELS = 3  # a rank correlation of two models is +1 or -1 whatever they scored
LABELS = {setting.id: setting.label for setting in ALL_SETTINGS}
ORDER = {setting.id: index for index, setting in enumerate(ALL_SETTINGS)}  # the paper's


@dataclass(frozen=True)
class RunSummary:
    """The part of one run's summary.json that the comparison needs."""

    path: Path
    model: str
    finished: datetime
    sections: Mapping[str, Mapping[str, Mapping[str, Any]]]  # benchmark section -> "<suite> <setting>" -> scores


def read_run(path: Path) -> RunSummary:
    """A run folder's (or a summary.json file's) summary; a UsageError naming the path otherwise."""
    file = path / "summary.json" if path.is_dir() else path
    try:
        summary = json.loads(file.read_text())
    except FileNotFoundError:
        raise UsageError(f"{file}: no such file; give run folders (reports/<run-id>) or their summary.json") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"{file}: not a readable summary.json ({exc})") from None
    if not isinstance(summary, dict) or not isinstance(summary.get("model"), str):
        raise UsageError(f"{file}: not a run's summary.json (it names no model)")
    try:
        finished = datetime.strptime(summary.get("finished", ""), "%Y-%m-%dT%H:%M:%S%z")
    except (TypeError, ValueError):
        raise UsageError(f"{file}: its 'finished' is not a time like 2026-11-21T21:49:00+0000") from None
    sections = {name: summary[name] for name in BENCHMARKS if isinstance(summary.get(name), dict) and summary[name]}
    if not sections:
        raise UsageError(f"{file}: neither a ConvCodeWorld nor a ConvCodeBench run (no conversation scores)")
    return RunSummary(path=file, model=summary["model"], finished=finished, sections=sections)


@dataclass(frozen=True)
class Row:
    """One model's MRR (percent) and rank (1: the best; tied models share the better rank) in each."""

    model: str
    world_mrr: float
    world_rank: int
    bench_mrr: float
    bench_rank: int


@dataclass(frozen=True)
class SettingAgreement:
    """How the two benchmarks rank the models in one suite and feedback setting."""

    group: str  # "bigcodebench cf-ef_full-expert"
    label: str  # "bigcodebench CF+EF(full)+expert"
    rows: tuple[Row, ...]  # by ConvCodeWorld's rank
    spearman: float | None  # None: fewer than MIN_MODELS, or one benchmark scores them all alike
    kendall: float | None
    left_out: tuple[str, ...]  # "model (no ConvCodeBench score)": models with both runs, not both scores here

    def verdict(self) -> str:
        """The correlations, or why there are none."""
        if len(self.rows) < MIN_MODELS:
            return f"{len(self.rows)} model(s): too few for a rank correlation ({MIN_MODELS} needed)"
        if self.spearman is None or self.kendall is None:
            return f"{len(self.rows)} models: no rank correlation, one benchmark gives them all the same MRR"
        return f"Spearman {self.spearman:.3f}, Kendall's tau {self.kendall:.3f} over {len(self.rows)} models"


@dataclass(frozen=True)
class Agreement:
    settings: tuple[SettingAgreement, ...]
    left_out: tuple[str, ...]  # "model: ConvCodeWorld run only (path)"
    notes: tuple[str, ...]  # which of several runs of a model was taken


def agreement(runs: Sequence[RunSummary]) -> Agreement:
    """Pair the runs by model (the newest of several of one model and benchmark) and compare the
    rankings in each "<suite> <setting>" that some model has in both benchmarks."""
    newest, notes = _newest(runs)
    models = sorted({model for benchmark in newest.values() for model in benchmark})
    paired = [model for model in models if all(model in newest[b] for b in BENCHMARKS)]
    left_out = tuple(
        f"{model}: {BENCHMARKS[b]} run only ({newest[b][model].path})"
        for model in models
        if model not in paired
        for b in BENCHMARKS
        if model in newest[b]
    )
    groups = {group for model in paired for group in newest[WORLD][model].sections[WORLD]}
    groups = {group for group in groups if any(_both(newest, model, group) for model in paired)}
    settings = tuple(_compare(group, newest, paired) for group in sorted(groups, key=_group_order))
    return Agreement(settings=settings, left_out=left_out, notes=notes)


def _newest(runs: Sequence[RunSummary]) -> tuple[dict[str, dict[str, RunSummary]], tuple[str, ...]]:
    """Per benchmark, each model's newest run (by when it finished), and a note where there were several."""
    found: dict[str, dict[str, list[RunSummary]]] = {b: defaultdict(list) for b in BENCHMARKS}
    for run in runs:
        for benchmark in run.sections:
            found[benchmark][run.model].append(run)
    newest: dict[str, dict[str, RunSummary]] = {b: {} for b in BENCHMARKS}
    notes = []
    for benchmark, by_model in found.items():
        for model, several in sorted(by_model.items()):
            taken = newest[benchmark][model] = max(several, key=lambda run: run.finished)
            if len(several) > 1:
                notes.append(
                    f"{model}: {len(several)} {BENCHMARKS[benchmark]} runs, the newest taken: "
                    f"{taken.path} (finished {taken.finished.isoformat()})"
                )
    return newest, tuple(notes)


def _both(newest: Mapping[str, Mapping[str, RunSummary]], model: str, group: str) -> tuple[float, float] | None:
    """A model's ConvCodeWorld and ConvCodeBench MRR in a group, where it has both."""
    world, bench = (_mrr(newest[b][model], b, group) for b in BENCHMARKS)
    return None if world is None or bench is None else (world, bench)


def _mrr(run: RunSummary, benchmark: str, group: str) -> float | None:
    mrr = (run.sections[benchmark].get(group) or {}).get("mrr")
    return float(mrr) if isinstance(mrr, int | float) and not isinstance(mrr, bool) else None


def _group_order(group: str) -> tuple[str, int, str]:
    suite, _, setting = group.partition(" ")
    return suite, ORDER.get(setting, len(ORDER)), setting


def _compare(group: str, newest: Mapping[str, Mapping[str, RunSummary]], paired: Sequence[str]) -> SettingAgreement:
    scores = {model: both for model in paired if (both := _both(newest, model, group))}
    left_out = tuple(
        f"{model} (no {BENCHMARKS[b]} score)"
        for model in paired
        if model not in scores
        for b in BENCHMARKS
        if _mrr(newest[b][model], b, group) is None
    )
    world = [w for w, _ in scores.values()]
    bench = [b for _, b in scores.values()]
    rows = sorted(
        map(Row, scores, world, _ranks(world), bench, _ranks(bench)),
        key=lambda row: (row.world_rank, row.bench_rank, row.model),
    )
    spearman = kendall = None
    if len(scores) >= MIN_MODELS and len(set(world)) > 1 and len(set(bench)) > 1:
        spearman, kendall = _correlations(world, bench)
    suite, _, setting = group.partition(" ")
    return SettingAgreement(
        group=group,
        label=f"{suite} {LABELS.get(setting, setting)}",
        rows=tuple(rows),
        spearman=spearman,
        kendall=kendall,
        left_out=left_out,
    )


def _ranks(mrrs: Sequence[float]) -> list[int]:
    """Competition ranks, highest MRR first: 62, 50, 50, 41 -> 1, 2, 2, 4."""
    return [1 + sum(other > mrr for other in mrrs) for mrr in mrrs]


def _correlations(world: Sequence[float], bench: Sequence[float]) -> tuple[float, float]:
    """Spearman's rho and Kendall's tau-b of two benchmarks' MRRs (neither constant)."""
    try:
        from scipy import stats
    except ImportError:
        raise UsageError("the agreement needs scipy: pip install 'pytest-convcode[convcodebench]'") from None
    return float(stats.spearmanr(world, bench).statistic), float(stats.kendalltau(world, bench).statistic)


def format_agreement(result: Agreement) -> str:
    """The text table: per setting, the correlations and the models ranked side by side."""
    lines = [f"note: {note}" for note in result.notes]
    lines += [f"left out: {why}" for why in result.left_out]
    if not result.settings:
        lines.append("no model has both a ConvCodeWorld and a ConvCodeBench run of the same suite and setting")
    for setting in result.settings:
        width = max(len("model"), *(len(row.model) for row in setting.rows))
        world, bench = BENCHMARKS.values()
        lines += ["", f"{setting.label}: {setting.verdict()}"]
        lines.append(f"  {'model':<{width}}  {world} MRR  rank  {bench} MRR  rank")
        for row in setting.rows:
            scores = f"{row.world_mrr:>17.1f}  {row.world_rank:>4}  {row.bench_mrr:>17.1f}  {row.bench_rank:>4}"
            lines.append(f"  {row.model:<{width}}  {scores}")
        lines += [f"  left out: {why}" for why in setting.left_out]
    return "\n".join(lines).lstrip("\n")


def render_html(result: Agreement) -> str:
    """The same tables as one self-contained page, in the HTML report's style (its template folder)."""
    loader = jinja2.PackageLoader("pytest_convcode.report", "templates")
    environment = jinja2.Environment(loader=loader, autoescape=True, undefined=jinja2.StrictUndefined)
    css = (resources.files("pytest_convcode.report") / "templates" / "report.css").read_text(encoding="utf-8")
    return environment.get_template("agreement.html.j2").render(result=result, css=Markup(css))


def main(argv: Sequence[str] | None = None) -> int:
    """Print the agreement; 0 when printed, 2 (one line on stderr) when an input is not a run of either."""
    parser = argparse.ArgumentParser(
        prog="python -m pytest_convcode.agreement",
        description="Spearman and Kendall correlation between ConvCodeWorld's and ConvCodeBench's "
        "MRR rankings of several models, per feedback setting.",
    )
    parser.add_argument(
        "runs", type=Path, nargs="+", metavar="RUN_DIR", help="run folders (or their summary.json) of both benchmarks"
    )
    parser.add_argument("--html", type=Path, metavar="OUT", help="also write the tables as an HTML page")
    args = parser.parse_args(argv)
    try:
        result = agreement([read_run(path) for path in args.runs])
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_agreement(result))
    if args.html:
        args.html.write_text(render_html(result), encoding="utf-8")
        print(f"wrote {args.html}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
