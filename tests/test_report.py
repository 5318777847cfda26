"""The HTML report without a browser: reading run folders, the SVG charts, the diffs, the page's
escaping and self-containment. Run folders are written here by hand, in the plugin's formats."""

from __future__ import annotations

import base64
import difflib
import hashlib
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from pytest_convcode.report import ReportError, load_run, plots, render_html, write_html
from pytest_convcode.report.__main__ import main
from pytest_convcode.report.diff import unified_diff
from pytest_convcode.report.embed import script_json, unpack
from pytest_convcode.report.page import cell

GOLDEN = Path(__file__).resolve().parent / "golden"
HOSTILE = "</script><script>alert(1)</script><!-- <img src=x onerror=alert(2)>"
SVG = "{http://www.w3.org/2000/svg}"


def single(task_id: str, outcome: str = "passed", **extra: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "run_id": "r", "suite": "humaneval", "dataset": "HumanEval+ 0.1.10", "task_id": task_id, "model": "m",
        "outcome": outcome, "sample": 0,
    }  # fmt: skip
    if outcome != "error":
        passed = outcome == "passed"
        plus = "........." if passed else "....F...."
        record["phases"] = {
            "base": {"passed": True, "n_passed": 3, "n": 3, "tests": "..."},
            "plus": {"passed": passed, "n_passed": plus.count("."), "n": 9, "tests": plus},
        }
        record["program"] = f"def f():\n    return {task_id!r}\n"
        if not passed:
            record["failure"] = "plus test 5: f() returned 1, expected 2"
    else:
        record["error"] = "sandbox died"
    return record | extra


def turn(task_id: str, setting: str, index: int, solved_at: int | None, **extra: Any) -> dict[str, Any]:
    """A conversation turn's record, as the plugin's ``_turn_record`` writes it."""
    record: dict[str, Any] = {
        "run_id": "r", "suite": "bigcodebench", "dataset": "BigCodeBench 0.1.0_hf", "task_id": task_id, "model": "m",
        "outcome": "passed" if solved_at is not None and solved_at <= index else "failed", "setting": setting,
        "turn": index, "solved_at": solved_at,
    }  # fmt: skip
    return record | extra


def log_line(task_id: str, setting: str, index: int, program: str, passed: bool, **extra: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "run_id": "r", "model": "m", "task_id": task_id, "setting": setting, "turn": index,
        "messages": [{"role": "user", "content": "write it"}], "reply": f"```python\n{program}\n```",
        "program": program, "passed": passed, "tests": {"test_a": "passed", "test_b": "passed" if passed else "failed"},
        "run_error": "", "usage": {"prompt_tokens": 10, "completion_tokens": 5}, "latency_s": 0.5, "cached": False,
        "feedback": None if index == 0 else {"compilation": "No syntax errors.", "execution": "FAILED: test_b"},
    }  # fmt: skip
    return entry | extra


def items(passed: int = 0, failed: int = 0, error: int = 0) -> dict[str, int]:
    done = passed + failed + error
    return {"planned": done, "done": done, "skipped": 0, "passed": passed, "failed": failed, "error": error}


def requests(**fields: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "requests": 0, "requests_cached": 0, "prompt_tokens": 0, "completion_tokens": 0, "retries": 0,
        "seconds_at_server": 0.0, "seconds_queued": 0.0, "tokens_per_second": None,
    }  # fmt: skip
    return entry | fields


def valid_summary(**fields: Any) -> dict[str, Any]:
    """A schema-valid summary.json (tests/conftest.py checks every one a test writes)."""
    summary: dict[str, Any] = {
        "schema_version": 3, "run_id": "r", "model": "m", "model_identity": {"model": "m"},
        "started": "2026-11-21T10:00:00+0000", "finished": "2026-11-21T10:01:00+0000", "duration_s": 60.0,
        "suites": {}, "versions": {"python": "3.11.7", "pytest": "9.0.3"},
        "settings": {"model": "m", "samples": 1, "temperature": 0.0, "max_tokens": 512, "feedback": None,
                     "max_turns": 10, "sandbox": "process", "workers": 0},
        "complete": True, "items": items(), "scores": {}, "conversations": {},
        "generation": {"coder": requests(), "simulator": requests()},
        "gates": [],
    }  # fmt: skip
    return summary | fields


