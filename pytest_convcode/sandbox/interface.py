"""The sandbox interface: jobs, limits and results, and the ``Sandbox`` protocol.

A job is "define this program, then call ``entry_point`` on each argument tuple";
the sandbox returns what each call produced. Judging the outputs is not its
business: that happens on the trusted side (``judge.py``).

A test job (``TestJob``) is the second kind: "run this program with a unittest
module appended, then these test methods", for suites whose tests are code
(BigCodeBench); the sandbox returns each test's outcome.

A command job (``CommandJob``) is the third: "run this command line in a directory
of your own", for programs that are not Python functions (a compiler and the program
it made, a repository's own test runner); the sandbox returns how it ended and the
tails of its stdout and stderr.
"""

from __future__ import annotations

import functools
import posixpath
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from . import _codec

GiB = 1 << 30
MiB = 1 << 20


@dataclass(frozen=True)
class Limits:
    """Resource limits of one job; CPU and wall time are per call, in the job. ``memory_bytes``
    is each process's address space; 0: none (a JVM, node reserve far more than they use)."""

    memory_bytes: int = 4 * GiB
    file_bytes: int = 64 * MiB
    max_processes: int = 64
    # of a job's answer, all its outputs together; the largest reference output (MBPP+ Mbpp/255) pickles to ~400 MB
    max_output_bytes: int = 1024 * MiB
    min_job_cpu: float = 60.0  # least CPU budget for all calls of a job (EvalPlus gives a task 60 s)
    # a command job's own /tmp (a tmpfs, in memory), its directory in it: all it writes, a tree's changes included
    disk_bytes: int = 1 * GiB


@dataclass(frozen=True)
class CallJob:
    code: str
    entry_point: str
    inputs: Sequence[Sequence[Any]]  # argument lists, one per call (picklable values)
    cpu_limits: Sequence[float]  # seconds of CPU per call
    wall_limits: Sequence[float]  # seconds of wall clock per call (backstop)
    cpu_budget: float | None = None  # CPU seconds for all calls together; None: the sum of cpu_limits
    load_cpu: float = 1.0  # extra CPU budget for running the module itself
    load_wall: float = 5.0
    stop_on_error: bool = True
    guard: str | None = None  # "evalplus": disable what EvalPlus's evaluator disables
    describe: bool = False  # also say what each output is (``_codec.describe_output``): for references
    limits: Limits = field(default_factory=Limits)


@dataclass
class Call:
    """One call's result. Not frozen: a HumanEval+ run makes 250,000 of them, and a frozen
    dataclass is three times slower to make.

    "output_limit": the output would have taken the job's answer past ``limits.max_output_bytes``;
    it was not sent (``error`` says how large it was), and the job's later calls did not run."""

    index: int
    status: Literal["ok", "error", "timeout", "output_limit"]
    payload: bytes = b""  # the output as the runner pickled it; read it through ``value``
    error: str = ""
    cpu: float = 0.0

    @functools.cached_property
    def value(self) -> Any:
        """The output, rebuilt by the restricted unpickler (raises on unreadable data);
        None for a call that returned nothing."""
        return _codec.load_output(self.payload) if self.status == "ok" else None


_ENDINGS = {
    "cpu_limit": "stopped at the CPU-time limit",
    "wall_timeout": "stopped at the wall-clock deadline",
    "deadlock": "stopped: deadlocked, every thread waiting with no time-out on the program itself",
    "output_limit": "stopped: it produced more output than the limit",
}
_SIGNALS: dict[int, str] = {
    signal.SIGXCPU: "CPU-time limit",
    signal.SIGKILL: "killed",
    signal.SIGSEGV: "segmentation fault",
    signal.SIGABRT: "aborted",
}


@dataclass(frozen=True, kw_only=True)
class Ending:
    """How a job's process ended, as its supervisor saw it (shared by both kinds of result)."""

    ended: str  # "exit", "signal", "cpu_limit", "wall_timeout", "deadlock" (a test job), "output_limit"
    exit_code: int | None = None
    signal: int | None = None
    wall: float = 0.0
    cpu: float = 0.0
    output: str = ""  # tail of the program's stdout and stderr
    garbled: bool = False  # the program wrote into the result stream; records end there

    @property
    def how_it_ended(self) -> str:
        if self.garbled:
            return "wrote into the harness's result stream"
        if self.ended in _ENDINGS:
            return _ENDINGS[self.ended]
        if self.signal is not None:
            name = signal.Signals(self.signal).name
            return f"killed by {name} ({_SIGNALS.get(self.signal, 'signal')})"
        return f"exited with status {self.exit_code}"


@dataclass(frozen=True)
class ExecResult(Ending):
    calls: list[Call]
    load_error: str | None  # None: loaded; else the traceback, or "" when the process ended first
    complete: bool  # the runner reached the end of its inputs
    descriptions: bytes = b""  # a ``describe`` job's: one ``_codec.describe_output`` byte per OK call


@dataclass(frozen=True)
class TestJob:
    """Run ``program`` with ``test_code`` appended, as one module, then the test methods
    of ``class_name`` (a ``unittest.TestCase``) one by one, in one process.

    The budgets hold for the whole job, loading included: ``cpu_budget`` is the
    process's CPU-time limit, ``wall_budget`` the supervisor's deadline. Tests run
    one after another, so a test that exhausts them leaves the later ones not run.

    Tests are written for a machine of their own, so where the sandbox can (root, or
    user namespaces) a test job gets one: /tmp and the working directory are its job
    directory, /proc shows its processes only, and it has a loopback network of its own.
    """

    __test__ = False  # not a pytest test class, whatever its name says

    program: str  # the candidate program (BigCodeBench: complete_prompt + solution)
    test_code: str  # the unittest module source
    class_name: str = "TestCases"
    test_names: tuple[str, ...] | None = None  # None: every test method, in definition order
    cpu_budget: float = 60.0
    wall_budget: float = 121.0  # ConvCodeWorld's and BigCodeBench's per-task budget
    limits: Limits = field(default_factory=Limits)


