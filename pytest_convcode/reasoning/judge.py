"""Whether a prediction is right: ``assert <expected> == <prediction>`` after the task's code.

That is the check of CRUXEval's and CodeGlance's evaluators, so a prediction may be
any expression (``list(range(1, 3))`` for ``[1, 2]``), and in input mode it is the
call ``f(...)`` itself. The prediction runs in the sandbox, after the task's code;
where the expected value is a literal (every CRUXEval output, most CodeGlance
results) it never enters the sandbox: the prediction's value comes back through
the restricted unpickler and is compared on the trusted side, so an answer can
neither read the expected value nor return an object whose ``__eq__`` lies.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any

from ..datasets.reasoning import untrusted_source
from ..sandbox import CallJob, ExecResult, Limits, MiB, Sandbox
from .answers import Prediction
from .question import Question

# CRUXEval's evaluator gives each check 3 seconds (evaluation/utils_general.py:
# ``check_correctness(code_to_execute, 3)``, for loading the code and the assert
# together), and CodeGlance's copies it: the task's code and the prediction each get that.
CHECK_SECONDS = 3.0
# Loading the task's code is not what the authors time: CodeGlance's imports (tensorflow,
# sklearn) take several seconds on their own, more on a loaded machine.
LOAD_SECONDS = 60.0
LIMITS = Limits(max_output_bytes=16 * MiB)  # a predicted value is small; a huge one is not an answer

_PREDICTION = "_convcode_prediction_"
_EXPECTED = "_convcode_expected_"
_CHECK = "_convcode_check_"
SHOWN_CHARS = 120  # how much of a value an explanation quotes


@dataclass(frozen=True)
class ReasoningVerdict:
    """``environment``: no verdict on the model could be reached (the task's code does not
    run in this interpreter, or the data's expected value is broken): an error, not a failure."""

    passed: bool
    explanation: str  # "" when passed
    prediction: str  # the prediction judged, as Python source
    environment: bool = False


class ReasoningJudge:
    """Judges predictions in a sandbox (one job, one call each: a fork, milliseconds)."""

    def __init__(self, sandbox: Sandbox, time_limit: float = CHECK_SECONDS, limits: Limits = LIMITS) -> None:
        self.sandbox = sandbox
        self.time_limit = time_limit
        self.limits = limits
        self._loads: dict[str, str] = {}  # task code -> why it does not load ("" when it does)
        self._references: dict[tuple[str, str, str], str] = {}  # see _reference_trouble

    @untrusted_source
    def judge(self, question: Question, prediction: Prediction) -> ReasoningVerdict:
        passed, explanation, environment = self._check(question, prediction.text, prediction.dropped)
        if not passed and not environment and (trouble := self._reference_trouble(question)):
            return ReasoningVerdict(False, trouble, prediction.text, True)
        return ReasoningVerdict(passed, explanation, prediction.text, environment)

    def _reference_trouble(self, question: Question) -> str:
        """Why the data set's own answer fails this check here ("" when it passes), asked once
        per question: then no answer can pass (DS1000's ``PCA() == PCA()`` compares identities),
        and the task is left out as an error rather than counted against the model."""
        key = (question.task.code, question.expected, question.canonical_solution)
        if key not in self._references:
            passed, explanation, _ = self._check(question, question.canonical_solution, "")
            self._references[key] = "" if passed else f"the data set's own answer fails this check here: {explanation}"
        return self._references[key]

    def _check(self, question: Question, text: str, dropped: str) -> tuple[bool, str, bool]:
        """(passed, explanation, environment) of one prediction. A task that cannot be
        judged here at all (its code or expected value is not Python, its code does not
        load) is an environment error whatever the answer, dropped ones included, so that
        every sample of it is left out alike."""
        expected = question.expected
        problem = _not_an_expression(expected, "<expected>")
        if problem:
            return False, f"the data set's expected value {_short(expected)!r} is not Python ({problem})", True
        problem = _not_a_program(question.task.code)
        if problem:
            return False, f"the task's code is not valid Python ({problem})", True
        problem = dropped or ("the reply holds no answer" if not text.strip() else "")
        if not problem and (syntax := _not_an_expression(text, "<prediction>")):
            problem = f"the answer {_short(text)!r} is not a Python expression ({syntax})"
        if problem:  # wrong unread, unless the task's code cannot run here: then no sample of it counts
            reason = self._task_trouble(question.task.code)
            return (False, reason, True) if reason else (False, problem, False)
        literal, value = _literal(expected)
        job = self._job(question.task.code, text, None if literal else expected)
        try:
            compile(job.code, "<check>", "exec", dont_inherit=True)
        except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
            return False, f"the answer cannot be placed in the check ({exc})", False
        result = self.sandbox.run(job)
        trouble = _trouble(result)
        self._loads.setdefault(question.task.code, trouble[0] if trouble is not None and trouble[1] else "")
        if trouble is not None:
            return False, *trouble
        call = result.calls[0]
        if call.status == "timeout":
            return False, f"evaluating the answer was stopped at the time limit ({self.time_limit:g} s)", False
        if call.status == "error":
            return False, f"evaluating the answer raised {_last_line(call.error)}", False
        try:
            returned = call.value
        except Exception as exc:  # the restricted unpickler refused it
            return False, f"the answer's value could not be read back ({type(exc).__name__}: {exc})", False
        if literal:
            same, shown = _equal(value, returned), repr(returned)
        elif isinstance(returned, tuple) and len(returned) == 2 and returned[0] == "expected":
            return False, f"the data set's expected value {_short(expected)!r} raised {returned[1]}", True
        elif isinstance(returned, tuple) and len(returned) == 2 and isinstance(returned[0], bool):
            same, shown = returned[0], str(returned[1])
        else:
            return False, f"the check returned {type(returned).__name__}, not its verdict", False
        return same, "" if same else _differs(expected, text, shown), False

    def _task_trouble(self, code: str) -> str:
        """Why the task's code does not load in the sandbox ("" when it does), asked once per code."""
        if code not in self._loads:
            trouble = _trouble(self.sandbox.run(self._job(code, "None", None)))
            self._loads[code] = trouble[0] if trouble is not None and trouble[1] else ""
        return self._loads[code]

    def _job(self, code: str, prediction: str, expected: str | None) -> CallJob:
        """The task's code, then functions evaluating the prediction (and a non-literal
        expected value) and comparing them; each expression is wrapped in brackets on a
        line of its own, so a trailing comment cannot swallow the closing bracket."""
        parts = [code.rstrip(), "", "", _function(_PREDICTION, prediction)]
        entry = _PREDICTION
        if expected is not None:
            parts += [_function(_EXPECTED, expected), _CHECK_SOURCE]
            entry = _CHECK
        return CallJob(
            code="\n".join(parts),
            entry_point=entry,
            inputs=[[]],
            cpu_limits=[self.time_limit],
            wall_limits=[self.time_limit],
            load_cpu=LOAD_SECONDS,
            load_wall=LOAD_SECONDS,
            limits=self.limits,
        )


def _function(name: str, expression: str) -> str:
    return f"def {name}():\n    return (\n{expression}\n    )\n\n"


# For a non-literal expected value (CodeGlance's ``np.int64(3)``...) equality can only be
# asked in the sandbox; the prediction's value comes back as text, for the explanation. An expected
# value that raises (DS1000's bare ``nan``) is the data's fault, told apart from the prediction's.
_CHECK_SOURCE = f"""
def {_CHECK}(_bool=bool, _repr=repr, _type=type, _str=str):
    try:
        expected = {_EXPECTED}()
    except Exception as exc:
        return ("expected", _type(exc).__name__ + ": " + _str(exc)[:{SHOWN_CHARS}])
    predicted = {_PREDICTION}()
    try:
        shown = _repr(predicted)[:{SHOWN_CHARS}]
    except Exception:
        shown = "<" + _type(predicted).__name__ + ">"
    return (_bool(expected == predicted), shown)
"""


def _trouble(result: ExecResult) -> tuple[str, bool] | None:
    """(explanation, environment) when the job did not produce the call's record."""
    if result.load_error is not None:
        detail = _last_line(result.load_error) if result.load_error else result.how_it_ended
        return f"the task's code does not run in the sandbox's interpreter: {detail}", True
    if result.garbled:
        return "the answer wrote into the harness's result stream", False
    if not result.calls:
        return f"evaluating the answer ended the process: it {result.how_it_ended}", False
    return None


def _not_an_expression(text: str, name: str) -> str:
    try:
        compile(text, name, "eval", dont_inherit=True)
    except SyntaxError as exc:
        return f"{exc.msg}, line {exc.lineno}" if exc.lineno else exc.msg
    except (ValueError, RecursionError, MemoryError) as exc:  # null bytes, nesting too deep
        return str(exc) or type(exc).__name__
    return ""


def _not_a_program(code: str) -> str:
    try:
        compile(code, "<task>", "exec", dont_inherit=True)
    except SyntaxError as exc:
        return f"{exc.msg}, line {exc.lineno}" if exc.lineno else exc.msg
    except (ValueError, RecursionError, MemoryError) as exc:
        return str(exc) or type(exc).__name__
    return ""


def _literal(text: str) -> tuple[bool, Any]:
    try:
        return True, ast.literal_eval(text.strip())
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False, None


def _equal(expected: Any, value: Any) -> bool:
    """``expected == value`` on the trusted side, with ``assert``'s reading: an ambiguous
    truth value (a numpy array) or any other error is a failure."""
    try:
        return bool(expected == value)
    except Exception:
        return False


def _differs(expected: str, text: str, shown: str) -> str:
    got = "" if shown == text.strip() else f", and it evaluates to {_short(shown)}"
    return f"expected {_short(expected)}, the answer is {_short(text)}{got}"


def _last_line(traceback: str) -> str:
    lines = [line for line in traceback.strip().split("\n") if line.strip()]
    return lines[-1].strip() if lines else "an error"


def _short(text: str, limit: int = SHOWN_CHARS) -> str:
    """Python source quoted in an explanation: on one line, its spaces kept (they may be the answer)."""
    flat = text.strip().replace("\n", "\\n")
    return flat if len(flat) <= limit else flat[:limit] + " ..."
