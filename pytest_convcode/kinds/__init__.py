"""Suite kinds: what a suite module becomes (``kind.py``: the ``SuiteKind`` interface and its
registry) and the kinds there are, each a module that registers itself here: ``single``
(one-turn code generation judged by calls), ``unit_tests`` (one turn, judged by unittest classes),
``conversations`` (multi-turn, with feedback), ``frozen_conversations`` (ConvCodeBench: turns
answered from a frozen reference conversation), ``reasoning`` (predicting what code does),
``repo_tasks`` (a real repository's methods, judged by its own tests) and ``multipl_e`` (HumanEval
in other languages, judged by their compilers and runtimes)."""

from . import conversations, frozen_conversations, multipl_e, reasoning, repo_tasks, single, unit_tests  # noqa: F401  (each registers its kind)
from .kind import KINDS, Case, Suite, SuiteKind, Verdict, kind_for

__all__ = ["KINDS", "Case", "Suite", "SuiteKind", "Verdict", "kind_for"]
