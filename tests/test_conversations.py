"""Conversations end to end: pytest runs (subprocesses) of the ConvCodeWorld suite against a real
OpenAI-protocol server on 127.0.0.1 that plays the coding model and the simulated user."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_convcode import datasets
from pytest_convcode.testing.openai_server import OpenAIServer

ROOT = Path(__file__).resolve().parents[1]
BIGCODEBENCH = datasets.load_unit("bigcodebench")
TASKS = ["BigCodeBench/16", "BigCodeBench/24"]  # standard library only, and quick to test
WRONG = "```python\ndef task_func(*args, **kwargs):\n    return None\n```"
EXPERT_ADVICE = "The attempt returns nothing; do what the task says."


def messages(body: dict[str, Any]) -> list[dict[str, str]]:
    return [m for m in body["messages"] if m["role"] != "system"]


def coder(body: dict[str, Any], index: int) -> str:
    """Wrong at first; right once the feedback shows a failing test or the expert's advice."""
    first = messages(body)[0]["content"]
    task = next(t for t in BIGCODEBENCH.tasks.values() if t.instruct_prompt == first)
    told = messages(body)[-1]["content"] if len(messages(body)) > 1 else ""
    if "FAILED" in told or EXPERT_ADVICE in told:
        return f"Fixed.\n```python\n{task.reference_program}\n```"
    return WRONG


def user(body: dict[str, Any], index: int) -> str:
    """The expert repeats the longest line of the reference's code (a leak; the docstring before it is the
    task's own wording) and then writes code (cut)."""
    prompt = messages(body)[0]["content"]
    reference = re.search(r"<reference>\n(.*?)\n</reference>", prompt, re.S)
    if reference is None:
        return "I ran it and it failed."  # the novice
    longest = max(reference.group(1).rsplit('"""', 1)[-1].splitlines(), key=len).strip()
    return f"{EXPERT_ADVICE} Like this: {longest}\n```python\nprint('code that must not reach the model')\n```"


def answer(body: dict[str, Any], index: int) -> str:
    simulated_user = "You are role-playing" in messages(body)[0]["content"] or "<reference>" in str(body)
    return user(body, index) if simulated_user else coder(body, index)


@pytest.fixture
def server() -> Iterator[OpenAIServer]:
    with OpenAIServer(answer) as s:
        yield s


@pytest.fixture
def suite(pytester: pytest.Pytester, server: OpenAIServer) -> pytest.Pytester:
    pytester.makepyfile(test_convcodeworld=(ROOT / "suites/convcodeworld/test_convcodeworld.py").read_text())
    pytester.makepyprojecttoml(f'[tool.convcode.models.sim]\nmodel = "simulator"\nbase_url = "{server.url}"\n')
    return pytester


def run(pytester: pytest.Pytester, server: OpenAIServer, *args: str, run_id: str = "t") -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--run-id", run_id, "--model", "test/coder", "--base-url", server.url,
        "--tasks", ",".join(TASKS), "--max-turns", "2", *args,
    )  # fmt: skip


def summary(pytester: pytest.Pytester, run_id: str = "t") -> dict[str, Any]:
    return json.loads((pytester.path / "reports" / run_id / "summary.json").read_text())


def log(pytester: pytest.Pytester, run_id: str = "t") -> list[dict[str, Any]]:
    files = sorted((pytester.path / "reports" / run_id / "conversations").glob("*.jsonl"))
    return [json.loads(line) for path in files for line in path.read_text().splitlines()]