def comparison(**fields: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "baseline": {"run_id": "base", "model": "older", "path": "/nowhere/run", "complete": True},
        "metrics": {}, "now_passing": [], "now_failing": [], "only_here": 0, "only_baseline": 0,
    }  # fmt: skip
    return entry | fields


def write_run(
    directory: Path,
    records: list[dict[str, Any]],
    summary: dict[str, Any] | None = None,
    logs: dict[str, list[dict[str, Any]]] | None = None,
) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    if summary is not None:
        (directory / "summary.json").write_text(json.dumps(summary))
    for name, entries in (logs or {}).items():
        (directory / "conversations").mkdir(exist_ok=True)
        (directory / "conversations" / name).write_text("".join(json.dumps(e) + "\n" for e in entries))
    return directory


A0 = "import os\n\ndef task_func(x):\n    return None\n"
A1 = "import os\n\ndef task_func(x):\n    return x + 1\n"


@pytest.fixture
def conversation_run(tmp_path: Path) -> Path:
    """BigCodeBench/1 solved at turn 1 under cf-ef_full; unsolved under cf (3 turns); BigCodeBench/2 errored."""
    records = [
        turn("BigCodeBench/1", "cf-ef_full", 0, None, program=A0, failure="test_b failed"),
        turn("BigCodeBench/1", "cf-ef_full", 1, 1, program=A1),
        turn("BigCodeBench/1", "cf-ef_full", 2, 1),
        *(turn("BigCodeBench/1", "cf", i, None, program=A0, failure="test_b failed") for i in range(3)),
        turn("BigCodeBench/2", "cf", 0, None, outcome="error", error="the simulator gave up"),
    ]
    logs = {
        "bigcodebench-gw0.jsonl": [
            log_line("BigCodeBench/1", "cf-ef_full", 0, A0, False),
            log_line("BigCodeBench/1", "cf-ef_full", 1, A1, True),
        ],
        "bigcodebench-gw1.jsonl": [log_line("BigCodeBench/1", "cf", i, A0, False) for i in range(3)],
    }
    return write_run(tmp_path / "conv", records, summary=None, logs=logs)


# ---------------------------------------------------------------- reading a run folder


def test_single_turn_records_become_one_row_each_with_their_turn(tmp_path: Path) -> None:
    run_dir = write_run(
        tmp_path / "r", [single("HumanEval/10", "failed"), single("HumanEval/2"), single("HumanEval/3", "error")]
    )
    run = load_run(run_dir)
    assert [(p.row_id, p.status, p.label) for p in run.problems] == [
        ("humaneval/HumanEval/2", "passed", "passed"),
        ("humaneval/HumanEval/3", "error", "error"),
        ("humaneval/HumanEval/10", "failed", "failed"),
    ]  # natural order: 2, 3, 10
    failed = run.problems[2].turns[0]
    assert failed.failure == "plus test 5: f() returned 1, expected 2"
    assert failed.phases["plus"]["tests"] == "....F...."
    assert run.problems[1].turns[0].error == "sandbox died"


def test_predictions_of_each_mode_are_rows_of_their_own(tmp_path: Path) -> None:
    """Code reasoning suites record what the model predicted, not a program, once per mode."""
    output = {
        "run_id": "r", "suite": "cruxeval", "dataset": "CRUXEval 1.0", "task_id": "sample_3", "model": "m",
        "outcome": "failed", "sample": 0, "mode": "output", "reply": "[ANSWER]'ab'[/ANSWER]", "prediction": "'ab'",
        "failure": "predicted 'ab', expected 'ba'",
    }  # fmt: skip
    given = output | {"mode": "input", "outcome": "passed", "prediction": "f('ba')"}
    del given["failure"]
    run = load_run(write_run(tmp_path / "r", [output, given]))
    assert [(p.row_id, p.variant, p.status) for p in run.problems] == [
        ("cruxeval/sample_3 input", "input", "passed"),
        ("cruxeval/sample_3 output", "output", "failed"),
    ]
    data = run.problems[1].turns[0].to_json()
    assert (data["prediction"], data["reply"], data["failure"]) == ("'ab'", output["reply"], output["failure"])
    assert "program" not in data
    index, _, _ = page_parts(render_html(run))
    assert [row[3] for row in index["rows"]] == ["input", "output"]  # shown in the setting column


