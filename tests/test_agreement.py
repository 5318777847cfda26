"""``python -m pytest_convcode.agreement``: ConvCodeWorld's and ConvCodeBench's rankings of models
compared, from summary.json files written here by hand in the shape the two kinds write."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pytest_convcode.agreement import LABELS, agreement, main, read_run
from pytest_convcode.errors import UsageError
from pytest_convcode.summary import Items, build_summary

EXPERT = "bigcodebench cf-ef_full-expert"
EXPERT_LABEL = "bigcodebench CF+EF(full)+expert"
NOVICE = "bigcodebench cf-ef_partial-novice"
# summary.json's required options (its schema), the model's apart
SETTINGS: dict[str, Any] = {"samples": 1, "temperature": 0.0, "max_tokens": 512, "feedback": None, "max_turns": 10}
SETTINGS |= {"sandbox": "process", "workers": 0}


def write_run(
    folder: Path, model: str, benchmark: str, mrrs: dict[str, float], finished: str = "2026-11-21T21:49:00+0000"
) -> Path:
    """A run folder with the summary.json of a ConvCodeWorld ("conversations") or ConvCodeBench run."""
    entries: dict[str, dict[str, Any]] = {}
    for group, mrr in mrrs.items():
        scores = {"tasks": 4, "mrr": mrr, "recall": mrr}
        setting = group.split(" ", 1)[1]
        if benchmark == "conversations":
            curve = {"curve": [mrr] * 11}
            extra = {"errors": 0, "user_feedback": 0, "leaks": 0, "excluding_errors": scores | curve}
            entries[group] = {"setting": setting, "turns": 11, **scores, **curve, **extra}
        else:
            label = LABELS[setting]
            entries[group] = {"setting": setting, "label": label, "reference": "reports/ref", "turns": 10, **scores}
            entries[group] |= {"pass_at_turn": [mrr] * 11, "turn0": 10.0, "errors": 0}
    summary = build_summary(
        run_id=folder.name,
        model=model,
        model_identity={},
        settings=SETTINGS | {"model": model},
        records=[],
        sections={},
        suites={},
        started=0.0,
        items=Items(planned=0, complete=True),
        gates=[],
        baseline=None,
    )
    summary |= {"finished": finished, benchmark: entries}
    folder.mkdir(parents=True)
    (folder / "summary.json").write_text(json.dumps(summary))
    return folder


def runs(tmp_path: Path, world: dict[str, float], bench: dict[str, float], group: str = EXPERT) -> list[Path]:
    """One ConvCodeWorld and one ConvCodeBench run per model, with these MRRs in one setting."""
    world_runs = [write_run(tmp_path / f"ccw-{m}", m, "conversations", {group: mrr}) for m, mrr in world.items()]
    return world_runs + [write_run(tmp_path / f"ccb-{m}", m, "convcodebench", {group: mrr}) for m, mrr in bench.items()]


def run_main(paths: list[Path], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = main([str(path) for path in paths])
    out, err = capsys.readouterr()
    return status, out, err


def test_three_models_ranked_alike_give_one_and_the_table_shows_them_side_by_side(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = {"small": 20.0, "big-coder": 62.5, "mid": 41.0}
    paths = runs(tmp_path, world, {"small": 15.0, "big-coder": 55.0, "mid": 30.25})
    status, out, err = run_main(paths, capsys)
    assert (status, err) == (0, "")
    assert out == (
        "bigcodebench CF+EF(full)+expert: Spearman 1.000, Kendall's tau 1.000 over 3 models\n"
        "  model      ConvCodeWorld MRR  rank  ConvCodeBench MRR  rank\n"
        "  big-coder               62.5     1               55.0     1\n"
        "  mid                     41.0     2               30.2     2\n"
        "  small                   20.0     3               15.0     3\n"
    )


def test_a_reversed_ranking_gives_minus_one(tmp_path: Path) -> None:
    paths = runs(tmp_path, {"a": 10.0, "b": 20.0, "c": 30.0}, {"a": 30.0, "b": 20.0, "c": 10.0})
    [setting] = agreement([read_run(path) for path in paths]).settings
    assert (setting.spearman, setting.kendall) == (-1.0, -1.0)
    ranks = [(row.model, row.world_rank, row.bench_rank) for row in setting.rows]
    assert ranks == [("c", 1, 3), ("b", 2, 2), ("a", 3, 1)]


def test_ties_share_a_rank_and_count_as_ties_in_both_correlations(tmp_path: Path) -> None:
    # ConvCodeWorld ties b and c. By hand: average ranks x = 1, 2.5, 2.5, 4 and y = 1, 2, 3, 4,
    # so rho = 4.5 / sqrt(4.5 * 5) = sqrt(0.9); of the 6 pairs 5 agree and one is tied in x only,
    # so tau-b = 5 / sqrt((6 - 1) * 6) = 5 / sqrt(30).
    paths = runs(tmp_path, {"a": 60.0, "b": 50.0, "c": 50.0, "d": 40.0}, {"a": 70.0, "b": 55.0, "c": 45.0, "d": 30.0})
    [setting] = agreement([read_run(path) for path in paths]).settings
    assert setting.spearman == pytest.approx(math.sqrt(0.9))
    assert setting.kendall == pytest.approx(5 / math.sqrt(30))
    assert [(row.model, row.world_rank, row.bench_rank) for row in setting.rows] == [
        ("a", 1, 1),
        ("b", 2, 2),
        ("c", 2, 3),
        ("d", 4, 4),
    ]


def test_one_benchmark_scoring_every_model_alike_has_no_correlation(tmp_path: Path) -> None:
    paths = runs(tmp_path, {"a": 10.0, "b": 20.0, "c": 30.0}, {"a": 50.0, "b": 50.0, "c": 50.0})
    [setting] = agreement([read_run(path) for path in paths]).settings
    assert (setting.spearman, setting.kendall) == (None, None)
    assert setting.verdict() == "3 models: no rank correlation, one benchmark gives them all the same MRR"


def test_fewer_than_three_models_says_so_instead_of_a_number(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run_main(runs(tmp_path, {"a": 10.0, "b": 20.0}, {"a": 15.0, "b": 25.0}), capsys)
    assert status == 0
    assert out.splitlines()[0] == f"{EXPERT_LABEL}: 2 model(s): too few for a rank correlation (3 needed)"
    assert "Spearman" not in out


def test_models_without_both_runs_or_both_scores_are_listed_as_left_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = runs(tmp_path, {"a": 10.0, "b": 20.0, "c": 30.0, "only-world": 5.0}, {"a": 1.0, "b": 2.0, "c": 3.0})
    paths += [
        write_run(tmp_path / "ccw-d", "d", "conversations", {EXPERT: 40.0, NOVICE: 9.0}),
        write_run(tmp_path / "ccb-d", "d", "convcodebench", {NOVICE: 8.0}),
    ]
    status, out, _ = run_main(paths, capsys)
    lines = out.splitlines()
    assert status == 0
    assert lines[0] == f"left out: only-world: ConvCodeWorld run only ({tmp_path / 'ccw-only-world' / 'summary.json'})"
    expert = lines.index("bigcodebench CF+EF(full)+expert: Spearman 1.000, Kendall's tau 1.000 over 3 models")
    assert lines[expert + 5] == "  left out: d (no ConvCodeBench score)"
    # The paper's order: CF+EF(partial)+novice comes before CF+EF(full)+expert.
    assert lines[2] == "bigcodebench CF+EF(partial)+novice: 1 model(s): too few for a rank correlation (3 needed)"
    assert lines.index(lines[2]) < expert


def test_of_several_runs_of_one_model_and_benchmark_the_newest_counts_with_a_note(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = runs(tmp_path, {"a": 10.0, "b": 20.0, "c": 30.0}, {"a": 1.0, "b": 2.0, "c": 3.0})
    # Listed first, finished last: 21:00 at -0100 is 22:00 at +0000, after the others' 21:49.
    newer = write_run(tmp_path / "ccw-c-again", "c", "conversations", {EXPERT: 0.0}, "2026-11-21T21:00:00-0100")
    older = write_run(tmp_path / "ccw-c-old", "c", "conversations", {EXPERT: 99.0}, "2026-11-20T08:00:00+0000")
    status, out, _ = run_main([newer, older, *paths], capsys)
    assert status == 0
    assert out.splitlines()[0] == (
        f"note: c: 3 ConvCodeWorld runs, the newest taken: {newer / 'summary.json'} "
        "(finished 2026-11-21T21:00:00-01:00)"
    )
    [setting] = agreement([read_run(path) for path in [newer, older, *paths]]).settings
    assert [row.model for row in setting.rows] == ["b", "a", "c"]
    assert setting.spearman == pytest.approx(-0.5)


def test_html_shows_the_same_tables_escaped_and_fetches_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = runs(
        tmp_path, {"<b>ig": 30.0, "mid": 20.0, "small": 10.0, "solo": 5.0}, {"<b>ig": 3.0, "mid": 2.0, "small": 1.0}
    )
    out = tmp_path / "agreement.html"
    status, printed, _ = run_main([*paths, Path(f"--html={out}")], capsys)
    page = out.read_text()
    assert status == 0 and printed.endswith(f"wrote {out}\n")
    assert f"<h2>{EXPERT_LABEL}</h2>\n<p>Spearman 1.000, Kendall&#39;s tau 1.000 over 3 models</p>" in page
    rows = re.findall(r"<tr><td>(.*?)</td><td class=\"num\">(.*?)</td><td class=\"num\">(\d+)</td>", page)
    assert rows == [("&lt;b&gt;ig", "30.0", "1"), ("mid", "20.0", "2"), ("small", "10.0", "3")]
    assert f"left out: solo: ConvCodeWorld run only ({tmp_path / 'ccw-solo' / 'summary.json'})" in page
    assert "<script" not in page and "default-src 'none'" in page


def test_a_summary_json_file_is_taken_as_its_run(tmp_path: Path) -> None:
    folder = write_run(tmp_path / "run", "a", "convcodebench", {EXPERT: 1.0})
    assert read_run(folder / "summary.json") == read_run(folder)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "no such file; give run folders (reports/<run-id>) or their summary.json"),
        ("{not json", "not a readable summary.json"),
        (json.dumps({"finished": "2026-11-21T21:49:00+0000"}), "not a run's summary.json (it names no model)"),
        (json.dumps({"model": "a", "finished": "yesterday"}), "its 'finished' is not a time like"),
        (
            json.dumps({"model": "a", "finished": "2026-11-21T21:49:00+0000", "conversations": {}, "scores": {"x": 1}}),
            "neither a ConvCodeWorld nor a ConvCodeBench run (no conversation scores)",
        ),
    ],
)
def test_bad_input_is_one_line_naming_the_path_and_exit_status_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, problem: str
) -> None:
    good = runs(tmp_path, {"a": 1.0}, {"a": 2.0})
    if content is None:  # a folder without summary.json
        bad = tmp_path / "bad"
        bad.mkdir()
        named = bad / "summary.json"
    else:  # a file given by its path, not named summary.json: the schema check of tmp_path would refuse it
        bad = named = tmp_path / "bad.json"
        bad.write_text(content)
    status, out, err = run_main([*good, bad], capsys)
    assert (status, out) == (2, "")
    assert err.startswith(f"error: {named}: {problem}")
    assert err.count("\n") == 1
    with pytest.raises(UsageError):
        read_run(bad)


def test_python_dash_m_runs_it(tmp_path: Path) -> None:
    paths = runs(tmp_path, {"a": 1.0, "b": 2.0, "c": 3.0}, {"a": 1.0, "b": 2.0, "c": 3.0})
    command = [sys.executable, "-m", "pytest_convcode.agreement"]
    ok = subprocess.run([*command, *map(str, paths)], capture_output=True, text=True)
    assert (ok.returncode, ok.stderr) == (0, "")
    assert "Spearman 1.000, Kendall's tau 1.000 over 3 models" in ok.stdout
    missing = subprocess.run([*command, str(tmp_path / "nowhere")], capture_output=True, text=True)
    assert (missing.returncode, missing.stdout) == (2, "")
    assert missing.stderr.startswith(f"error: {tmp_path / 'nowhere'}: no such file")
