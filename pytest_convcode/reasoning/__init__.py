"""Code reasoning suites: CRUXEval and CodeGlance (output and input prediction).

The model reads a short program and predicts what a call returns (output mode) or
arguments that make it return a given value (input mode); the answer is judged by
running ``assert <expected> == <prediction>`` after the program, in the sandbox.

- the data sets (``load_cruxeval``, ``load_codeglance``), RAG documents and published generation
  files (``read_generations``) are read in ``datasets/reasoning.py``, with every other data set;
- ``question``: ``Question``, a task asked in one mode and prompt style (a
  ``tasks.Problem``), and its prompt from ``templates/``;
- ``answers``: ``extract``, the prediction out of a reply, with CRUXEval's drop rules;
- ``judge``: ``ReasoningJudge``, the check in the sandbox;
- ``scores``: ``feature_scores``, pass@k by code feature.
"""

from ..datasets.reasoning import (
    CRUXEVAL_VERSION,
    MODES,
    STYLES,
    ApiDoc,
    Mode,
    PromptStyle,
    ReasoningDataset,
    ReasoningTask,
    load_codeglance,
    load_cruxeval,
    read_generations,
    read_rag,
)
from .answers import Prediction, extract
from .judge import CHECK_SECONDS, ReasoningJudge, ReasoningVerdict
from .question import Question, render
from .scores import feature_scores

__all__ = [
    "CHECK_SECONDS",
    "CRUXEVAL_VERSION",
    "MODES",
    "STYLES",
    "ApiDoc",
    "Mode",
    "Prediction",
    "PromptStyle",
    "Question",
    "ReasoningDataset",
    "ReasoningJudge",
    "ReasoningTask",
    "ReasoningVerdict",
    "extract",
    "feature_scores",
    "load_codeglance",
    "load_cruxeval",
    "read_generations",
    "read_rag",
    "render",
]
