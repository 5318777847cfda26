"""BigCodeBench in one turn (the ``unittest`` suite kind), end to end: pytest runs of
suites/bigcodebench on standard-library tasks, with the reference, a samples file of wrong and
right programs, and a task this machine cannot judge."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
TASKS = "BigCodeBench/16,BigCodeBench/24"  # standard library only, and quick to test


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(test_bigcodebench=(ROOT / "suites/bigcodebench/test_bigcodebench.py").read_text())
    return pytester


def run(pytester: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, list[dict[str, Any]], dict[str, Any]]:
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--run-id", "u", *args)
    folder = pytester.path / "reports" / "u"
    records = [json.loads(line) for line in (folder / "results.jsonl").read_text().splitlines()]
    return result, records, json.loads((folder / "summary.json").read_text())


def test_the_reference_solutions_pass_every_test(suite: pytest.Pytester) -> None:
    result, records, summary = run(suite, "--tasks", TASKS)
    result.assert_outcomes(passed=2)
    assert {r["kind"] for r in records} == {"unittest"}
    assert all(r["tests"] and set(r["tests"].values()) == {"passed"} for r in records)
    assert summary["scores"]["bigcodebench"]["pass@1"] == 1.0


def test_samples_are_scored_with_pass_at_k_and_a_wrong_one_names_its_failing_test(suite: pytest.Pytester) -> None:
    wrong = {"task_id": "BigCodeBench/24", "solution": "def task_func(password, SALT_LENGTH=32):\n    return None\n"}
    samples = suite.path / "samples.jsonl"
    samples.write_text(json.dumps(wrong) + "\n" + json.dumps({"task_id": "BigCodeBench/24", "completion": ""}) + "\n")
    result, records, summary = run(suite, "--model", f"replay:{samples}", "--tasks", "BigCodeBench/24")
    result.assert_outcomes(failed=2)  # the empty completion leaves a function without a body
    failure = next(r["failure"] for r in records if r["sample"] == 0)
    assert "tests did not pass; first, test_" in failure
    # the reference was checked under BigCodeBench 0.2's budget (241 s), not ConvCodeWorld's 121 s
    references = sorted(p.name for p in (suite.path / ".convcode-cache/groundtruth").rglob("*.reference*.json"))
    assert references == ["BigCodeBench_24.reference-241s.json"]
    assert summary["scores"]["bigcodebench"] == {
        "tasks": 1, "samples": 2, "passed": 0, "errors": 0, "pass@1": 0.0,
        "excluding_errors": {"tasks": 1, "samples": 2, "pass@1": 0.0},
    }  # fmt: skip


def test_a_task_whose_reference_fails_here_is_an_error_scored_as_not_passed(suite: pytest.Pytester) -> None:
    """BigCodeBench/176 looks host names up: the sandbox has no network, so its reference fails too."""
    result, records, summary = run(suite, "--tasks", "BigCodeBench/176,BigCodeBench/24")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*BigCodeBench/176 cannot be judged here: its reference solution fails too*"])
    assert [r["outcome"] for r in records if r["task_id"] == "BigCodeBench/176"] == ["error"]
    scores = summary["scores"]["bigcodebench"]
    assert (scores["errors"], scores["pass@1"], scores["excluding_errors"]["pass@1"]) == (1, 0.5, 1.0)


def test_the_hard_subset_runs_its_148_tasks_only_and_scores_them_under_bigcodebenchs_name(
    suite: pytest.Pytester,
) -> None:
    """BigCodeBench/19 is in BigCodeBench-Hard, /24 is not; --split is BigCodeBench's name for --prompt."""
    result, records, summary = run(
        suite, "--subset", "hard", "--split", "complete", "--tasks", "BigCodeBench/19,BigCodeBench/24"
    )
    result.assert_outcomes(passed=1)
    assert [(r["task_id"], r["split"]) for r in records] == [("BigCodeBench/19", "hard-complete")]
    assert list(summary["scores"]) == ["bigcodebench-hard-complete"]
    assert (summary["settings"]["subset"], summary["settings"]["prompt"]) == ("hard", "complete")


def test_full_is_the_explicit_name_of_every_task_and_split_and_prompt_are_one_option(suite: pytest.Pytester) -> None:
    result, _, summary = run(suite, "--subset", "full", "--prompt", "complete", "--tasks", "BigCodeBench/24")
    result.assert_outcomes(passed=1)
    assert list(summary["scores"]) == ["bigcodebench-complete"]
    result = suite.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "--prompt",
        "complete",
        "--split",
        "instruct",
        "--tasks",
        "BigCodeBench/24",
        "--run-id",
        "v",
    )
    assert (
        json.loads((suite.path / "reports/v/summary.json").read_text())["settings"]["prompt"] == "instruct"
    )  # the last one given


def test_the_bundled_hard_ids_are_bigcodebench_hards_148_tasks() -> None:
    from pytest_convcode.datasets.bigcodebench import hard_ids, load

    ids = hard_ids()
    assert len(ids) == 148 and ids <= set(load(None, None).tasks) and "BigCodeBench/19" in ids


def test_under_xdist_the_tasks_whose_reference_runs_longest_start_first(suite: pytest.Pytester) -> None:
    """BigCodeBench/346 runs a script for ~2 s (the bundled costs), 16 and 24 in a blink: 346
    starts first though it comes last in the data file, so no worker is left with it at the end."""
    result, _, _ = run(suite, "--tasks", "BigCodeBench/16,BigCodeBench/24,BigCodeBench/346", "-n", "1", "-v")
    result.assert_outcomes(passed=3)
    started = [line.rsplit("[", 1)[1].rstrip("] ") for line in result.outlines if " PASSED " in line]
    assert started[0] == "BigCodeBench/346" and sorted(started[1:]) == ["BigCodeBench/16", "BigCodeBench/24"]
