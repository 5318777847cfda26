"""The terminal: a status line of the model's requests while the run waits for them, and at the
end the score tables (pass@k per score group, MRR / Recall and the pass curve per conversation
setting, ConvCodeBench's against its frozen reference, pass@1 by code feature), the comparison and the gates.

Every score is strict (an errored item counts as not passed); where a table had errors, the
scores excluding them follow, headed ``(ran)``, with the tasks that ran.

The status line (``StatusLine``) sums every process of the run (``GenerationCache.progress``). It
is written by a thread of the controller, straight to the terminal (an item's output capture has
the standard output meanwhile), and only once pytest has written nothing for a while: on a tty at
the end of pytest's current line, taken away before pytest writes again; otherwise (or with -q)
as a line of its own every ``--progress`` seconds; with -qq never."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import pytest

from ..gates import RAN
from ..generation import GenerationCache, Progress
from ..metrics import EXCLUDING_ERRORS
from ..options import add_options, from_config, option
from ..repos.scores import table
from ..sandbox import add_jobs
from . import options_group
from .session import RUN

QUIET_SECONDS = 2.0  # pytest wrote nothing for this long: the run is waiting
TTY_SECONDS = 2.0  # a tty's line is redrawn at most this often
STOP_STATUS = pytest.StashKey[Callable[[], None]]()
SANDBOX_HOSTS = pytest.StashKey[dict[str, dict[str, int]]]()  # xdist: the workers' sandbox jobs per host


@dataclass(frozen=True)
class ProgressOptions:
    progress: float = option(
        "--progress",
        type=float,
        default=30.0,
        record=False,
        metavar="SECONDS",
        help="while requests are in flight, a status line of them every SECONDS when the output is not "
        "a terminal or with -q (default 30; 0: never); a terminal's line is kept up to date",
    )


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(ProgressOptions, options_group(parser))


def status_text(progress: Progress) -> str:
    """``convcode: 3 requests in flight, 41 answered, 22.5 tok/s, 2 retries, 4m12s``."""
    p = progress
    rate = p.completion_tokens / p.seconds if p.seconds > 0 else 0.0
    minutes, seconds = divmod(int(p.seconds), 60)
    clock = f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"
    requests = "request" if p.in_flight == 1 else "requests"
    retries = "retry" if p.retries == 1 else "retries"
    return (
        f"convcode: {p.in_flight} {requests} in flight, {p.answered} answered, {rate:.1f} tok/s, "
        f"{p.retries} {retries}, {clock}"
    )


class Line(Protocol):
    """What the status line needs of pytest's terminal writer: where its current line ends."""

    @property
    def width_of_current_line(self) -> int: ...

    @property
    def fullwidth(self) -> int: ...


class StatusLine:
    """The run's requests, shown while pytest is quiet. ``write`` goes to the terminal itself;
    ``line`` is pytest's writer (whose current line a tty's status follows); ``every``: seconds
    between plain lines (the tty's is redrawn as its figures change)."""

    def __init__(
        self, write: Callable[[str], None], line: Line, source: Callable[[], Progress], tty: bool, every: float
    ) -> None:
        self.write, self.line, self.source, self.tty, self.every = write, line, source, tty, every
        self._lock = threading.RLock()
        self._busy = False  # pytest is writing
        self._quiet_since = self._drawn_at = time.monotonic()
        self._shown = 0  # the width of the status on the tty's current line
        self._figures: tuple[int, ...] = (0, 0, 0, 0)  # in flight, answered, completion tokens, retries
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="convcode-status", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        with self._lock:
            self._erase()

    @contextmanager
    def pytest_writes(self) -> Iterator[None]:
        """Around pytest's own output: the status is taken away first and stays away meanwhile."""
        with self._lock:
            self._erase()
            self._busy = True
        try:
            yield
        finally:
            with self._lock:
                self._busy = False
                self._quiet_since = time.monotonic()

    def _loop(self) -> None:
        while not self._stop.wait(0.5):
            self.tick()

    def tick(self, now: float | None = None) -> None:
        """Show the status if pytest has been quiet, requests are under way and it is time."""
        now = time.monotonic() if now is None else now
        if self._busy or now - self._quiet_since < QUIET_SECONDS:
            return
        progress = self.source()
        figures = (progress.in_flight, progress.answered, progress.completion_tokens, progress.retries)
        due = now - self._drawn_at >= (TTY_SECONDS if self.tty else self.every)
        if not due or not (progress.in_flight or figures != self._figures):
            return
        with self._lock:
            if self._busy:
                return
            text = status_text(progress)
            if self.tty:
                self._draw(text)
            else:
                self.write(("\n" if self.line.width_of_current_line else "") + text + "\n")
            self._figures, self._drawn_at = figures, now

    def _draw(self, text: str) -> None:
        """On a tty: the status after pytest's current line, where it fits."""
        self._erase()
        column = self.line.width_of_current_line
        room = self.line.fullwidth - column - 10  # pytest's "[ 40%]" still fits after it
        if column < 0 or room < 20:
            return
        shown = ("  " + text)[:room]
        self.write(shown)
        self._shown = len(shown)

    def _erase(self) -> None:
        if self._shown:
            self.write(f"\x1b[{self._shown}D\x1b[K")
            self._shown = 0


