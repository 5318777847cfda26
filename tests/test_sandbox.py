"""ProcessSandbox used directly: hostile candidates fail, and the sandbox stays healthy.

Every job here runs without the EvalPlus guard (``guard=None``), so what stops a
candidate is the sandbox's own isolation (PID and network namespaces, a uid per
job, Landlock, rlimits), not EvalPlus's disabling of ``os.fork`` and friends.
Each hostile test ends by running a normal job on the same sandbox.
"""

from __future__ import annotations

import math
import os
import signal
import socket
import tempfile
import textwrap
import time
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pytest_convcode import datasets
from pytest_convcode.errors import InfrastructureError
from pytest_convcode.judge import DifferentialJudge, outputs_match
from pytest_convcode.sandbox import CallJob, ExecResult, Limits, MiB, _codec
from pytest_convcode.sandbox._worker.landlock import without
from pytest_convcode.sandbox.process import WORKER, ProcessSandbox
from pytest_convcode.tasks import Dataset, Task

SECRET = "sk-test-secret"
UID_BASE = 200_000  # runner uid = UID_BASE + its pid on the host (see _worker/runner.py)

# what ProcessSandbox.warnings() says when a feature is missing
_MISSING = {
    "network": "no network namespace",
    "landlock": "no Landlock",
    "uid_switch": "no per-job uid",
}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[ProcessSandbox]:
    """One sandbox for the module, started while a secret is in our environment."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OPENAI_API_KEY", SECRET)
        sb = ProcessSandbox()
        try:
            sb.warnings()  # starts the worker now, with the secret in os.environ
            yield sb
        finally:
            sb.close()


def need(sb: ProcessSandbox, *features: str) -> None:
    """Skip, with the sandbox's own warning as the reason, when a feature is missing."""
    for warning in sb.warnings():
        if any(warning.startswith(_MISSING[f]) for f in features):
            pytest.skip(warning)


def run(
    sb: ProcessSandbox,
    code: str,
    calls: Sequence[Sequence[Any]] = ((1,),),
    cpu: float = 1.0,
    wall: float = 3.0,
    **options: Any,
) -> ExecResult:
    job = CallJob(
        code=textwrap.dedent(code),
        entry_point="f",
        inputs=[list(args) for args in calls],
        cpu_limits=[cpu] * len(calls),
        wall_limits=[wall] * len(calls),
        **options,
    )
    return sb.run(job)


def assert_healthy(sb: ProcessSandbox) -> None:
    """A normal job on the same sandbox still gives the right answers."""
    result = run(sb, "def f(x): return x", [(41,), ("s",), ([1, (2,)],)])
    assert [c.status for c in result.calls] == ["ok", "ok", "ok"], result
    assert [c.value for c in result.calls] == [41, "s", [1, (2,)]]
    assert result.load_error is None and result.complete


def assert_failed(result: ExecResult) -> None:
    """No call succeeded: it errored, timed out, never loaded, or the process died first."""
    if result.load_error is not None:
        assert result.calls == []
    elif not result.calls:  # the process died before it could report a call
        assert not result.complete, result
    assert all(c.status in ("error", "timeout") for c in result.calls), result.calls


def processes_of(uid: int) -> list[str]:
    """Pids of live (or zombie) processes whose real uid is ``uid``."""
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:  # it ended while we looked
            continue
        for line in text.splitlines():
            if line.startswith("Uid:") and int(line.split()[1]) == uid:
                found.append(status.parent.name)
    return found


def job_uid(result: ExecResult) -> int:
    """The uid the candidate printed as ``uid=N`` (its first line of output)."""
    for line in result.output.splitlines():
        if line.startswith("uid="):
            return int(line[4:])
    raise AssertionError(f"the candidate did not print its uid: {result.output!r}")


