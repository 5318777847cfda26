"""ConvCodeBench: ConvCodeWorld replayed from a frozen reference conversation (--reference-log: a
ConvCodeWorld run folder, the official parquet file, or hf:NAME). One item per task, feedback
setting and turn ("BigCodeBench/13-cf-ef_full-expert-turn3"): turn 0 is the model's own answer,
turn k answers the reference's turn k-1 code with the feedback logged on it; no simulated user is
asked. Select with -k expert, -k "ef_partial and novice", -k turn3."""

from pytest_convcode.kinds import Verdict
from pytest_convcode.plugin import expect_pass

SUITE = "bigcodebench"
KIND = "convcodebench"
# the five settings with verbal feedback, as the original reports them; --feedback picks some of them
FEEDBACK = "cf-ef_partial-novice,cf-ef_full-novice,cf-expert,cf-ef_partial-expert,cf-ef_full-expert"


def test_convcodebench(convcode_verdict: Verdict) -> None:
    expect_pass(convcode_verdict)