def test_feedback_that_shows_the_failure_fixes_the_code_at_turn_one(
    suite: pytest.Pytester, server: OpenAIServer
) -> None:
    result = run(suite, server, "--feedback", "cf,cf-ef_full,cf-novice,cf-expert", "--user-model", "sim")
    # cf and cf-novice never see a failure: 3 failed turns each; the others pass turns 1 and 2
    result.assert_outcomes(passed=2 * 2 * 2, failed=2 * 2 * 3 + 2 * 2)
    scores = {entry["setting"]: entry for entry in summary(suite)["conversations"].values()}
    assert {s: (e["mrr"], e["recall"], e["curve"]) for s, e in scores.items()} == {
        "cf": (0.0, 0.0, [0.0, 0.0, 0.0]),
        "cf-novice": (0.0, 0.0, [0.0, 0.0, 0.0]),
        "cf-ef_full": (50.0, 100.0, [0.0, 100.0, 100.0]),
        "cf-expert": (50.0, 100.0, [0.0, 100.0, 100.0]),
    }
    assert (scores["cf-expert"]["leaks"], scores["cf-expert"]["user_feedback"]) == (2, 2)


def test_turn_zero_is_asked_once_per_task_and_the_novice_stays_silent_without_failures(
    suite: pytest.Pytester, server: OpenAIServer
) -> None:
    run(suite, server, "--feedback", "cf,cf-ef_full,cf-novice,cf-expert", "--user-model", "sim")
    firsts = [b for b in server.requests if len(messages(b)) == 1 and "<reference>" not in str(b)]
    assert len(firsts) == len(TASKS)
    assert not any("You are role-playing" in messages(b)[0]["content"] for b in server.requests)


def test_the_log_keeps_each_turn_with_the_feedback_it_answered(suite: pytest.Pytester, server: OpenAIServer) -> None:
    run(suite, server, "--feedback", "cf-expert", "--user-model", "sim")
    turns = {(e["task_id"], e["turn"]): e for e in log(suite)}
    assert sorted(turns) == [(t, i) for t in TASKS for i in (0, 1)]  # solved at turn 1: turn 2 never ran
    second = turns[TASKS[0], 1]
    assert second["passed"] and not turns[TASKS[0], 0]["passed"]
    assert second["feedback"]["user"].startswith(EXPERT_ADVICE)
    assert "print(" not in second["feedback"]["user"] and "print(" in second["feedback"]["user_raw"]
    assert second["feedback"]["leaked"]
    assert [m["role"] for m in second["messages"]][-3:] == ["user", "assistant", "user"]


def test_a_late_turn_alone_still_runs_the_turns_before_it(suite: pytest.Pytester, server: OpenAIServer) -> None:
    result = run(suite, server, "--feedback", "cf-ef_full", "-k", "turn2")
    result.assert_outcomes(passed=2, deselected=4)
    records = [json.loads(line) for line in (suite.path / "reports/t/results.jsonl").read_text().splitlines()]
    assert {(r["turn"], r["solved_at"]) for r in records} == {(2, 1)}
    assert {r["kind"] for r in records} == {"conversation"}


def test_settings_with_a_simulated_user_are_skipped_without_a_user_model(
    suite: pytest.Pytester, server: OpenAIServer
) -> None:
    result = run(suite, server, "--feedback", "cf-novice", "-rs")
    result.assert_outcomes(skipped=6)
    result.stdout.fnmatch_lines(["*cf-novice simulates a user: give --user-model*"])


def test_a_failing_simulator_is_retried_then_an_error_of_the_turns_it_feeds(
    suite: pytest.Pytester, server: OpenAIServer
) -> None:
    with OpenAIServer(answer) as broken:
        broken.inject(*["500"] * 20)
        suite.makepyprojecttoml(f'[tool.convcode.models.sim]\nmodel = "simulator"\nbase_url = "{broken.url}"\n')
        result = run(suite, server, "--feedback", "cf-expert", "--user-model", "sim", "--max-retries", "1")
        assert len(broken.requests) == 2 * len(TASKS)  # each asked twice: once and one retry
    result.assert_outcomes(failed=2, errors=4)  # turn 0 is judged; turns 1 and 2 lack their feedback
    result.stdout.fnmatch_lines(["*gave up after 2 attempts: 500 from the endpoint*"])
    entry = next(iter(summary(suite)["conversations"].values()))
    assert (entry["tasks"], entry["errors"], entry["recall"]) == (2, 2, 0.0)  # errored tasks count as unsolved
    assert entry["excluding_errors"] == {"tasks": 0}


