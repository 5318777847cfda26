"""ConvCodeWorld's feedback, piece by piece: settings, compilation, execution, simulated users."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pytest_convcode.errors import UsageError
from pytest_convcode.feedback import (
    ALL_SETTINGS,
    NO_SYNTAX_ERRORS,
    ExecutionFeedback,
    Outcome,
    Setting,
    compilation_feedback,
    compiles,
    execution_feedback,
    find_leaks,
    public_tests,
    simulate,
    truncate,
)
from pytest_convcode.feedback.execution import method_name
from pytest_convcode.feedback.user import SILENT_NOVICE, code_tokens, cut_at_fence, render_prompt
from pytest_convcode.models import Message

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = {
    task["task_id"]: task
    for task in json.loads((ROOT / "fixtures" / "bigcodebench_tests_sample.json").read_text())["tasks"]
}

# ---------------------------------------------------------------- settings


def test_the_nine_settings_in_the_papers_order() -> None:
    assert [s.id for s in ALL_SETTINGS] == [
        "cf",
        "cf-ef_partial",
        "cf-ef_full",
        "cf-novice",
        "cf-expert",
        "cf-ef_partial-novice",
        "cf-ef_full-novice",
        "cf-ef_partial-expert",
        "cf-ef_full-expert",
    ]
    assert [s.label for s in ALL_SETTINGS] == [
        "CF",
        "CF+EF(partial)",
        "CF+EF(full)",
        "CF+novice",
        "CF+expert",
        "CF+EF(partial)+novice",
        "CF+EF(full)+novice",
        "CF+EF(partial)+expert",
        "CF+EF(full)+expert",
    ]
    combinations = {(s.execution, s.user) for s in ALL_SETTINGS}
    assert combinations == {(e, u) for e in ("none", "partial", "full") for u in ("none", "novice", "expert")}


def test_setting_from_id() -> None:
    for setting in ALL_SETTINGS:
        assert Setting.from_id(setting.id) == setting
    assert Setting.from_id("cf-ef_full-expert") == Setting("full", "expert")
    with pytest.raises(UsageError, match="known settings: cf, cf-ef_partial"):
        Setting.from_id("ef_full")


def test_setting_rejects_unknown_values() -> None:
    with pytest.raises(UsageError, match="unknown execution feedback 'some'"):
        Setting(execution="some")  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="unknown simulated user 'guru'"):
        Setting(user="guru")  # type: ignore[arg-type]


# ---------------------------------------------------------------- compilation


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("def f(a, b):\n    return a + b\n", NO_SYNTAX_ERRORS),
        ("", NO_SYNTAX_ERRORS),
        (
            "def f(:\n    pass\n",
            "SyntaxError at line 1 of solution.py: invalid syntax\n    def f(:\n          ^",
        ),
        (
            "import os\n\ndef f():\n    return 1 +* 2\n",
            "SyntaxError at line 4 of solution.py: invalid syntax\n    return 1 +* 2\n              ^",
        ),
        (
            "def f():\nreturn 1\n",
            "IndentationError at line 2 of solution.py: expected an indented block after function definition"
            " on line 1\n    return 1\n    ^",
        ),
        (
            "x = (1,\n",
            "SyntaxError at line 1 of solution.py: '(' was never closed\n    x = (1,\n        ^",
        ),
        ("a\x00b", "SyntaxError in solution.py: source code string cannot contain null bytes"),
    ],
)
def test_compilation_feedback(code: str, expected: str) -> None:
    assert compilation_feedback(code) == expected
    assert compiles(code) == (expected == NO_SYNTAX_ERRORS)


def test_compilation_feedback_names_the_file() -> None:
    assert compilation_feedback("x = = 1", filename="task.py").startswith("SyntaxError at line 1 of task.py:")


# ---------------------------------------------------------------- execution


@dataclass(frozen=True)
class SandboxRecord:
    """Some other component's record type: only the three attributes matter."""

    name: str
    status: str
    detail: str
    duration: float = 0.0


def test_all_passed() -> None:
    feedback = execution_feedback([("test_a", "passed"), ("test_b", "passed", ""), Outcome("test_c", "passed")])
    assert feedback == ExecutionFeedback("All 3 tests passed.", True, ("test_a", "test_b", "test_c"), ())


def test_skipped_tests_are_not_counted_as_passed() -> None:
    feedback = execution_feedback([("test_a", "passed"), ("test_b", "skipped", "needs network")])
    assert feedback.text == "All 1 tests that ran passed (1 skipped)."
    assert feedback.passed


