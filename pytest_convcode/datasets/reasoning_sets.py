"""The code reasoning data sets: CRUXEval (bundled, MIT) and CodeGlance's sets (the user's copy).

A CodeGlance record that cannot be asked (a test without its placeholder) is left out with a
warning rather than stopping the run: the published DS1000 and torchdata sets each hold one.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import UsageError
from ..reasoning import ReasoningDataset, load_codeglance, load_cruxeval
from . import REASONING


@REASONING.register("cruxeval")
def _cruxeval(path: Path | None, rag_path: Path | None) -> ReasoningDataset:
    return load_cruxeval(path)


@REASONING.register("codeglance")
def _codeglance(path: Path | None, rag_path: Path | None) -> ReasoningDataset:
    if path is None:
        raise UsageError(
            "codeglance needs --dataset-path: a CodeGlance set (e.g. DS1000_reasoning.jsonl) from your copy of the "
            "CodeGlance repository; its licence is unstated, so pytest-convcode does not bundle them"
        )
    return load_codeglance(path, rag_path, skip_malformed=True)  # the published sets hold a few; run notes them