def test_the_reference_solutions_pass_at_turn_zero(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_convcodeworld=(ROOT / "suites/convcodeworld/test_convcodeworld.py").read_text())
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--run-id", "r", "--tasks", ",".join(TASKS), "--max-turns", "1",
        "--feedback", "cf-ef_partial", "-n", "2",
    )  # fmt: skip
    result.assert_outcomes(passed=4)
    entry = summary(pytester, "r")["conversations"]["bigcodebench cf-ef_partial"]
    assert (entry["mrr"], entry["recall"]) == (100.0, 100.0)


def test_full_context_sends_the_whole_conversation(suite: pytest.Pytester, server: OpenAIServer) -> None:
    run(suite, server, "--feedback", "cf", "--context", "full", "-k", "BigCodeBench/16")
    turns = sorted((e["turn"], [m["role"] for m in e["messages"]]) for e in log(suite))
    assert turns == [
        (0, ["user"]),
        (1, ["user", "assistant", "user"]),
        (2, ["user", "assistant", "user", "assistant", "user"]),
    ]


def test_humaneval_converses_with_execution_feedback(pytester: pytest.Pytester, server: OpenAIServer) -> None:
    """OpenCodeInterpreter-style refinement: the base tests are public, their failure is the feedback."""
    humaneval = datasets.load("humaneval")

    def refine(body: dict[str, Any], index: int) -> str:
        task = next(t for t in humaneval.tasks.values() if t.prompt.strip() in messages(body)[0]["content"])
        if "FAILED: base" in messages(body)[-1]["content"]:
            return f"```python\n{task.prompt}{task.canonical_solution}\n```"
        return f"```python\ndef {task.entry_point}(*args):\n    return None\n```"

    server.answer = refine
    pytester.makepyfile(test_humaneval=(ROOT / "suites/humaneval/test_humaneval.py").read_text())
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--run-id", "h", "--model", "test/coder", "--base-url", server.url,
        "--feedback", "cf-ef_partial", "--max-turns", "1", "--tasks", "HumanEval/0,HumanEval/2",
    )  # fmt: skip
    result.assert_outcomes(passed=2, failed=2)
    entry = summary(pytester, "h")["conversations"]["humaneval cf-ef_partial"]
    assert (entry["mrr"], entry["recall"], entry["curve"]) == (50.0, 100.0, [0.0, 100.0])


def test_a_rerun_asks_neither_the_model_nor_the_simulator_again(suite: pytest.Pytester, server: OpenAIServer) -> None:
    run(suite, server, "--feedback", "cf-ef_full-expert", "--user-model", "sim", run_id="first")
    asked = len(server.requests)
    result = run(suite, server, "--feedback", "cf-ef_full-expert", "--user-model", "sim", run_id="second")
    result.assert_outcomes(passed=4, failed=2)
    assert asked == 3 * len(TASKS) and len(server.requests) == asked  # turn 0, the expert, turn 1
    assert summary(suite, "second")["conversations"] == summary(suite, "first")["conversations"]


def test_tasks_come_from_a_file_and_an_unknown_one_is_named(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_humaneval=(ROOT / "suites/humaneval/test_humaneval.py").read_text())
    (pytester.path / "ids.txt").write_text("# two of them\nHumanEval/3\nHumanEval/7\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--tasks", "ids.txt", "--collect-only", "-q")
    result.stdout.fnmatch_lines(
        ["test_humaneval.py::test_humaneval?HumanEval/3?", "*HumanEval/7*", "2 tests collected*"]
    )
    wrong = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--tasks", "HumanEval/3,HumanEval/999")
    assert wrong.ret == pytest.ExitCode.USAGE_ERROR
    wrong.stderr.fnmatch_lines(["ERROR: --tasks names 1 tasks that humaneval lacks, e.g. 'HumanEval/999'"])


