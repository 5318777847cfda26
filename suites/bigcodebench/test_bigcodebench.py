"""BigCodeBench in one turn: one item per task and sample, the program run with the task's
unittest class (``--prompt instruct``, the default, or ``complete``; ``--subset stdlib``)."""

from pytest_convcode.conversation import Evaluation
from pytest_convcode.plugin import expect_pass

SUITE = "bigcodebench"


def test_bigcodebench(convcode_verdict: Evaluation) -> None:
    expect_pass(convcode_verdict)
