"""HumanEval+ (EvalPlus): one item per problem and sample, base + plus tests."""

from pytest_convcode.judge import Verdict
from pytest_convcode.plugin import expect_pass

SUITE = "humaneval"


def test_humaneval(convcode_verdict: Verdict) -> None:
    expect_pass(convcode_verdict)
