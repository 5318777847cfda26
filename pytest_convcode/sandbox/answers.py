"""What a job's answer says: the runner's records and the supervisor's trailer, read into an
``ExecResult`` (a call job), a ``SuiteResult`` (a test job) or a ``CommandResult`` (a command job).

The runner writes READY before any candidate code runs, so whatever follows it is the
candidate's doing: a stream it garbled, flooded, forged or cut short ends the calls or tests
there, each a failure with its reason, never an ``InfrastructureError``. Only a job that never
became READY, or a supervisor that failed or vanished, is the harness's.
"""

from __future__ import annotations

import hmac
import json
import os
import signal
from dataclasses import replace
from typing import Any, NamedTuple

from ..errors import InfrastructureError
from . import _codec
from .interface import Call, CommandJob, CommandResult, ExecResult, GiB, MiB, SuiteResult, TestJob, TestOutcome

MACHINERY = "the test machinery"  # the name of the outcome that a change after the last test adds


class Cut(NamedTuple):
    """A record whose declared end lies past the output limit: its payload did not come."""

    kind: int
    call: int
    cpu: float
    size: int


class Stream(NamedTuple):
    records: list[tuple[int, int, float, memoryview]]  # (kind, index, cpu, payload)
    garbled: bool  # it held something that is not a record of the runner's
    cut: Cut | None


def read_records(raw: bytearray, kinds: frozenset[int], cap: int, key: bytes = b"") -> Stream:
    """Split the runner's stream into records, up to the first that is not one.

    The candidate can write to any descriptor it finds, so a garbled stream ends the records
    there. With a ``key`` (a test job), a record counts only with the tag ``_codec.mac`` gives it.
    Without one (a call job), a record cut short past ``cap`` is the output the runner did not
    send, or the one that took the answer past the limit: the stream's ``cut``.
    """
    view = memoryview(raw)
    unpack, head = _codec.RECORD.unpack_from, _codec.RECORD.size  # a run may hold millions of records
    state, tag = (_codec.signer(key), _codec.MAC_SIZE) if key else (None, 0)
    records: list[tuple[int, int, float, memoryview]] = []
    pos, stop = 0, len(raw)
    while pos + head <= stop:
        kind, index, cpu, size = unpack(raw, pos)
        end = pos + head + size
        if kind not in kinds:
            return Stream(records, True, None)
        if end + tag > stop:  # cut short: the process ended while writing it, or the output limit came
            if state is not None:  # a test job's records are small: this one is not the runner's
                return Stream(records, True, None)
            return Stream(records, False, Cut(kind, index, cpu, size) if end > cap else None)
        if state is not None and not hmac.compare_digest(
            view[end : end + tag], _codec.mac(state, len(records), view[pos:end])
        ):
            return Stream(records, True, None)
        records.append((kind, index, cpu, view[pos + head : end]))
        pos = end + tag
    return Stream(records, False, None)


def trailer(raw: bytes | bytearray) -> dict[str, Any]:
    """The supervisor's trailer: how the runner ended."""
    try:
        fields: dict[str, Any] = json.loads(raw)
    except ValueError:  # empty or cut short: only the supervisor writes it
        raise InfrastructureError("sandbox supervisor died without an answer") from None
    if fields["ended"] == "supervisor_error":
        raise InfrastructureError(f"sandbox supervisor failed:\n{fields['error']}")
    return fields


def _not_ready(fields: dict[str, Any]) -> InfrastructureError:
    return InfrastructureError(f"the sandbox could not set up the job:\n{fields['output'][-3000:]}")


def _ending(fields: dict[str, Any], over_limit: bool, garbled: bool) -> dict[str, Any]:
    """The ``Ending`` fields of a result, from the supervisor's trailer."""
    return {
        "ended": "output_limit" if over_limit else fields["ended"],
        "exit_code": fields["code"],
        "signal": fields["signal"],
        "wall": fields["wall"],
        "cpu": fields["cpu"],
        "output": fields["output"],
        "garbled": garbled,
    }


def size_text(n: int) -> str:
    for unit, scale in (("GiB", GiB), ("MiB", MiB), ("KiB", 1024)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n} bytes"


# ---------------------------------------------------------------- call jobs


