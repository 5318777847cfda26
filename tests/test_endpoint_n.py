"""What a server can do to a run short of answering well: ignore ``n`` (llama.cpp's), cut a reply at
max_tokens, keep failing. Pytest runs (subprocesses) against the OpenAI-protocol server on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from test_endpoint import ROOT, right

from pytest_convcode.testing.openai_server import OpenAIServer


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(test_humaneval=(ROOT / "suites/humaneval/test_humaneval.py").read_text())
    return pytester


@pytest.fixture
def ignoring() -> Iterator[OpenAIServer]:
    with OpenAIServer(right, ignore_n=True) as s:
        yield s


def run(pytester: pytest.Pytester, server: OpenAIServer, *args: str) -> tuple[pytest.RunResult, list[dict[str, Any]]]:
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--run-id", "t", "--model", "ds6.7b", "--base-url", server.url, *args
    )
    path = pytester.path / "reports" / "t" / "results.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    return result, records


def test_a_server_that_ignores_n_is_asked_for_the_samples_one_at_a_time(
    suite: pytest.Pytester, ignoring: OpenAIServer
) -> None:
    result, records = run(
        suite, ignoring, "-k", "HumanEval/0 or HumanEval/2", "--samples", "2", "--max-concurrency", "1"
    )
    result.assert_outcomes(passed=4, deselected=2 * 162)
    assert [body["n"] for body in ignoring.requests] == [2, 1, 1, 1]  # found out once, for the whole run
    assert result.stderr.str().count("ignores n") == 1
    result.stderr.fnmatch_lines([f"ds6.7b at {ignoring.url} ignores n: asking for the 2 samples one at a time"])
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
    by_sample = {(r["task_id"], r["sample"]): r for r in records}
    first, second = by_sample["HumanEval/0", 0], by_sample["HumanEval/0", 1]
    assert first["request_id"] == second["request_id"] and not first["cached"]
    assert first["usage"]["completion_tokens"] > 0 and second["usage"] == {}  # both calls' cost on sample 0


def test_an_endpoint_that_keeps_failing_is_an_error_of_a_line_or_two(suite: pytest.Pytester) -> None:
    with OpenAIServer(right) as failing:
        failing.inject(*["500"] * 3)
        result, records = run(suite, failing, "-k", "HumanEval/0", "--max-retries", "2")
    result.assert_outcomes(errors=1, deselected=163)
    lines = result.stdout.lines
    start = next(i for i, line in enumerate(lines) if "ERROR at setup" in line) + 1
    report = lines[start : next(i for i in range(start, len(lines)) if lines[i].startswith("="))]
    assert report == ["InfrastructureError: ds6.7b: HumanEval/0: gave up after 3 attempts: 500 from the endpoint"]
    assert "gave up after 3 attempts" in records[0]["error"] and "Traceback" not in records[0]["error"]


def test_a_reply_cut_at_max_tokens_is_a_failure_that_says_so(suite: pytest.Pytester) -> None:
    with OpenAIServer(right) as server:
        result, records = run(suite, server, "-k", "HumanEval/0", "--max-tokens", "12")
    result.assert_outcomes(failed=1, deselected=163)
    result.stdout.fnmatch_lines(["*reply cut at max_tokens (12)*"])
    assert "SyntaxError" not in result.stdout.str()
    (record,) = records
    assert (record["finish_reason"], record["failure"]) == ("length", record["failure"])
    assert "reply cut at max_tokens (12)" in record["failure"]
