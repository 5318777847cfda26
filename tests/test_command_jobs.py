# ruff: noqa: F811 - the sandbox fixture imported from test_sandbox is these tests' parameter
"""Command jobs (``Sandbox.run_command``): a command line run in a directory of its own, maybe a
copy-on-write view of a tree, under the sandbox's isolation and limits, observed from outside.

Each test runs real commands in a real ``ProcessSandbox``; those that need an isolation feature
this machine lacks skip with the sandbox's own warning, and toolchains that are not installed
(g++, node, javac) skip saying so.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from test_sandbox import SECRET, need, sandbox  # noqa: F401 - the sandbox fixture, used by name

from pytest_convcode.errors import InfrastructureError
from pytest_convcode.sandbox import CommandJob, CommandResult, Limits
from pytest_convcode.sandbox.process import ProcessSandbox

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "pytest_convcode" / "datasets" / "data"


def sh(sb: ProcessSandbox, script: str, **options: object) -> CommandResult:
    return sb.run_command(CommandJob(("sh", "-c", script), **options))  # type: ignore[arg-type]


def assert_healthy(sb: ProcessSandbox) -> None:
    result = sb.run_command(CommandJob(("echo", "still here")))
    assert result.ok and result.stdout == "still here\n"


def processes_running(marker: str) -> list[str]:
    """The host's processes whose command line holds ``marker``."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if marker in cmdline and pid != str(os.getpid()):
            found.append(cmdline)
    return found


def snapshot(tree: Path) -> dict[str, tuple[int, int, str]]:
    """Every entry under ``tree``: its mode, owner and content's hash (a link's target)."""
    state = {}
    for path in sorted([tree, *tree.rglob("*")]):
        info = path.lstat()
        if path.is_symlink():
            content = os.readlink(path)
        elif path.is_file():
            content = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            content = ""
        state[str(path.relative_to(tree))] = (info.st_mode, info.st_uid, content)
    return state


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A small repository: files in nested folders, an executable, a link."""
    root = tmp_path / "repo"
    (root / "pkg" / "sub").mkdir(parents=True)
    (root / "README").write_text("the original\n")
    (root / "pkg" / "mod.py").write_text("VALUE = 1\n")
    (root / "pkg" / "sub" / "data.txt").write_text("data\n")
    (root / "run.sh").write_text("#!/bin/sh\necho ran\n")
    (root / "run.sh").chmod(0o755)
    (root / "link").symlink_to("pkg/mod.py")
    return root


# ---------------------------------------------------------------- what a command gets and gives


def test_exit_status_stdout_and_stderr_come_apart(sandbox: ProcessSandbox) -> None:
    result = sh(sandbox, "echo out; echo err >&2; exit 3")
    assert (result.ended, result.exit_code, result.stdout, result.stderr) == ("exit", 3, "out\n", "err\n")
    assert not result.ok and result.how_it_ended == "exited with status 3"
    echoed = sandbox.run_command(CommandJob(("echo", "hello", "world")))
    assert echoed.ok and echoed.stdout == "hello world\n" and echoed.stderr == ""


def test_stdin_reaches_the_command(sandbox: ProcessSandbox) -> None:
    result = sandbox.run_command(CommandJob(("sort",), stdin="b\nc\na\n"))
    assert result.ok and result.stdout == "a\nb\nc\n"
    assert sh(sandbox, "cat").stdout == ""  # no stdin: /dev/null


def test_files_cwd_and_environment(sandbox: ProcessSandbox) -> None:
    files = {"src/a.txt": "first\n", "src/deep/b.txt": "second ü\n"}
    result = sh(
        sandbox, 'cat a.txt deep/b.txt; pwd; echo "$FOO $HOME $LANG"', files=files, cwd="src", env={"FOO": "bar"}
    )
    assert result.ok, result.stderr
    assert result.stdout == "first\nsecond ü\n/tmp/work/src\nbar /tmp C.UTF-8\n"
    environment = sandbox.run_command(CommandJob(("env",))).stdout
    assert "PATH=" in environment and SECRET not in environment


def test_a_signal_ends_it_and_says_which(sandbox: ProcessSandbox) -> None:
    result = sh(sandbox, "kill -SEGV $$")
    assert (result.ended, result.signal) == ("signal", 11) and "segmentation fault" in result.how_it_ended


def test_a_missing_program_is_a_result_not_an_error(sandbox: ProcessSandbox) -> None:
    result = sandbox.run_command(CommandJob(("no-such-program-here", "x")))
    assert (result.ended, result.exit_code) == ("exit", 127)
    assert result.stderr == "no-such-program-here: not found\n"
    absolute = sandbox.run_command(CommandJob(("/tmp/work/missing",)))
    assert absolute.exit_code == 127 and "not found" in absolute.stderr
    assert sandbox.run_command(CommandJob(("/tmp",))).exit_code == 126  # a directory: cannot run


def test_bad_jobs_are_refused_before_they_run() -> None:
    with pytest.raises(ValueError, match="argv is empty"):
        CommandJob(())
    for name in ("../escape", "/etc/passwd", "a/../../b", "."):
        with pytest.raises(ValueError, match="inside the job's directory"):
            CommandJob(("true",), files={name: ""})
    with pytest.raises(ValueError, match="inside the job's directory"):
        CommandJob(("true",), cwd="..")
    with pytest.raises(ValueError, match="absolute"):
        CommandJob(("true",), tree="relative/tree")


# ---------------------------------------------------------------- limits


def test_a_busy_loop_stops_at_the_cpu_budget(sandbox: ProcessSandbox) -> None:
    result = sh(sandbox, "while :; do :; done", cpu_budget=1.0, wall_budget=60.0)
    assert result.ended == "cpu_limit", result.how_it_ended  # not the wall deadline, even on a busy machine
    assert 0.5 <= result.cpu < 3


def test_a_shell_whose_child_hit_the_cpu_limit_reports_the_limit(sandbox: ProcessSandbox) -> None:
    """The shell survives its child and exits 128 + SIGXCPU: still the CPU limit, not an exit."""
    result = sh(sandbox, "yes > /dev/null; exit $?", cpu_budget=1.0, wall_budget=20.0)
    assert result.exit_code == 128 + signal.SIGXCPU or result.signal in (signal.SIGXCPU, signal.SIGKILL)
    assert result.ended == "cpu_limit", result.how_it_ended


def test_busy_children_share_one_cpu_budget(sandbox: ProcessSandbox) -> None:
    """Four looping processes, each far within the per-process limit: the tree's sum stops them."""
    need(sandbox, "uid_switch")
    result = sh(sandbox, "for i in 1 2 3 4; do (while :; do :; done) & done; wait", cpu_budget=2.0, wall_budget=60.0)
    assert result.ended == "cpu_limit", result.how_it_ended
    assert 2.0 <= result.cpu < 3.5  # the budget, and what the tree used between two checks


