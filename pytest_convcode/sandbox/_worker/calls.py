"""The runner of a call job: load the candidate, then call its entry point on each input
under per-call CPU and wall-clock timers, writing one record per call."""

from __future__ import annotations

import os
import pickle
import signal
import time
import traceback
from types import FrameType
from typing import Any, NoReturn

from .wire import codec, record

TIMER_REPEAT = 0.05  # after a call's timer first fires, it fires again this often (CPU or wall seconds)
# what a traceback may take of the answer (its end: what was raised): the outputs' limit does not
# count it, and a job of phases keeps a fixed room for all but outputs (``answers.PHASE_RECORDS_ROOM``)
TRACEBACK_BYTES = 8 << 10


class CallTimeout(BaseException):
    """Raised in the runner when a call exceeds its limit (not an Exception: hard to swallow)."""


class _CallState:
    """The call in progress, for the timer handler (index -1: between calls), and the call each
    timer was last armed in (-1: not running for the limits below). An instance: setting a
    class attribute flushes the type cache, and the loop sets these at every call."""

    __slots__ = (
        "cpu_armed",
        "cpu_limit",
        "fired",
        "index",
        "results",
        "started",
        "wall_armed",
        "wall_limit",
        "wall_started",
    )

    def __init__(self) -> None:
        self.index, self.fired, self.results = -1, 0, -1
        self.started = self.wall_started = self.cpu_limit = self.wall_limit = 0.0
        self.cpu_armed = self.wall_armed = -1

    def arm(self, cpu_limit: float, wall_limit: float) -> None:
        """Arm the timers for the call starting now, unless they already run for these limits:
        a HumanEval+ run makes 250,000 calls, mostly with equal limits, and two syscalls a call
        cost a second. A timer armed in an earlier call fires early: see ``rearm``."""
        if self.cpu_armed < 0 or cpu_limit != self.cpu_limit:
            signal.setitimer(signal.ITIMER_PROF, cpu_limit, TIMER_REPEAT)
            self.cpu_limit, self.cpu_armed = cpu_limit, self.index
        if self.wall_armed < 0 or wall_limit != self.wall_limit:
            signal.setitimer(signal.ITIMER_REAL, wall_limit, TIMER_REPEAT)
            self.wall_limit, self.wall_armed = wall_limit, self.index

    def rearm(self, cpu: bool) -> bool:
        """A timer armed in an earlier call has fired: arm it again for what is left of this
        call's own limit. False when nothing is left (the call has used up its limit)."""
        if cpu:
            left = self.cpu_limit - (time.process_time() - self.started)
        else:
            left = self.wall_limit - (time.monotonic() - self.wall_started)
        if left <= 0:
            return False
        signal.setitimer(signal.ITIMER_PROF if cpu else signal.ITIMER_REAL, left, TIMER_REPEAT)
        if cpu:
            self.cpu_armed = self.index
        else:
            self.wall_armed = self.index
        return True

    def disarm(self) -> None:
        self.index = self.cpu_armed = self.wall_armed = -1
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.setitimer(signal.ITIMER_REAL, 0)


_current = _CallState()


def on_timer(signum: int, frame: FrameType | None) -> None:
    """The handler of both timers (SIGPROF, SIGALRM)."""
    call = _current
    if call.index < 0:  # a timer running out between calls: the next call arms it afresh
        call.cpu_armed = call.wall_armed = -1
        return
    cpu = signum == signal.SIGPROF
    if (call.cpu_armed if cpu else call.wall_armed) != call.index and call.rearm(cpu):
        return
    call.fired += 1
    if call.fired > 1:  # the candidate swallowed the first CallTimeout: end the job here
        record(call.results, codec.TIMEOUT, call.index, time.process_time() - call.started)
        os._exit(0)
    raise CallTimeout


def run_calls(job: dict[str, Any], results: int) -> NoReturn:
    """Load the candidate, then make the calls."""
    fn = load(job, results)
    call_all(job, pickle.loads(job["inputs"]), fn, results)
    os._exit(0)


def load(job: dict[str, Any], results: int) -> Any:
    """Run the candidate's module and find its entry point (LOADED); if that fails, end here (LOAD_ERROR)."""
    namespace: dict[str, Any] = {}
    try:
        exec(compile(job["code"], job.get("filename", "<candidate>"), "exec"), namespace)
        fn: Any = namespace[job["entry_point"]] if job.get("entry_point") else None  # whatever the candidate made it
    except BaseException:
        record(results, codec.LOAD_ERROR, payload=_traceback())
        os._exit(0)
    record(results, codec.LOADED)
    return fn


def call_all(calls: dict[str, Any], inputs: list[Any], fn: Any, results: int) -> None:
    """Call ``fn`` on each input, under the limits of ``calls`` (a call job, or a phase of one),
    then write DONE. An output past the answer's limit is not sent: TOO_LARGE, and the process ends."""
    room, head = calls["max_output_bytes"], codec.RECORD.size  # room: what the outputs may still take
    describe, descriptions = calls.get("describe"), bytearray()
    call = _current
    call.results = results
    clock, wall_clock = time.process_time, time.monotonic
    limits = zip(inputs, calls["cpu_limits"], calls["wall_limits"], strict=False)
    for i, (args, cpu_limit, wall_limit) in enumerate(limits):
        start = clock()
        call.index, call.started, call.wall_started, call.fired = i, start, wall_clock(), 0
        try:
            call.arm(cpu_limit, wall_limit)
            out = fn(*args)
            call.index = -1  # from here on, a timer running out is not this call's
            cpu = clock() - start
            payload = codec.dump_output(out)
            room -= head + len(payload)
            if room < 0:  # the later calls do not run
                record(results, codec.TOO_LARGE, i, cpu, codec.SIZE.pack(len(payload)))
                os._exit(0)
            record(results, codec.OK, i, cpu, payload)
            if describe:
                descriptions.append(codec.describe_output(out))
        except CallTimeout:
            call.disarm()
            record(results, codec.TIMEOUT, i, clock() - start)
            if calls["stop_on_error"]:
                break
        except BaseException:  # SystemExit, KeyboardInterrupt and friends are a failed call
            call.disarm()
            record(results, codec.ERROR, i, clock() - start, _traceback())
            if calls["stop_on_error"]:
                break
    if describe:
        record(results, codec.DESCRIPTIONS, payload=bytes(descriptions))
    record(results, codec.DONE)


def _traceback() -> bytes:
    return traceback.format_exc(limit=-8).encode()[-TRACEBACK_BYTES:]
