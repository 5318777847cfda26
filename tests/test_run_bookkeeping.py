"""A run's bookkeeping: one record per item when a run is resumed under its --run-id, a run that
stopped early says so (and is refused as a baseline), each request counted once in summary.json's
``generation``, and the replayable files each kind of run writes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from replayed import TASKS, humaneval_suite, run

from pytest_convcode.records import item_key, latest
from pytest_convcode.results import RunLog
from pytest_convcode.summary import generation_totals

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    return humaneval_suite(pytester)


def folder(pytester: pytest.Pytester, run_id: str) -> Path:
    return pytester.path / "reports" / run_id


def records(pytester: pytest.Pytester, run_id: str) -> list[dict[str, Any]]:
    lines = (folder(pytester, run_id) / "results.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def summary(pytester: pytest.Pytester, run_id: str) -> dict[str, Any]:
    return json.loads((folder(pytester, run_id) / "summary.json").read_text())


def interrupt_after(pytester: pytest.Pytester, task_id: str) -> None:
    """A conftest that presses Ctrl-C once ``task_id``'s item has finished."""
    pytester.makeconftest(
        f"""
        def pytest_runtest_logfinish(nodeid):
            if "[{task_id}]" in nodeid:
                raise KeyboardInterrupt
        """
    )


# ---------------------------------------------------------------- one record per item


def record(task_id: str, outcome: str = "passed", **fields: Any) -> dict[str, Any]:
    return {"suite": "humaneval", "kind": "single", "task_id": task_id, "outcome": outcome, "sample": 0, **fields}


def test_an_item_is_its_suite_kind_task_sample_setting_turn_and_mode() -> None:
    first, again = record("HumanEval/0"), record("HumanEval/0", "failed")
    others = [
        record("HumanEval/1"),
        record("HumanEval/0", sample=1),
        {**first, "suite": "mbpp"},
        {**first, "kind": "conversation", "setting": "cf", "turn": 0},
        {**first, "kind": "conversation", "setting": "cf", "turn": 1},
        {**first, "kind": "conversation", "setting": "ef", "turn": 1},
        {**first, "kind": "reasoning", "mode": "input"},
        {**first, "kind": "reasoning", "mode": "output"},
    ]
    assert item_key(first) == item_key(again)
    assert len({item_key(r) for r in [first, *others]}) == 1 + len(others)
    assert latest([first, others[0], again]) == [again, others[0]]


def test_appending_after_a_kill_drops_the_half_written_line_and_compacting_keeps_the_latest(tmp_path: Path) -> None:
    log = RunLog(tmp_path)
    log.append(record("HumanEval/0", "failed"))
    log.append(record("HumanEval/1"))
    log.close()
    with open(log.results_path, "a") as results:
        results.write('{"suite": "humaneval", "task_')  # a kill mid-write
    resumed = RunLog(tmp_path)
    resumed.append(record("HumanEval/0"))
    lines = log.results_path.read_text().splitlines()
    assert [json.loads(line)["outcome"] for line in lines] == ["failed", "passed", "passed"]
    kept = [record("HumanEval/0"), record("HumanEval/1")]
    assert resumed.compact([record("HumanEval/0")]) == kept
    assert [json.loads(line) for line in log.results_path.read_text().splitlines()] == kept


def test_a_first_session_compacts_what_it_appended_without_reading_it_back(tmp_path: Path) -> None:
    log = RunLog(tmp_path)
    appended = [record("HumanEval/0", "failed"), record("HumanEval/1"), record("HumanEval/0")]
    for r in appended:
        log.append(r)
    assert log.compact(appended) == [record("HumanEval/0"), record("HumanEval/1")]
    assert len(log.results_path.read_text().splitlines()) == 2


def test_compacting_leaves_a_file_with_an_unreadable_line_as_it_is(tmp_path: Path) -> None:
    log = RunLog(tmp_path)
    text = json.dumps(record("HumanEval/0")) + "\nnot json\n" + json.dumps(record("HumanEval/0", "failed")) + "\n"
    log.results_path.write_text(text)
    assert log.compact([]) == [record("HumanEval/0", "failed")]
    assert log.results_path.read_text() == text


def test_a_resumed_run_keeps_one_record_per_item_the_latest(suite: pytest.Pytester) -> None:
    run(suite, "r", {"HumanEval/2"})
    result = run(suite, "r", set())  # the same run again, the samples fixed
    assert result.ret == 0
    kept = records(suite, "r")
    assert [(r["task_id"], r["outcome"]) for r in kept] == [(t, "passed") for t in TASKS]
    data = summary(suite, "r")
    assert data["complete"] and data["items"]["done"] == 4 and data["items"]["passed"] == 4