def assert_no_survivor(uid: int) -> None:
    assert uid >= UID_BASE, f"the job ran as uid {uid}, not a uid of its own"
    deadline = time.monotonic() + 1.0
    while processes_of(uid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert processes_of(uid) == [], f"processes of the finished job (uid {uid}) survive"


# ---------------------------------------------------------------- the baseline


def test_normal_job(sandbox: ProcessSandbox) -> None:
    result = run(sandbox, "def f(a, b): return a + b", [(1, 2), ("a", "b")])
    assert [c.value for c in result.calls] == [3, "ab"]
    assert result.complete and result.ended == "exit" and result.exit_code == 0


def test_a_describing_job_says_which_outputs_are_floats_and_which_hold_a_nan(sandbox: ProcessSandbox) -> None:
    # the reference's job: the trusted side learns this without unpickling 240 MB of outputs
    calls = [(1.5,), (float("nan"),), ([1, "a"],), ([0.5, float("nan")],), ("x" * 200_000,)]
    result = run(sandbox, "def f(x): return x", calls, describe=True)
    floats, nan = _codec.FLOATS, _codec.HAS_NAN
    assert list(result.descriptions) == [floats, floats | nan, 0, floats | nan, 0], result
    assert result.calls[4].value == "x" * 200_000  # a payload written apart from its header
    assert run(sandbox, "def f(x): return x", calls).descriptions == b""


def test_a_candidate_can_use_threads(sandbox: ProcessSandbox) -> None:
    # the runner inherits the zygote's threading state as is (its at-fork handler is skipped)
    code = """
    import threading
    def f(n):
        found = []
        workers = [threading.Thread(target=found.append, args=(i,)) for i in range(n)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        return sorted(found), threading.current_thread() is threading.main_thread(), threading.active_count()
    """
    result = run(sandbox, code, [(4,)])
    assert [c.value for c in result.calls] == [([0, 1, 2, 3], True, 1)], result


# ---------------------------------------------------------------- time


def test_infinite_loop_times_out_promptly(sandbox: ProcessSandbox) -> None:
    start = time.monotonic()
    result = run(sandbox, "def f(x):\n    while True:\n        pass\n", cpu=1.0, wall=10.0)
    elapsed = time.monotonic() - start
    assert [c.status for c in result.calls] == ["timeout"]
    # stopped by the CPU limit, the same on a busy machine (its timer counts ticks: it may fire early)
    assert 0.5 <= result.calls[0].cpu < 1.5
    assert elapsed < 9.0, f"a 1 s CPU limit took {elapsed:.1f} s to stop an infinite loop (wall backstop: 10 s)"
    assert_healthy(sandbox)


def test_loop_that_swallows_the_timeout_ends_the_job_at_its_limit(sandbox: ProcessSandbox) -> None:
    code = """
    def f(x):
        while True:
            try:
                while True:
                    pass
            except BaseException:  # swallows the runner's CallTimeout
                pass
    """
    start = time.monotonic()
    result = run(sandbox, code, cpu=0.5, wall=20.0, load_cpu=0.2, load_wall=20.0)
    assert [c.status for c in result.calls] == ["timeout"]
    assert not result.complete
    assert result.cpu < 1.0  # the timer fired twice: the second time ends the job
    assert time.monotonic() - start < 5.0
    assert_healthy(sandbox)


def test_a_swallowed_timeout_still_ends_the_call_near_its_own_limit(sandbox: ProcessSandbox) -> None:
    code = """
    def f(x):
        while True:
            try:
                while True:
                    pass
            except:  # a bare except, as generated code often has
                pass
    """
    result = run(sandbox, code, calls=[(i,) for i in range(10)], cpu=0.2, wall=20.0, load_cpu=0.2)
    assert result.cpu < 1.5, f"one call with a 0.2 s limit used {result.cpu:.1f} s of CPU"
    assert_healthy(sandbox)


def test_c_level_loop_ends_at_the_cpu_limit(sandbox: ProcessSandbox) -> None:
    # one C call: Python-level signal handlers never get to run, RLIMIT_CPU must end it
    start = time.monotonic()
    result = run(sandbox, "def f(x):\n    return sum(range(10**12))\n", cpu=0.5, wall=20.0, load_cpu=0.2)
    assert result.ended == "cpu_limit", result
    assert result.calls == [] and not result.complete
    assert "CPU-time limit" in result.how_it_ended
    assert result.cpu < 4.0
    assert time.monotonic() - start < 15.0
    assert_healthy(sandbox)


def test_each_call_gets_its_whole_limit_though_the_timers_were_armed_calls_before(sandbox: ProcessSandbox) -> None:
    # calls with equal limits share one arming of the timers: the last call here starts after
    # they have run most of their course, yet must get all of its own CPU and wall limit
    code = """
    import time
    def f(cpu, wall):
        start = time.process_time()
        while time.process_time() - start < cpu:
            pass
        time.sleep(wall)
        return "done"
    """
    on_cpu = [(0.02, 0.0)] * 15 + [(0.3, 0.0), (0.6, 0.0)]
    result = run(sandbox, code, on_cpu, cpu=0.4, wall=20.0, stop_on_error=False)
    assert [c.status for c in result.calls] == ["ok"] * 16 + ["timeout"], result
    assert 0.3 <= result.calls[16].cpu < 0.7
    asleep = [(0.0, 0.05)] * 15 + [(0.0, 0.7), (0.0, 3.0)]
    result = run(sandbox, code, asleep, cpu=1.0, wall=1.0, stop_on_error=False)
    assert [c.status for c in result.calls] == ["ok"] * 16 + ["timeout"], result
    assert_healthy(sandbox)


def test_sleep_is_ended_by_the_wall_limit(sandbox: ProcessSandbox) -> None:
    start = time.monotonic()
    result = run(sandbox, "import time\ndef f(x):\n    time.sleep(60)\n", cpu=1.0, wall=1.0)
    assert [c.status for c in result.calls] == ["timeout"]
    assert time.monotonic() - start < 3.0
    assert_healthy(sandbox)


# ignores the alarm that would end its call, and disarms it: only the supervisor's deadline stops it
SLEEPER = textwrap.dedent("""
    import signal, time
    signal.signal(signal.SIGALRM, signal.SIG_IGN)
    def f(x):
        signal.setitimer(signal.ITIMER_REAL, 0)
        time.sleep(60)
""")


def test_sleep_that_ignores_the_alarm_is_ended_by_the_supervisor(sandbox: ProcessSandbox) -> None:
    start = time.monotonic()
    result = run(sandbox, SLEEPER, cpu=1.0, wall=1.0, load_wall=1.0)
    assert result.ended == "wall_timeout", result
    assert result.calls == [] and not result.complete
    assert time.monotonic() - start < 4.0
    assert_healthy(sandbox)


def test_an_output_pickled_after_its_time_ran_out_is_still_the_calls(sandbox: ProcessSandbox) -> None:
    # the call returns with its CPU timer nearly spent; pickling its output outlasts the timer,
    # which is not disarmed after a call (a syscall saved per call): it must not count
    code = """
    import time
    BIG = [str(i) for i in range(3_000_000)]  # made while loading: not a call's time
    def f(big):
        start = time.process_time()
        while time.process_time() - start < 0.4:
            pass
        return BIG if big else "small"
    """
    result = run(sandbox, code, calls=[(True,), (False,)], cpu=0.5, wall=20.0, load_cpu=3.0)
    assert [c.status for c in result.calls] == ["ok", "ok"], result
    assert len(result.calls[0].value) == 3_000_000 and result.calls[1].value == "small"
    assert_healthy(sandbox)


def test_jobs_run_at_once_each_with_its_own_answer(sandbox: ProcessSandbox) -> None:
    # one job outlives its wall-clock deadline while the other runs: the zygote supervises both
    jobs = [
        CallJob(SLEEPER, "f", [[0]], [1.0], [1.0], load_wall=1.0),
        CallJob("import time\ndef f(x):\n    time.sleep(0.5)\n    return -x", "f", [[1], [2]], [1.0] * 2, [3.0] * 2),
        CallJob("def f(x): return x * 2", "f", [[3]], [1.0], [3.0]),
    ]
    start = time.monotonic()
    slow, negated, doubled = sandbox.run_all(jobs)
    assert time.monotonic() - start < 4.0  # not one after the other: 2 + 1 + 1 s
    assert slow.ended == "wall_timeout" and slow.calls == []
    assert [c.value for c in negated.calls] == [-1, -2] and negated.complete
    assert [c.value for c in doubled.calls] == [6] and doubled.complete
    assert_healthy(sandbox)


# ---------------------------------------------------------------- processes and memory


def test_fork_bomb(sandbox: ProcessSandbox) -> None:
    need(sandbox, "uid_switch")
    code = """
    import os
    print(f"uid={os.getuid()}", flush=True)
    def f(x):
        while True:
            os.fork()
    """
    start = time.monotonic()
    result = run(sandbox, code, cpu=1.0, wall=3.0, load_wall=3.0)
    assert_failed(result)
    assert any("BlockingIOError" in c.error or "Resource temporarily" in c.error for c in result.calls) or any(
        c.status == "timeout" for c in result.calls
    ), result.calls
    assert time.monotonic() - start < 8.0
    assert_no_survivor(job_uid(result))
    assert_healthy(sandbox)


def test_setsid_child_does_not_outlive_the_job(sandbox: ProcessSandbox) -> None:
    need(sandbox, "uid_switch")
    code = """
    import os, time
    print(f"uid={os.getuid()}", flush=True)
    def f(x):
        if os.fork() == 0:  # a child leaves the session, forks again, and sleeps
            os.setsid()
            if os.fork() == 0:
                time.sleep(600)
            time.sleep(600)
            os._exit(0)
        raise RuntimeError("the parent gives up; its descendants should not outlive it")
    """
    start = time.monotonic()
    result = run(sandbox, code, cpu=1.0, wall=2.0, load_wall=2.0)
    elapsed = time.monotonic() - start
    assert [c.status for c in result.calls] == ["error"]
    assert "RuntimeError" in result.calls[0].error
    assert result.ended == "exit"
    assert elapsed < 2.0, f"the job waited {elapsed:.1f} s for its detached descendants"
    assert_no_survivor(job_uid(result))
    assert_healthy(sandbox)


def children_of(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # it ended while we looked
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def test_a_killed_worker_leaves_no_jobs() -> None:
    sb = ProcessSandbox()
    sb.warnings()
    zygote = sb.isolation["pid"]
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(run, sb, "import time\ndef f(x):\n    time.sleep(60)\n", cpu=1.0, wall=60.0)
        deadline = time.monotonic() + 10.0
        while not (runners := children_of(zygote)) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert runners, "the job's runner never started"
        assert sb._proc is not None
        os.kill(sb._proc.pid, signal.SIGKILL)  # the worker as the client started it, not the zygote itself
        with pytest.raises(InfrastructureError):
            pending.result(timeout=10)
    deadline = time.monotonic() + 5.0
    while any(Path(f"/proc/{pid}").exists() for pid in [zygote, *runners]) and time.monotonic() < deadline:
        time.sleep(0.02)
    survivors = [pid for pid in [zygote, *runners] if children_of(pid) or Path(f"/proc/{pid}/stat").exists()]
    assert not survivors, f"processes of a killed sandbox survive: {survivors}"
    sb.close()


@pytest.mark.parametrize(
    "body",
    [
        "return ' ' * 10**11",
        "x = []\n    while True:\n        x.append(' ' * 10**6)",
        "return bytearray(10**12)",
    ],
    ids=["one-huge-string", "growing-list", "huge-bytearray"],
)
def test_memory_bomb(sandbox: ProcessSandbox, body: str) -> None:
    start = time.monotonic()
    result = run(sandbox, f"def f(x):\n    {body}\n", cpu=5.0, wall=10.0, limits=Limits(memory_bytes=512 * MiB))
    assert_failed(result)
    assert result.calls and "MemoryError" in result.calls[0].error, result
    assert time.monotonic() - start < 8.0
    assert_healthy(sandbox)


def test_exit_at_module_level_is_a_load_failure(sandbox: ProcessSandbox) -> None:
    result = run(sandbox, "import os\nos._exit(0)\ndef f(x):\n    return x\n")
    assert result.load_error is not None
    assert result.calls == [] and not result.complete
    assert_healthy(sandbox)


@pytest.mark.parametrize(
    "body, name",
    [
        ("import sys\n    sys.exit(0)", "SystemExit"),
        ("raise SystemExit(0)", "SystemExit"),
        ("raise KeyboardInterrupt", "KeyboardInterrupt"),
        ("import os\n    os.abort()", ""),
    ],
    ids=["sys.exit", "SystemExit", "KeyboardInterrupt", "abort"],
)
def test_exits_inside_the_call_are_failed_calls(sandbox: ProcessSandbox, body: str, name: str) -> None:
    result = run(sandbox, f"def f(x):\n    {body}\n", calls=[(1,), (2,)])
    assert_failed(result)
    assert not result.complete
    if name:
        assert [c.status for c in result.calls] == ["error"]
        assert name in result.calls[0].error
    else:  # the runner itself died: no call record at all
        assert result.calls == [] and result.ended == "signal"
    assert_healthy(sandbox)


# ---------------------------------------------------------------- network


def test_cannot_connect_to_a_host_tcp_server(sandbox: ProcessSandbox) -> None:
    need(sandbox, "network")
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        code = """
        import socket
        def f(port):
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                s.sendall(b"leak")
            return "connected"
        """
        result = run(sandbox, code, calls=[(port,)])
        assert [c.status for c in result.calls] == ["error"]
        assert "Error: [Errno" in result.calls[0].error  # an OSError: unreachable, or refused by Landlock
        server.settimeout(0.3)
        with pytest.raises(TimeoutError):
            server.accept()
    assert_healthy(sandbox)


def test_cannot_reach_a_host_abstract_unix_socket(sandbox: ProcessSandbox) -> None:
    need(sandbox, "network")
    name = f"\0convcode-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(name)
        server.listen()
        code = """
        import socket
        def f(name):
            s = socket.socket(socket.AF_UNIX)
            s.connect(name)
            return "connected"
        """
        result = run(sandbox, code, calls=[(name,)])
        assert [c.status for c in result.calls] == ["error"]
        server.settimeout(0.3)
        with pytest.raises(TimeoutError):
            server.accept()
    assert_healthy(sandbox)


def test_cannot_reach_a_host_pathname_unix_socket(sandbox: ProcessSandbox) -> None:
    need(sandbox, "landlock", "network")
    # like /run/dbus/system_bus_socket: a world-writable socket in a traversable directory
    path = Path(tempfile.mkdtemp(prefix="convcode-sock-"))
    try:
        path.chmod(0o755)
        with socket.socket(socket.AF_UNIX) as server:
            server.bind(str(path / "s"))
            (path / "s").chmod(0o777)
            server.listen()
            code = """
            import socket
            def f(path):
                s = socket.socket(socket.AF_UNIX)
                s.connect(path)
                return "connected"
            """
            result = run(sandbox, code, calls=[(str(path / "s"),)])
            server.settimeout(0.3)
            try:
                server.accept()
                connected = True
            except TimeoutError:
                connected = False
        assert_healthy(sandbox)
        assert [c.status for c in result.calls] == ["error"]
        assert not connected
    finally:
        for entry in path.iterdir():
            entry.unlink()
        path.rmdir()


def test_the_sandbox_processes_go_by_names_that_say_what_they_are(sandbox: ProcessSandbox) -> None:
    def name(pid: int) -> str:
        return Path(f"/proc/{pid}/comm").read_text().strip()

    with ThreadPoolExecutor(1) as pool:
        job = pool.submit(run, sandbox, "import time\ndef f(x):\n    time.sleep(1)\n", wall=5.0)
        deadline = time.monotonic() + 4
        runners: set[str] = set()
        # a runner goes by the zygote's name from its fork until it names itself
        while time.monotonic() < deadline and "convcode-runner" not in runners:
            runners = {name(pid) for pid in _children(sandbox.isolation.get("pid"))}
            time.sleep(0.01)
        names = {name(sandbox.isolation["pid"]), *runners}
        job.result()
    assert names == {"convcode-zygote", "convcode-runner"}  # what ps, top and perf show


def _children(pid: int | None) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except (OSError, ValueError):
        return []


# ---------------------------------------------------------------- secrets and files


def test_secrets_in_our_environment_do_not_reach_the_candidate(sandbox: ProcessSandbox) -> None:
    assert os.environ["OPENAI_API_KEY"] == SECRET  # set before the sandbox started
    code = """
    import os
    print(dict(os.environ), flush=True)
    def f(x):
        print(os.environ, flush=True)
        return os.environ.get("OPENAI_API_KEY")
    """
    result = run(sandbox, code)
    assert [c.status for c in result.calls] == ["ok"]
    assert result.calls[0].value is None
    assert "PATH" in result.output  # the environment was printed, and the tail carried back
    assert SECRET not in result.output
    assert SECRET not in repr(result)
    assert_healthy(sandbox)


def _unreadable() -> list[tuple[str, str]]:
    return [
        ("etc-passwd", "/etc/passwd"),
        ("our-environ", f"/proc/{os.getpid()}/environ"),
        ("parent-environ", "/proc/{parent}/environ"),
        ("own-environ", "/proc/self/environ"),
        ("this-test-file", __file__),
        ("bundled-dataset", str(datasets.DATA_DIR / "HumanEvalPlus-v0.1.10.jsonl.gz")),
        ("worker-code", str(WORKER / "main.py")),  # its directory is on the candidate's sys.path
        ("codec", str(WORKER.parent / "_codec.py")),
    ]


@pytest.mark.parametrize("path", [p for _, p in _unreadable()], ids=[i for i, _ in _unreadable()])
def test_cannot_read_outside_the_interpreter(sandbox: ProcessSandbox, path: str) -> None:
    need(sandbox, "landlock")
    path = path.replace("{parent}", str(sandbox.isolation["pid"]))  # the worker that forks the jobs
    assert Path(path).exists()
    code = """
    import os
    def f(path):
        with open(path, "rb") as file:
            return file.read(64)
    """
    result = run(sandbox, code, calls=[(path,)])
    assert [c.status for c in result.calls] == ["error"]
    assert "PermissionError" in result.calls[0].error
    assert_healthy(sandbox)


@pytest.mark.parametrize(
    "directory", [WORKER.parent.parent, WORKER.parent, WORKER], ids=["package", "sandbox", "worker"]
)
def test_cannot_list_the_package_not_even_the_directories_on_its_sys_path(
    sandbox: ProcessSandbox, directory: Path
) -> None:
    need(sandbox, "landlock")
    code = """
    import os
    def f(path):
        return os.listdir(path)
    """
    result = run(sandbox, code, calls=[(str(directory),)])
    assert [c.status for c in result.calls] == ["error"]
    assert "PermissionError" in result.calls[0].error
    assert_healthy(sandbox)


def test_readable_roots_leave_out_the_package_whether_they_hold_it_or_lie_inside_it(tmp_path: Path) -> None:
    package = tmp_path / "site" / "pytest_convcode"
    (package / "sandbox").mkdir(parents=True)
    (tmp_path / "site" / "numpy").mkdir()
    (tmp_path / "site" / "six.py").touch()
    assert without(str(package / "sandbox"), str(package)) == []  # the worker's own sys.path entry
    assert without(str(package), str(package)) == []
    assert sorted(without(str(tmp_path), str(package))) == [str(tmp_path / "site" / n) for n in ("numpy", "six.py")]
    assert without(str(tmp_path / "site" / "numpy"), str(package)) == [str(tmp_path / "site" / "numpy")]


@pytest.mark.parametrize(
    "directory", [tempfile.gettempdir(), str(Path(__file__).parent)], ids=["host-tmp", "project-dir"]
)
def test_cannot_write_outside_its_directory(sandbox: ProcessSandbox, directory: str) -> None:
    need(sandbox, "landlock")
    target = Path(directory, f"convcode-escape-{uuid.uuid4().hex}.txt")
    code = """
    def f(path):
        with open(path, "w") as file:
            file.write("escaped")
        return "written"
    """
    try:
        result = run(sandbox, code, calls=[(str(target),)])
        assert [c.status for c in result.calls] == ["error"]
        assert "PermissionError" in result.calls[0].error
        assert not target.exists()
    finally:
        target.unlink(missing_ok=True)
    assert_healthy(sandbox)


def test_can_write_in_its_own_directory_which_is_removed_after(sandbox: ProcessSandbox) -> None:
    code = """
    import os
    def f(text):
        with open("note.txt", "w") as file:
            file.write(text)
        with open(os.path.join(os.getcwd(), "note.txt")) as file:
            return file.read(), os.getcwd()
    """
    result = run(sandbox, code, calls=[("hello",)])
    assert [c.status for c in result.calls] == ["ok"]
    text, workdir = result.calls[0].value
    assert text == "hello"
    deadline = time.monotonic() + 2.0  # removed just after the answer, by a child of the zygote
    while Path(workdir).exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not Path(workdir).exists(), "the job's directory outlived the job"


# ---------------------------------------------------------------- results cannot crash the harness


@pytest.mark.parametrize(
    "record",
    [
        '{"i": 0, "cpu": "x", "ok": 1}',
        '{"i": 0, "cpu": [1], "ok": 1}',
        '{"i": 0, "ok": ' + "[" * 100_000 + "]" * 100_000 + "}",
    ],
    ids=["bad-cpu", "cpu-list", "deep-json"],
)
def test_forged_records_do_not_crash_the_harness(sandbox: ProcessSandbox, record: str) -> None:
    code = f"""
    import os
    def f(x):
        for fd in range(3, 64):  # the results pipe is one of the inherited descriptors
            try:
                os.write(fd, {(record + chr(10)).encode()!r})
            except OSError:
                pass
        return x
    """
    result = run(sandbox, code)
    assert all(c.status in ("ok", "error") for c in result.calls)
    assert_healthy(sandbox)


def test_a_tiny_result_cannot_make_the_harness_allocate_gigabytes(sandbox: ProcessSandbox) -> None:
    code = """
    import numpy as np
    class Big:
        def __reduce__(self):
            return (np.ndarray, ((10**9,), "u1"))  # 1 GB, allocated lazily: nothing is touched here
    def f(x):
        return Big()
    """
    result = run(sandbox, code)
    assert len(result.calls) == 1
    assert getattr(result.calls[0].value, "nbytes", 0) < 10**6
    assert_healthy(sandbox)


# ---------------------------------------------------------------- the judge on hostile results


@pytest.fixture
def judge(sandbox: ProcessSandbox, tmp_path: Path) -> DifferentialJudge:
    return DifferentialJudge(TINY_DATASET, sandbox, tmp_path, min_time=0.5)


TINY = Task(
    "Tiny/0",
    prompt="",
    entry_point="f",
    canonical_solution="def f(x):\n    return [x, x + 1]\n",
    tests={"base": [[1], [2]], "plus": [[3], [-1]]},
)
TINY_DATASET = Dataset("Tiny", "tiny", "0", "<memory>", "0" * 64, {TINY.task_id: TINY})


def test_judge_passes_the_right_answer_and_explains_wrong_ones(judge: DifferentialJudge) -> None:
    assert judge.judge(TINY, TINY.canonical_solution).passed
    wrong_type = judge.judge(TINY, "def f(x):\n    return (x, x + 1)\n")
    assert not wrong_type.passed
    assert "returned (1, 2), expected [1, 2]" in wrong_type.explanation
    lying = judge.judge(TINY, "class A:\n    __eq__ = lambda s, o: True\ndef f(x):\n    return A()\n")
    assert not lying.passed and "returned" in lying.explanation
    assert lying.phases["base"].statuses == "F-"
    slow = judge.judge(TINY, "def f(x):\n    while True:\n        pass\n")
    assert not slow.passed and "exceeded its time limit (0.50 s of CPU)" in slow.explanation


def test_ground_truth_comes_from_one_reference_job_split_into_phases(judge: DifferentialJudge) -> None:
    truth = judge.ground_truth(TINY)
    assert [truth["base"].output(i) for i in range(2)] == [[1, 2], [2, 3]]
    assert [truth["plus"].output(i) for i in range(2)] == [[3, 4], [-1, 0]]
    broken = replace(TINY, task_id="Tiny/1", canonical_solution="def f(x):\n    assert x > 0\n    return [x]\n")
    with pytest.raises(InfrastructureError, match="Tiny/1: the canonical solution fails its own plus tests"):
        judge.ground_truth(broken)


def test_a_task_costs_what_this_machine_measured_else_what_the_bundled_file_recorded(
    sandbox: ProcessSandbox, tmp_path: Path
) -> None:
    humaneval = datasets.load("humaneval")
    judge = DifferentialJudge(humaneval, sandbox, tmp_path)
    slow, quick = humaneval.tasks["HumanEval/139"], humaneval.tasks["HumanEval/0"]
    assert judge.expected_cost(slow) > 1.0  # the bundled measurement: a cold run starts it first
    assert judge.expected_cost(quick) == 0.0
    (tmp_path / "HumanEval_0.cost").write_text("7.5\n")  # measured here when its ground truth was made
    assert judge.expected_cost(quick) == 7.5
    other = DifferentialJudge(replace(humaneval, digest="0" * 64), sandbox, tmp_path / "other")
    assert other.expected_cost(slow) == 0.0  # another data file: no bundled figures apply


def test_a_deeply_nested_result_is_a_wrong_answer_not_a_harness_error(judge: DifferentialJudge) -> None:
    code = """
    import sys
    sys.setrecursionlimit(100_000)
    def f(x):
        value = [x, x + 1]
        for _ in range(20_000):
            value = [value]
        return value
    """
    verdict = judge.judge(TINY, textwrap.dedent(code))
    assert not verdict.passed
    assert verdict.phases["base"].statuses[0] in "FE"


# ---------------------------------------------------------------- values crossing the boundary

VALUES_SOURCE = """
import numpy as np
VALUES = [
    (1, [2, 3], (4, (5,))),
    [1, (2, 3), []],
    {1, 2, 3},
    frozenset({"a", "b"}),
    {(1, 2): "tuple key", "k": [1, 2], 3: {4: (5,)}},
    complex(1.5, -2.0),
    complex(float("inf"), float("nan")),
    float("nan"),
    float("inf"),
    float("-inf"),
    -0.0,
    0.1,
    10**5001 + 7,
    -(3**20000),
    2**63,
    b"\\x00\\xff bytes",
    True,
    None,
    "text \\u00e9",
    (),
    {},
    set(),
    np.int64(-7),
    np.float32(1.5),
    np.bool_(True),
    np.complex64(1 + 2j),
    np.arange(6, dtype=np.int32).reshape(2, 3),
    np.array([1.5, float("nan"), float("inf")]),
    np.array([], dtype=np.uint8),
]
"""


def _values() -> list[Any]:
    namespace: dict[str, Any] = {}
    exec(VALUES_SOURCE, namespace)
    return namespace["VALUES"]


VALUES = _values()


def same(a: Any, b: Any) -> bool:
    """Equal in type and value, NaN equal to NaN, -0.0 apart from 0.0."""
    if type(a) is not type(b):
        return False
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and a.shape == b.shape and bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))
    if isinstance(a, np.generic):
        return a.dtype == b.dtype and same(a.item(), b.item())
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    if isinstance(a, complex):
        return same(a.real, b.real) and same(a.imag, b.imag)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return bool(a == b)