def test_failures_with_their_tracebacks() -> None:
    outcomes = [
        SandboxRecord("test_a", "passed", ""),
        SandboxRecord("test_b", "failed", "Traceback (most recent call last):\n  ...\nAssertionError: 3 != 4\n"),
        SandboxRecord("test_c", "error", "Traceback (most recent call last):\n  ...\nKeyError: 'x'"),
        SandboxRecord("test_d", "not_run", ""),
    ]
    feedback = execution_feedback(outcomes)
    assert feedback.text == (
        "3 of 4 tests did not pass.\n\n"
        "FAILED: test_b\nTraceback (most recent call last):\n  ...\nAssertionError: 3 != 4\n\n"
        "ERROR: test_c\nTraceback (most recent call last):\n  ...\nKeyError: 'x'\n\n"
        "NOT RUN: test_d\nThe test did not run."
    )
    assert not feedback.passed
    assert feedback.failing == ("test_b", "test_c", "test_d")
    assert not feedback.run_failed


def test_partial_shows_only_the_public_tests() -> None:
    outcomes = [
        ("test_c (__main__.TestCases.test_c)", "failed", "AssertionError: c"),
        ("TestCases.test_a", "passed"),
        ("tests.py::TestCases::test_b", "passed"),
        ("test_hidden", "failed", "AssertionError: hidden"),
    ]
    feedback = execution_feedback(outcomes, public=("test_a", "test_b", "test_c"))
    assert feedback.text == (
        "1 of 3 tests did not pass.\n\nFAILED: test_c (__main__.TestCases.test_c)\nAssertionError: c"
    )
    assert feedback.failing == ("test_c (__main__.TestCases.test_c)",)
    hidden_only = execution_feedback(outcomes[1:], public=("test_a", "test_b"))
    assert hidden_only.text == "All 2 tests passed."
    assert hidden_only.passed  # the hidden failure stays hidden


def test_no_public_tests() -> None:
    feedback = execution_feedback([("test_a", "failed", "boom")], public=("setUp", "tearDown"))
    assert feedback == ExecutionFeedback("No test results to show.", True, (), ())


def test_a_run_error_is_reported_in_partial_mode_too() -> None:
    error = "Traceback (most recent call last):\n  File \"solution.py\", line 1\nModuleNotFoundError: No module 'x'"
    outcomes = [("test_a", "not_run"), ("test_b", "not_run")]
    for public in (None, (), ("setUp", "tearDown", "helper"), ("test_a",)):
        feedback = execution_feedback(outcomes, public=public, run_error=error)
        assert feedback.text == f"The test run failed as a whole, so no test could pass. The error:\n{error}"
        assert feedback.run_failed
        assert not feedback.passed


def test_a_failure_every_test_shares_counts_as_a_run_error() -> None:
    timeout = "The time limit (10 s) ran out before this test finished."
    outcomes = [("test_a", "not_run", timeout), ("test_b", "error", timeout), ("test_c", "not_run", timeout + "\n")]
    feedback = execution_feedback(outcomes, public=())
    assert feedback.text == f"The test run failed as a whole, so no test could pass. The error:\n{timeout}"
    assert feedback.run_failed and not feedback.passed
    # different errors, or one test passing: ordinary failures, hidden when not public
    assert not execution_feedback([*outcomes, ("test_d", "passed")], public=()).run_failed
    assert not execution_feedback([("test_a", "error", "x"), ("test_b", "error", "y")], public=()).run_failed


def test_unknown_status() -> None:
    with pytest.raises(ValueError, match="test 'test_a': unknown status 'ok'"):
        execution_feedback([("test_a", "ok")])


@pytest.mark.parametrize(
    ("name", "method"),
    [
        ("test_x", "test_x"),
        ("test_x (__main__.TestCases.test_x)", "test_x"),
        ("test_x (__main__.TestCases)", "test_x"),
        ("TestCases.test_x", "test_x"),
        ("file.py::TestCases::test_x", "test_x"),
    ],
)
def test_method_name(name: str, method: str) -> None:
    assert method_name(name) == method


def test_truncate() -> None:
    text = "".join(chr(ord("a") + i % 26) for i in range(100))
    assert truncate(text, limit=101) == text
    cut = truncate(text, limit=60)
    # room for a 3-digit count's 32-character marker: 60 - 1 - 32 = 27 kept, 14 at the head, 13 at the tail
    assert cut == text[:14] + "\n\n[... 73 characters cut ...]\n\n" + text[-13:]
    assert len(cut) < 60
    assert truncate(cut, limit=60) == cut
    assert truncate(text, limit=100) != text  # as long as the limit: cut too
    with pytest.raises(ValueError, match="no room"):
        truncate(text, limit=20)