def test_an_item_recorded_twice_shows_its_latest_record(tmp_path: Path) -> None:
    """A run resumed under its --run-id appends a second record of an item: the latest stands."""
    run = load_run(write_run(tmp_path / "r", [single("HumanEval/0"), single("HumanEval/0", "failed")]))
    assert [(p.row_id, p.status) for p in run.problems] == [("humaneval/HumanEval/0", "failed")]
    assert run.summary["items"] == {"passed": 0, "failed": 1, "error": 0}


def test_several_samples_of_a_task_get_their_sample_in_the_row_id(tmp_path: Path) -> None:
    records = [single("HumanEval/0", sample=0), single("HumanEval/0", "failed", sample=1), single("HumanEval/1")]
    ids = [(p.row_id, p.key) for p in load_run(write_run(tmp_path / "r", records)).problems]
    assert ids == [
        ("humaneval/HumanEval/0#0", "humaneval/HumanEval/0"),
        ("humaneval/HumanEval/0#1", "humaneval/HumanEval/0"),
        ("humaneval/HumanEval/1", "humaneval/HumanEval/1"),
    ]


def test_a_conversation_joins_its_turn_records_and_its_log(conversation_run: Path) -> None:
    run = load_run(conversation_run)
    rows = {p.row_id: p for p in run.problems}
    assert list(rows) == [
        "bigcodebench/BigCodeBench/1 cf",
        "bigcodebench/BigCodeBench/1 cf-ef_full",
        "bigcodebench/BigCodeBench/2 cf",
    ]
    solved = rows["bigcodebench/BigCodeBench/1 cf-ef_full"]
    assert (solved.status, solved.solved_at, solved.label, len(solved.turns)) == ("passed", 1, "solved at turn 1", 2)
    first, second = solved.turns
    assert (first.status, second.status) == ("failed", "passed")
    assert first.diff is None and first.tests == {"test_a": "passed", "test_b": "failed"}
    assert second.diff_from == 0
    assert second.diff == "\n".join(
        ["--- turn 0", "+++ turn 1", "@@ -1,4 +1,4 @@", " import os", " ", " def task_func(x):", "-    return None",
         "+    return x + 1"]
    )  # fmt: skip
    assert second.feedback == {"compilation": "No syntax errors.", "execution": "FAILED: test_b"}
    assert second.reply is None, "the reply is kept only when it held no program"
    unsolved = rows["bigcodebench/BigCodeBench/1 cf"]
    assert (unsolved.status, unsolved.label, len(unsolved.turns)) == ("failed", "unsolved", 3)
    assert unsolved.turns[2].diff == "", "an unchanged program has an empty diff"
    errored = rows["bigcodebench/BigCodeBench/2 cf"]
    assert (errored.status, errored.label, errored.turns[0].error) == ("error", "error", "the simulator gave up")


def test_a_killed_run_without_a_summary_is_scored_from_its_records(conversation_run: Path) -> None:
    run = load_run(conversation_run)
    assert not run.finished
    assert run.summary["items"] == {"passed": 2, "failed": 4, "error": 1}
    entry = run.summary["conversations"]["bigcodebench cf-ef_full"]
    assert (entry["mrr"], entry["recall"], entry["curve"]) == (50.0, 100.0, [0.0, 100.0, 100.0])
    html = render_html(run)
    assert "run did not finish" in html and 'id="unfinished"' in html


def test_a_finished_run_has_no_banner(tmp_path: Path) -> None:
    run_dir = write_run(tmp_path / "r", [single("HumanEval/0")], summary=valid_summary())
    run = load_run(run_dir)
    assert run.finished and 'id="unfinished"' not in render_html(run)


