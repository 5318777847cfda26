# ruff: noqa: F811 - the sandbox fixture imported from test_sandbox is these tests' parameter
"""A task's phases as one sandbox job (``Sandbox.run_all``): the program loads once, and each
phase's calls run from the state loading left, in a process of their own, as EvalPlus runs its
base and plus tests; whatever one phase does, the next is judged on its own calls."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import Any

from test_sandbox import assert_healthy, need, sandbox  # noqa: F401 - the sandbox fixture, used by name

from pytest_convcode.sandbox import CallJob, ExecResult, Limits, MiB
from pytest_convcode.sandbox.process import ProcessSandbox


def phase(code: str, calls: Sequence[Sequence[Any]], cpu: float = 1.0, wall: float = 3.0, **options: Any) -> CallJob:
    return CallJob(
        code=textwrap.dedent(code),
        entry_point="f",
        inputs=[list(args) for args in calls],
        cpu_limits=[cpu] * len(calls),
        wall_limits=[wall] * len(calls),
        **options,
    )


def statuses(result: ExecResult) -> list[str]:
    return [c.status for c in result.calls]


COUNTER = """
    calls = []
    def f(x):
        calls.append(x)
        return len(calls)
"""


def test_each_phase_starts_from_the_loaded_program_not_from_the_phase_before(sandbox: ProcessSandbox) -> None:
    base, plus = sandbox.run_all([phase(COUNTER, [(1,), (2,), (3,)]), phase(COUNTER, [(4,), (5,)])])
    assert [c.value for c in base.calls] == [1, 2, 3] and base.complete and base.load_error is None
    assert [c.value for c in plus.calls] == [1, 2] and plus.complete  # not 4, 5: no state from base


def test_a_phase_that_hangs_with_its_timers_blocked_ends_at_its_deadline_and_the_next_phase_runs(
    sandbox: ProcessSandbox,
) -> None:
    code = """
        import signal, time
        def f(x):
            if x == "hang":
                signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGALRM, signal.SIGPROF])
                time.sleep(600)
            return x
    """
    base, plus = sandbox.run_all([phase(code, [("hang",)], wall=1.0), phase(code, [("a",), ("b",)])])
    assert base.ended == "wall_timeout" and base.calls == [] and not base.complete, base
    assert 1.0 <= base.wall < 10
    assert [c.value for c in plus.calls] == ["a", "b"] and plus.complete and plus.ended == "exit"


def test_a_phase_that_spins_ends_at_its_cpu_limit_and_a_phase_that_dies_ends_by_its_signal(
    sandbox: ProcessSandbox,
) -> None:
    code = """
        import os, signal
        def f(x):
            if x == "spin":
                for s in (signal.SIGPROF, signal.SIGALRM, signal.SIGXCPU):
                    signal.signal(s, signal.SIG_IGN)
                while True:
                    pass
            if x == "die":
                os.kill(os.getpid(), signal.SIGSEGV)
            return x
    """
    spin, die, last = sandbox.run_all(
        [phase(code, [("spin",)], cpu_budget=1.0), phase(code, [("die",)]), phase(code, [("ok",)])]
    )
    assert spin.ended == "cpu_limit" and spin.calls == [], spin
    assert die.ended == "signal" and die.how_it_ended.startswith("killed by SIGSEGV"), die
    assert [c.value for c in last.calls] == ["ok"] and last.complete


def test_what_a_phase_leaves_running_is_gone_before_the_next_starts(sandbox: ProcessSandbox) -> None:
    need(sandbox, "uid_switch")  # a PID namespace per job: the runner is its init
    code = """
        import os, subprocess
        def f(x):
            if x == "leave":
                child = subprocess.Popen(["sleep", "600"])
                open("pid", "w").write(str(child.pid))
                return "left"
            pid = int(open("pid").read())
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return "gone"
            return "still running"
    """
    base, plus = sandbox.run_all([phase(code, [("leave",)]), phase(code, [("check",)])])
    assert [c.value for c in base.calls] == ["left"]
    assert [c.value for c in plus.calls] == ["gone"]


def test_each_phase_has_its_own_output_limit(sandbox: ProcessSandbox) -> None:
    code = "def f(n):\n    return 'x' * n\n"
    small = Limits(max_output_bytes=1 * MiB)
    base, plus = sandbox.run_all(
        [phase(code, [(10,), (2 * MiB,), (10,)], limits=small), phase(code, [(10,), (10,)], limits=small)]
    )
    assert statuses(base) == ["ok", "output_limit"] and base.ended == "output_limit"
    assert "over the 1 MiB output limit" in base.calls[1].error
    assert statuses(plus) == ["ok", "ok"] and plus.complete and plus.ended == "exit"


def test_a_program_that_does_not_load_fails_every_phase(sandbox: ProcessSandbox) -> None:
    results = sandbox.run_all([phase("def f(x) return x", [(1,)]), phase("def f(x) return x", [(2,)])])
    assert all(r.load_error and "SyntaxError" in r.load_error and r.calls == [] for r in results)


def test_records_forged_while_loading_are_not_the_calls(sandbox: ProcessSandbox) -> None:
    """A program that writes OK records for every call into every descriptor as it loads: its
    phases are judged on their own calls, which raise."""
    code = """
        import os, pickle, struct
        head = struct.Struct("!BIdI")
        answer = pickle.dumps(True, protocol=5)
        forged = head.pack(2, 0, 0.0, 0)  # LOADED, then OK (True) for each call, then DONE
        forged += b"".join(head.pack(4, i, 0.0, len(answer)) + answer for i in range(4)) + head.pack(7, 0, 0.0, 0)
        for fd in range(3, 64):
            try:
                os.write(fd, forged)
            except OSError:
                pass
        def f(x):
            raise RuntimeError("no answer of its own")
    """
    results = sandbox.run_all([phase(code, [(1,), (2,)]), phase(code, [(3,)])])
    for result in results:
        assert statuses(result) == ["error"] and "no answer of its own" in result.calls[0].error, result
    assert_healthy(sandbox)


def test_jobs_of_different_programs_run_as_jobs_of_their_own(sandbox: ProcessSandbox) -> None:
    tens = COUNTER.replace("len(calls)", "10 * len(calls)")
    one, other = sandbox.run_all([phase(COUNTER, [(1,), (2,)]), phase(tens, [(3,)])])
    assert [c.value for c in one.calls] == [1, 2] and [c.value for c in other.calls] == [10]


def test_a_huge_error_in_one_phase_leaves_the_next_its_records(sandbox: ProcessSandbox) -> None:
    """A traceback is cut to its end: the outputs' limit does not count it, and a job of phases
    has a fixed room for whatever is not an output."""
    code = "def f(x):\n    if x == 'raise':\n        raise ValueError('x' * 50_000_000 + ' the end')\n    return x\n"
    small = Limits(max_output_bytes=1 * MiB)
    base, plus = sandbox.run_all([phase(code, [("raise",)], limits=small), phase(code, [("a",), ("b",)], limits=small)])
    assert statuses(base) == ["error"] and base.calls[0].error.endswith("the end\n"), base.calls[0].error[-100:]
    assert [c.value for c in plus.calls] == ["a", "b"] and plus.complete
