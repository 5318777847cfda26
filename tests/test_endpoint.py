"""Model endpoints end to end: pytest runs (subprocesses) against a real OpenAI-protocol server on 127.0.0.1."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_convcode import datasets
from pytest_convcode.generation import request_key
from pytest_convcode.models import Request
from pytest_convcode.models.reference import ReferenceModel
from pytest_convcode.testing.openai_server import OpenAIServer

ROOT = Path(__file__).resolve().parents[1]
HUMANEVAL = datasets.load("humaneval")
TASKS = ["HumanEval/0", "HumanEval/2", "HumanEval/4"]
SELECT = " or ".join(TASKS)


def user_text(body: dict[str, Any]) -> str:
    return body["messages"][-1]["content"] if "messages" in body else body["prompt"]


def task_of(body: dict[str, Any]) -> str:
    text = user_text(body)
    return next(t.task_id for t in HUMANEVAL.tasks.values() if f"def {t.entry_point}(" in text)


def right(body: dict[str, Any], index: int) -> str:
    task = HUMANEVAL.tasks[task_of(body)]
    if "prompt" in body:  # completion style: continue the prompt
        return task.canonical_solution
    return f"Here is my solution.\n\n```python\n{task.prompt}{task.canonical_solution}```\n"


@pytest.fixture
def server() -> Iterator[OpenAIServer]:
    with OpenAIServer(right) as s:
        yield s


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(test_humaneval=(ROOT / "suites/humaneval/test_humaneval.py").read_text())
    return pytester


def run(
    pytester: pytest.Pytester, server: OpenAIServer, *args: str, run_id: str = "t"
) -> tuple[pytest.RunResult, list[dict[str, Any]]]:
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--run-id", run_id, "--model", "ds6.7b", "--base-url", server.url, *args
    )
    path = pytester.path / "reports" / run_id / "results.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    return result, records


def summary(pytester: pytest.Pytester, run_id: str = "t") -> dict[str, Any]:
    return json.loads((pytester.path / "reports" / run_id / "summary.json").read_text())


def test_a_model_behind_an_endpoint_is_scored_with_tokens_and_latency(
    suite: pytest.Pytester, server: OpenAIServer
) -> None:
    result, records = run(suite, server, "-k", SELECT)
    result.assert_outcomes(passed=3, deselected=161)
    assert sorted(r["task_id"] for r in records) == TASKS
    assert {body["model"] for body in server.requests} == {"deepseek-ai/deepseek-coder-6.7b-instruct"}
    assert all(r["usage"]["completion_tokens"] > 0 and r["latency_s"] > 0 for r in records)
    totals = summary(suite)["generation"]["coder"]
    assert totals["completion_tokens"] == sum(r["usage"]["completion_tokens"] for r in records) > 0
    assert (totals["requests"], totals["requests_cached"]) == (3, 0)


def test_a_rerun_makes_no_requests_and_scores_the_same(suite: pytest.Pytester, server: OpenAIServer) -> None:
    run(suite, server, "-k", SELECT, run_id="first")
    asked = len(server.requests)
    result, records = run(suite, server, "-k", SELECT, run_id="second")
    result.assert_outcomes(passed=3, deselected=161)
    assert (asked, len(server.requests)) == (3, 3)
    assert all(r["cached"] for r in records)
    assert summary(suite, "second")["scores"] == summary(suite, "first")["scores"]


def test_cache_refresh_asks_again_and_off_stores_nothing(suite: pytest.Pytester, server: OpenAIServer) -> None:
    run(suite, server, "-k", "HumanEval/0", run_id="first")
    run(suite, server, "-k", "HumanEval/0", "--cache", "refresh", run_id="refresh")
    run(suite, server, "-k", "HumanEval/0", "--cache", "off", run_id="off")
    assert len(server.requests) == 3


def test_samples_of_a_task_are_requested_together(suite: pytest.Pytester, server: OpenAIServer) -> None:
    result, _records = run(suite, server, "-k", "HumanEval/0", "--samples", "3", "--temperature", "0.8")
    result.assert_outcomes(passed=3, deselected=3 * 163)
    assert [(b["n"], b["temperature"]) for b in server.requests] == [(3, 0.8)]
    assert summary(suite)["scores"]["humaneval"]["samples"] == 3


@pytest.mark.parametrize("fault", ["429:0.2", "500", "503", "malformed", "cutoff", "drop"])
def test_a_failed_request_is_retried(suite: pytest.Pytester, server: OpenAIServer, fault: str) -> None:
    server.inject(fault)
    result, records = run(suite, server, "-k", "HumanEval/0")
    result.assert_outcomes(passed=1, deselected=163)
    assert records[0]["retries"] == 1
    assert len(server.requests) == 2


def test_a_slow_request_times_out_and_is_retried(suite: pytest.Pytester, server: OpenAIServer) -> None:
    server.inject("slow:5")
    result, records = run(suite, server, "-k", "HumanEval/0", "--request-timeout", "1")
    result.assert_outcomes(passed=1, deselected=163)
    assert records[0]["retries"] == 1


def test_a_request_that_keeps_failing_is_a_harness_error(suite: pytest.Pytester, server: OpenAIServer) -> None:
    server.inject(*["500"] * 3)
    result, records = run(suite, server, "-k", "HumanEval/0", "--max-retries", "2")
    result.assert_outcomes(errors=1, deselected=163)
    result.stdout.fnmatch_lines(["*gave up after 3 attempts: 500 from the endpoint*"])
    assert records[0]["outcome"] == "error"


def test_an_unreachable_endpoint_is_one_clear_error(suite: pytest.Pytester) -> None:
    result = suite.runpytest_subprocess("--model", "ds6.7b", "--base-url", "http://127.0.0.1:9/v1")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*cannot reach the model endpoint http://127.0.0.1:9/v1*--autorun*"])
    assert "test_humaneval" not in result.stdout.str()


def test_a_reply_without_code_is_a_failed_item_that_says_so(suite: pytest.Pytester) -> None:
    with OpenAIServer(lambda body, i: "I'm sorry, I can't help with that.") as refusing:
        result, records = run(suite, refusing, "-k", "HumanEval/0")
    result.assert_outcomes(failed=1, deselected=163)
    result.stdout.fnmatch_lines(["*the reply holds no program*"])
    assert records[0]["reply"] == "I'm sorry, I can't help with that."


def test_a_project_alias_can_ask_for_completions(suite: pytest.Pytester, server: OpenAIServer) -> None:
    suite.makepyprojecttoml(
        """
        [tool.convcode.models.mine]
        model = "my-base-model"
        style = "completion"
        stop = ["\\ndef "]
        """
    )
    result = suite.runpytest_subprocess(
        "-p", "no:cacheprovider", "--model", "mine", "--base-url", server.url, "-k", "HumanEval/2"
    )
    result.assert_outcomes(passed=1, deselected=163)
    (body,) = server.requests
    assert (body["model"], body["prompt"], body["stop"]) == (
        "my-base-model",
        HUMANEVAL.tasks["HumanEval/2"].prompt,
        ["\ndef "],
    )


def test_a_full_model_name_needs_an_endpoint(suite: pytest.Pytester) -> None:
    result = suite.runpytest_subprocess("--model", "someone/some-coder-1b")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*needs an endpoint: give --base-url URL*"])


def test_exported_samples_replay_to_the_same_scores(suite: pytest.Pytester, server: OpenAIServer) -> None:
    run(suite, server, "-k", SELECT, "--samples", "2")
    samples = suite.path / "reports" / "t" / "samples.jsonl"
    result = suite.runpytest_subprocess("-p", "no:cacheprovider", "--run-id", "again", "--model", f"replay:{samples}")
    result.assert_outcomes(passed=6)
    assert summary(suite, "again")["scores"] == summary(suite)["scores"]


def test_xdist_workers_request_each_task_once(suite: pytest.Pytester, server: OpenAIServer) -> None:
    ids = [f"HumanEval/{i}" for i in range(12)]
    result, _records = run(suite, server, "-k", " or ".join(ids), "-n", "2")
    result.assert_outcomes(passed=12)
    assert sorted(Counter(task_of(b) for b in server.requests).values()) == [1] * 12


def test_a_killed_run_resumes_without_asking_twice(suite: pytest.Pytester) -> None:
    ids = [f"HumanEval/{i}" for i in range(8)]
    with OpenAIServer(right, delay=0.5) as slow:
        args = ["-p", "no:cacheprovider", "--model", "ds6.7b", "--base-url", slow.url, "--max-concurrency", "2"]
        args += ["-k", " or ".join(ids)]
        first = subprocess.Popen([sys.executable, "-m", "pytest", *args], cwd=suite.path, start_new_session=True)
        deadline = time.monotonic() + 30
        while _stored_answers(suite.path) < 3 and time.monotonic() < deadline:  # answered is not yet stored
            time.sleep(0.05)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
        kept = _stored_answers(suite.path)
        asked_before = len(slow.requests)
        result = suite.runpytest_subprocess(*args)
        result.assert_outcomes(passed=8, deselected=156)
        assert 3 <= kept < 8
        assert len(slow.requests) - asked_before == 8 - kept  # only what the killed run had not received


def test_a_killed_run_resumed_under_its_run_id_takes_its_claims_over_at_once(suite: pytest.Pytester) -> None:
    ids = [f"HumanEval/{i}" for i in range(4)]
    with OpenAIServer(right, delay=60) as stuck:  # nothing is answered before the kill
        args = ["-p", "no:cacheprovider", "--run-id", "same", "--model", "ds6.7b", "--base-url", stuck.url]
        args += ["-k", " or ".join(ids)]
        first = subprocess.Popen([sys.executable, "-m", "pytest", *args], cwd=suite.path, start_new_session=True)
        deadline = time.monotonic() + 30
        while len(stuck.requests) < 4 and time.monotonic() < deadline:  # claimed, and asked
            time.sleep(0.05)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
        stuck.delay = 0
        started = time.monotonic()
        result = suite.runpytest_subprocess(*args, timeout=60)  # the dead run's claims held for 4200 s
    result.assert_outcomes(passed=4, deselected=160)
    assert time.monotonic() - started < 30 and len(stuck.requests) == 8


def _stored_answers(root: Path) -> int:
    try:
        with sqlite3.connect(root / ".convcode" / "generations.sqlite") as db:
            (count,) = db.execute("SELECT COUNT(*) FROM answers").fetchone()
    except sqlite3.OperationalError:  # not made yet
        return 0
    return int(count)


def test_autorun_serves_the_model_for_the_run_and_stops_it(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    from test_vllm_serve import FAKE_VLLM  # a `vllm` that serves the loopback server

    fake = suite.path / "bin" / "vllm"
    fake.parent.mkdir()
    fake.write_text(FAKE_VLLM)
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_VLLM_RECORD", str(suite.path / "record.json"))
    result = suite.runpytest_subprocess(
        "-p", "no:cacheprovider", "--model", "ds6.7b", "--autorun", "--gpus", "0,1", "-k", "HumanEval/0"
    )
    result.assert_outcomes(failed=1, deselected=163)  # the fake answers `def f(): return 1`
    served = json.loads((suite.path / "record.json").read_text())
    assert served["argv"][1:3] == ["serve", "deepseek-ai/deepseek-coder-6.7b-instruct"]
    assert "--tensor-parallel-size" in served["argv"] and served["cuda"] == "0,1"
    status = Path(f"/proc/{served['pid']}/status")
    assert not status.exists() or "zombie" in status.read_text()


def test_vllm_offline_without_vllm_says_how_to_install_it(suite: pytest.Pytester) -> None:
    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vllm is installed here")
    result = suite.runpytest_subprocess("--model", "vllm-offline:deepseek-ai/deepseek-coder-6.7b-instruct")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*vllm is not installed: pip install 'pytest-convcode?vllm?'*"])


def test_the_cache_key_changes_with_the_task_prompt() -> None:
    task = HUMANEVAL.tasks["HumanEval/0"]
    reworded = dataclasses.replace(task, prompt=task.prompt.replace("Check if", "Tell whether"))
    model = ReferenceModel()
    assert request_key(model, Request(task)) != request_key(model, Request(reworded))
