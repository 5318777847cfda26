"""Repository tasks: a real repository's methods judged by its own tests (--repo-tasks: a task file
of `python -m pytest_convcode.mine`, the seed's parquet file, or hf:NAME). Per task: method
generation, one item per turn ("django/utils/text.py::Truncator.chars-method_gen-turn2", up to
--max-turns, each failed turn answered with the tests' output), completion ("...-completion") and
program repair ("...-repair"). Select with -k method_gen, -k "completion or repair", -k turn0.
Without --repo-tasks every item is skipped, saying so."""

from pytest_convcode.kinds import Verdict
from pytest_convcode.plugin import expect_pass

SUITE = "repotasks"
KIND = "repotasks"


def test_repotasks(convcode_verdict: Verdict) -> None:
    expect_pass(convcode_verdict)