def test_a_resumed_run_killed_again_loses_nothing(suite: pytest.Pytester) -> None:
    run(suite, "r", {"HumanEval/0", "HumanEval/2", "HumanEval/4", "HumanEval/7"})
    interrupt_after(suite, "HumanEval/0")
    result = run(suite, "r", set())  # every sample fixed, but stopped after the first item
    assert result.ret == pytest.ExitCode.INTERRUPTED
    kept = {r["task_id"]: r["outcome"] for r in records(suite, "r")}
    assert kept == {"HumanEval/0": "passed", "HumanEval/2": "failed", "HumanEval/4": "failed", "HumanEval/7": "failed"}
    assert summary(suite, "r")["items"] == {
        "planned": 4, "done": 4, "skipped": 0, "passed": 1, "failed": 3, "error": 0
    }  # fmt: skip


# ---------------------------------------------------------------- a run that stopped early


def test_an_interrupted_run_is_marked_incomplete(suite: pytest.Pytester) -> None:
    interrupt_after(suite, "HumanEval/2")
    result = run(suite, "i", set())
    assert result.ret == pytest.ExitCode.INTERRUPTED
    data = summary(suite, "i")
    assert data["complete"] is False
    assert data["items"] == {"planned": 4, "done": 2, "skipped": 0, "passed": 2, "failed": 0, "error": 0}
    result.stdout.fnmatch_lines(["INCOMPLETE: 2 of 4 items (interrupted): the scores are of those alone*"])
    assert 'id="incomplete"' in (folder(suite, "i") / "report.html").read_text()


@pytest.mark.parametrize("workers", ["0", "2"])
def test_a_run_stopped_at_its_first_failure_is_incomplete_and_does_not_pass(
    suite: pytest.Pytester, workers: str
) -> None:
    result = run(suite, "x", {"HumanEval/0"}, "-x", "-n", workers)
    assert result.ret in (pytest.ExitCode.TESTS_FAILED, pytest.ExitCode.INTERRUPTED)  # xdist: interrupted
    # (not 0, as a run whose only failures are wrong answers)
    data = summary(suite, "x")
    assert data["complete"] is False and data["items"]["planned"] == 4 and data["items"]["done"] < 4
    result.stdout.fnmatch_lines(["INCOMPLETE: * of 4 items*"])


def test_a_whole_run_under_xdist_is_complete(suite: pytest.Pytester) -> None:
    result = run(suite, "c", {"HumanEval/0"}, "-n", "2")
    assert result.ret == 0
    data = summary(suite, "c")
    assert data["complete"] is True and data["items"]["planned"] == data["items"]["done"] == 4
    assert "INCOMPLETE" not in result.stdout.str()


def test_an_incomplete_baseline_is_refused_unless_allowed(suite: pytest.Pytester) -> None:
    interrupt_after(suite, "HumanEval/2")
    run(suite, "stopped", set())
    (suite.path / "conftest.py").unlink()
    refused = run(suite, "after", set(), "--compare", "reports/stopped")
    assert refused.ret == pytest.ExitCode.USAGE_ERROR
    refused.stderr.fnmatch_lines(
        [
            "ERROR: --compare reports/stopped: that run is incomplete (2 of 4 items): "
            "compare with a complete run, or give --allow-incomplete-baseline"
        ]
    )
    allowed = run(suite, "after", set(), "--compare", "reports/stopped", "--allow-incomplete-baseline")
    assert allowed.ret == 0
    assert summary(suite, "after")["comparison"]["baseline"]["complete"] is False
    allowed.stdout.fnmatch_lines(
        ["compared with run stopped (replay:*, an INCOMPLETE run (--allow-incomplete-baseline)):"]
    )


# ---------------------------------------------------------------- tokens and time, each request once


def coder(request_id: str | None, cached: bool, usage: dict[str, int] | None = None, **fields: Any) -> dict[str, Any]:
    figures = {"usage": usage or {}, "latency_s": 0.0, "queue_s": 0.0, "retries": 0, "cached": cached}
    return record("T/0", **(figures | ({"request_id": request_id} if request_id else {}) | fields))


