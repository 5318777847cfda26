"""CRUXEval: predict a function's output (CRUXEval-O) or an input that gives its output (CRUXEval-I).
One item per problem, mode and sample: ``-k output`` / ``-k input`` select a mode."""

from pytest_convcode.plugin import expect_pass
from pytest_convcode.reasoning import ReasoningVerdict

SUITE = "cruxeval"


def test_cruxeval(convcode_verdict: ReasoningVerdict) -> None:
    expect_pass(convcode_verdict)