def test_a_task_whose_reference_fails_here_is_an_environment_error(pytester: pytest.Pytester) -> None:
    """BigCodeBench/176 looks host names up: the sandbox has no network, so its reference fails too."""
    pytester.makepyfile(test_convcodeworld=(ROOT / "suites/convcodeworld/test_convcodeworld.py").read_text())
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--run-id", "e", "--tasks", "BigCodeBench/176,BigCodeBench/24",
        "--feedback", "cf", "--max-turns", "0",
    )  # fmt: skip
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["EnvironmentProblem: BigCodeBench/176 cannot be judged here: its reference*"])
    entry = summary(pytester, "e")["conversations"]["bigcodebench cf"]
    assert (entry["tasks"], entry["errors"], entry["recall"]) == (2, 1, 50.0)  # the errored task counts as unsolved
    assert (entry["excluding_errors"]["tasks"], entry["excluding_errors"]["recall"]) == (1, 100.0)


def test_a_library_the_task_needs_but_the_sandbox_lacks_is_an_environment_error(pytester: pytest.Pytester) -> None:
    # matplotlib, not pandas: the dev extras bring pandas (with datasets), nothing brings matplotlib
    if importlib.util.find_spec("matplotlib") is not None:
        pytest.skip("matplotlib is installed here: the missing library must be missing")
    pytester.makepyfile(test_convcodeworld=(ROOT / "suites/convcodeworld/test_convcodeworld.py").read_text())
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--tasks", "BigCodeBench/69", "--feedback", "cf", "--max-turns", "0",
        f"--sandbox-python={sys.executable}",  # this venv: no matplotlib (one argument: a path given apart from
        # its option would be taken for a test path, and make the project pytest's rootdir)
    )  # fmt: skip
    result.assert_outcomes(errors=1)
    command = "python -m pytest_convcode.env bigcodebench"
    result.stdout.fnmatch_lines([f"*BigCodeBench/69 needs the module 'matplotlib'*{command}*--sandbox-python auto*"])


def records(pytester: pytest.Pytester, run_id: str = "t") -> list[dict[str, Any]]:
    path = pytester.path / "reports" / run_id / "results.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_prompt_repeated_at_a_later_turn_is_asked_again_and_a_shared_turn_zero_is_reused(
    suite: pytest.Pytester, server: OpenAIServer
) -> None:
    """Compilation feedback alone never changes a wrong program that compiles: turn 2 is sent what
    turn 1 was. It is a request of its own, not turn 1's answer again."""
    run(suite, server, "--feedback", "cf,cf-ef_full", "-k", "BigCodeBench/16")
    coder_asked = [b for b in server.requests if "<reference>" not in str(b)]
    turns = {(r["setting"], r["turn"]): r for r in records(suite)}
    assert len(turns) == 2 * 3 and turns["cf-ef_full", 1]["solved_at"] == 1
    assert len(coder_asked) == 1 + 2 + 1  # turn 0 once; cf's turns 1 and 2; cf-ef_full solved at turn 1
    assert turns["cf", 2]["request_id"] != turns["cf", 1]["request_id"] and not turns["cf", 2]["cached"]
    zero = [turns["cf", 0], turns["cf-ef_full", 0]]
    assert zero[0]["request_id"] == zero[1]["request_id"]
    assert sorted((r["cached"], r["latency_s"] > 0) for r in zero) == [(False, True), (True, False)]


def test_a_turn_records_the_simulated_users_request_that_gave_its_feedback(
    suite: pytest.Pytester, server: OpenAIServer
) -> None:
    run(suite, server, "--feedback", "cf-expert", "--user-model", "sim", "-k", "BigCodeBench/16")
    turns = {r["turn"]: r for r in records(suite)}
    assert not any(name.startswith("user_") for name in turns[0])  # turn 0 answers no feedback
    first = turns[1]
    assert first["user_usage"]["completion_tokens"] > 0 and first["user_latency_s"] > 0
    assert (first["user_cached"], first["user_finish_reason"]) == (False, "stop")
    assert first["user_request_id"] not in {first["request_id"], turns[0]["request_id"]}
