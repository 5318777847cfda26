"""The status line of the model's requests while a run waits for them: on a tty after pytest's
current line (and away before pytest writes again), otherwise a plain line every --progress
seconds, none with -qq; pytest's own output still parses."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_convcode.generation import Progress
from pytest_convcode.plugin.terminal import StatusLine, status_text
from pytest_convcode.testing.openai_server import OpenAIServer

ROOT = Path(__file__).resolve().parents[1]
BUSY = Progress(in_flight=3, answered=41, completion_tokens=5670, retries=2, seconds=252.0)
TEXT = "convcode: 3 requests in flight, 41 answered, 22.5 tok/s, 2 retries, 4m12s"


class Line:
    """pytest's terminal writer, as far as the status line looks at it."""

    def __init__(self, width_of_current_line: int, fullwidth: int = 120) -> None:
        self.width_of_current_line, self.fullwidth = width_of_current_line, fullwidth


def status(line: Line, progress: Progress, tty: bool) -> tuple[StatusLine, list[str], float]:
    written: list[str] = []
    made = StatusLine(written.append, line, lambda: progress, tty=tty, every=30.0)
    return made, written, time.monotonic()


def test_the_text_says_what_is_in_flight_answered_how_fast_and_retried() -> None:
    assert status_text(BUSY) == TEXT
    assert status_text(Progress(in_flight=1)) == "convcode: 1 request in flight, 0 answered, 0.0 tok/s, 0 retries, 0s"


def test_on_a_tty_it_follows_pytests_line_and_goes_before_pytest_writes() -> None:
    line = Line(20)
    made, written, start = status(line, BUSY, tty=True)
    made.tick(start + 1)  # pytest wrote a moment ago
    assert written == []
    made.tick(start + 3)
    assert written == ["  " + TEXT]
    with made.pytest_writes():
        assert written[-1] == f"\x1b[{len(TEXT) + 2}D\x1b[K"  # taken away: pytest's line is as it left it
        made.tick(start + 10)
    assert len(written) == 2  # not while pytest writes
    line.width_of_current_line = line.fullwidth - 25  # no room left beside pytest's "[ 40%]"
    made.tick(time.monotonic() + 5)
    assert len(written) == 2


def test_without_a_tty_it_is_a_line_of_its_own_every_so_often() -> None:
    made, written, start = status(Line(7), BUSY, tty=False)
    made.tick(start + 3)
    assert written == []  # not before --progress seconds
    made.tick(start + 31)
    assert written == ["\n" + TEXT + "\n"]  # after pytest's dots, on a line of its own
    made.tick(start + 45)
    assert len(written) == 1


def test_nothing_is_shown_while_nothing_is_asked() -> None:
    made, written, start = status(Line(0), Progress(), tty=False)
    made.tick(start + 100)
    assert written == []


@pytest.fixture
def slow_server() -> Iterator[OpenAIServer]:
    with OpenAIServer(delay=4.0) as server:
        yield server


def run(pytester: pytest.Pytester, server: OpenAIServer, *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_humaneval=(ROOT / "suites/humaneval/test_humaneval.py").read_text())
    return pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--model", "ds6.7b", f"--base-url={server.url}", "-k", "HumanEval/2", *args
    )


def test_a_slow_endpoint_gets_a_status_line_and_quiet_output_still_parses(
    pytester: pytest.Pytester, slow_server: OpenAIServer
) -> None:
    result = run(pytester, slow_server, "-q", "--progress=1")
    result.stdout.re_match_lines([r"convcode: 1 request in flight, 0 answered, 0\.0 tok/s, 0 retries, \d+s$"])
    result.assert_outcomes(failed=1, deselected=163)  # the fake model's answer is wrong


def test_very_quiet_output_has_no_status_line(pytester: pytest.Pytester, slow_server: OpenAIServer) -> None:
    result = run(pytester, slow_server, "-qq", "--progress=1")
    assert " in flight" not in result.stdout.str()
    assert result.ret == 0 and result.stdout.lines[0].startswith("F")
