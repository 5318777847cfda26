"""Metrics (strict, and excluding errors), output comparison and data loading: the pure parts, no sandbox."""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import numpy as np
import pytest

from pytest_convcode import datasets
from pytest_convcode.datasets import DatasetError
from pytest_convcode.judge import GroundTruth, outputs_match
from pytest_convcode.metrics import pass_at_k, summarize, upgrade
from pytest_convcode.reasoning.scores import feature_scores
from pytest_convcode.sandbox import _codec
from pytest_convcode.sandbox._codec import Opaque
from pytest_convcode.tasks import Task


@pytest.mark.parametrize("n", [1, 5, 10, 20, 200])
def test_pass_at_k_equals_the_binomial_definition(n: int) -> None:
    for c in range(n + 1):
        for k in (1, 10, 100):
            if k <= n:
                exact = 1 - math.comb(n - c, k) / math.comb(n, k)
                assert pass_at_k(n, c, k) == pytest.approx(exact, abs=1e-12)


def record(task: str, base: bool, plus: bool, outcome: str = "passed") -> dict[str, object]:
    phases = {"base": {"passed": base}, "plus": {"passed": plus}}
    return {"suite": "humaneval", "task_id": task, "outcome": outcome, "phases": phases}


def error(task: str, suite: str = "humaneval") -> dict[str, object]:
    return {"suite": suite, "task_id": task, "outcome": "error"}  # judged nothing: no phases


def test_summary_reports_k_only_where_every_task_has_enough_samples() -> None:
    records = [record("A", True, True)] * 10 + [record("B", True, False)] * 10
    summary = summarize(records)
    assert summary["humaneval"]["pass@10"] == 1.0
    assert summary["humaneval+"]["pass@1"] == 0.5  # B fails its plus tests
    assert "pass@100" not in summary["humaneval"]


def test_an_errored_sample_counts_as_a_failed_one_and_excluding_errors_leaves_it_out() -> None:
    P, F, PB = record("x", True, True), record("x", False, False, "failed"), record("x", True, False, "failed")
    samples = {  # five planned a task; PB passes the base tests only
        "A": [P, P, F, error("A"), F],
        "B": [PB, F, error("B"), error("B"), F],
        "C": [error("C")] * 5,  # none ran
    }
    summary = summarize([r | {"task_id": task} for task, rs in samples.items() for r in rs])
    # strict, n = 5 each: A c = 2, B c = 0 (plus) or 1 (base), C c = 0
    # excluding errors: A n = 4, B n = 3 (so no pass@5), C left out
    assert summary["humaneval+"] == {
        "tasks": 3, "samples": 15, "passed": 2, "errors": 8,
        "pass@1": pytest.approx((2 / 5 + 0 + 0) / 3), "pass@5": pytest.approx((1 + 0 + 0) / 3),
        "excluding_errors": {"tasks": 2, "samples": 7, "pass@1": pytest.approx((2 / 4 + 0 / 3) / 2)},
    }  # fmt: skip
    assert summary["humaneval"] == {
        "tasks": 3, "samples": 15, "passed": 3, "errors": 8,
        "pass@1": pytest.approx((2 / 5 + 1 / 5 + 0) / 3), "pass@5": pytest.approx((1 + 1 + 0) / 3),
        "excluding_errors": {"tasks": 2, "samples": 7, "pass@1": pytest.approx((2 / 4 + 1 / 3) / 2)},
    }  # fmt: skip


def test_a_suite_whose_every_item_errored_scores_zero_and_ran_nothing() -> None:
    assert summarize([error("M/1", "mbpp"), error("M/1", "mbpp")]) == {
        "mbpp": {"tasks": 1, "samples": 2, "passed": 0, "errors": 2, "pass@1": 0.0,
                 "excluding_errors": {"tasks": 0, "samples": 0}},
    }  # fmt: skip


def prediction(task: str, mode: str, outcome: str, **features: int) -> dict[str, object]:
    return {"kind": "reasoning", "suite": "cruxeval", "mode": mode, "task_id": task, "outcome": outcome,
            "features": features}  # fmt: skip


