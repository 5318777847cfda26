"""ConvCodeWorld's and ConvCodeBench's multi-turn scores: a published curve, then conversations by hand."""

from __future__ import annotations

import pytest

from pytest_convcode.conversation_metrics import (
    convcodebench_mrr,
    convcodebench_rank,
    convcodebench_recall,
    convcodebench_score,
    first_pass,
    first_passes,
    mrr,
    mrr_from_curve,
    pass_curve,
    recall,
    recall_from_curve,
    reciprocal_rank,
    report,
    score_conversations,
    summarize_conversations,
)

# DeepSeek-Coder-6.7B-Instruct, CF + expert user: cumulative pass rate at turns 0..10 (published).
DEEPSEEK_CF_EXPERT = [35.2, 60.0, 68.4, 74.4, 77.5, 79.0, 80.7, 81.7, 82.2, 82.5, 82.7]


# ---------------------------------------------------------------- the published curve


def test_published_curve_gives_the_published_mrr() -> None:
    value = mrr_from_curve(DEEPSEEK_CF_EXPERT)
    assert value == pytest.approx(53.2, abs=0.1)
    assert value == pytest.approx(53.3, abs=0.2)  # the paper's figure, from unrounded data
    assert report(value) == 53.2


def test_published_curve_gives_its_recall() -> None:
    assert recall_from_curve(DEEPSEEK_CF_EXPERT) == 82.7


def test_curve_rebuilt_from_tasks_gives_the_same_scores() -> None:
    """1000 tasks whose first passes reproduce the curve exactly: direct and curve-derived scores agree."""
    counts = [round(10 * value) for value in DEEPSEEK_CF_EXPERT]  # tasks solved by turn t, of 1000
    firsts: list[int | None] = []
    previous = 0
    for turn, count in enumerate(counts):
        firsts += [turn] * (count - previous)
        previous = count
    firsts += [None] * (1000 - len(firsts))
    curve = pass_curve(firsts)
    assert curve == pytest.approx(DEEPSEEK_CF_EXPERT, abs=1e-9)
    assert mrr(firsts) == pytest.approx(mrr_from_curve(curve), abs=1e-9)
    assert recall(firsts) == pytest.approx(82.7, abs=1e-9)
    assert score_conversations(firsts).to_json() == {
        "tasks": 1000,
        "mrr": 53.2,
        "recall": 82.7,
        "curve": DEEPSEEK_CF_EXPERT,
    }


# ---------------------------------------------------------------- conversations by hand


@pytest.mark.parametrize(
    ("turns", "first"),
    [
        ([True], 0),
        ([False, False, True, True], 2),  # a later pass (flaky or not) changes nothing
        ([False] * 11, None),
        ([], None),
    ],
)
def test_first_pass(turns: list[bool], first: int | None) -> None:
    assert first_pass(turns) == first


@pytest.mark.parametrize(("first", "rr"), [(0, 1.0), (1, 0.5), (2, 1 / 3), (10, 1 / 11), (11, 0.0), (None, 0.0)])
def test_reciprocal_rank(first: int | None, rr: float) -> None:
    assert reciprocal_rank(first) == rr


def test_single_tasks() -> None:
    assert mrr([0]) == 100.0
    assert mrr([2]) == pytest.approx(100 / 3)
    assert mrr([None]) == 0.0
    assert recall([0]) == recall([2]) == 100.0
    assert recall([None]) == 0.0


def test_a_mixture() -> None:
    conversations = [
        [True],  # turn 0: 1
        [False, True],  # turn 1: 1/2
        [False, False, False, True],  # turn 3: 1/4
        [False] * 11,  # never: 0
    ]
    firsts = first_passes(conversations)
    assert firsts == [0, 1, 3, None]
    assert mrr(firsts) == pytest.approx(100 * (1 + 1 / 2 + 1 / 4) / 4)
    assert recall(firsts) == 75.0
    assert pass_curve(firsts) == [25.0, 50.0, 50.0, 75.0] + [75.0] * 7
    assert mrr_from_curve(pass_curve(firsts)) == pytest.approx(mrr(firsts))


def test_the_turn_budget_bounds_every_score() -> None:
    firsts = [0, 2, 5, None]
    assert pass_curve(firsts, max_turns=2) == [25.0, 25.0, 50.0]
    assert mrr(firsts, max_turns=2) == pytest.approx(100 * (1 + 1 / 3) / 4)
    assert recall(firsts, max_turns=2) == 50.0
    assert recall(firsts, max_turns=5) == 75.0


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="no tasks"):
        mrr([])
    with pytest.raises(ValueError, match="negative"):
        recall([-1])


# ---------------------------------------------------------------- ConvCodeBench

F, T = False, True


