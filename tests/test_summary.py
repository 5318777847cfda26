"""summary.json end to end: its metadata, its schema, scores with errors, --compare and gates against a
baseline (of this schema, and of schema 1)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from replayed import TASKS, humaneval_suite, run

from pytest_convcode.summary import SCHEMA_PATH

ROOT = Path(__file__).resolve().parents[1]
SCHEMA_1_RUN = ROOT / "tests/golden/schema1-run"  # BigCodeBench/16 wrong, /24 right, /176 an error


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    return humaneval_suite(pytester)


def summary(pytester: pytest.Pytester, run_id: str) -> dict[str, Any]:
    return json.loads((pytester.path / "reports" / run_id / "summary.json").read_text())


def test_the_schema_is_a_valid_json_schema_that_rejects_a_broken_summary() -> None:
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    with pytest.raises(jsonschema.ValidationError, match="'run_id' is a required property"):
        jsonschema.validate({"schema_version": 1}, schema, cls=jsonschema.Draft202012Validator)


def test_the_summary_says_what_was_measured_and_with_what(suite: pytest.Pytester) -> None:
    result = run(suite, "a", set(), "-n", "2")
    assert result.ret == 0
    data = summary(suite, "a")
    humaneval = data["suites"]["humaneval"]
    assert humaneval["dataset"] == "HumanEval+" and humaneval["version"] == "0.1.10"
    assert humaneval["sha256"] == hashlib.sha256(Path(humaneval["source"]).read_bytes()).hexdigest()
    assert data["settings"]["workers"] == 2 and data["settings"]["tasks"] == sorted(TASKS)
    assert data["versions"]["pytest-convcode"] and data["duration_s"] > 0
    assert data["scores"]["humaneval+"]["pass@1"] == 1.0


def test_compare_lists_exactly_the_problems_that_flipped(suite: pytest.Pytester) -> None:
    run(suite, "before", {"HumanEval/2", "HumanEval/4"})
    result = run(suite, "after", {"HumanEval/4", "HumanEval/7"}, "--compare", "reports/before")
    assert result.ret == 0
    comparison = summary(suite, "after")["comparison"]
    assert comparison["now_passing"] == ["humaneval/HumanEval/2"]
    assert comparison["now_failing"] == ["humaneval/HumanEval/7"]
    assert comparison["metrics"]["humaneval+:pass@1"] == {"value": 50.0, "baseline": 50.0, "delta": 0.0}
    result.stdout.fnmatch_lines(["*now passing (1): humaneval/HumanEval/2", "*now failing (1): humaneval/HumanEval/7"])


def test_a_gate_against_the_baseline_fails_the_run_when_the_score_drops(suite: pytest.Pytester) -> None:
    run(suite, "before", set())
    gate = "pass@1 >= baseline - 10"
    result = run(suite, "after", {"HumanEval/7"}, "--compare", "reports/before/summary.json", "--gate", gate)
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        [f"gate {gate}: FAILED: humaneval+:pass@1 = 75.0%, needs >= 90.0% (baseline 100.0% -10.0)"]
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--gate", "pass@1>=baseline"], "*gate 'pass@1>=baseline' compares with a baseline: give --compare PATH*"),
        (["--compare", "nowhere"], "*--compare nowhere: no summary.json there*"),
    ],
)
def test_comparing_without_a_baseline_is_a_usage_error(suite: pytest.Pytester, args: list[str], message: str) -> None:
    result = run(suite, "x", set(), *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


# ---------------------------------------------------------------- errors in the scores


@pytest.fixture
def bigcodebench(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(test_bigcodebench=(ROOT / "suites/bigcodebench/test_bigcodebench.py").read_text())
    return pytester


def run_with_an_error(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """The reference on BigCodeBench/24 (passes) and /176 (its reference needs the network: an error)."""
    tasks = "BigCodeBench/176,BigCodeBench/24"
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "--run-id", "e", "--tasks", tasks, *args)


def test_an_error_counts_as_not_passed_and_the_score_excluding_it_stands_beside(bigcodebench: pytest.Pytester) -> None:
    result = run_with_an_error(bigcodebench)
    assert result.ret == 1  # an item errored
    data = summary(bigcodebench, "e")
    jsonschema.validate(data, json.loads(SCHEMA_PATH.read_text()), cls=jsonschema.Draft202012Validator)
    assert data["schema_version"] == 3
    assert data["scores"]["bigcodebench"] == {
        "tasks": 2, "samples": 2, "passed": 1, "errors": 1, "pass@1": 0.5,
        "excluding_errors": {"tasks": 1, "samples": 1, "pass@1": 1.0},
    }  # fmt: skip
    result.stdout.re_match_lines(
        [
            r"score\s+tasks\s+samples\s+passed\s+errors\s+pass@1\s+ran\s+pass@1 \(ran\)$",
            r"bigcodebench\s+2\s+2\s+1\s+1\s+50\.0\s+1\s+100\.0$",
            r"items: 1 passed, 0 failed \(wrong answers\), 1 errors \(harness trouble, scored as not passed; "
            r'"\(ran\)": the scores without them\)$',
        ]
    )


def test_a_conversation_with_an_errored_turn_counts_as_unsolved(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_convcodeworld=(ROOT / "suites/convcodeworld/test_convcodeworld.py").read_text())
    result = run_with_an_error(pytester, "--feedback", "cf", "--max-turns", "1")
    assert summary(pytester, "e")["conversations"]["bigcodebench cf"] == {
        "setting": "cf", "turns": 2, "tasks": 2, "mrr": 50.0, "recall": 50.0, "curve": [50.0, 50.0],
        "errors": 1, "user_feedback": 0, "leaks": 0,
        "excluding_errors": {"tasks": 1, "mrr": 100.0, "recall": 100.0, "curve": [100.0, 100.0]},
    }  # fmt: skip
    result.stdout.re_match_lines(
        [
            r"conversation\s+tasks\s+MRR\s+Recall\s+errors\s+leaks\s+ran\s+MRR \(ran\)\s+Recall \(ran\)  pass by turn$",
            r"bigcodebench cf\s+2\s+50\.0\s+50\.0\s+1\s+-\s+1\s+100\.0\s+100\.0  50\.0 50\.0$",
            r"items: 2 passed, 0 failed \(wrong answers\), 2 errors \(harness trouble, scored as not passed; .*",
        ]
    )


def test_a_schema_1_baseline_is_compared_like_with_like(bigcodebench: pytest.Pytester) -> None:
    """The old run's pass@1 (50%) left its error out: it compares with this run's pass@1 (ran), and its
    strict pass@1 is unknown."""
    gates = ["--gate", "pass@1(ran) >= baseline", "--gate", "pass@1 >= baseline - 5"]
    result = run_with_an_error(bigcodebench, f"--compare={SCHEMA_1_RUN}", *gates)  # one argument: not a path to test
    metrics = summary(bigcodebench, "e")["comparison"]["metrics"]
    assert metrics == {
        "bigcodebench:pass@1": {"value": 50.0, "baseline": None, "delta": None},
        "bigcodebench:pass@1(ran)": {"value": 100.0, "baseline": 50.0, "delta": 50.0},
    }
    result.stdout.fnmatch_lines(
        [
            "  bigcodebench:pass@1(ran)*100.0*+50.0  (was 50.0)",
            "gate pass@1(ran) >= baseline: passed",
            "gate pass@1 >= baseline - 5: FAILED: bigcodebench:pass@1 = 50.0%, but the baseline did not measure it "
            "(an older summary, which left errors out: it has bigcodebench:pass@1(ran))",
        ]
    )