def test_code_reasoning_groups_count_errors_as_wrong_predictions() -> None:
    records = [
        prediction("s1", "output", "passed"), prediction("s1", "output", "error"),
        prediction("s2", "output", "failed"), prediction("s2", "output", "failed"),
        prediction("s1", "input", "error"),
    ]  # fmt: skip
    summary = summarize(records)
    # strict: s1 1 of 2, s2 0 of 2; excluding errors: s1 1 of 1, s2 0 of 2
    assert summary["cruxeval-output"]["pass@1"] == pytest.approx((1 / 2 + 0) / 2)
    assert summary["cruxeval-output"]["excluding_errors"] == {"tasks": 2, "samples": 3, "pass@1": 0.5}
    assert summary["cruxeval-input"] == {
        "tasks": 1, "samples": 1, "passed": 0, "errors": 1, "pass@1": 0.0,
        "excluding_errors": {"tasks": 0, "samples": 0},
    }  # fmt: skip


def test_code_features_count_errors_too() -> None:
    records = [
        prediction("s1", "output", "passed", code_lines=2), prediction("s1", "output", "error", code_lines=2),
        prediction("s2", "output", "error", code_lines=3), prediction("s2", "output", "error", code_lines=3),
    ]  # fmt: skip
    assert feature_scores(records)["cruxeval-output"]["code_lines"] == [
        {"bucket": "2", "low": 2, "high": 2, "tasks": 1, "samples": 2, "passed": 1, "errors": 1, "pass@1": 0.5,
         "excluding_errors": {"tasks": 1, "samples": 1, "pass@1": 1.0}},
        {"bucket": "3", "low": 3, "high": 3, "tasks": 1, "samples": 2, "passed": 0, "errors": 2, "pass@1": 0.0,
         "excluding_errors": {"tasks": 0, "samples": 0}},
    ]  # fmt: skip


def test_a_schema_1_summary_reads_as_excluding_errors_and_strict_only_where_it_had_none() -> None:
    old = {
        "schema_version": 1,
        "scores": {"humaneval": {"tasks": 2, "samples": 2, "passed": 1, "errors": 0, "pass@1": 0.5},
                   "mbpp": {"tasks": 3, "samples": 3, "passed": 3, "errors": 1, "pass@1": 1.0}},
        "conversations": {"bcb cf": {"setting": "cf", "turns": 2, "tasks": 1, "mrr": 50.0, "recall": 100.0,
                                     "curve": [0.0, 100.0], "errors": 1, "user_feedback": 0, "leaks": 0}},
    }  # fmt: skip
    new = upgrade(old)
    assert new["scores"]["humaneval"] == old["scores"]["humaneval"] | {
        "excluding_errors": {"tasks": 2, "samples": 2, "pass@1": 0.5}
    }
    assert new["scores"]["mbpp"] == {
        "passed": 3,
        "errors": 1,
        "excluding_errors": {"tasks": 3, "samples": 3, "pass@1": 1.0},
    }
    assert new["conversations"]["bcb cf"] == {
        "setting": "cf", "turns": 2, "errors": 1, "user_feedback": 0, "leaks": 0,
        "excluding_errors": {"tasks": 1, "mrr": 50.0, "recall": 100.0, "curve": [0.0, 100.0]},
    }  # fmt: skip
    assert upgrade(new | {"schema_version": 2}) == new | {"schema_version": 2}  # the current shape is kept


def task(oracle: str = "exact", atol: float = 0.0) -> Task:
    return Task("T/0", "", "f", "", {"base": []}, atol=atol, oracle=oracle)


def test_float_outputs_get_evalplus_tolerance_and_it_sticks_for_the_phase() -> None:
    ok, atol = outputs_match(task(), [], 0.1 + 0.2, 0.3, 0.0)
    assert ok and atol == 1e-6
    # after a float, an almost-equal non-float output passes too, as in EvalPlus
    assert outputs_match(task(), [], [1, 2.0000001], [1, 2.0], atol)[0]
    assert not outputs_match(task(), [], [1, 2.0000001], [1, 2.0], 0.0)[0]


