"""Reading a test runner's output: how many tests ran and how many failed, erred or were skipped,
from unittest's closing lines (Django's runtests.py) or pytest's summary line, and the part of the
output that shows what failed (what program repair shows the model)."""

from __future__ import annotations

import re
from dataclasses import dataclass

_RAN = re.compile(r"^Ran (\d+) tests? in [\d.]+s$", re.MULTILINE)
_VERDICT = re.compile(r"^(OK|FAILED|NO TESTS RAN)(?: \((.*)\))?$", re.MULTILINE)
# pytest's last line, with -q or without: "=== 2 failed, 3 passed, 1 skipped in 0.12s ===",
# "no tests ran in 0.01s", "1 passed in 65.40s (0:01:05)"
_PYTEST_SUMMARY = re.compile(r"^=*\s*((?:\d+ \w+(?:, )?)+|no tests ran) in [\d.]+s(?: \([\d:]+\))?\s*=*$", re.MULTILINE)
_PYTEST_COUNT = re.compile(r"(\d+) (\w+)")
# where unittest's reports of failed tests start and where they end (before "Ran N tests in 0.012s");
# pytest's section of them, and the line after it
_UNITTEST_FAILURE = re.compile(r"^={20,}\n(?:FAIL|ERROR|UNEXPECTED SUCCESS): ", re.MULTILINE)
_UNITTEST_END = re.compile(r"^-{20,}\nRan \d+ tests?", re.MULTILINE)
_PYTEST_FAILURE = re.compile(r"^=+ (?:FAILURES|ERRORS) =+$", re.MULTILINE)
_PYTEST_END = re.compile(r"^=+ (?:short test summary info|warnings summary|.* in [\d.]+s.*) =+$", re.MULTILINE)


@dataclass(frozen=True)
class Counts:
    ran: int  # every test the runner ran, skipped ones included
    failures: int  # failed, and unexpected successes (unittest fails a run for them)
    errors: int  # raised, in the test or its fixtures
    skipped: int


def counts(runner: str, output: str) -> Counts | None:
    """What the runner's summary says; None when it printed none (it did not get that far)."""
    return _pytest_counts(output) if runner == "pytest" else _unittest_counts(output)


def _unittest_counts(output: str) -> Counts | None:
    ran, verdict = list(_RAN.finditer(output)), list(_VERDICT.finditer(output))
    if not ran or not verdict or verdict[-1].start() < ran[-1].start():
        return None
    details: dict[str, int] = {}
    for part in (verdict[-1].group(2) or "").split(", "):
        name, _, number = part.partition("=")
        if number.isdigit():
            details[name] = int(number)
    return Counts(
        ran=int(ran[-1].group(1)),
        failures=details.get("failures", 0) + details.get("unexpected successes", 0),
        errors=details.get("errors", 0),
        skipped=details.get("skipped", 0),
    )


def _pytest_counts(output: str) -> Counts | None:
    summaries = list(_PYTEST_SUMMARY.finditer(output))
    if not summaries:
        return None
    found: dict[str, int] = {}
    for number, word in _PYTEST_COUNT.findall(summaries[-1].group(1)):
        found[word.rstrip("s") if word in ("errors", "warnings") else word] = int(number)
    outcomes = ("passed", "failed", "error", "skipped", "xfailed", "xpassed")
    return Counts(
        ran=sum(found.get(outcome, 0) for outcome in outcomes),
        failures=found.get("failed", 0),
        errors=found.get("error", 0),
        skipped=found.get("skipped", 0),
    )


def failure_report(runner: str, output: str) -> str:
    """The reports of the failed tests (their tracebacks), without the run's timing; the whole
    output when it has none (a crash)."""
    start_at, end_at = (_PYTEST_FAILURE, _PYTEST_END) if runner == "pytest" else (_UNITTEST_FAILURE, _UNITTEST_END)
    start = start_at.search(output)
    if start is None:
        return output
    end = end_at.search(output, start.end())
    return output[start.start() : end.start() if end else len(output)].rstrip("\n")