def test_a_sleeping_command_stops_at_the_wall_deadline(sandbox: ProcessSandbox) -> None:
    result = sandbox.run_command(CommandJob(("sleep", "30"), wall_budget=1.0))
    assert result.ended == "wall_timeout" and 1.0 <= result.wall < 5


def test_a_fork_bomb_is_bounded(sandbox: ProcessSandbox) -> None:
    need(sandbox, "uid_switch")
    marker = "bomb-7391"  # in the command line of every shell the bomb forks
    script = f"b() {{ b | b & }}; b; sleep 1; echo done # {marker}"
    result = sh(sandbox, script, cpu_budget=5.0, wall_budget=10.0, limits=Limits(max_processes=32))
    assert "Cannot fork" in result.stderr and result.wall < 10  # the process limit held it
    assert processes_running(marker) == []  # and nothing of it outlived the job
    assert_healthy(sandbox)


def test_an_output_flood_keeps_the_tails(sandbox: ProcessSandbox) -> None:
    result = sh(sandbox, "head -c 20000000 /dev/zero | tr '\\0' x; echo; echo END", output_bytes=1000)
    assert result.ok and result.stdout.endswith("x\nEND\n") and len(result.stdout) == 1000
    assert result.dropped == 20_000_005 - 1000
    endless = sh(sandbox, "exec yes err >&2", output_bytes=100, cpu_budget=1.0, wall_budget=5.0)
    assert endless.ended in ("cpu_limit", "wall_timeout") and endless.stderr.endswith("err\n")
    assert len(endless.stderr) == 100 and endless.stdout == ""


def test_a_child_left_running_is_killed_with_the_job(sandbox: ProcessSandbox) -> None:
    result = sh(sandbox, "sleep 4321 & setsid sleep 4322 & echo started")
    assert result.ok and result.stdout == "started\n"
    assert processes_running("sleep 432") == []


