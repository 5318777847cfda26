"""Conversations: the model answers, its program is tested, feedback goes back, until a turn passes
or the turns run out (ConvCodeWorld's loop, for any data set whose suite can test a program).

Conversations run ahead in a background asyncio loop, many at once, so that a model endpoint has
requests in flight while pytest items, one at a time, wait for the turn each one judges. Turn 0 is
the same in every setting (no feedback yet), so it is made once per task and shared (the settings
after the first record its answer as reused: ``cached``). Each request names its turn, so that a
prompt repeated at a later turn is asked again rather than answered the same. A turn waits
for the turns before it, so selecting a late turn still computes the early ones; once a turn
passes, the later ones are settled as solved without running anything.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import threading
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any, Literal, Protocol, TypeVar, get_args

from .errors import InfrastructureError, UsageError
from .feedback import Outcome, Setting, compilation_feedback, execution_feedback, parse_settings, simulate
from .feedback.execution import Rule
from .feedback.turn import Feedback
from .models import Answer, Message, Request
from .options import option
from .tasks import Problem

Context = Literal["latest", "full"]
MAX_TURNS = 10
P = TypeVar("P", bound=Problem, contravariant=True)


class EnvironmentProblem(InfrastructureError):
    """The tests cannot run on this machine (a library the task needs is missing): not the model's fault."""


@dataclass(frozen=True)
class Evaluation:
    """A program's run against a problem's hidden tests."""

    passed: bool
    outcomes: tuple[Outcome, ...] = ()
    run_error: str = ""  # a failure of the whole run (import, time-out before any result)
    environment_error: str = ""  # the machine, not the program, kept the tests from running
    explanation: str = ""  # why it did not pass, in a line or a traceback, for a person


class Tester(Protocol[P]):
    """How a suite poses a problem and tests a program; ``evaluate`` blocks and must be thread-safe."""

    def statement(self, problem: P) -> str:
        """The first user message: what the model is asked to write."""
        ...

    def ground_truth(self, problem: P) -> str:
        """The reference program, for the expert user's eyes only."""
        ...

    def public_tests(self, problem: P, rule: Rule) -> tuple[str, ...]:
        """The tests a partial execution-feedback setting shows."""
        ...

    def evaluate(self, problem: P, program: str) -> Evaluation: ...


@dataclass(frozen=True)
class Options:
    """How conversations go: the command line's conversation options."""

    feedback: tuple[Setting, ...] | None = option(
        "--feedback",
        help="converse in these settings: 'all' or ids separated by commas, e.g. cf-ef_full,cf-expert "
        "(ConvCodeWorld: all nine; other suites: single turn unless given)",
        parse=parse_settings,
        show=lambda settings: [s.id for s in settings],
    )
    max_turns: int = option(
        "--max-turns", default=MAX_TURNS, type=int, help="feedback rounds after turn 0 (default: 10)"
    )
    context: Context = option(  # the paper's: the problem, the latest code, the latest feedback
        "--context",
        default="latest",
        help="what each turn sends: the problem, latest code and feedback (latest, the paper's) or the whole history",
    )
    partial_rule: Rule = option(
        "--partial-rule",
        default="tests",
        help="public tests of partial execution feedback: the first 3 test methods (tests) "
        "or ConvCodeWorld's first 3 methods of any name (original)",
    )

    def __post_init__(self) -> None:
        if self.context not in get_args(Context):
            raise UsageError(f"unknown context {self.context!r}; use one of {get_args(Context)}")
        if not 0 <= self.max_turns <= 100:
            raise UsageError(f"--max-turns must be between 0 and 100, not {self.max_turns}")


@dataclass(frozen=True)
class Turn:
    """One attempt: the feedback it answers (None at turn 0) and the simulated user's answer that
    gave that feedback (if a user did), what the model was sent, what it answered, and how its
    program fared."""

    index: int
    messages: tuple[Message, ...]
    answer: Answer
    program: str
    evaluation: Evaluation
    feedback: Feedback | None = None
    user_answer: Answer | None = None


@dataclass(frozen=True)
class TurnResult:
    """What an item learns of its turn. ``turn`` is None when an earlier turn had solved the task."""

    index: int
    solved_at: int | None  # the conversation's first passing turn, if it is this one or earlier
    turn: Turn | None

    @property
    def passed(self) -> bool:
        return self.solved_at is not None

    @property
    def explanation(self) -> str:
        if self.solved_at is not None:
            return f"solved at turn {self.solved_at}"
        assert self.turn is not None
        return self.turn.evaluation.explanation or "the tests did not pass"