def _terminal_write(fd: int) -> Callable[[str], None]:
    def write(text: str) -> None:
        os.write(fd, text.encode())

    return write


@pytest.hookimpl(trylast=True)  # after the terminal reporter has set itself up
def pytest_sessionstart(session: pytest.Session) -> None:
    """On the controller, while an endpoint is asked: the status line's thread."""
    config = session.config
    every = from_config(ProgressOptions, config).progress
    tr = config.pluginmanager.get_plugin("terminalreporter")
    run = config.stash[RUN]
    if hasattr(config, "workerinput") or tr is None or not run.services.model.cacheable:
        return
    tty = bool(tr.isatty) and config.get_verbosity() >= 0
    if config.get_verbosity() <= -2 or (not tty and every <= 0):
        return
    try:
        fd = os.dup(sys.stdout.fileno())  # the terminal, whoever captures the standard output later
    except (OSError, ValueError):  # not a file (an in-process pytester run): no status line
        return
    cache = GenerationCache(run.services.generation_cache, run.services.place.run_id)
    status = StatusLine(_terminal_write(fd), tr._tw, cache.progress, tty, every)
    config.pluginmanager.register(_PytestWrites(status), "convcode-status")
    status.start()

    def stop() -> None:
        status.stop()
        cache.close()
        os.close(fd)

    config.stash[STOP_STATUS] = stop


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    stop = session.config.stash.get(STOP_STATUS, None)
    if stop is not None:
        del session.config.stash[STOP_STATUS]
        stop()
    worker_output = getattr(session.config, "workeroutput", None)
    if worker_output is not None:  # xdist: a worker tells the controller where its sandbox jobs ran
        worker_output["convcode_sandbox_hosts"] = session.config.stash[RUN].services.sandbox_jobs_per_host()


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    hosts = getattr(node, "workeroutput", {}).get("convcode_sandbox_hosts", {})
    add_jobs(node.config.stash.setdefault(SANDBOX_HOSTS, {}), hosts)