def test_memory_limit_per_process(sandbox: ProcessSandbox) -> None:
    script = "import sys; b = bytearray(300 << 20); print('allocated')"
    small = Limits(memory_bytes=200 << 20)
    refused = sandbox.run_command(CommandJob((sys.executable, "-c", script), limits=small))
    assert not refused.ok and "MemoryError" in refused.stderr
    unlimited = sandbox.run_command(CommandJob((sys.executable, "-c", script), limits=Limits(memory_bytes=0)))
    assert unlimited.ok and unlimited.stdout == "allocated\n"


# ---------------------------------------------------------------- isolation


def test_no_network_to_the_host(sandbox: ProcessSandbox) -> None:
    need(sandbox, "network")
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(0.5)
        port = server.getsockname()[1]
        script = f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=3); print('connected')"
        result = sandbox.run_command(CommandJob((sys.executable, "-c", script)))
        with pytest.raises(TimeoutError):
            server.accept()
    assert not result.ok and "connected" not in result.stdout
    assert "ConnectionRefusedError" in result.stderr  # its own loopback, where nothing listens


def test_cannot_read_the_package_data_or_root(sandbox: ProcessSandbox) -> None:
    need(sandbox, "landlock")
    data_file = next(p for p in DATA.iterdir() if p.is_file())
    # even with the checkout that holds the package readable
    result = sandbox.run_command(CommandJob(("cat", str(data_file)), readable=(str(ROOT),)))
    assert result.exit_code == 1 and "Permission denied" in result.stderr and result.stdout == ""
    readme = sandbox.run_command(CommandJob(("head", "-1", str(ROOT / "README.md")), readable=(str(ROOT),)))
    assert readme.ok and readme.stdout.startswith("#")  # the rest of the checkout is readable
    home = sandbox.run_command(CommandJob(("ls", "/root")))
    assert home.exit_code != 0 and "Permission denied" in home.stderr


def test_cannot_write_outside_its_directory(sandbox: ProcessSandbox, tmp_path: Path) -> None:
    need(sandbox, "landlock")
    targets = [ROOT / "written-by-a-command", Path("/var/tmp/written-by-a-command")]
    script = "; ".join(f"touch {t} 2>/dev/null && echo wrote {t}" for t in targets)
    result = sh(sandbox, f"{script}; echo ok > /tmp/mine && echo ok > /dev/shm/mine && echo own", readable=(str(ROOT),))
    assert result.stdout == "own\n"
    assert not any(t.exists() for t in targets)


def test_the_command_cannot_reach_its_runner(sandbox: ProcessSandbox) -> None:
    """The runner that reports the command's status is out of its reach: no descriptor of the
    report's pipe, no signal, no ptrace or /proc/1/fd (it is not dumpable)."""
    need(sandbox, "uid_switch")
    script = (
        "ls /proc/self/fd | tr '\\n' ' '; echo; kill -9 1; kill -STOP 1; echo $?;"
        " for fd in /proc/1/fd/*; do echo forged 2>/dev/null > $fd && echo wrote $fd; done;"
        " cat /proc/1/mem 2>/dev/null || echo no mem; exit 5"
    )
    result = sh(sandbox, script)
    assert result.stdout == "0 1 2 3 \n0\nno mem\n", result.stdout  # 3: ls's own listing
    assert (result.ended, result.exit_code, result.garbled) == ("exit", 5, False)


def test_a_tree_holding_the_package_is_refused(sandbox: ProcessSandbox) -> None:
    with pytest.raises(InfrastructureError, match="holds pytest_convcode's package"):
        sandbox.run_command(CommandJob(("ls",), tree=str(ROOT)))
    assert_healthy(sandbox)


# ---------------------------------------------------------------- a tree's copy-on-write view


def test_the_tree_is_unchanged_whatever_the_job_does(sandbox: ProcessSandbox, tree: Path) -> None:
    before = snapshot(tree)
    script = (
        "cat README; ./run.sh; echo changed > README; echo more >> pkg/mod.py; rm -rf pkg/sub; mv run.sh moved.sh;"
        " chmod 600 moved.sh; rm link; mkdir new && echo n > new/file; ls -A; cat README pkg/mod.py"
    )
    result = sh(sandbox, script, tree=str(tree), files={"pkg/mod.py": "VALUE = 2\n"})
    assert result.ok, result.stderr
    assert result.stdout == ("the original\nran\n" + "README\nmoved.sh\nnew\npkg\n" + "changed\nVALUE = 2\nmore\n"), (
        result.stdout
    )
    assert snapshot(tree) == before