def test_each_request_is_counted_once_the_coder_and_the_simulator_apart() -> None:
    turn0 = {"prompt_tokens": 100, "completion_tokens": 40}
    user = {"user_usage": {"prompt_tokens": 300, "completion_tokens": 20}, "user_latency_s": 2.0, "user_queue_s": 1.0}
    user |= {"user_cached": False, "user_request_id": "u1"}
    records = [
        # turn 0, shared by three feedback settings: asked once, reused by the two others
        coder("a", False, turn0, latency_s=4.0, queue_s=3.0, retries=1),
        coder("a", True, turn0),
        coder("a", True, turn0),
        # two samples of one request: its cost is on sample 0
        coder("b", False, {"prompt_tokens": 50, "completion_tokens": 60}, latency_s=6.0, sample=0),
        coder("b", False, {}, sample=1),
        # answered by the cache (an earlier run's)
        coder("c", True, {"prompt_tokens": 999, "completion_tokens": 999}),
        # a turn with the simulated user's feedback, and the user's request seen again
        coder("d", False, {"prompt_tokens": 10, "completion_tokens": 0}, **user),
        coder("e", True, {"prompt_tokens": 10, "completion_tokens": 0}, **{**user, "user_cached": True}),
    ]
    assert generation_totals(records) == {
        "coder": {
            "requests": 5, "requests_cached": 2, "prompt_tokens": 160, "completion_tokens": 100, "retries": 1,
            "seconds_at_server": 10.0, "seconds_queued": 3.0, "tokens_per_second": 10.0,
        },
        "simulator": {
            "requests": 1, "requests_cached": 0, "prompt_tokens": 300, "completion_tokens": 20, "retries": 0,
            "seconds_at_server": 2.0, "seconds_queued": 1.0, "tokens_per_second": 10.0,
        },
    }  # fmt: skip


def test_records_of_an_older_run_without_request_ids_count_as_before() -> None:
    records = [
        coder(None, False, {"prompt_tokens": 5, "completion_tokens": 7}, latency_s=1.0),
        coder(None, False, {}, sample=1),  # a later sample of that request
        coder(None, True, {"prompt_tokens": 5, "completion_tokens": 7}),
        record("T/1"),  # a replayed answer: no request at all
    ]
    totals = generation_totals(records)
    assert totals["coder"] | {"seconds_queued": None} == {
        "requests": 2, "requests_cached": 1, "prompt_tokens": 5, "completion_tokens": 7, "retries": 0,
        "seconds_at_server": 1.0, "seconds_queued": None, "tokens_per_second": 7.0,
    }  # fmt: skip
    assert totals["simulator"]["requests"] == 0 and totals["simulator"]["tokens_per_second"] is None


# ---------------------------------------------------------------- the replayable files


def test_a_conversation_run_writes_no_samples_file(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_convcodeworld=(ROOT / "suites/convcodeworld/test_convcodeworld.py").read_text())
    feedback = ["--feedback", "cf,cf-expert", "--max-turns", "1"]  # cf-expert: skipped without --user-model
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--run-id", "c", "--tasks", "BigCodeBench/24", *feedback
    )
    assert result.ret == 0
    written = sorted(p.name for p in folder(pytester, "c").iterdir())
    assert "samples.jsonl" not in written and "conversations" in written  # the programs are in its log
    data = summary(pytester, "c")  # skipped items are accounted for: the run is complete
    assert data["complete"] and data["items"] | {"passed": 0} == {
        "planned": 4, "done": 2, "skipped": 2, "passed": 0, "failed": 0, "error": 0
    }  # fmt: skip


def test_a_one_turn_unittest_run_writes_samples_that_replay_to_the_same_scores(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_bigcodebench=(ROOT / "suites/bigcodebench/test_bigcodebench.py").read_text())
    first = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--run-id", "a", "--tasks", "BigCodeBench/24")
    assert first.ret == 0
    samples = folder(pytester, "a") / "samples.jsonl"
    assert [json.loads(line)["task_id"] for line in samples.read_text().splitlines()] == ["BigCodeBench/24"]
    again = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--run-id", "b", f"--model=replay:{samples}")
    assert again.ret == 0
    assert summary(pytester, "b")["scores"] == summary(pytester, "a")["scores"]


def test_a_reasoning_run_writes_its_generations_and_no_samples_file(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_cruxeval=(ROOT / "suites/cruxeval/test_cruxeval.py").read_text())
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--run-id", "x", "-k", "sample_0")
    assert result.ret == 0
    written = sorted(p.name for p in folder(pytester, "x").iterdir() if p.name.endswith(("json", "jsonl")))
    assert written == [
        "generations-cruxeval-input.json", "generations-cruxeval-output.json", "results.jsonl", "summary.json"
    ]  # fmt: skip