def test_long_feedback_keeps_its_head_and_tail() -> None:
    outcomes = [(f"test_{i}", "failed", "x" * 500 + f"\nAssertionError: case {i}") for i in range(40)]
    feedback = execution_feedback(outcomes)
    assert 7900 < len(feedback.text) < 8000
    assert feedback.text.startswith("40 of 40 tests did not pass.\n\nFAILED: test_0\n")
    assert feedback.text.endswith("AssertionError: case 39")
    assert "characters cut ...]" in feedback.text
    assert feedback.failing == tuple(f"test_{i}" for i in range(40))  # the names survive the cut


# ---------------------------------------------------------------- public tests on BigCodeBench


def test_public_tests_plain_class() -> None:
    """No setUp: both rules pick the same first three tests."""
    source = SAMPLE["BigCodeBench/0"]["test"]
    expected = ("test_default_numbers", "test_custom_list", "test_negative_numbers")
    assert public_tests(source) == expected
    assert public_tests(source, "original") == expected


def test_public_tests_skip_setup_by_default() -> None:
    source = SAMPLE["BigCodeBench/99"]["test"]
    assert public_tests(source) == ("test_figure_type", "test_axes_existence", "test_figure_children")
    assert public_tests(source, "original") == ("setUp", "test_figure_type", "test_axes_existence")
    assert public_tests(source, count=1) == ("test_figure_type",)


def test_original_rule_can_expose_no_test_at_all() -> None:
    """setUp, tearDown and a helper come first: the original rule shows the model nothing."""
    source = SAMPLE["BigCodeBench/721"]["test"]
    assert public_tests(source) == ("test_1", "test_2", "test_3")
    original = public_tests(source, "original")
    assert original == ("setUp", "tearDown", "create_and_fill_file")
    outcomes = [(f"test_{i}", "failed", f"AssertionError: {i}") for i in range(1, 6)]
    assert execution_feedback(outcomes, public=original).passed  # nothing to see
    shown = execution_feedback(outcomes, public=public_tests(source))
    assert shown.failing == ("test_1", "test_2", "test_3")


def test_public_tests_edge_cases() -> None:
    source = (
        "import unittest\n"
        "class Helper:\n    def test_no(self): pass\n"
        "class TestCases(unittest.TestCase):\n"
        "    def tearDown(self): pass\n"
        "    async def test_b(self): pass\n"
        "    def test_b(self): pass\n"
        "    x = 1\n"
        "    def testA(self): pass\n"
    )
    assert public_tests(source) == ("test_b", "testA")
    assert public_tests(source, "original") == ("tearDown", "test_b", "test_b")
    assert public_tests("import unittest\n") == ()
    with pytest.raises(ValueError, match="does not parse"):
        public_tests("class TestCases(:\n")
    with pytest.raises(UsageError, match="unknown public-test rule"):
        public_tests(source, "first")  # type: ignore[arg-type]


# ---------------------------------------------------------------- simulated users

PROBLEM = "Write task_func(numbers) returning the sum of the squares of the even numbers."
TRUTH = "def task_func(numbers):\n    return sum(n * n for n in numbers if n % 2 == 0)\n"
WRONG = "def task_func(numbers):\n    return sum(n * n for n in numbers)\n"
FAILING = execution_feedback([("test_evens", "failed", "AssertionError: 14 != 4")])
PASSING = execution_feedback([("test_evens", "passed")])


def test_the_novice_never_sees_the_ground_truth() -> None:
    prompt = render_prompt("novice", problem=PROBLEM, code=WRONG, ground_truth=TRUTH, execution=FAILING)
    assert PROBLEM in prompt
    assert WRONG.rstrip() in prompt
    assert NO_SYNTAX_ERRORS in prompt  # computed from the code when not given
    assert "AssertionError: 14 != 4" in prompt
    assert "if n % 2 == 0" not in prompt


def test_the_novice_without_execution_feedback() -> None:
    broken = "def task_func(numbers)\n    return 0\n"
    prompt = render_prompt("novice", problem=PROBLEM, code=broken)
    assert compilation_feedback(broken) in prompt
    assert "<test_results>" not in prompt
    given = render_prompt("novice", problem=PROBLEM, code=broken, compilation="SyntaxError: as logged")
    assert "SyntaxError: as logged" in given


