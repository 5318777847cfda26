"""The code reasoning suites end to end: pytest runs of suites/cruxeval and suites/codeglance with the
reference, a replayed generations file, and a model behind a real OpenAI-protocol server on 127.0.0.1."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from pytest_convcode.kinds.reasoning import ReasoningCase, ReasoningSuite
from pytest_convcode.metrics import pass_at_k
from pytest_convcode.models import Answer
from pytest_convcode.reasoning import Question, ReasoningJudge, load_cruxeval
from pytest_convcode.sandbox import backend
from pytest_convcode.services import Services
from pytest_convcode.testing.openai_server import OpenAIServer

ROOT = Path(__file__).resolve().parents[1]
TASKS = ["sample_0", "sample_1", "sample_2"]


@pytest.fixture
def cruxeval(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(test_cruxeval=(ROOT / "suites/cruxeval/test_cruxeval.py").read_text())
    return pytester


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "--run-id", "t", *args)


def crux(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return run(pytester, "--tasks", ",".join(TASKS), *args)


def summary(pytester: pytest.Pytester) -> dict[str, Any]:
    return json.loads((pytester.path / "reports" / "t" / "summary.json").read_text())


def records(pytester: pytest.Pytester) -> list[dict[str, Any]]:
    lines = (pytester.path / "reports" / "t" / "results.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def test_the_reference_answers_pass_in_both_modes(cruxeval: pytest.Pytester) -> None:
    result = crux(cruxeval, "-n", "2")
    result.assert_outcomes(passed=6)
    scores = summary(cruxeval)["scores"]
    assert {g: scores[g]["pass@1"] for g in scores} == {"cruxeval-input": 1.0, "cruxeval-output": 1.0}
    assert sorted(r["task_id"] + "-" + r["mode"] for r in records(cruxeval)) == sorted(
        f"{t}-{m}" for t in TASKS for m in ("input", "output")
    )
    assert all(r["generate_s"] >= 0 and r["judge_s"] > 0 for r in records(cruxeval))  # judged in the sandbox
    assert {r["kind"] for r in records(cruxeval)} == {"reasoning"}


def test_k_selects_a_mode(cruxeval: pytest.Pytester) -> None:
    result = crux(cruxeval, "-k", "input")
    result.assert_outcomes(passed=3, deselected=3)


def test_a_replayed_generations_file_scores_as_computed_by_hand(cruxeval: pytest.Pytester) -> None:
    # sample_0: f(nums) counts and sorts: output [(4, 1), (4, 1), (4, 1), (4, 1), (2, 3), (2, 3)]
    # sample_1: output {1: None, 2: None}; sample_2: output 'hbtofdeiequ'
    right0 = "[(4, 1), (4, 1), (4, 1), (4, 1), (2, 3), (2, 3)]"
    generations = {
        "sample_0": [right0, "[(4, 1)] * 4 + [(2, 3)] * 2", "[]", "f([1, 1, 3, 1, 3, 1])", right0],  # 3 right
        "sample_1": ["{1: None, 2: None}", "{1: None}", "{2: None, 1: None}", "None", "{}"],  # 2 right
        "sample_2": ["'x'", "'hbtofdeiequ ", "f('hbtofdeiequ')", "", "1"],  # 0 right
    }
    path = cruxeval.path / "generations.json"
    path.write_text(json.dumps(generations))
    result = crux(cruxeval, "--model", f"replay:{path}", "-k", "output")
    result.assert_outcomes(passed=5, failed=10, deselected=15)
    scores = summary(cruxeval)["scores"]["cruxeval-output"]
    by_hand = [(5, 3), (5, 2), (5, 0)]
    assert scores["pass@1"] == pytest.approx(sum(c / n for n, c in by_hand) / 3)  # (0.6 + 0.4 + 0) / 3
    assert scores["pass@5"] == pytest.approx(sum(pass_at_k(n, c, 5) for n, c in by_hand) / 3)  # (1 + 1 + 0) / 3
    failures = {r["prediction"]: r["failure"] for r in records(cruxeval) if r["outcome"] == "failed"}
    assert "f(" in failures["f([1, 1, 3, 1, 3, 1])"]
    ours = json.loads((cruxeval.path / "reports" / "t" / "generations-cruxeval-output.json").read_text())
    assert ours == generations | {"sample_2": ["'x'", "'hbtofdeiequ", "f('hbtofdeiequ')", "", "1"]}  # answers stripped
    rerun = crux(
        cruxeval, "--model", "replay:reports/t/generations-cruxeval-output.json", "-k", "output", "--run-id", "u"
    )
    rerun.assert_outcomes(passed=5, failed=10, deselected=15)


def test_conversations_are_for_code_generation_only(cruxeval: pytest.Pytester) -> None:
    result = crux(cruxeval, "--feedback", "cf")
    result.stderr.fnmatch_lines(["ERROR: cruxeval predicts what code does, in one turn: --feedback is for code*"])
    assert result.ret == pytest.ExitCode.USAGE_ERROR


def test_codeglance_needs_the_users_copy(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_codeglance=(ROOT / "suites/codeglance/test_codeglance.py").read_text())
    result = run(pytester)
    result.stderr.fnmatch_lines(["ERROR: codeglance needs --dataset-path*licence is unstated*"])
    assert result.ret == pytest.ExitCode.USAGE_ERROR


def test_codeglance_with_rag_asks_with_the_api_docs_and_scores_by_feature(pytester: pytest.Pytester) -> None:
    """A chat model behind a real OpenAI-protocol server: right on task 0 (a CoT reply ending in
    [ANSWER]), wrong elsewhere; the prompts carry the RAG file's documentation."""
    data = ROOT / "fixtures/reasoning/MiniGlance_reasoning.jsonl"
    pytester.makepyfile(test_codeglance=(ROOT / "suites/codeglance/test_codeglance.py").read_text())
    for name in (data.name, "MiniGlance_RAG_result_total.json"):
        (pytester.path / name).write_text((data.parent / name).read_text())

    def answer(body: dict[str, Any], index: int) -> str:
        right = "words = ['a', 'b', 'a', 'c', 'b', 'a']" in body["messages"][-1]["content"]
        value = "('a', 3)" if right else "0"
        return f"Counting gives a three times.\n[ANSWER]\nassert f(words) == {value}\n[/ANSWER]"

    with OpenAIServer(answer) as server:
        args = ("--model", "test/coder", "--base-url", server.url, "--prompt", "rag", "--dataset-path", data.name)
        result = run(pytester, *args)
        prompts = [body["messages"][-1]["content"] for body in server.requests]
    tasks = [json.loads(line) for line in data.read_text().splitlines()]
    result.assert_outcomes(passed=1, failed=len(tasks) - 1)
    assert len(prompts) == len(tasks)
    assert sum("Dict subclass for counting hashable items." in p for p in prompts) == 1  # task 0's documentation
    features = summary(pytester)["features"]["codeglance-output"]
    assert sorted(features) == sorted(k for k in tasks[0] if k not in ("ID", "code", "test", "result"))
    report = (pytester.path / "reports" / "t" / "report.html").read_text()
    assert report.count("<tr><td>codeglance-output</td><td>code_lines</td>") == len(features["code_lines"])


def test_a_reply_cut_at_max_tokens_before_its_answer_fails_saying_so() -> None:
    """The judge of a suite whose model's reply ended at max_tokens in its reasoning: the record
    says so, and names the prompt style it was asked in."""
    reply = (ROOT / "fixtures/reasoning/replies/cot_cut_at_max_tokens.txt").read_text()
    question = Question(load_cruxeval().tasks["sample_9"], "output", "cot")
    sandbox = backend("process")()
    services = SimpleNamespace(
        generator=SimpleNamespace(answers=lambda request: [Answer(reply, reply=reply, finish_reason="length")]),
        model=SimpleNamespace(cacheable=True),
        reasoning_judge=ReasoningJudge(sandbox),
    )
    record: dict[str, Any] = {}
    try:
        verdict = ReasoningSuite(cast(Services, services), "cruxeval").judge(ReasoningCase(question, 0, 1), record)
    finally:
        sandbox.close()
    assert not verdict.passed
    assert record["failure"] == "reply cut at max_tokens before the answer"
    assert (record["style"], record["mode"], record["reply"]) == ("cot", "output", reply)
    assert "prompt" not in record