def test_a_cut_last_line_is_skipped_with_a_note(tmp_path: Path) -> None:
    run_dir = write_run(tmp_path / "r", [single("HumanEval/0"), single("HumanEval/1")])
    with open(run_dir / "results.jsonl", "a") as results:
        results.write('{"run_id": "r", "suite": "humaneval", "task_')
    run = load_run(run_dir)
    assert len(run.problems) == 2
    assert run.notes and run.notes[0].startswith(f"{run_dir / 'results.jsonl'}:3: skipped a cut last line")


def test_a_bad_line_in_the_middle_is_an_error_naming_file_and_line(tmp_path: Path) -> None:
    run_dir = write_run(tmp_path / "r", [single("HumanEval/0")])
    path = run_dir / "results.jsonl"
    path.write_text(path.read_text() + "not json\n" + json.dumps(single("HumanEval/1")) + "\n")
    with pytest.raises(ReportError, match=rf"^{re.escape(str(path))}:2: not a JSON object"):
        load_run(run_dir)


def test_a_record_without_a_required_field_is_an_error(tmp_path: Path) -> None:
    record = single("HumanEval/0")
    del record["outcome"]
    run_dir = write_run(tmp_path / "r", [record])
    with pytest.raises(ReportError, match=r"results.jsonl:1: field 'outcome' is missing"):
        load_run(run_dir)


@pytest.mark.parametrize("content", ["", "\n\n"])
def test_an_empty_results_file_is_an_error_naming_it(tmp_path: Path, content: str) -> None:
    (tmp_path / "results.jsonl").write_text(content)
    with pytest.raises(ReportError, match=rf"^{re.escape(str(tmp_path / 'results.jsonl'))}: holds no results"):
        load_run(tmp_path)


def test_the_command_writes_report_html_into_the_run_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = write_run(tmp_path / "r", [single("HumanEval/0")])
    assert main([str(run_dir)]) == 0
    assert (run_dir / "report.html").read_text().startswith("<!DOCTYPE html>")
    assert str(run_dir / "report.html") in capsys.readouterr().out
    assert main([str(run_dir), "-o", str(tmp_path / "elsewhere" / "page.html")]) == 0
    assert (tmp_path / "elsewhere" / "page.html").exists()


def test_the_command_names_the_missing_results_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'results.jsonl'}: no such file" in err
    assert not (tmp_path / "report.html").exists()


# ---------------------------------------------------------------- diffs


def test_the_diff_is_unified_with_three_lines_of_context() -> None:
    before = "\n".join(f"line {i}" for i in range(20))
    after = before.replace("line 10", "line ten")
    assert unified_diff(before, after, "turn 0", "turn 1").splitlines() == [
        "--- turn 0",
        "+++ turn 1",
        "@@ -8,7 +8,7 @@",
        " line 7",
        " line 8",
        " line 9",
        "-line 10",
        "+line ten",
        " line 11",
        " line 12",
        " line 13",
    ]
    assert unified_diff(before, before, "a", "b") == ""


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("", "a\nb"),
        ("a\nb", ""),
        ("a\nb\nc", "x\na\nb\nc\ny"),
        ("\n".join("abcdefghij"), "\n".join("abXdefghYj")),
        ("\n".join(str(i % 3) for i in range(30)), "\n".join(str(i % 4) for i in range(25))),
    ],
)
def test_the_diff_matches_difflib(before: str, after: str) -> None:
    expected = "\n".join(difflib.unified_diff(before.splitlines(), after.splitlines(), "a", "b", lineterm=""))
    assert unified_diff(before, after, "a", "b") == expected


# ---------------------------------------------------------------- charts


def svg(text: str) -> ET.Element:
    return ET.fromstring(text)  # well-formed XML, or this raises


def marks(root: ET.Element, tag: str, cls: str) -> list[ET.Element]:
    return [e for e in root.iter(f"{SVG}{tag}") if e.get("class") == cls]


