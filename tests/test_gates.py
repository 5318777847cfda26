"""Gate expressions over reported metrics: absolute, per group, per feedback setting, strict or excluding
errors, and against a baseline."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_convcode import gates
from pytest_convcode.errors import UsageError

SUMMARY: dict[str, Any] = {
    "scores": {"humaneval": {"pass@1": 0.9}, "humaneval+": {"pass@1": 0.6}, "mbpp": {"pass@1": 0.8}},
    "conversations": {
        "bigcodebench cf": {"setting": "cf", "tasks": 10, "mrr": 35.0, "recall": 50.0},
        "bigcodebench cf-ef_full": {"setting": "cf-ef_full", "tasks": 10, "mrr": 41.2, "recall": 62.0},
    },
}
BASELINE: dict[str, Any] = {
    "scores": {"humaneval+": {"pass@1": 0.615}, "mbpp": {"pass@1": 0.80}},
    "conversations": {"bigcodebench cf-ef_full": {"setting": "cf-ef_full", "tasks": 10, "mrr": 40.0, "recall": 70.0}},
}


def test_every_rate_is_reported_in_percent_under_its_group() -> None:
    assert gates.reported(SUMMARY) == {
        "humaneval:pass@1": 90.0,
        "humaneval+:pass@1": 60.0,
        "mbpp:pass@1": 80.0,
        "bigcodebench:mrr[cf]": 35.0,
        "bigcodebench:recall[cf]": 50.0,
        "bigcodebench:mrr[cf-ef_full]": 41.2,
        "bigcodebench:recall[cf-ef_full]": 62.0,
    }


@pytest.mark.parametrize(
    ("text", "value"),
    [("pass@1>=0.8", 80.0), ("pass@1>=80", 80.0), ("pass@1 >= 0.5%", 0.5), ("pass@1>=1", 100.0)],
)
def test_a_bare_number_up_to_one_is_a_fraction_and_a_larger_one_a_percent(text: str, value: float) -> None:
    assert gates.parse(text).value == value


def test_an_unprefixed_pass_gate_checks_the_strictest_score_of_each_suite() -> None:
    assert gates.parse("pass@1>=0.7").failures(SUMMARY) == ["humaneval+:pass@1 = 60.0%, needs >= 70.0%"]
    assert gates.parse("humaneval:pass@1 >= 0.7").failures(SUMMARY) == []


def test_a_conversation_gate_names_its_feedback_setting() -> None:
    assert gates.parse("mrr[cf-ef_full] >= 40").failures(SUMMARY) == []
    assert gates.parse("bigcodebench:recall[cf]>=55").failures(SUMMARY) == [
        "bigcodebench:recall[cf] = 50.0%, needs >= 55.0%"
    ]
    assert gates.parse("mrr[cf-expert]>=1").failures(SUMMARY) == ["bigcodebench:mrr[cf-expert] was not measured"]


def test_a_relative_gate_allows_the_given_drop_in_points_from_the_baseline() -> None:
    assert gates.parse("pass@1 >= baseline - 1.0").failures(SUMMARY, BASELINE) == [
        "humaneval+:pass@1 = 60.0%, needs >= 60.5% (baseline 61.5% -1.0)"
    ]
    assert gates.parse("pass@1 >= baseline - 2").failures(SUMMARY, BASELINE) == []
    assert gates.parse("recall[cf-ef_full] >= baseline").failures(SUMMARY, BASELINE) == [
        "bigcodebench:recall[cf-ef_full] = 62.0%, needs >= 70.0% (baseline 70.0% +0.0)"
    ]
    assert gates.parse("mrr[cf] >= baseline").failures(SUMMARY, BASELINE) == [
        "bigcodebench:mrr[cf] = 35.0%, but the baseline did not measure it"
    ]


# ---------------------------------------------------------------- strict scores, and excluding errors

WITH_ERRORS: dict[str, Any] = {
    "scores": {
        "humaneval": {"errors": 1, "pass@1": 0.9, "excluding_errors": {"pass@1": 0.95}},
        "humaneval+": {"errors": 1, "pass@1": 0.6, "excluding_errors": {"pass@1": 0.7}},
    },
    "conversations": {
        "bigcodebench cf": {"setting": "cf", "tasks": 10, "mrr": 35.0, "recall": 50.0, "errors": 2,
                            "excluding_errors": {"tasks": 8, "mrr": 43.75, "recall": 62.5}},
    },
}  # fmt: skip
SCHEMA_1: dict[str, Any] = {  # its figures left errors out
    "schema_version": 1,
    "scores": {"humaneval": {"errors": 0, "pass@1": 0.9}, "humaneval+": {"errors": 2, "pass@1": 0.65}},
    "conversations": {"bigcodebench cf": {"setting": "cf", "tasks": 10, "mrr": 30.0, "recall": 50.0, "errors": 0}},
}


def test_each_metric_is_reported_strict_and_excluding_errors() -> None:
    assert gates.reported(WITH_ERRORS) == {
        "humaneval:pass@1": 90.0, "humaneval:pass@1(ran)": 95.0,
        "humaneval+:pass@1": 60.0, "humaneval+:pass@1(ran)": 70.0,
        "bigcodebench:mrr[cf]": 35.0, "bigcodebench:mrr[cf](ran)": 43.75,
        "bigcodebench:recall[cf]": 50.0, "bigcodebench:recall[cf](ran)": 62.5,
    }  # fmt: skip


def test_a_gate_checks_the_strict_score_unless_it_says_ran() -> None:
    assert gates.parse("pass@1>=0.65").failures(WITH_ERRORS) == ["humaneval+:pass@1 = 60.0%, needs >= 65.0%"]
    assert gates.parse("pass@1(ran)>=0.65").failures(WITH_ERRORS) == []
    assert gates.parse("humaneval+:pass@1 (ran) >= 75%").failures(WITH_ERRORS) == [
        "humaneval+:pass@1(ran) = 70.0%, needs >= 75.0%"
    ]
    assert gates.parse("recall[cf] >= 60").failures(WITH_ERRORS) == ["bigcodebench:recall[cf] = 50.0%, needs >= 60.0%"]
    assert gates.parse("bigcodebench:recall[cf](ran) >= 60").failures(WITH_ERRORS) == []


def test_against_a_baseline_each_figure_is_compared_with_its_own_kind() -> None:
    assert gates.parse("pass@1(ran) >= baseline").failures(WITH_ERRORS, WITH_ERRORS | {"schema_version": 2}) == []
    assert gates.parse("mrr[cf](ran) >= baseline + 10").failures(WITH_ERRORS, SCHEMA_1) == []
    assert gates.parse("mrr[cf] >= baseline + 10").failures(WITH_ERRORS, SCHEMA_1) == [
        "bigcodebench:mrr[cf] = 35.0%, needs >= 40.0% (baseline 30.0% +10.0)"  # no errors there: strict is known
    ]


def test_a_schema_1_baseline_with_errors_has_only_its_score_excluding_them() -> None:
    assert gates.reported(SCHEMA_1) == {
        "humaneval:pass@1": 90.0, "humaneval:pass@1(ran)": 90.0, "humaneval+:pass@1(ran)": 65.0,
        "bigcodebench:mrr[cf]": 30.0, "bigcodebench:mrr[cf](ran)": 30.0,
        "bigcodebench:recall[cf]": 50.0, "bigcodebench:recall[cf](ran)": 50.0,
    }  # fmt: skip
    assert gates.parse("pass@1 >= baseline").failures(WITH_ERRORS, SCHEMA_1) == [
        "humaneval+:pass@1 = 60.0%, but the baseline did not measure it "
        "(an older summary, which left errors out: it has humaneval+:pass@1(ran))"
    ]
    assert gates.parse("pass@1(ran) >= baseline").failures(WITH_ERRORS, SCHEMA_1) == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("pass@1 is great", "write METRIC OP VALUE"),
        ("mrr >= 40", "needs its feedback setting"),
        ("pass@1[cf] >= 0.5", "pass@k has no feedback setting"),
        ("pass@1 >= baseline * 0.9", "write METRIC OP VALUE"),
        ("pass@1(all) >= 0.5", "write METRIC OP VALUE"),
        ("mrr(ran)[cf] >= 40", "write METRIC OP VALUE"),
    ],
)
def test_a_malformed_gate_says_how_to_write_one(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        gates.parse(text)