def test_two_jobs_on_one_tree_do_not_see_each_others_edits(sandbox: ProcessSandbox, tree: Path) -> None:
    def job(name: str) -> CommandResult:
        script = f"echo {name} > README; touch only-{name}; sleep 1; cat README; ls"
        return sh(sandbox, script, tree=str(tree))

    with ThreadPoolExecutor(2) as pool:
        first, second = pool.map(job, ["one", "two"])
    assert first.stdout.split("\n")[0] == "one" and "only-two" not in first.stdout
    assert second.stdout.split("\n")[0] == "two" and "only-one" not in second.stdout
    assert sh(sandbox, "cat README; ls", tree=str(tree)).stdout == "the original\nREADME\nlink\npkg\nrun.sh\n"


def test_the_tree_is_seen_as_the_jobs_own(sandbox: ProcessSandbox, tree: Path) -> None:
    """Its files belong to the job's uid in its view: it may change them in place."""
    need(sandbox, "uid_switch")
    result = sh(sandbox, 'test "$(stat -c %u README)" = "$(id -u)" && test -O pkg/sub && echo owned', tree=str(tree))
    assert result.stdout == "owned\n", result.stderr


def test_many_jobs_at_once_from_threads(sandbox: ProcessSandbox) -> None:
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda i: sh(sandbox, f"echo {i}; echo e{i} >&2; exit {i % 3}"), range(24)))
    assert [(r.stdout, r.stderr, r.exit_code) for r in results] == [(f"{i}\n", f"e{i}\n", i % 3) for i in range(24)]


# ---------------------------------------------------------------- real toolchains


def toolchain(*programs: str) -> None:
    for program in programs:
        if shutil.which(program) is None:
            pytest.skip(f"{program} is not installed")


def test_a_cpp_program_compiles_and_runs(sandbox: ProcessSandbox) -> None:
    toolchain("g++")
    program = (
        '#include <cassert>\n#include <cstdio>\nint main() { std::printf("%d\\n", 6 * 7); assert(ANSWER == 42); }\n'
    )
    passing = sh(sandbox, "g++ -DANSWER=42 -o prog main.cpp && ./prog", files={"main.cpp": program})
    assert passing.ok and passing.stdout == "42\n", passing.stderr
    failing = sandbox.run_command(
        CommandJob(("sh", "-c", "g++ -DANSWER=41 -o prog main.cpp && exec ./prog"), files={"main.cpp": program})
    )
    assert failing.signal == 6 and "Assertion" in failing.stderr  # abort(): not a PID 1, it dies of SIGABRT


def test_a_javascript_program_runs(sandbox: ProcessSandbox) -> None:
    toolchain("node")
    script = "const assert = require('assert'); console.log([1, 2, 3].map((x) => x * 2).join(',')); assert.equal(1, 2)"
    result = sandbox.run_command(CommandJob(("node", "prog.js"), files={"prog.js": script}))
    assert result.exit_code == 1 and result.stdout == "2,4,6\n" and "AssertionError" in result.stderr


def test_a_java_program_compiles_and_runs(sandbox: ProcessSandbox) -> None:
    toolchain("javac", "java")
    source = 'public class Main { public static void main(String[] a) { System.out.println("java " + 6 * 7); } }'
    job = CommandJob(
        ("sh", "-c", "javac Main.java && java Main"), files={"Main.java": source}, limits=Limits(memory_bytes=0)
    )
    result = sandbox.run_command(job)
    assert result.ok and result.stdout == "java 42\n", result.stderr


def test_threads_in_the_client_do_not_block_each_other(sandbox: ProcessSandbox) -> None:
    """A long command does not hold up a short one sent after it."""
    slow: list[CommandResult] = []
    worker = threading.Thread(target=lambda: slow.append(sandbox.run_command(CommandJob(("sleep", "5")))))
    worker.start()
    time.sleep(0.2)
    assert_healthy(sandbox)
    assert worker.is_alive()
    worker.join()
    assert slow[0].ok