class _PytestWrites:
    """The hooks in which pytest writes to the terminal while items run: the status keeps away."""

    def __init__(self, status: StatusLine) -> None:
        self.status = status

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_logstart(self) -> Generator[None, None, None]:
        with self.status.pytest_writes():
            return (yield)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_logreport(self) -> Generator[None, None, None]:
        with self.status.pytest_writes():
            return (yield)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_logfinish(self) -> Generator[None, None, None]:
        with self.status.pytest_writes():
            return (yield)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    run = config.stash[RUN]
    summary = run.results.summary
    if not summary or run.log is None:
        return
    tr = terminalreporter
    tr.write_sep("=", f"convcode: {summary['model']} · run {summary['run_id']}")
    items = summary["items"]
    if not summary["complete"]:
        why = f" ({run.results.stopped})" if run.results.stopped else ""
        tr.write_line(
            f"INCOMPLETE: {items['done']} of {items['planned']} items{why}: the scores are of those alone; "
            "rerun with the same --run-id to finish it",
            red=True,
            bold=True,
        )
    if summary["scores"]:
        _write_scores(tr, summary["scores"])
    if summary["conversations"]:
        _write_conversations(tr, summary["conversations"])
    if summary.get("convcodebench"):
        _write_convcodebench(tr, summary["convcodebench"])
    for line in table(summary["repotasks"]) if summary.get("repotasks") else ():
        tr.write_line(line)
    if summary["features"]:
        _write_features(tr, summary["features"])
    ran = f'; "{RAN}": the scores without them' if items["error"] else ""
    tr.write_line(
        f"items: {items['passed']} passed, {items['failed']} failed (wrong answers), "
        f"{items['error']} errors (harness trouble, scored as not passed{ran})"
    )
    hosts: dict[str, dict[str, int]] = {}
    for counted in (config.stash.get(SANDBOX_HOSTS, {}), run.services.sandbox_jobs_per_host()):
        add_jobs(hosts, counted)
    if hosts:
        tr.write_line("sandbox jobs per host: " + ", ".join(_host_jobs(host, n) for host, n in hosts.items()))
    tr.write_line(f"results: {run.log.results_path}")
    if run.results.report is not None:
        tr.write_line(f"report: {run.results.report}")
    if run.results.report_problem:
        tr.write_line(f"report: not written: {run.results.report_problem}", red=True)
    if "comparison" in summary:
        _write_comparison(tr, summary["comparison"])
    for gate in summary["gates"]:
        if gate["passed"]:
            tr.write_line(f"gate {gate['gate']}: passed", green=True)
        else:
            tr.write_line(f"gate {gate['gate']}: FAILED: {'; '.join(gate['reasons'])}", red=True, bold=True)


def _host_jobs(host: str, figures: dict[str, int]) -> str:
    resent = f" ({figures['resent']} resent elsewhere when it stopped answering)" if figures.get("resent") else ""
    return f"{host} {figures.get('jobs', 0)}{resent}"


def _pass_cells(entry: dict[str, Any], ks: list[str], width: int) -> str:
    return "".join(f"{100 * entry[k]:>{width}.1f}" if k in entry else f"{'-':>{width}}" for k in ks)


def _write_scores(tr: Any, scores: dict[str, dict[str, Any]]) -> None:
    """pass@k per score group; with errors, the tasks that ran and pass@k over them."""
    ks = sorted(
        {key for entry in scores.values() for key in entry if key.startswith("pass@")}, key=lambda k: int(k[5:])
    )
    errors = any(entry["errors"] for entry in scores.values())
    width = max(14, *(len(group) + 2 for group in scores))
    header = f"{'score':<{width}}{'tasks':>7}{'samples':>9}{'passed':>8}{'errors':>8}" + "".join(f"{k:>9}" for k in ks)
    if errors:
        header += f"{'ran':>6}" + "".join(f"{f'{k} {RAN}':>15}" for k in ks)
    tr.write_line(header)
    for group, entry in scores.items():
        line = f"{group:<{width}}{entry['tasks']:>7}{entry['samples']:>9}{entry['passed']:>8}{entry['errors']:>8}"
        line += _pass_cells(entry, ks, 9)
        if errors:
            ran = entry[EXCLUDING_ERRORS]
            line += f"{ran['tasks']:>6}" + _pass_cells(ran, ks, 15)
        tr.write_line(line)


def _rates(entry: dict[str, Any], widths: tuple[int, int] = (7, 8)) -> str:
    """A conversation entry's MRR and Recall, or dashes where it scored no task."""
    mrr, recall = widths
    if not entry["tasks"]:
        return f"{'-':>{mrr}}{'-':>{recall}}"
    return f"{entry['mrr']:>{mrr}.1f}{entry['recall']:>{recall}.1f}"


