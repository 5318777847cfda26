"""ConvCodeBench: scores from hand-built turn records (every branch of the rule, figures by hand),
and end to end: a scripted ConvCodeWorld run of model A is the frozen
reference of model B, read from its run folder and from the official parquet format, with no
request to the simulated user."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_conversations import BIGCODEBENCH, EXPERT_ADVICE, WRONG, messages, user

from pytest_convcode.conversation_metrics import summarize_convcodebench
from pytest_convcode.export_ccb import export
from pytest_convcode.kinds.frozen_conversations import convcodebench_scores
from pytest_convcode.report.data import load_run
from pytest_convcode.testing.openai_server import OpenAIServer

ROOT = Path(__file__).resolve().parents[1]
T, F = True, False


def records(
    task: str, reference: list[bool], target: list[bool | None], setting: str = "cf-expert"
) -> list[dict[str, Any]]:
    """One task's turn records as the kind writes them: ``target[k]`` None where turn k was settled
    (the reference's turn k-1 passed, so the target was not asked)."""
    out = []
    for k, passed in enumerate(target):
        record: dict[str, Any] = {"suite": "bigcodebench", "setting": setting, "task_id": task, "turn": k}
        record.update(
            outcome="passed" if passed or passed is None else "failed", reference="ref", settled=passed is None
        )
        record["target_passed"] = passed
        if k > 0:
            record["reference_passed"] = reference[k - 1]
        out.append(record)
    return out


def test_every_branch_of_the_score_rule_by_hand() -> None:
    turns = 3  # turns 0..3; the reference's turns 0..2
    tasks = [
        # a: ref_0 passes: t* = 0 whatever the target does (MRR 1, recall 1); every turn after is settled
        records("a", [T, T, T], [F, None, None, None]),
        # b: the target's own turn 0 passes: t* = 0 (1, 1)
        records("b", [F, F, F], [T, F, F, F]),
        # c: the target passes at turn 2 before the reference: t* = 2 (1/3, 1)
        records("c", [F, F, T], [F, F, T, None]),
        # d: the reference's turn 1 passes first: turn 2 is settled; the original scores 1/2 (rank i when
        # ref_(i-1) passes, the target's own pass at turn i ranks i + 1), whatever tgt_2 would be
        records("d", [F, T, T], [F, F, None, None]),
        # e: nothing passes: (0, 0)
        records("e", [F, F, F], [F, F, F, F]),
    ]
    entry = summarize_convcodebench([r for task in tasks for r in task])["bigcodebench cf-expert"]
    # MRR = (1 + 1 + 1/3 + 1/2 + 0) / 5 = 0.5667 -> 56.7; Recall = 4/5 -> 80.0
    assert (entry["mrr"], entry["recall"], entry["tasks"], entry["turns"]) == (56.7, 80.0, 5, turns)
    # tgt_k or ref_0, a settled turn passing: turn 0: a (ref_0), b -> 2/5; turn 1: a -> 1/5;
    # turn 2: a, c, d -> 3/5; turn 3: a, c, d -> 3/5. Not cumulative: turn 1 falls below turn 0.
    assert entry["pass_at_turn"] == [40.0, 20.0, 60.0, 60.0]
    assert entry["turn0"] == 20.0  # the target's own answer passed for b alone
    assert (entry["reference"], entry["errors"]) == ("ref", 0)


def test_a_reference_passing_at_turn_k_minus_1_ends_at_rank_k_not_k_plus_1() -> None:
    # ref_2 passes: the target's turn 3 is settled, rank 3: 1/3 -> 33.3, although tgt_3 was never asked
    entry = summarize_convcodebench(records("x", [F, F, T], [F, F, F, None]))["bigcodebench cf-expert"]
    assert (entry["mrr"], entry["recall"], entry["pass_at_turn"]) == (33.3, 100.0, [0.0, 0.0, 0.0, 100.0])


def test_settings_are_scored_apart_with_the_papers_label() -> None:
    rows = records("a", [F], [F, T], "cf-ef_full-expert") + records("a", [F], [T, F], "cf-ef_partial-novice")
    scores = convcodebench_scores(rows)["convcodebench"]
    assert {g: (e["label"], e["mrr"]) for g, e in scores.items()} == {
        "bigcodebench cf-ef_full-expert": ("CF+EF(full)+expert", 50.0),  # t* = 1
        "bigcodebench cf-ef_partial-novice": ("CF+EF(partial)+novice", 100.0),  # t* = 0
    }


# ---------------------------------------------------------------- end to end

TASKS = ["BigCodeBench/16", "BigCodeBench/24"]


def task_of(body: dict[str, Any]) -> Any:
    first = messages(body)[0]["content"]
    return next(t for t in BIGCODEBENCH.tasks.values() if t.instruct_prompt == first)


def model_of(body: dict[str, Any]) -> str:
    return str(body["model"]).rsplit("/", 1)[-1]


def answer(body: dict[str, Any], index: int) -> str:
    """Model A and B are wrong at first; A fixes any task once the expert advises; B only task 16."""
    if "You are role-playing" in messages(body)[0]["content"] or "<reference>" in str(body):
        return user(body, index)
    task = task_of(body)
    advised = len(messages(body)) > 1 and EXPERT_ADVICE in messages(body)[-1]["content"]
    fixes = model_of(body) == "a" or task.task_id == TASKS[0]
    return f"```python\n{task.reference_program}\n```" if advised and fixes else WRONG


@pytest.fixture
def server() -> Iterator[OpenAIServer]:
    with OpenAIServer(answer) as s:
        yield s


def run(pytester: pytest.Pytester, server: OpenAIServer, model: str, run_id: str, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--run-id", run_id, "--model", f"test/{model}", "--base-url", server.url,
        "--tasks", ",".join(TASKS), "--feedback", "cf-expert", *args,
    )  # fmt: skip


def summary(pytester: pytest.Pytester, run_id: str) -> dict[str, Any]:
    return json.loads((pytester.path / "reports" / run_id / "summary.json").read_text())


def results(pytester: pytest.Pytester, run_id: str) -> list[dict[str, Any]]:
    return [
        json.loads(line) for line in (pytester.path / "reports" / run_id / "results.jsonl").read_text().splitlines()
    ]


def test_a_convcodeworld_run_is_the_frozen_reference_of_another_model(
    pytester: pytest.Pytester, server: OpenAIServer
) -> None:
    pytester.makepyfile(test_convcodeworld=(ROOT / "suites/convcodeworld/test_convcodeworld.py").read_text())
    pytester.makepyfile(test_convcodebench=(ROOT / "suites/convcodebench/test_convcodebench.py").read_text())
    pytester.makepyprojecttoml(f'[tool.convcode.models.sim]\nmodel = "simulator"\nbase_url = "{server.url}"\n')
    # A: wrong at turn 0, fixed at turn 1 by the expert's advice: its log stops at turn 1
    world = run(pytester, server, "a", "ccw", "test_convcodeworld.py", "--user-model", "sim", "--max-turns", "10")
    world.assert_outcomes(passed=2 * 10, failed=2)
    asked_before = len(server.requests)

    bench = run(pytester, server, "b", "ccb", "test_convcodebench.py", "--reference-log=reports/ccw")
    # turn 0 fails for both; turn 1 (A's wrong turn 0 + the logged advice): B fixes 16, not 24;
    # turns 2..10 settled by A's passing turn 1
    bench.assert_outcomes(passed=1 + 2 * 9, failed=2 + 1)
    bench.stdout.fnmatch_lines(
        [
            "convcodebench * tasks * MRR * Recall * turn 0  pass@1 by turn",
            "bigcodebench cf-expert * 2 * 50.0 * 100.0 * 0.0  0.0 50.0 100.0 *",
            "reference: reports/ccw",
        ]
    )
    asked = server.requests[asked_before:]
    assert {model_of(b) for b in asked} == {"b"}  # not one request to the simulator
    assert len(asked) == 2 + 2  # turns 0 and 1 of each task; turns 2..10 settled without a request
    turn1 = next(b for b in asked if len(messages(b)) == 3 and task_of(b).task_id == TASKS[1])
    shown, told = messages(turn1)[1]["content"], messages(turn1)[2]["content"]  # A's turn 0, the logged advice
    assert "def task_func(*args, **kwargs):\n    return None" in shown and EXPERT_ADVICE in told
    assert "print(" not in told  # the log's cut feedback, not the simulator's raw reply
    # turn 0 is ConvCodeWorld's turn-0 request, so a cache that holds one answers the other
    coders = [b for b in server.requests if model_of(b) in ("a", "b") and len(messages(b)) == 1]
    zero = [b["messages"] for b in coders if task_of(b).task_id == TASKS[0]]
    assert len(zero) == 2 and zero[0] == zero[1]  # A's in its ConvCodeWorld run, B's here

    by_turn = {(r["task_id"], r["turn"]): r for r in results(pytester, "ccb")}
    assert {r["kind"] for r in by_turn.values()} == {"convcodebench"}
    assert (by_turn[TASKS[1], 1]["reference_passed"], by_turn[TASKS[1], 1]["target_passed"]) == (False, False)
    assert by_turn[TASKS[1], 2]["settled"] and "request_id" not in by_turn[TASKS[1], 2]
    # 16: B passes at turn 1 (1/2); 24: A's turn 1 passed, settling turn 2 (1/2): MRR 50; Recall 100
    entry = summary(pytester, "ccb")["convcodebench"]["bigcodebench cf-expert"]
    assert (entry["mrr"], entry["recall"], entry["turn0"], entry["tasks"]) == (50.0, 100.0, 0.0, 2)
    assert entry["pass_at_turn"] == [0.0, 50.0] + [100.0] * 9  # turn 1: 16 alone; then settled
    assert entry["reference"].endswith("reports/ccw") and entry["label"] == "CF+expert"
    assert summary(pytester, "ccb")["settings"]["reference_log"] == "reports/ccw"
    # the report: the table and plot, and the viewer's turns that came from the reference
    html = (pytester.path / "reports/ccb/report.html").read_text()
    assert 'id="convcodebench-scores"' in html and "ConvCodeBench: pass@1 by turn" in html
    problem = next(p for p in load_run(pytester.path / "reports/ccb").problems if p.task_id == TASKS[1])
    notes = [turn.reference for turn in problem.turns]
    assert len(notes) == 11 and not notes[0] and notes[1].startswith("from the reference: its turn 0 program")
    assert notes[2].startswith("settled by the reference: its turn 1 program passed")

    # the same reference in the official format, whose statuses are not trusted: judged here again
    export(pytester.path / "reports/ccw", pytester.path / "ccw.parquet")
    again = run(pytester, server, "b", "ccb-parquet", "test_convcodebench.py", "--reference-log=ccw.parquet")
    again.assert_outcomes(passed=1 + 2 * 9, failed=2 + 1)
    official = summary(pytester, "ccb-parquet")["convcodebench"]["bigcodebench cf-expert"]
    assert {**official, "reference": ""} == {**entry, "reference": ""} and official["reference"] == "ccw.parquet"
    assert {model_of(b) for b in server.requests[asked_before:]} == {"b"}


def test_without_a_reference_log_every_item_is_skipped_saying_so(pytester: pytest.Pytester) -> None:
    """As a simulated user's settings are without --user-model: ``pytest suites`` still runs the rest."""
    pytester.makepyfile(test_convcodebench=(ROOT / "suites/convcodebench/test_convcodebench.py").read_text())
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--tasks", TASKS[0], "--max-turns", "1", "-rs")
    result.assert_outcomes(skipped=5 * 2)
    result.stdout.fnmatch_lines(["*ConvCodeBench replays a frozen reference: give --reference-log=*"])


def test_a_reference_log_that_misses_a_task_is_a_usage_error(pytester: pytest.Pytester, server: OpenAIServer) -> None:
    pytester.makepyfile(test_convcodebench=(ROOT / "suites/convcodebench/test_convcodebench.py").read_text())
    (pytester.path / "ref/conversations").mkdir(parents=True)
    (pytester.path / "ref/conversations/bigcodebench-main.jsonl").write_text("")
    result = run(pytester, server, "b", "x", "--reference-log=ref")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: reference log ref: BigCodeBench/16 in setting cf-expert has no turn 0; *"])