TestStatus = Literal["passed", "failed", "error", "skipped", "not_run"]


@dataclass(frozen=True)
class TestOutcome:
    """One test: ``detail`` is the failure's traceback (cut to a few KB), the skip
    reason, or why it did not run or finish."""

    __test__ = False

    name: str
    status: TestStatus
    detail: str = ""
    cpu: float = 0.0  # CPU seconds of the test, setUp and tearDown included


@dataclass(frozen=True)
class SuiteResult(Ending):
    """The outcome of each selected test, in the order they ran, and how the process ended.

    ``outcomes`` covers every selected test once the program loaded (none when it did
    not); a class or module fixture that failed outside any test adds an "error" outcome
    named after it.
    """

    outcomes: list[TestOutcome]
    load_error: str | None  # None: the program and its tests loaded; else why not (a traceback)
    complete: bool  # the runner reached the end of the tests

    @property
    def passed(self) -> bool:
        """Every selected test passed. A skipped test did not: the candidate can skip a test
        (raise ``unittest.SkipTest``), so only the tester, which knows the skips of the task's
        reference solution, can leave a skip out (``testers.UnitTester``)."""
        return self.load_error is None and self.complete and not self.failures

    @property
    def failures(self) -> list[TestOutcome]:
        """The outcomes that keep the suite from passing, skips among them."""
        return [o for o in self.outcomes if o.status != "passed"]


@dataclass(frozen=True)
class CommandJob:
    """Run ``argv`` in the job's own directory (which the command sees as its cwd), with ``files``
    written there first; with ``tree``, the job's directory starts as a copy-on-write view of that
    directory (the files written over it), so a command can edit a repository without touching it.

    ``argv[0]`` is a path, or a name looked up on the environment's PATH (the sandbox's safe one
    unless ``env`` sets another); a command that cannot start ends with status 127 (not found)
    or 126, saying why on stderr. The command sees its directory as /tmp/work and /tmp as its home
    (a tmpfs of ``limits.disk_bytes``); it reads the interpreter's and the system's files and
    ``readable``, writes only in its /tmp, and has a loopback network of its own, nothing more.
    ``cpu_budget`` holds for all its processes together; so does ``limits.max_processes``, which
    counts threads (a JVM starts some 20); ``limits.memory_bytes`` holds for each process.
    """

    __test__ = False  # not a pytest test class, whatever its name says

    argv: tuple[str, ...]
    files: Mapping[str, str] = field(default_factory=dict)  # relative path -> text, written before the run
    tree: str | None = None  # absolute path of a directory to start from (read-only underneath)
    cwd: str = "."  # relative to the job's directory
    env: Mapping[str, str] = field(default_factory=dict)  # added to the sandbox's safe environment
    readable: tuple[str, ...] = ()  # extra paths the command may read (a venv, a toolchain, the tree)
    stdin: str = ""
    cpu_budget: float = 60.0  # CPU seconds for the whole process tree
    wall_budget: float = 120.0
    output_bytes: int = 1 << 20  # keep at most this much of stdout and of stderr (their tails)
    limits: Limits = field(default_factory=Limits)  # memory (0: none), processes, file size, disk

    def __post_init__(self) -> None:
        if not self.argv:
            raise ValueError("a command job needs a command: argv is empty")
        for path, is_file in [*((name, True) for name in self.files), (self.cwd, False)]:
            normal = posixpath.normpath(path)
            if posixpath.isabs(normal) or normal.split("/")[0] == ".." or (is_file and normal == "."):
                raise ValueError(f"{path!r} is not a path inside the job's directory")
        if self.tree is not None and not posixpath.isabs(self.tree):
            raise ValueError(f"the tree must be an absolute path, not {self.tree!r}")


@dataclass(frozen=True)
class CommandResult(Ending):
    """How a command ended, as its supervisor saw it ("exit", "signal", "cpu_limit" or
    "wall_timeout"), and the tails of its stdout and stderr, read as UTF-8 (``output`` is empty)."""

    stdout: str
    stderr: str
    dropped: int = 0  # bytes cut from the front of stdout and stderr, to keep ``output_bytes`` of each

    @property
    def ok(self) -> bool:
        """It exited with status 0, within its limits."""
        return self.ended == "exit" and self.exit_code == 0


class Sandbox(Protocol):
    name: str

    def run(self, job: CallJob) -> ExecResult: ...

    def run_all(self, jobs: Sequence[CallJob]) -> list[ExecResult]:
        """Run a task's phases: jobs of one program (the same code and limits but their calls'
        and output limits) as one job that loads it once and runs each phase's calls from the
        state loading left, each in a process of its own; jobs of different programs at once."""
        ...

    def run_tests(self, job: TestJob) -> SuiteResult: ...

    def run_command(self, job: CommandJob) -> CommandResult:
        """Run a command job; several threads may call it at once."""
        ...

    def warnings(self) -> list[str]:
        """What isolation this machine could not provide."""
        ...

    def close(self) -> None: ...