def test_bar_heights_are_proportional_to_their_value() -> None:
    frame = plots.Frame()
    root = svg(plots.bar_chart({"humaneval pass@1": 50.0, "humaneval+ pass@1": 100.0}, title="pass@k"))
    bars = marks(root, "rect", "bar")
    assert [b.get("data-label") for b in bars] == ["humaneval pass@1", "humaneval+ pass@1"]
    heights = [float(b.get("height", "")) for b in bars]
    assert heights == [frame.height / 2, frame.height]
    for bar, height in zip(bars, heights, strict=True):
        assert float(bar.get("y", "")) + height == frame.bottom
    assert float(bars[0].get("x", "")) < float(bars[1].get("x", ""))
    assert [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "tick y-tick"] == [
        "0%", "20%", "40%", "60%", "80%", "100%",
    ]  # fmt: skip


def test_baseline_bars_stand_beside_those_that_have_a_baseline() -> None:
    root = svg(plots.bar_chart({"a": 40.0, "b": 60.0}, {"a": 30.0, "b": None}, title="t"))
    (baseline,) = marks(root, "rect", "bar baseline")
    first = marks(root, "rect", "bar")[0]
    assert baseline.get("data-label") == "a" and baseline.get("data-value") == "30"
    assert float(baseline.get("x", "")) == float(first.get("x", "")) + float(first.get("width", ""))
    assert "baseline" in "".join(root.itertext())  # the legend


def test_line_chart_draws_a_point_per_turn_and_dashes_the_baseline() -> None:
    frame = plots.Frame()
    curves = {"cf": [0.0, 50.0, 75.0], "cf-ef_full": [0.0, 100.0, 100.0]}
    root = svg(plots.line_chart(curves, {"cf": [0.0, 25.0, 50.0]}, title="Recall by turn"))
    points = [e for e in root.iter() if e.get("class") == "point"]
    assert len(points) == 6
    cf = [p for p in points if p.get("data-series") == "cf"]
    assert [float(p.get("cy", "")) for p in cf] == [frame.y(0), frame.y(50), frame.y(75)]
    assert [float(p.get("cx", "")) for p in cf] == [frame.left, frame.left + frame.width / 2, frame.right]
    (dashed,) = marks(root, "polyline", "line baseline")
    assert dashed.get("stroke-dasharray") and dashed.get("data-series") == "cf"
    assert len(marks(root, "polyline", "line")) == 2
    legend = [t.text for t in root.iter(f"{SVG}text") if t.get("text-anchor") == "start"]
    assert legend == ["cf", "cf-ef_full", "baseline (dashed)"]


def test_the_histogram_stacks_each_turn_s_counts() -> None:
    root = svg(plots.stacked_histogram({"cf": [2, 0, 1], "cf-ef_full": [2, 3, 0]}, title="solved at"))
    segments = marks(root, "rect", "hist")
    assert [(s.get("data-series"), s.get("data-turn"), s.get("data-value")) for s in segments] == [
        ("cf", "0", "2"), ("cf-ef_full", "0", "2"), ("cf-ef_full", "1", "3"), ("cf", "2", "1"),
    ]  # fmt: skip
    low, high = segments[0], segments[1]
    assert float(high.get("y", "")) + float(high.get("height", "")) == pytest.approx(float(low.get("y", "")))
    assert float(low.get("height", "")) == pytest.approx(float(high.get("height", "")))
    assert plots.nice_ticks(4, integer=True) == [0.0, 1.0, 2.0, 3.0, 4.0]


def test_empty_charts_say_so() -> None:
    assert "no scores" in plots.bar_chart({}, title="t")
    assert "no conversations" in plots.line_chart({}, title="t")
    assert "no conversation was solved" in plots.stacked_histogram({"cf": [0, 0]}, title="t")


def test_chart_labels_are_escaped() -> None:
    root = svg(plots.line_chart({HOSTILE: [1.0, 2.0]}, title="<b>&"))
    assert root.find(f"{SVG}title") is not None and root.find(f"{SVG}title").text == "<b>&"  # type: ignore[union-attr]
    assert not list(root.iter(f"{SVG}script")) and not list(root.iter("script"))