def test_types_matter_where_python_equality_says_so() -> None:
    assert not outputs_match(task(), [], [1, 2], (1, 2), 0.0)[0]
    assert outputs_match(task(), [], 1.0, 1, 0.0)[0]  # 1.0 == 1 in Python and in EvalPlus
    assert not outputs_match(task(), [], np.array([1, 2]), [1, 2], 0.0)[0]  # ambiguous truth value
    assert not outputs_match(task(), [], Opaque("Liar"), 5, 0.0)[0]


def test_special_oracles() -> None:
    assert outputs_match(task("set"), [], [3, 1, 2], [1, 2, 3], 0)[0]
    assert outputs_match(task("not_none"), [], Opaque("re.Match"), True, 0)[0]
    assert not outputs_match(task("not_none"), [], None, True, 0)[0]
    assert outputs_match(task("any"), [], "whatever", 3, 0)[0]
    assert outputs_match(task("exact_or_zero"), [], 0, 7, 0)[0]
    root_task = task("poly_root", atol=1e-6)
    assert outputs_match(root_task, [[-6, 11, -6, 1]], 2.0, 1.0, 0)[0]  # any root will do
    assert not outputs_match(root_task, [[-6, 11, -6, 1]], 2.5, 1.0, 0)[0]


NAN = float("nan")


@pytest.mark.parametrize(
    ("output", "floats", "nan"),
    [
        ([1, 2.5, 3], False, False),
        ([0.5, 1.5], True, False),
        ([1, 2.5, NAN], False, True),  # ints and floats: checked in one pass at C speed
        ([10**400, NAN], False, True),  # an int too large for a float
        (["a", 1.0, NAN], False, True),  # not numbers only
        ([[1, 2], [3.0, NAN]], False, True),
        ((complex(1, NAN),), False, True),
        ({"k": [NAN]}, False, True),
        ({NAN: 1}, False, True),
        ([True, None, "s"], False, False),
        (np.array([1.0, 2.0]), True, True),  # arrays are compared elementwise, never by bytes
    ],
)
def test_ground_truth_knows_float_outputs_and_which_hold_a_nan(output: object, floats: bool, nan: bool) -> None:
    truth = GroundTruth.of([b""], [_codec.describe_output(output)], [0.0])  # as the reference's runner describes it
    assert truth.floats == [floats]
    assert truth.byte_equal_ok == [not nan]


def test_bundled_versions_load_and_mbpp_arguments_get_their_types() -> None:
    mbpp = datasets.load("mbpp")
    assert (mbpp.version, len(mbpp.tasks)) == ("0.2.0", 378)
    assert all(isinstance(arg, tuple) for arg in mbpp.tasks["Mbpp/2"].tests["base"][0])
    assert mbpp.tasks["Mbpp/793"].tests["plus"] == []  # stored as {} in the release
    assert mbpp.tasks["Mbpp/2"].oracle == "set"
    assert len(datasets.load("mbpp", "0.1.0").tasks) == 399
    assert len(datasets.load("humaneval", "v0.1.9").tasks) == 164


def test_an_unknown_version_lists_the_bundled_ones() -> None:
    with pytest.raises(DatasetError, match=r"bundled: 0\.1\.10, 0\.1\.9"):
        datasets.load("humaneval", "0.2")


def test_a_truncated_gzip_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "data.jsonl.gz"
    path.write_bytes(gzip.compress(json.dumps({"task_id": "x"}).encode() * 100)[:40])
    with pytest.raises(DatasetError, match="cannot be read"):
        datasets.load("humaneval", path=path)


def test_a_wrong_field_type_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "data.jsonl"
    fields = {"task_id": "T/0", "prompt": "", "entry_point": 3, "canonical_solution": ""}
    path.write_text(json.dumps(fields) + "\n")
    with pytest.raises(DatasetError, match=r"data.jsonl:1: field 'entry_point' must be str, got int"):
        datasets.load("humaneval", path=path)