AskModel = Callable[[Request], Awaitable[Answer]]


class ConversationLog:
    """One JSON line per turn, written as the turn ends (format: docs/conversation-log.md)."""

    def __init__(self, path: Path, run_id: str, model: str) -> None:
        self.path = path
        self.run_id = run_id
        self.model = model
        self._file: IO[str] | None = None
        self._lock = threading.Lock()

    def write(self, problem: Problem, setting: Setting, turn: Turn) -> None:
        answer, evaluation = turn.answer, turn.evaluation
        entry: dict[str, Any] = {
            "run_id": self.run_id,
            "model": self.model,
            "task_id": problem.task_id,
            "setting": setting.id,
            "turn": turn.index,
            "messages": [{"role": m.role, "content": m.content} for m in turn.messages],
            "reply": answer.reply if answer.reply is not None else answer.text,
            "program": turn.program,
            "passed": evaluation.passed,
            "tests": {o.name: o.status for o in evaluation.outcomes},
            "run_error": evaluation.run_error,
            "usage": answer.usage,
            "latency_s": answer.latency,
            "cached": answer.cached,
            "feedback": turn.feedback.to_json() if turn.feedback is not None else None,
        }
        self.append(entry)

    def append(self, entry: dict[str, Any]) -> None:
        """One line as given: a turn of another kind's conversation (``kinds/repo_tasks.py``)."""
        line = json.dumps(entry) + "\n"
        with self._lock:
            if self._file is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - open for the run
            self._file.write(line)
            self._file.flush()

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


@dataclass
class _Conversation:
    turns: list[concurrent.futures.Future[TurnResult]]
    started: bool = False