# ---------------------------------------------------------------- the page


def page_parts(html: str) -> tuple[dict[str, Any], str, list[str]]:
    """The page's JSON index, its own script and its blobs, cut out of the HTML."""
    index = re.search(r'<script type="application/json" id="index">(.*?)</script>', html, re.S)
    script = re.search(r"<script>(.*?)</script>", html, re.S)
    blobs = re.findall(r'<script type="application/octet-stream" id="blob-\d+">(.*?)</script>', html)
    assert index and script
    return json.loads(index.group(1)), script.group(1), blobs


def test_hostile_model_output_stays_text(tmp_path: Path) -> None:
    record = single(f"HumanEval/{HOSTILE}", "failed", program=f"x = '{HOSTILE}'", failure=HOSTILE, reply=HOSTILE)
    summary = valid_summary(model=HOSTILE, model_identity={"system_prompt": HOSTILE})
    html = render_html(load_run(write_run(tmp_path / "r", [record], summary)))
    assert "<script>alert(1)" not in html and "<img src=x" not in html and "<!-- <img" not in html
    assert html.count("<script") == 3  # the index, the page's script, one blob
    assert "&lt;/script&gt;&lt;script&gt;alert(1)" in html  # the model name in the heading, as text
    index, _, blobs = page_parts(html)
    (row,) = index["rows"]
    assert row[0] == f"humaneval/HumanEval/{HOSTILE}"
    payload = unpack(blobs[0])
    (turn,) = payload["rows"][row[0]]
    assert payload["programs"][turn["program"]] == f"x = '{HOSTILE}'"
    assert turn["failure"] == HOSTILE and turn["reply"] == HOSTILE


def test_script_json_cannot_close_its_script_element() -> None:
    text = script_json({"a": HOSTILE, "b": "&amp; \u2028"})
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    assert json.loads(text) == {"a": HOSTILE, "b": "&amp; \u2028"}


def test_the_page_fetches_nothing_and_runs_only_its_own_script(conversation_run: Path) -> None:
    html = render_html(load_run(conversation_run))
    assert not re.search(r"""(src|href)\s*=|@import|url\(\s*['"]?(https?:)?//|<link|<iframe""", html, re.I)
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html)
    assert policy and "default-src 'none'" in policy.group(1)
    _, script, _ = page_parts(html)
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in policy.group(1)


def test_each_task_is_one_blob_with_its_programs_stored_once(conversation_run: Path) -> None:
    html = render_html(load_run(conversation_run))
    index, _, blobs = page_parts(html)
    assert index["columns"][:3] == ["id", "suite", "task"]
    assert len(blobs) == 2  # BigCodeBench/1 (two settings) and BigCodeBench/2
    payload = unpack(blobs[0])
    assert sorted(payload["rows"]) == ["bigcodebench/BigCodeBench/1 cf", "bigcodebench/BigCodeBench/1 cf-ef_full"]
    assert payload["programs"] == [A0, A1]  # A0: 4 turns, stored once
    assert [t["program"] for t in payload["rows"]["bigcodebench/BigCodeBench/1 cf"]] == [0, 0, 0]