def _write_conversations(tr: Any, conversations: dict[str, dict[str, Any]]) -> None:
    """MRR, Recall and the pass curve per setting, as ConvCodeWorld reports them; with errors,
    the tasks that ran and MRR and Recall over them."""
    errors = any(entry["errors"] for entry in conversations.values())
    width = max(len(group) for group in conversations) + 2
    ran_header = f"{'ran':>6}{f'MRR {RAN}':>11}{f'Recall {RAN}':>13}" if errors else ""
    tr.write_line(
        f"{'conversation':<{width}}{'tasks':>6}{'MRR':>7}{'Recall':>8}{'errors':>8}{'leaks':>7}{ran_header}"
        "  pass by turn"
    )
    for group, entry in conversations.items():
        leaks = f"{entry['leaks']}/{entry['user_feedback']}" if entry["user_feedback"] else "-"
        line = f"{group:<{width}}{entry['tasks']:>6}{_rates(entry)}{entry['errors']:>8}{leaks:>7}"
        if errors:
            ran = entry[EXCLUDING_ERRORS]
            line += f"{ran['tasks']:>6}{_rates(ran, (11, 13))}"
        curve = " ".join(f"{value:.1f}" for value in entry.get("curve", []))
        tr.write_line(f"{line}  {curve}")


def _write_convcodebench(tr: Any, scores: dict[str, dict[str, Any]]) -> None:
    """ConvCodeBench's MRR and Recall per setting beside the target's own turn-0 pass@1, and the
    per-turn pass@1 (the target's turn k or the reference's turn 0: not cumulative)."""
    width = max(len(group) for group in scores) + 2
    tr.write_line(f"{'convcodebench':<{width}}{'tasks':>6}{'MRR':>7}{'Recall':>8}{'turn 0':>8}  pass@1 by turn")
    for group, entry in scores.items():
        turns = " ".join(f"{value:.1f}" for value in entry["pass_at_turn"])
        tr.write_line(f"{group:<{width}}{entry['tasks']:>6}{_rates(entry)}{entry['turn0']:>8.1f}  {turns}")
    references = sorted({entry["reference"] for entry in scores.values()})
    tr.write_line(f"reference: {', '.join(references)}")


def _write_features(tr: Any, features: dict[str, dict[str, list[dict[str, Any]]]]) -> None:
    """pass@1 by code feature: one line per feature, ``bucket: pass@1 (tasks)`` for each bucket,
    and where the group had errors ``/ pass@1 (tasks)`` excluding them."""
    for group, by_feature in features.items():
        errors = any(b["errors"] for buckets in by_feature.values() for b in buckets)
        ran = f" / pass@1 {RAN} (tasks that ran)" if errors else ""
        tr.write_line(f"{group} pass@1 by code feature, bucket: pass@1 (tasks){ran}")
        for feature, buckets in by_feature.items():
            cells = " | ".join(f"{b['bucket']}: {_feature_cell(b, errors)}" for b in buckets if "pass@1" in b)
            tr.write_line(f"  {feature:<26}{cells}")


def _feature_cell(bucket: dict[str, Any], errors: bool) -> str:
    cell = f"{100 * bucket['pass@1']:.1f} ({bucket['tasks']})"
    if errors:
        ran = bucket[EXCLUDING_ERRORS]
        value = f"{100 * ran['pass@1']:.1f}" if "pass@1" in ran else "-"
        cell += f" / {value} ({ran['tasks']})"
    return cell


def _write_comparison(tr: Any, comparison: dict[str, Any], shown: int = 20) -> None:
    """Deltas of the metrics both runs measured, and the problems that flipped (the first few)."""
    base = comparison["baseline"]
    incomplete = "" if base.get("complete", True) else ", an INCOMPLETE run (--allow-incomplete-baseline)"
    tr.write_line(f"compared with run {base['run_id']} ({base['model']}{incomplete}):", red=bool(incomplete))
    metrics = comparison["metrics"]
    for name, m in metrics.items():
        if name.endswith(RAN) and m == metrics.get(name.removesuffix(RAN)):
            continue  # neither run had errors here: the strict line says the same
        if m["delta"] is not None:
            tr.write_line(f"  {name:<40}{m['value']:>7.1f}{m['delta']:>+8.1f}  (was {m['baseline']:.1f})")
    for label, key, colour in (("now passing", "now_passing", "green"), ("now failing", "now_failing", "red")):
        problems = comparison[key]
        more = f", and {len(problems) - shown} more (summary.json)" if len(problems) > shown else ""
        listed = ", ".join(problems[:shown]) or "none"
        tr.write_line(f"  {label} ({len(problems)}): {listed}{more}", **({colour: True} if problems else {}))
