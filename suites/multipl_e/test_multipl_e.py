"""MultiPL-E: HumanEval in other languages, judged by their own compilers and runtimes. One item per
problem, language and sample (HumanEval_23_strlen-java); --language java,cpp,js or all (default:
the seven the Qwen2.5-Coder kit publishes); select with -k java, -k HumanEval_23_strlen."""

from pytest_convcode.kinds import Verdict
from pytest_convcode.plugin import expect_pass

SUITE = "multipl_e"


def test_multipl_e(convcode_verdict: Verdict) -> None:
    expect_pass(convcode_verdict)