def calls_result(raw: bytearray, trailer_raw: bytes | bytearray, n_inputs: int, cap: int, overflow: bool) -> ExecResult:
    """A call job's result. An output that would take the answer past ``cap`` is an
    "output_limit" call (its size from the record's header), and the last."""
    fields, stream = _call_stream(raw, trailer_raw, cap)
    records = stream.records[1:]
    load_error = _load_error(records)
    return _phase_result(records, n_inputs, cap, load_error, fields, overflow, stream)


def phases_result(
    raw: bytearray, trailer_raw: bytes | bytearray, sizes: list[tuple[int, int]], overflow: bool
) -> list[ExecResult]:
    """The results of a job of phases (``_codec.PHASE``), one a phase; ``sizes``: each phase's
    number of inputs and output limit. A phase that ran in a fork ends as its PHASE_ENDED says;
    the phase the runner was in when it ended (the last, or one it never left) as the trailer
    says, with whatever the stream's end holds (garbled, cut, over the cap); a phase never
    reached has no calls."""
    fields, stream = _call_stream(raw, trailer_raw, sum(cap for _, cap in sizes) + PHASE_RECORDS_ROOM)
    groups: list[list[tuple[int, int, float, memoryview]]] = [[]]  # the loading's records, then a phase's each
    endings: dict[int, dict[str, Any]] = {}
    for rec in stream.records[1:]:
        kind, index = rec[0], rec[1]
        if kind == _codec.PHASE and index == len(groups) - 1 < len(sizes):
            groups.append([])
        elif kind == _codec.PHASE_ENDED and index == len(groups) - 2 and index not in endings:
            endings[index] = _phase_ending(rec[3])
        else:
            groups[-1].append(rec)
    load_error = _load_error(groups[0])
    last = len(groups) - 2  # the phase the stream ends in
    results = []
    for index, (n_inputs, cap) in enumerate(sizes):
        records = groups[index + 1] if index + 1 < len(groups) else []
        ending = endings.get(index, fields)
        tail = stream if index == last and index not in endings else _NO_STREAM
        results.append(_phase_result(records, n_inputs, cap, load_error, ending, overflow and tail is stream, tail))
    return results


_NO_STREAM = Stream([], False, None)


def _call_stream(raw: bytearray, trailer_raw: bytes | bytearray, cap: int) -> tuple[dict[str, Any], Stream]:
    """The trailer and the records of a call job, which the runner starts with READY before the
    candidate runs: without it, the job was never set up."""
    fields = trailer(trailer_raw)
    stream = read_records(raw, _codec.CALL_RECORDS, cap)
    if not stream.records or stream.records[0][0] != _codec.READY:
        raise _not_ready(fields)
    return fields, stream


# what a job of phases writes besides its phases' outputs and their record headers
PHASE_RECORDS_ROOM = 1 << 16


def _phase_ending(payload: memoryview) -> dict[str, Any]:
    """A PHASE_ENDED record's fields; the candidate could have forged it: a bad one ends the phase as a signal."""
    try:
        fields: dict[str, Any] = json.loads(bytes(payload))
        return {key: fields[key] for key in ("ended", "code", "signal", "wall", "cpu", "output")}
    except (ValueError, KeyError, TypeError):
        return {"ended": "signal", "code": None, "signal": signal.SIGKILL, "wall": 0.0, "cpu": 0.0, "output": ""}


def _load_error(records: list[tuple[int, int, float, memoryview]]) -> str | None:
    """None: the program loaded (LOADED); its traceback (LOAD_ERROR); "": the process ended first."""
    for kind, _, _, payload in records:
        if kind == _codec.LOADED:
            return None
        if kind == _codec.LOAD_ERROR:
            return _text(payload)
    return ""


def _phase_result(
    records: list[tuple[int, int, float, memoryview]],
    n_inputs: int,
    cap: int,
    load_error: str | None,
    fields: dict[str, Any],
    overflow: bool,
    stream: Stream,
) -> ExecResult:
    """The result of one job's calls, or one phase's: their records read; how the process ended
    (``fields``, a trailer's); ``stream``: the stream these records end, if they do (garbled, cut)."""
    calls: dict[int, Call] = {}
    descriptions = b""
    complete = too_large = False
    for kind, index, cpu, payload in records:
        if kind == _codec.OK:  # most records: checked first
            if index < n_inputs and index not in calls:
                calls[index] = Call(index, "ok", bytes(payload), "", cpu)  # unpickled only when needed
        elif kind == _codec.DONE:
            complete = True
        elif kind == _codec.DESCRIPTIONS:
            descriptions = bytes(payload)
        elif kind == _codec.TOO_LARGE and index < n_inputs and index not in calls:
            size = _codec.SIZE.unpack(payload)[0] if len(payload) == _codec.SIZE.size else 0
            calls[index] = _too_large(index, cpu, size, cap)
            too_large = True
        elif kind in (_codec.ERROR, _codec.TIMEOUT) and index < n_inputs and index not in calls:
            calls[index] = _failed_call(kind, index, cpu, payload)
    cut = stream.cut
    if cut is not None and cut.kind == _codec.OK and cut.call < n_inputs and cut.call not in calls:
        calls[cut.call] = _too_large(cut.call, cut.cpu, cut.size, cap)
    return ExecResult(
        calls=[calls[i] for i in sorted(calls)],
        load_error=load_error,
        complete=complete and len(calls) == n_inputs,
        descriptions=descriptions,
        **_ending(fields, overflow or too_large or cut is not None, stream.garbled),
    )