def test_a_full_summary_shows_its_metadata_and_scores(tmp_path: Path) -> None:
    summary = valid_summary(
        model="ds6.7b", started="2026-11-21T10:00:00+0000", finished="2026-11-21T11:02:03+0000", duration_s=3723.0,
        suites={"humaneval": {"dataset": "HumanEval+", "version": "0.1.10", "source": "/data/he.jsonl",
                              "sha256": "ab" * 32}},
        versions={"pytest_convcode": "0.1.0", "python": "3.11.7", "pytest": "9.0.3"},
        items=items(passed=1, failed=1),
        scores={"humaneval": {"tasks": 2, "samples": 2, "passed": 1, "errors": 0, "pass@1": 0.5,
                              "excluding_errors": {"tasks": 2, "samples": 2, "pass@1": 0.5}}},
        generation={"coder": requests(requests=2, prompt_tokens=1234, completion_tokens=56, seconds_at_server=7.5,
                                      retries=1, tokens_per_second=7.5),
                    "simulator": requests()},
        gates=[{"gate": "pass@1>=80", "passed": False, "reasons": ["humaneval: pass@1 = 50.0, needs >= 80"]}],
    )  # fmt: skip
    records = [single("HumanEval/0"), single("HumanEval/1", "failed")]
    html = render_html(load_run(write_run(tmp_path / "r", records, summary)))
    for text in ("ds6.7b", "1 h 02 min 03 s", "HumanEval+", "0.1.10", "/data/he.jsonl", "abababababababab",
                 "temperature", "3.11.7", "1,234 prompt + 56 completion", "2026-11-21T10:00:00+0000",
                 "pass@1&gt;=80: FAILED: humaneval: pass@1 = 50.0, needs &gt;= 80",
                 '<span class="value">50.0</span>', "model identity"):  # fmt: skip
        assert text in html, text
    assert "(ran)" not in html  # no errors: the scores excluding them are the same


