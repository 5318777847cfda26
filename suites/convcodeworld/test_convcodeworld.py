"""ConvCodeWorld: multi-turn generation on BigCodeBench with compilation, execution and
simulated-user feedback. One item per task, feedback setting and turn
("BigCodeBench/13-cf-ef_full-expert-turn3"): select with -k expert, -k "ef_partial and novice",
-k turn0. A turn passes when its code passes the full hidden tests."""

from pytest_convcode.conversation import TurnResult
from pytest_convcode.plugin import expect_pass

SUITE = "bigcodebench"
FEEDBACK = "all"  # the nine settings of the paper; --feedback picks others


def test_convcodeworld(convcode_verdict: TurnResult) -> None:
    expect_pass(convcode_verdict)