def _too_large(index: int, cpu: float, size: int, cap: int) -> Call:
    error = f"returned {size_text(size)}, over the {size_text(cap)} output limit"
    return Call(index, "output_limit", error=error, cpu=cpu)


def _failed_call(kind: int, index: int, cpu: float, payload: memoryview) -> Call:
    if kind == _codec.TIMEOUT:
        return Call(index, "timeout", cpu=cpu)
    return Call(index, "error", error=_text(payload), cpu=cpu)


# ---------------------------------------------------------------- test jobs


class _Suite:
    """A test job's records, read in the order the runner writes them: READY, then LOAD_ERROR or
    LOADED, then each test's START and END (fixtures' ENDs between them), TAMPERED, DONE. Signed
    records out of that order were not written the runner's way: the stream ends there."""

    def __init__(self, names: list[str]) -> None:
        self.names = names  # the job's selection, else those LOADED lists
        self.ready = self.loaded = self.complete = False
        self.load_error: str | None = None
        self.finished: dict[int, TestOutcome] = {}
        self.running: int | None = None
        self.started = -1  # the last test that started
        self.tampered: tuple[int, str] | None = None  # from which test on, and what changed

    def read(self, kind: int, index: int, cpu: float, payload: memoryview, listed: bool) -> bool:
        """Take one record after READY; False when it is out of order."""
        if self.complete:
            return False
        if not self.loaded:
            if kind == _codec.LOADED and self.load_error is None:
                self.loaded = True
                if not listed and payload:
                    self.names = _text(payload).split("\n")
            elif kind == _codec.LOAD_ERROR and self.load_error is None:
                self.load_error = _text(payload)
            else:
                return False
        elif not self._in_order(kind, index):
            return False
        elif kind == _codec.TEST_START:
            self.running = self.started = index
        elif kind == _codec.TEST_END:
            outcome = _test_outcome(payload, cpu)
            if outcome is None:
                return False
            self.finished[index] = outcome
            self.running = None if index == self.running else self.running
        elif kind == _codec.TAMPERED:
            self.tampered = (index, _text(payload))
        else:
            self.complete = True
        return True

    def _in_order(self, kind: int, index: int) -> bool:
        """Whether the runner writes a record of this kind and index here (once it LOADED)."""
        n = len(self.names)
        if kind == _codec.TEST_START:  # each test once, in the order of the list
            return self.running is None and self.started < index < n and index not in self.finished
        if kind == _codec.TEST_END:  # the running test's, a fixture's, or one that could not be made's
            unstarted = self.running is None and self.started < index
            return index not in self.finished and (index == self.running or index >= n or unstarted)
        return kind == _codec.DONE or (kind == _codec.TAMPERED and self.tampered is None)

    def outcomes(self, how: str) -> list[TestOutcome]:
        """Every listed test's outcome, then those of fixtures that failed outside any test."""
        changed_from, change = self.tampered or (None, "")
        outcomes = []
        for i, name in enumerate(self.names):
            if changed_from is not None and i >= changed_from:
                outcomes.append(TestOutcome(name, "failed", change))
            elif i in self.finished:
                outcomes.append(replace(self.finished[i], name=name))
            elif i == self.running and not self.complete:
                outcomes.append(TestOutcome(name, "error", f"the test did not finish ({how})"))
            elif self.complete:
                outcomes.append(TestOutcome(name, "not_run", "not run: a class or module fixture failed"))
            else:
                outcomes.append(TestOutcome(name, "not_run", f"not run: the process ended earlier ({how})"))
        outcomes += [self.finished[i] for i in sorted(self.finished) if i >= len(self.names)]
        if changed_from is not None and changed_from >= len(self.names):  # found after the last test
            outcomes.append(TestOutcome(MACHINERY, "failed", change))
        return outcomes


