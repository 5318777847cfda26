"""Differential judging of call-tested tasks (HumanEval+, MBPP+): the judge (``differential.py``),
the ground truth it judges by (``truth.py``), the bundled digests of the reference's outputs
(``expected.py``) and EvalPlus's comparison rules (``rules.py``)."""

from .differential import (
    MARGIN,
    NOT_RUN,
    PASSED,
    RAISED,
    TIMED_OUT,
    WALL_FACTOR,
    WRONG,
    DifferentialJudge,
    PhaseResult,
    Verdict,
)
from .expected import ExpectedOutputs
from .expected import load as expected_outputs
from .rules import ORACLES, outputs_match
from .truth import GROUND_TRUTH_FORMAT, GroundTruth, GroundTruthCache, ground_truth_dir

__all__ = [
    "GROUND_TRUTH_FORMAT",
    "MARGIN",
    "NOT_RUN",
    "ORACLES",
    "PASSED",
    "RAISED",
    "TIMED_OUT",
    "WALL_FACTOR",
    "WRONG",
    "DifferentialJudge",
    "ExpectedOutputs",
    "GroundTruth",
    "GroundTruthCache",
    "PhaseResult",
    "Verdict",
    "expected_outputs",
    "ground_truth_dir",
    "outputs_match",
]