def test_same_tells_types_apart() -> None:
    assert not same((1, 2), [1, 2])
    assert not same({1}, frozenset({1}))
    assert not same(1, 1.0)
    assert not same(0.0, -0.0)
    assert same(float("nan"), float("nan"))
    assert not same(np.int64(1), np.int32(1))


# outputs come back as pickles read by a restricted unpickler
CODECS = {"output": lambda v: _codec.load_output(_codec.dump_output(v))}


@pytest.mark.parametrize("codec", list(CODECS))
@pytest.mark.parametrize("value", VALUES, ids=[f"{i}-{type(v).__name__}" for i, v in enumerate(VALUES)])
def test_codec_round_trip(value: Any, codec: str) -> None:
    assert same(CODECS[codec](value), value)
    assert same(CODECS[codec]([value, (value,)]), [value, (value,)])


def test_codec_round_trip_through_the_sandbox(sandbox: ProcessSandbox) -> None:
    # values built inside the sandbox come back with their types
    code = VALUES_SOURCE + "\ndef f(i):\n    return VALUES[i]\n"
    result = run(sandbox, code, calls=[(i,) for i in range(len(VALUES))])
    assert result.complete
    for call, expected in zip(result.calls, VALUES, strict=True):
        assert call.status == "ok", call
        assert same(call.value, expected), (call.index, call.value, expected)
    # and values sent in as arguments come back unchanged
    echo = run(sandbox, "def f(x):\n    return x\n", calls=[(v,) for v in VALUES])
    assert echo.complete
    for call, expected in zip(echo.calls, VALUES, strict=True):
        assert same(call.value, expected), (call.index, call.value, expected)