def test_the_expert_sees_the_ground_truth() -> None:
    prompt = render_prompt("expert", problem=PROBLEM, code=WRONG, ground_truth=TRUTH, execution=FAILING)
    assert PROBLEM in prompt
    assert TRUTH.rstrip() in prompt
    assert WRONG.rstrip() in prompt
    assert "AssertionError: 14 != 4" in prompt
    assert "no code" in prompt  # instructed not to leak
    without = render_prompt("expert", problem=PROBLEM, code=WRONG, ground_truth=TRUTH)
    assert TRUTH.rstrip() in without
    assert "<test_results>" not in without
    with pytest.raises(ValueError, match="needs the ground-truth"):
        render_prompt("expert", problem=PROBLEM, code=WRONG)
    with pytest.raises(ValueError, match="unknown simulated user 'guru'"):
        render_prompt("guru", problem=PROBLEM, code=WRONG)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("reply", "text"),
    [
        ("Filter the odd numbers out first.", "Filter the odd numbers out first."),
        ("Keep only evens.\n\n```python\nx = 1\n```\nThat's all.", "Keep only evens."),
        ("Like this: ```x``` and ```y```", "Like this:"),
        ("```python\nx = 1\n```", ""),
        ("Single `inline` code is fine.", "Single `inline` code is fine."),
    ],
)
def test_cut_at_fence(reply: str, text: str) -> None:
    assert cut_at_fence(reply) == text


def test_code_tokens() -> None:
    assert code_tokens("x_1 = f(a,  b)\n  # ok") == ["x_1", "=", "f", "(", "a", ",", "b", ")", "#", "ok"]


def test_leaks() -> None:
    # 9 shared tokens: sum ( n * n for n in numbers
    assert find_leaks("You could write sum(n*n for n in numbers) there.", TRUTH) == ("sum ( n * n for n in numbers",)
    # the same tokens laid out differently still match ("==" is two tokens)
    assert find_leaks("use  n % 2 ==\n0 and if n", TRUTH + "x = [n % 2 == 0 and if n]") == ("n % 2 = = 0 and if n",)
    # 7 shared tokens is not a leak; plain advice is not either
    assert find_leaks("try sum(n * n for n) instead", TRUTH) == ()
    assert find_leaks("Only square the even numbers before adding them up.", TRUTH) == ()


def test_leaks_are_maximal_runs_in_feedback_order() -> None:
    truth = "a = b + c * d - e / f\nprint(alpha, beta, gamma, delta, epsilon)\n"
    feedback = "first print(alpha, beta, gamma, delta) then a = b + c * d - e / f done"
    assert find_leaks(feedback, truth) == ("print ( alpha , beta , gamma , delta", "a = b + c * d - e / f")


def test_comments_of_the_ground_truth_are_not_leaks() -> None:
    truth = SAMPLE["BigCodeBench/99"]["canonical_solution"]
    prose = "Create a pair plot with the hue set to species, then title the figure."
    assert find_leaks(prose, truth) == ()
    copied = "Call sns.pairplot(iris_df, hue='species', vars=iris.feature_names) and return its figure."
    leak = "sns . pairplot ( iris_df , hue = ' species ' , vars = iris . feature_names )"
    assert find_leaks(copied, truth) == (leak,)


# A BigCodeBench-shaped task: the reference program repeats the prompt's docstring, and the
# statement the coder is given words the same task (and shows the signature).
DOCUMENTED_TRUTH = '''import re

def task_func(text):
    """
    Count the words in a text that start with a capital letter and return them with their counts.

    Returns:
    - dict: Each capitalised word and how many times it occurs in the text.

    Example:
    >>> task_func("Alice met Bob and Alice")
    {'Alice': 2, 'Bob': 1}
    """
    words = re.findall(r"\\b[A-Z][a-z]*\\b", text)  # capitalised words only
    counts = {}
    for word in words:
        counts[word] = counts.get(word, 0) + 1
    return counts
'''
DOCUMENTED_STATEMENT = """Count the words in a text that start with a capital letter and return them with their counts.
The function should output with:
    dict: Each capitalised word and how many times it occurs in the text.
You should write self-contained code starting with:
```
import re
def task_func(text):
```"""


def test_paraphrasing_the_task_is_not_a_leak() -> None:
    paraphrase = (
        "Your function should count the words in a text that start with a capital letter and return them "
        'with their counts, but it returns a list. For example task_func("Alice met Bob and Alice") should '
        "give {'Alice': 2, 'Bob': 1}: a dict of each capitalised word and how many times it occurs in the text."
    )
    assert find_leaks(paraphrase, DOCUMENTED_TRUTH, DOCUMENTED_STATEMENT) == ()
    # the signature the statement shows is the coder's already
    given = "Keep the start as given, import re def task_func(text): and build the dict after it."
    assert find_leaks(given, DOCUMENTED_TRUTH, DOCUMENTED_STATEMENT) == ()
    assert find_leaks(given, DOCUMENTED_TRUTH) == ("import re def task_func ( text ) :",)


