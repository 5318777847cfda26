"""A test job whose threads all wait for good ends at once, as a test that did not finish; a job
that only looks stuck (a sleep, a timer that frees it, a signal it awaits) runs to its end."""

from __future__ import annotations

import textwrap
import time

import pytest

from pytest_convcode.sandbox import SuiteResult, TestJob
from pytest_convcode.sandbox.process import ProcessSandbox

BUDGET = 30.0  # far beyond what any job here needs: a deadlock must end well before it


def run(sb: ProcessSandbox, body: str, setup: str = "") -> tuple[SuiteResult, float]:
    tests = f"import unittest\n{textwrap.dedent(setup)}\nclass TestCases(unittest.TestCase):\n"
    tests += "    def test_it(self):\n" + textwrap.indent(textwrap.dedent(body), " " * 8)
    tests += "    def test_after(self):\n        pass\n"
    started = time.monotonic()
    result = sb.run_tests(TestJob(program="", test_code=tests, cpu_budget=BUDGET, wall_budget=BUDGET))
    return result, time.monotonic() - started


SERVER_THAT_NEVER_ANSWERS = """
import socket, threading
server = socket.socket()
server.bind(("localhost", 0))
server.listen(1)
answers = []
def client():
    with socket.create_connection(server.getsockname()) as c:
        c.sendall(b"hi")
        answers.append(c.recv(10))
thread = threading.Thread(target=client)
thread.start()
conn, _ = server.accept()
thread.join()  # the connection stays open here, unanswered: BigCodeBench/1038
"""
DEADLOCKS = {
    "a lock taken twice": "import threading\nlock = threading.Lock()\nlock.acquire()\nlock.acquire()\n",
    "a server that never answers": SERVER_THAT_NEVER_ANSWERS,
    "a child that waits on a pipe its parent waits on": """
        import os
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.read(r, 1)
            os._exit(0)
        os.waitpid(pid, 0)
        """,
    "a queue nobody fills": "import queue\nqueue.Queue().get()\n",
}


@pytest.mark.parametrize("body", DEADLOCKS.values(), ids=DEADLOCKS.keys())
def test_a_deadlock_ends_the_job_at_once_as_a_test_that_did_not_finish(sandbox: ProcessSandbox, body: str) -> None:
    result, wall = run(sandbox, body)
    assert result.ended == "deadlock" and wall < 5, (wall, result)
    first, after = result.outcomes
    assert (first.name, first.status) == ("test_it", "error")
    assert first.detail.startswith("the test did not finish (stopped: deadlocked"), first.detail
    assert after.status == "not_run" and not result.passed


FREED_IN_TIME = {
    "a sleep": "import time\ntime.sleep(2)\n",
    "a lock a timer releases": """
        import threading
        lock = threading.Lock()
        lock.acquire()
        threading.Timer(1.5, lock.release).start()
        lock.acquire()
        """,
    "a read a thread feeds after a sleep": """
        import os, threading, time
        r, w = os.pipe()
        threading.Thread(target=lambda: (time.sleep(1.5), os.write(w, b"x"))).start()
        assert os.read(r, 1) == b"x"
        """,
    "a pause an alarm ends": """
        import signal
        class Woken(Exception):
            pass
        def wake(signum, frame):
            raise Woken
        signal.signal(signal.SIGALRM, wake)
        signal.alarm(2)
        with self.assertRaises(Woken):
            signal.pause()
        """,
    "a child that ends after a sleep": """
        import os, time
        pid = os.fork()
        if pid == 0:
            time.sleep(1.5)
            os._exit(0)
        os.waitpid(pid, 0)
        """,
}


@pytest.mark.parametrize("body", FREED_IN_TIME.values(), ids=FREED_IN_TIME.keys())
def test_a_wait_that_something_ends_runs_to_its_end(sandbox: ProcessSandbox, body: str) -> None:
    result, wall = run(sandbox, body)
    assert result.passed and result.ended == "exit", result
    assert wall >= 1.5