class Liar:
    def __eq__(self, other: object) -> bool:
        return True

    def __ne__(self, other: object) -> bool:
        return False

    __hash__ = object.__hash__


@pytest.mark.parametrize("codec", list(CODECS))
def test_a_lying_object_cannot_equal_anything(codec: str) -> None:
    value = CODECS[codec](Liar())
    assert isinstance(value, _codec.Opaque)
    assert value != 5 and (value == 5) is False and value is not None
    assert value != CODECS[codec](Liar())


def test_lying_results_from_the_sandbox_are_not_equal_to_the_expected(sandbox: ProcessSandbox) -> None:
    code = """
    class Liar:
        def __eq__(self, other):
            return True
        def __ne__(self, other):
            return False
        __hash__ = object.__hash__
        def __repr__(self):
            raise SystemExit("repr escapes")

    class LyingInt(int):
        def __eq__(self, other):
            return True
        __hash__ = int.__hash__

    class LyingList(list):
        def __eq__(self, other):
            return True

    def f(kind):
        return {"object": Liar, "int": lambda: LyingInt(3), "list": lambda: LyingList([0])}[kind]()
    """
    result = run(sandbox, code, calls=[("object",), ("int",), ("list",)])
    assert [c.status for c in result.calls] == ["ok", "ok", "ok"]
    liar, lying_int, lying_list = (c.value for c in result.calls)
    assert isinstance(liar, _codec.Opaque)
    assert liar != 5 and (liar == 5) is False
    # the subclass's __eq__ never crosses: a plain int, or an opaque stand-in
    assert (type(lying_int) is int and lying_int == 3) or isinstance(lying_int, _codec.Opaque)
    assert lying_int != 5
    assert (type(lying_list) is list and lying_list == [0]) or isinstance(lying_list, _codec.Opaque)
    assert lying_list != [1]
    task = Task("T/0", "", "f", "", {"base": [[1]]})
    for value, expected in [(liar, 5), (lying_int, 5), (lying_list, [1])]:
        assert outputs_match(task, [1], value, expected, 0.0) == (False, 0.0)
    assert_healthy(sandbox)