@dataclass
class Conversations:
    """Runs the conversations of one pytest process. ``ask_user`` answers the simulated user's
    prompts; None means no settings with a user can run. ``evaluations`` bounds the programs
    tested at once (they take a CPU each)."""

    tester: Tester[Any]
    ask_model: AskModel
    ask_user: AskModel | None
    options: Options = field(default_factory=Options)
    log: ConversationLog | None = None
    evaluations: int = 1
    _live: dict[tuple[str, str], _Conversation] = field(default_factory=dict, init=False)
    _first: dict[str, asyncio.Task[Turn]] = field(default_factory=dict, init=False)  # the loop's only
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def __post_init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="convcode-conversations", daemon=True)
        self._thread.start()
        self._slots = asyncio.Semaphore(self.evaluations)

    def start(self, problem: Problem, setting: Setting) -> None:
        """Begin the conversation now, if it has not begun, without waiting for it."""
        with self._lock:
            conversation = self._conversation(problem, setting)
            if conversation.started:
                return
            conversation.started = True
        asyncio.run_coroutine_threadsafe(self._converse(problem, setting, conversation.turns), self._loop)

    def result(self, problem: Problem, setting: Setting, index: int) -> TurnResult:
        """Turn ``index`` of the conversation, once it (and every turn before it) is done."""
        if not 0 <= index <= self.options.max_turns:
            raise UsageError(f"turn {index} is past --max-turns {self.options.max_turns}")
        self.start(problem, setting)
        with self._lock:
            future = self._conversation(problem, setting).turns[index]
        return future.result()

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        if self.log is not None:
            self.log.close()

    # -- inside: the loop thread

    def _conversation(self, problem: Problem, setting: Setting) -> _Conversation:
        key = (problem.task_id, setting.id)
        if key not in self._live:
            futures = [concurrent.futures.Future[TurnResult]() for _ in range(self.options.max_turns + 1)]
            self._live[key] = _Conversation(futures)
        return self._live[key]

    async def _converse(
        self, problem: Problem, setting: Setting, results: list[concurrent.futures.Future[TurnResult]]
    ) -> None:
        if setting.user != "none" and self.ask_user is None:
            _fail_all(results, UsageError(f"setting {setting.id} simulates a user: give --user-model"))
            return
        history: list[tuple[Turn, Feedback, Answer | None]] = []  # each failed turn, its feedback, the user's answer
        try:
            for index in range(self.options.max_turns + 1):
                if index == 0:
                    turn = await self._first_turn(problem)
                else:
                    turn = await self._next_turn(problem, history)
                if turn.evaluation.environment_error:
                    raise EnvironmentProblem(turn.evaluation.environment_error)
                if self.log is not None:
                    self.log.write(problem, setting, turn)
                passed = turn.evaluation.passed
                results[index].set_result(TurnResult(index, index if passed else None, turn))
                if passed:
                    for later in range(index + 1, len(results)):
                        results[later].set_result(TurnResult(later, index, None))
                    return
                if index < self.options.max_turns:  # a feedback failure fails the turns after this one
                    history.append((turn, *await self._feedback(problem, setting, turn)))
        except Exception as exc:
            _fail_all(results, exc)

    async def _first_turn(self, problem: Problem) -> Turn:
        """Turn 0, shared by every setting of the task: the first to ask has its answer, the
        others reuse it."""
        shared = self._first.get(problem.task_id)
        if shared is None:
            messages = turn_messages(self.tester.statement(problem), ())
            self._first[problem.task_id] = asyncio.ensure_future(self._attempt(problem, 0, messages))
            return await self._first[problem.task_id]
        turn = await shared
        return replace(turn, answer=turn.answer.reused())

    async def _next_turn(self, problem: Problem, history: list[tuple[Turn, Feedback, Answer | None]]) -> Turn:
        shown = history if self.options.context == "full" else history[-1:]
        programs = [(turn.program, feedback) for turn, feedback, _ in shown]
        messages = turn_messages(self.tester.statement(problem), programs)
        attempt = await self._attempt(problem, len(history), messages)
        _, feedback, user_answer = history[-1]
        return replace(attempt, feedback=feedback, user_answer=user_answer)

    async def _attempt(self, problem: Problem, index: int, messages: tuple[Message, ...]) -> Turn:
        answer = await self.ask_model(Request(problem, messages, turn=index))
        program = program_of(answer, problem)
        async with self._slots:
            evaluation = await asyncio.to_thread(self.tester.evaluate, problem, program)
        return Turn(index, messages, answer, program, explained(evaluation, answer))

    async def _feedback(self, problem: Problem, setting: Setting, turn: Turn) -> tuple[Feedback, Answer | None]:
        """The feedback on a failed turn, and the simulated user's answer when one gave it."""
        compilation = compilation_feedback(turn.program)
        execution = None
        if setting.execution != "none":
            evaluation = turn.evaluation
            public = (
                None if setting.execution == "full" else self.tester.public_tests(problem, self.options.partial_rule)
            )
            execution = execution_feedback(evaluation.outcomes, public=public, run_error=evaluation.run_error)
        user = None
        answered: list[Answer] = []
        if setting.user != "none":
            ask_user = self.ask_user
            assert ask_user is not None  # checked when the conversation began

            async def ask(messages: list[Message]) -> str:
                answered.append(await ask_user(Request(problem, tuple(messages), verbatim=True, turn=turn.index)))
                return answered[-1].text

            user = await simulate(
                setting.user,
                problem=self.tester.statement(problem),
                code=turn.program,
                ground_truth=self.tester.ground_truth(problem),
                compilation=compilation,
                execution=execution,
                ask=ask,
            )
        return Feedback(compilation, execution, user), answered[-1] if answered else None


def program_of(answer: Answer, problem: Problem) -> str:
    """The program a turn's answer gives: none where the reply held no code."""
    return answer.program(problem) if answer.text else ""


def explained(evaluation: Evaluation, answer: Answer) -> Evaluation:
    """The evaluation of a turn, saying why where the reply held no program (or one cut short at
    max_tokens)."""
    if not answer.why:
        return evaluation
    return replace(evaluation, explanation=f"the reply held no program: {answer.why}")


def turn_messages(statement: str, shown: Sequence[tuple[str, Feedback]]) -> tuple[Message, ...]:
    """What a turn sends: the task, then each earlier program shown with the feedback on it
    (ConvCodeBench's turns show the reference's program and the feedback logged on it)."""
    messages = [Message("user", statement)]
    for program, feedback in shown:
        messages.append(Message("assistant", f"```python\n{program.strip()}\n```"))
        messages.append(Message("user", feedback.message()))
    return tuple(messages)


def _fail_all(results: list[concurrent.futures.Future[TurnResult]], exc: BaseException) -> None:
    for future in results:
        if not future.done():
            future.set_exception(exc)