def suite_result(
    raw: bytearray, trailer_raw: bytes | bytearray, job: TestJob, key: bytes, overflow: bool
) -> SuiteResult:
    """Outcomes from a test job's records. A test that started but never ended is the one the
    process died in: an "error" saying how it ended; the tests after it did not run. A change
    to the test machinery fails the test it was found in and every later one."""
    fields = trailer(trailer_raw)
    stream = read_records(raw, _codec.TEST_RECORDS, job.limits.max_output_bytes, key)
    suite = _Suite(list(job.test_names or ()))
    garbled = stream.garbled
    for kind, index, cpu, payload in stream.records:
        if not suite.ready:  # the runner's first record, written before the candidate starts
            suite.ready = kind == _codec.READY
            if not suite.ready:
                break
        elif not suite.read(kind, index, cpu, payload, job.test_names is not None):
            garbled = True
            break
    if not suite.ready:
        raise _not_ready(fields)
    result = SuiteResult(
        outcomes=[],
        load_error=None,
        complete=suite.complete and suite.loaded,
        **_ending(fields, overflow, garbled),
    )
    if not suite.loaded:
        return replace(
            result, load_error=suite.load_error or f"the program did not finish loading ({result.how_it_ended})"
        )
    return replace(result, outcomes=suite.outcomes(result.how_it_ended))


def _text(payload: memoryview) -> str:
    return bytes(payload).decode("utf-8", "replace")


def _test_outcome(payload: memoryview, cpu: float) -> TestOutcome | None:
    data = bytes(payload)
    name, nul, detail = data[1:].partition(b"\0")
    if not data or data[0] >= len(_codec.TEST_STATUSES) or not nul:
        return None
    status = _codec.TEST_STATUSES[data[0]]
    return TestOutcome(name.decode("utf-8", "replace"), status, detail.decode("utf-8", "replace"), cpu)


# ---------------------------------------------------------------- command jobs


def command_result(raw: bytearray, trailer_raw: bytes | bytearray, job: CommandJob) -> CommandResult:
    """A command job's result. Its runner, which the command cannot reach, waited for it and wrote
    its wait status (EXITED); without one, the runner was stopped at a limit, and so was the command."""
    head, _, tails = bytes(trailer_raw).partition(b"\n")
    fields = trailer(head)
    stream = read_records(raw, _codec.COMMAND_RECORDS, len(raw))
    kinds = [(kind, index) for kind, index, _, _ in stream.records]
    if not kinds or kinds[0][0] != _codec.READY:
        raise _not_ready(fields)
    ending = {**_ending(fields, False, stream.garbled), "output": ""}
    statuses = [index for kind, index in kinds[1:] if kind == _codec.EXITED]
    if fields["ended"] in ("exit", "signal"):  # the runner ended by itself: after the command
        if not statuses:
            raise InfrastructureError(f"the command's runner ended without its status ({fields['output'][-3000:]})")
        ending.update(_command_ending(statuses[0], fields["cpu"], job.cpu_budget))
    out, err = fields["stdout_bytes"], fields["stderr_bytes"]
    return CommandResult(
        stdout=tails[:out].decode("utf-8", "replace"),
        stderr=tails[out : out + err].decode("utf-8", "replace"),
        dropped=fields["dropped"],
        **ending,
    )


def _command_ending(status: int, cpu: float, budget: float) -> dict[str, Any]:
    """The ``Ending`` fields of a command's wait status. Killed by its CPU-time rlimit (SIGXCPU, then
    SIGKILL), it ends at the CPU limit; ``cpu`` is its whole tree's, which the runner reaped. So
    does a shell whose child the limit killed: it exits with 128 + the signal instead."""
    if os.WIFEXITED(status):
        code = os.WEXITSTATUS(status)
        at_limit = _codec.killed_by_cpu_limit(code - 128, cpu, budget)
        return {"ended": "cpu_limit" if at_limit else "exit", "exit_code": code, "signal": None}
    number = os.WTERMSIG(status)
    at_limit = _codec.killed_by_cpu_limit(number, cpu, budget)
    return {"ended": "cpu_limit" if at_limit else "signal", "exit_code": None, "signal": number}
