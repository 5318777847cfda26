"""MBPP+ (EvalPlus): one item per problem and sample, base + plus tests."""

from pytest_convcode.judge import Verdict
from pytest_convcode.plugin import expect_pass

SUITE = "mbpp"


def test_mbpp(convcode_verdict: Verdict) -> None:
    expect_pass(convcode_verdict)