def table(html: str, table_id: str) -> list[list[str]]:
    """The text of each row's cells (header cells included) of the page's table ``table_id``."""
    body = re.search(rf'<table id="{table_id}">(.*?)</table>', html, re.S)
    assert body is not None, table_id
    rows = re.findall(r"<tr>(.*?)</tr>", body.group(1), re.S)
    return [
        [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", r, re.S)] for r in rows
    ]


def test_with_errors_the_tables_show_the_strict_scores_and_those_excluding_errors(tmp_path: Path) -> None:
    summary = valid_summary(
        items=items(passed=1, failed=1, error=1),
        scores={"humaneval+": {"tasks": 3, "samples": 3, "passed": 1, "errors": 1, "pass@1": 1 / 3,
                               "excluding_errors": {"tasks": 2, "samples": 2, "pass@1": 0.5}}},
        conversations={"bigcodebench cf": {"setting": "cf", "turns": 2, "tasks": 4, "mrr": 37.5, "recall": 50.0,
                                           "curve": [25.0, 50.0], "errors": 2, "user_feedback": 0, "leaks": 0,
                                           "excluding_errors": {"tasks": 2, "mrr": 75.0, "recall": 100.0,
                                                                "curve": [50.0, 100.0]}}},
    )  # fmt: skip
    records = [single("HumanEval/0"), single("HumanEval/1", "failed"), single("HumanEval/2", "error")]
    html = render_html(load_run(write_run(tmp_path / "r", records, summary)))
    assert 'id="errors-note"' in html
    assert table(html, "scores") == [
        ["score group", "tasks", "samples", "passed", "errors", "pass@1 (%)", "tasks ran", "pass@1 (ran) (%)"],
        ["humaneval+", "3", "3", "1", "1", "33.3", "2", "50.0"],
    ]
    assert table(html, "conversation-scores")[1] == [
        "bigcodebench", "cf", "4", "2", "37.5", "50.0", "2", "–", "2", "75.0", "100.0"
    ]  # fmt: skip


def test_the_report_of_a_schema_1_run_shows_what_it_measured(tmp_path: Path) -> None:
    """A run written before errors counted in the scores: its pass@1 left its error out."""
    html = write_html(GOLDEN / "schema1-run", tmp_path / "report.html").read_text()
    assert ("summary schema", "1") in re.findall(r"<dt>([^<]*)</dt><dd>([^<]*)</dd>", html)
    assert table(html, "scores")[1] == ["bigcodebench", "–", "–", "1", "1", "–", "2", "50.0"]


def test_cells_show_the_baseline_and_a_signed_delta_in_points() -> None:
    compared = comparison(
        metrics={
            "humaneval:pass@1": {"value": 65.0, "baseline": 60.0, "delta": 5.0},
            "bigcodebench:mrr[cf]": {"value": 30.0, "baseline": 32.5, "delta": -2.5},
            "bigcodebench:recall[cf]": {"value": 40.0, "baseline": None, "delta": None},
        }
    )
    up = cell(65.0, "humaneval:pass@1", compared)
    assert (up.value, up.baseline, up.delta, up.direction) == ("65.0", "60.0", "▲ +5.0", "up")
    down = cell(30.0, "bigcodebench:mrr[cf]", compared)
    assert (down.value, down.baseline, down.delta, down.direction) == ("30.0", "32.5", "▼ -2.5", "down")
    new = cell(40.0, "bigcodebench:recall[cf]", compared)
    assert (new.baseline, new.delta) == ("–", "–")
    assert cell(50.0, "humaneval:pass@1", None) == cell(50.0, "humaneval:pass@1", comparison())


def conversation_summary(run_dir: Path, **fields: Any) -> None:
    """Give the hand-made conversation run a summary, scored from its records."""
    scored = load_run(run_dir).summary
    summary = valid_summary(items=items(**scored["items"]), conversations=scored["conversations"], **fields)
    (run_dir / "summary.json").write_text(json.dumps(summary))


def test_a_comparison_flags_flipped_problems_and_draws_the_baseline(conversation_run: Path, tmp_path: Path) -> None:
    baseline_dir = tmp_path / "base"
    curve = {"setting": "cf-ef_full", "turns": 3, "tasks": 1, "mrr": 33.3, "recall": 100.0, "curve": [0.0, 0.0, 100.0]}
    curve |= {"errors": 0, "user_feedback": 0, "leaks": 0}
    curve["excluding_errors"] = {key: curve[key] for key in ("tasks", "mrr", "recall", "curve")}
    write_run(baseline_dir, [single("HumanEval/0")], valid_summary(conversations={"bigcodebench cf-ef_full": curve}))
    compared = comparison(
        baseline={"run_id": "base", "model": "older", "path": str(baseline_dir), "complete": True},
        metrics={"bigcodebench:mrr[cf-ef_full]": {"value": 50.0, "baseline": 25.0, "delta": 25.0}},
        now_passing=["bigcodebench/BigCodeBench/1 cf-ef_full"],
        now_failing=["bigcodebench/BigCodeBench/2 cf"],
    )
    conversation_summary(conversation_run, comparison=compared)
    run = load_run(conversation_run)
    assert run.finished and run.notes == []
    assert {p.row_id: p.flip for p in run.problems} == {
        "bigcodebench/BigCodeBench/1 cf": None,
        "bigcodebench/BigCodeBench/1 cf-ef_full": "now passing",
        "bigcodebench/BigCodeBench/2 cf": "now failing",
    }
    html = render_html(run)
    assert 'class="line baseline"' in html and "▲ +25.0" in html
    assert 'id="filter-flip"' in html and 'data-key="bigcodebench/BigCodeBench/2 cf"' in html
    index, _, _ = page_parts(html)
    assert index["compared"] and [row[8] for row in index["rows"]] == ["", "now passing", "now failing"]


def test_a_baseline_beside_the_run_is_found_by_its_folder_name(conversation_run: Path, tmp_path: Path) -> None:
    write_run(tmp_path / "before", [single("HumanEval/0")], valid_summary())
    conversation_summary(
        conversation_run,
        comparison=comparison(baseline={"run_id": "b", "model": "m", "path": "elsewhere/before", "complete": True}),
    )
    run = load_run(conversation_run)
    assert run.notes == [] and run.baseline_summary is not None


def test_a_missing_baseline_folder_is_a_note_not_an_error(conversation_run: Path) -> None:
    conversation_summary(conversation_run, comparison=comparison())
    run = load_run(conversation_run)
    assert run.notes == ["baseline summary not found at /nowhere/run: its curves are not drawn"]


def test_write_html_writes_the_page(conversation_run: Path, tmp_path: Path) -> None:
    out = write_html(conversation_run, tmp_path / "out" / "report.html")
    html = out.read_text()
    assert out == tmp_path / "out" / "report.html"
    assert html.count('<svg xmlns="http://www.w3.org/2000/svg"') == 2  # the curves and the histogram
    assert "Recall by turn" in html and "Turn at which conversations were solved" in html