def test_quoting_the_solutions_code_is_a_leak() -> None:
    quoted = 'Use re.findall(r"\\b[A-Z][a-z]*\\b", text), then counts[word] = counts.get(word, 0) + 1 per word.'
    assert find_leaks(quoted, DOCUMENTED_TRUTH, DOCUMENTED_STATEMENT) == (
        're . findall ( r " \\ b [ A - Z ] [ a - z ] * \\ b " , text )',
        "counts [ word ] = counts . get ( word , 0 ) + 1",
    )


class ScriptedUser:
    """Stands in for the simulator's model call: replies from a script, records what it was sent."""

    def __init__(self, *replies: str) -> None:
        self.replies = list(replies)
        self.sent: list[list[Message]] = []

    async def __call__(self, messages: list[Message]) -> str:
        self.sent.append(messages)
        return self.replies.pop(0)


def run(kind: Any, ask: ScriptedUser, **kwargs: Any) -> Any:
    return asyncio.run(simulate(kind, problem=PROBLEM, code=WRONG, ground_truth=TRUTH, ask=ask, **kwargs))


def test_expert_turn() -> None:
    ask = ScriptedUser("The sum includes odd numbers: skip them.\n```python\nreturn 0\n```")
    feedback = run("expert", ask, execution=FAILING)
    prompt = render_prompt("expert", problem=PROBLEM, code=WRONG, ground_truth=TRUTH, execution=FAILING)
    assert ask.sent == [[Message("user", prompt)]]
    [[message]] = ask.sent
    assert message.role == "user"
    assert TRUTH.rstrip() in message.content
    assert feedback.text == "The sum includes odd numbers: skip them."
    assert feedback.raw == "The sum includes odd numbers: skip them.\n```python\nreturn 0\n```"
    assert not feedback.leaked and feedback.leak_ngrams == ()
    assert feedback.asked


def test_expert_leak_is_flagged() -> None:
    ask = ScriptedUser("Just return sum(n * n for n in numbers if n % 2 == 0).")
    feedback = run("expert", ask)
    assert feedback.leaked
    assert feedback.leak_ngrams == ("return sum ( n * n for n in numbers if n % 2 = = 0 )",)
    assert feedback.text == "Just return sum(n * n for n in numbers if n % 2 == 0)."  # flagged, not edited


def test_the_experts_leak_check_knows_the_task_statement() -> None:
    advice = "Keep the start as given, import re def task_func(text): and count into a dict."
    feedback = asyncio.run(
        simulate(
            "expert",
            problem=DOCUMENTED_STATEMENT,
            code="import re\ndef task_func(text):\n    return []\n",
            ground_truth=DOCUMENTED_TRUTH,
            ask=ScriptedUser(advice),
        )
    )
    assert feedback.text == advice and not feedback.leaked


def test_novice_turn() -> None:
    ask = ScriptedUser("My test says 14 != 4, so the result is too big.")
    feedback = run("novice", ask, execution=FAILING)
    [[message]] = ask.sent
    assert "AssertionError: 14 != 4" in message.content
    assert "if n % 2 == 0" not in message.content  # given, but not shown
    assert feedback.text == "My test says 14 != 4, so the result is too big."
    assert feedback.asked and not feedback.leaked


def test_novice_is_silent_when_nothing_visible_fails() -> None:
    for execution in (PASSING, None, execution_feedback([("test_hidden", "failed", "x")], public=())):
        ask = ScriptedUser()
        feedback = run("novice", ask, execution=execution)
        assert ask.sent == []
        assert feedback.text == SILENT_NOVICE
        assert feedback.raw == ""
        assert not feedback.asked and not feedback.leaked


def test_novice_speaks_up_about_a_syntax_error() -> None:
    ask = ScriptedUser("Python says there is a syntax error on line 1.")
    feedback = asyncio.run(
        simulate("novice", problem=PROBLEM, code="def task_func(numbers)\n    return 0\n", ground_truth=None, ask=ask)
    )
    [[message]] = ask.sent
    assert "SyntaxError at line 1 of solution.py: expected ':'" in message.content
    assert feedback.text == "Python says there is a syntax error on line 1."
