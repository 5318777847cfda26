"""One program's job and its verdict: the shell script that compiles and runs it in one sandbox
job, and what its output says, in MultiPL-E's statuses.

Compiling and running are one job, so the binary never leaves the job's directory. The script
marks where each step starts on both streams with a line that only it can write: the mark comes
on its standard input, which it reads before anything else runs (no command gets that input, and
the mark is in no file, argument or environment variable), so a program cannot fake the start of
its run. What came before the last run mark is the compiler's; what came after, the program's.
"""

from __future__ import annotations

import base64
import shlex
from dataclasses import dataclass
from typing import Literal, Protocol

from .catalog import Language

Status = Literal["OK", "SyntaxError", "Exception", "Timeout"]
TIMEOUT_STATUS = 137  # coreutils timeout -s KILL's, when the step outlived its limit (a runtime may catch TERM)
OUTPUT_TAIL = 2000  # characters of a failing program's output kept in its detail


class Ended(Protocol):
    """What a sandbox command job's result says (``sandbox.CommandResult``)."""

    @property
    def ended(self) -> str: ...  # "exit", "signal", "cpu_limit", "wall_timeout", "output_limit"

    @property
    def exit_code(self) -> int | None: ...

    @property
    def stdout(self) -> str: ...

    @property
    def stderr(self) -> str: ...

    @property
    def dropped(self) -> int: ...  # bytes cut from the front of the streams, to keep their tails

    @property
    def how_it_ended(self) -> str: ...


@dataclass(frozen=True)
class Budget:
    """Seconds of wall-clock time a language's compiler and its programs get on this machine."""

    compile_s: float
    run_s: float

    @property
    def job_s(self) -> float:
        """The whole job's: a second try (TypeScript) compiles and runs twice; one spare second."""
        return 2 * (self.compile_s + self.run_s) + 1


@dataclass(frozen=True)
class Outcome:
    status: Status
    passed: bool
    detail: str  # why it did not pass: the compiler's or the program's output, or the limit it hit
    compile_s: float  # seconds the compiler took (0 for an interpreter)
    run_s: float  # seconds the program ran


def script(language: Language, budget: Budget) -> str:
    """The job's shell script: read the mark, decode the support files (``support_text``), then
    compile (where the language does) and run with the run's limit, a second time with ``retry``'s
    compiler when the first did not pass."""
    run = f"timeout -s KILL {budget.run_s:g} {language.run}"
    steps = ["read -r M", 'mark() { t=$(date +%s%N); echo; echo "$M $1 $t"; echo >&2; echo "$M $1 $t" >&2; }']
    steps += [f"base64 -d {name}.b64 > {name} && rm {name}.b64" for name in language.support]
    for compiler in (language.compile, language.retry) if language.retry else (language.compile,):
        step = f"timeout -s KILL {budget.compile_s:g} sh -c {shlex.quote(compiler)} </dev/null && " if compiler else ""
        steps.append(f"mark compile; {step}{{ mark run; {run} </dev/null && mark end && exit 0; }}")
    steps.append("s=$?; mark end; exit $s")
    return "\n".join(steps) + "\n"


def support_text(data: bytes) -> str:
    """A support file as the job gets it: sandbox jobs are given text, and the script decodes it."""
    return base64.b64encode(data).decode()


def outcome(language: Language, result: Ended, mark: str) -> Outcome:
    """The verdict of a job that ran ``script`` with ``mark`` on its input."""
    out, err = _steps(result.stdout, mark), _steps(result.stderr, mark)
    times = _times(result.stdout, mark) or _times(result.stderr, mark)
    compile_s = times.get("run", times.get("end", 0.0)) - times.get("compile", 0.0) if times else 0.0
    run_s = times.get("end", 0.0) - times["run"] if "run" in times and "end" in times else 0.0
    compiled = "run" in out or "run" in err
    code = result.exit_code if result.ended == "exit" else None
    if not compiled:
        if code == TIMEOUT_STATUS or result.ended != "exit":
            why = f"the compiler did not finish: {_limit(result, code)}"
            return Outcome("Timeout", False, why, compile_s, 0.0)
        text = (out.get("compile", "") + err.get("compile", "")).strip()
        return Outcome("SyntaxError", False, "compilation failed:\n" + _tail(text), compile_s, 0.0)
    stdout, stderr = out.get("run", ""), err.get("run", "")
    if result.ended != "exit" or code == TIMEOUT_STATUS or any(t in stdout + stderr for t in language.timeouts):
        return Outcome("Timeout", False, f"the program did not finish: {_limit(result, code)}", compile_s, run_s)
    if code == 0 and _passes(language, stdout, stderr):
        return Outcome("OK", True, "", compile_s, run_s)
    shown = _tail((stderr or stdout).strip()) or f"exited with status {code}"
    if code != 0 and any(s in stdout + stderr for s in language.syntax_errors):
        return Outcome("SyntaxError", False, shown, compile_s, run_s)
    if code == 0:
        shown = f"exited with status 0, but {_rule(language)}:\n{shown}"
    return Outcome("Exception", False, shown, compile_s, run_s)


def _passes(language: Language, stdout: str, stderr: str) -> bool:
    rule = language.passes
    if rule == "silent":  # as the evaluators test it: any byte at all, a newline too
        return not stdout and not stderr
    if rule == "quiet":
        return not stderr
    if rule == "no_fail":
        return "Fail" not in stderr
    if rule == "no_error":
        return "ERROR" not in stdout + stderr
    return True


def _rule(language: Language) -> str:
    return {
        "silent": "printed output, which fails a test here",
        "quiet": "wrote to stderr, where failed tests are reported",
        "no_fail": "an assertion failed (Fail on stderr)",
        "no_error": "it printed ERROR",
        "exit": "",
    }[language.passes]


def _steps(stream: str, mark: str) -> dict[str, str]:
    """A stream's text by the step that wrote it (the last try's): "compile", "run". A stream that
    does not begin with the script's first mark was cut at its front, to keep its tail: what was
    kept before any mark is the program's (it printed that much; a compiler's output is small)."""
    parts: dict[str, str] = {}
    step = "" if stream.startswith(f"\n{mark} compile ") else "run"
    if step:
        parts[step] = ""
    for line in stream.splitlines(keepends=True):
        words = line.split()
        if len(words) == 3 and words[0] == mark:
            step = words[1]
            if step == "compile":
                parts.clear()
            parts.setdefault(step, "")
            continue
        if step:
            parts[step] += line
    for name, text in parts.items():  # the newline before each mark is the script's
        parts[name] = text.removesuffix("\n")
    return parts


def _times(stream: str, mark: str) -> dict[str, float]:
    """When each step of the last try began, in seconds."""
    times: dict[str, float] = {}
    for line in stream.splitlines():
        words = line.split()
        if len(words) == 3 and words[0] == mark and words[2].isdigit():
            if words[1] == "compile":
                times.clear()
            times[words[1]] = int(words[2]) / 1e9
    return times


def _limit(result: Ended, code: int | None) -> str:
    return "stopped at its time limit" if code == TIMEOUT_STATUS else result.how_it_ended


def _tail(text: str) -> str:
    return text if len(text) <= OUTPUT_TAIL else "..." + text[-OUTPUT_TAIL:]