@pytest.mark.parametrize(
    ("reference", "target", "rank"),
    [
        ([T], [F], 1),  # ref_0 passes: 1, whatever the target does
        ([T], [], 1),
        ([F], [T], 1),  # the target's own turn 0 passes
        ([F, F], [F, T], 2),  # the target passes at turn 1, refining ref_0
        ([F, T], [F, F, F], 2),  # ref_1 passes: at i = 2, 1/2
        ([F, F, T], [F, F, F, T], 3),  # ref_2 passes before the target's turn 3 is looked at: 1/3
        ([F, F, F], [F, F, T, T], 3),  # the target passes at turn 2: 1/3
        ([F] * 10, [F] * 10 + [T], 11),  # the last turn: 1/11
        ([F] * 10, [F] * 11, None),
        ([F, F], [F, F], None),  # short logs: missing turns did not pass
    ],
)
def test_convcodebench_rank(reference: list[bool], target: list[bool], rank: int | None) -> None:
    assert convcodebench_rank(reference, target) == rank
    assert convcodebench_score(reference, target) == (1 / rank if rank else 0.0)


@pytest.mark.parametrize("i", range(1, 11))
def test_convcodebench_reference_pass_at_i_minus_1_scores_1_over_i(i: int) -> None:
    reference = [F] * (i - 1) + [T]
    assert convcodebench_score(reference, [F] * 11) == pytest.approx(1 / i)
    # the target passing at the same turn i comes after: still 1/i, never 1/(i+1)
    assert convcodebench_score(reference, [F] * i + [T]) == pytest.approx(1 / i)


def test_convcodebench_turn_budget() -> None:
    assert convcodebench_rank([F, F, F], [F, F, F, T], max_turns=2) is None
    assert convcodebench_rank([F, F, T], [F] * 4, max_turns=2) is None


def test_convcodebench_aggregates() -> None:
    tasks = [
        ([T], [F]),  # 1
        ([F, T], [F, F]),  # 1/2
        ([F] * 3, [F, F, F, T]),  # 1/4
        ([F] * 10, [F] * 11),  # 0
    ]
    assert convcodebench_mrr(tasks) == pytest.approx(100 * (1 + 1 / 2 + 1 / 4) / 4)
    assert convcodebench_recall(tasks) == 75.0


# ---------------------------------------------------------------- a run's records


def record(task: str, turn: int, solved_at: int | None, outcome: str = "", **extra: object) -> dict[str, object]:
    outcome = outcome or ("passed" if solved_at is not None else "failed")
    return {"suite": "s", "setting": "cf-expert", "task_id": task, "turn": turn, "solved_at": solved_at,
            "outcome": outcome, **extra}  # fmt: skip


def test_records_give_mrr_recall_and_curve_per_setting() -> None:
    records = [
        record("a", 0, 0), record("a", 1, 0), record("a", 2, 0),
        record("b", 0, None), record("b", 1, 1, leaked=True), record("b", 2, 1),
        record("c", 0, None), record("c", 1, None, leaked=False), record("c", 2, None, leaked=False),
    ]  # fmt: skip
    entry = summarize_conversations(records)["s cf-expert"]
    assert (entry["mrr"], entry["recall"], entry["curve"]) == (50.0, 66.7, [33.3, 66.7, 66.7])
    assert (entry["tasks"], entry["turns"], entry["user_feedback"], entry["leaks"]) == (3, 3, 3, 1)


def test_a_late_turn_alone_knows_when_its_conversation_was_solved() -> None:
    entry = summarize_conversations([record("a", 3, 1), record("b", 3, None)])["s cf-expert"]
    assert (entry["mrr"], entry["recall"], entry["curve"]) == (25.0, 50.0, [0.0, 50.0, 50.0, 50.0])


def test_a_task_with_an_errored_turn_is_unsolved_and_excluding_errors_leaves_it_out() -> None:
    records = [
        record("a", 0, None), record("a", 1, None, outcome="error"),  # errored after a failed turn
        record("b", 0, 0), record("b", 1, 0),  # solved at turn 0
        record("c", 0, None), record("c", 1, 1),  # solved at turn 1
        record("d", 0, None, outcome="error"), record("d", 1, None, outcome="error"),  # no turn ran
    ]  # fmt: skip
    entry = summarize_conversations(records)["s cf-expert"]
    # strict, over a b c d: ranks -, 1, 2, - -> MRR (0 + 1 + 1/2 + 0) / 4, Recall 2 / 4
    assert (entry["tasks"], entry["errors"], entry["mrr"], entry["recall"]) == (4, 2, 37.5, 50.0)
    assert entry["curve"] == [25.0, 50.0]
    # excluding errors, over b c: MRR (1 + 1/2) / 2, Recall 2 / 2
    assert entry["excluding_errors"] == {"tasks": 2, "mrr": 75.0, "recall": 100.0, "curve": [50.0, 100.0]}


def test_a_setting_whose_every_task_errored_scores_zero_and_ran_none() -> None:
    entry = summarize_conversations([record("a", 0, None, outcome="error")])["s cf-expert"]
    assert (entry["tasks"], entry["mrr"], entry["recall"], entry["curve"]) == (1, 0.0, 0.0, [0.0])
    assert entry["excluding_errors"] == {"tasks": 0}
