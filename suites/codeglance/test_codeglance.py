"""CodeGlance: predict what API-heavy code returns (DS1000_reasoning, PanNumEval, MonkBeatEval,
torchdata, annotated CRUXEval). The sets are not bundled: give ``--dataset-path``."""

from pytest_convcode.plugin import expect_pass
from pytest_convcode.reasoning import ReasoningVerdict

SUITE = "codeglance"


def test_codeglance(convcode_verdict: ReasoningVerdict) -> None:
    expect_pass(convcode_verdict)
