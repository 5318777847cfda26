"""The generation core in one process: claims and who holds them, reuse, queueing, servers that
ignore n, and progress, with a model written here (no server, no pytest run)."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_convcode import datasets
from pytest_convcode.errors import Retryable
from pytest_convcode.generation import GenerationCache, GenerationOptions, Generator, Owner, Progress, request_key
from pytest_convcode.generation import generator as generator_module
from pytest_convcode.models import Answer, Request

HUMANEVAL = datasets.load("humaneval")
TASK = HUMANEVAL.tasks["HumanEval/0"]
OTHER = HUMANEVAL.tasks["HumanEval/2"]


@dataclasses.dataclass
class Model:
    """Answers after ``delay`` seconds with 3 completion tokens a call; ``ignores_n``: one
    choice a call, as llama.cpp's server; ``failures``: that many calls fail first, retryably."""

    name: str = "fake"
    cacheable: bool = True
    concurrency: int | None = None
    delay: float = 0.0
    ignores_n: bool = False
    failures: int = 0
    asked: list[int] = dataclasses.field(default_factory=list)  # each call's n
    in_flight: int = 0
    most_in_flight: int = 0

    def samples(self, task: Any) -> int:
        return 1

    def identity(self) -> dict[str, Any]:
        return {"model": self.name, "endpoint": "http://fake/v1"}

    async def generate(self, request: Request) -> list[Answer]:
        self.asked.append(request.n)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
        finally:
            self.in_flight -= 1
        if self.failures:
            self.failures -= 1
            raise Retryable("503 from the endpoint", retry_after=0.0)
        n = 1 if self.ignores_n else request.n
        answers = [Answer(f"sample {i}", finish_reason="stop") for i in range(n)]
        answers[0] = dataclasses.replace(answers[0], usage={"prompt_tokens": 5, "completion_tokens": 3})
        return answers


@pytest.fixture(autouse=True)
def _one_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests are one pytest process of their own, even in an xdist worker of this test run."""
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    monkeypatch.delenv("PYTEST_XDIST_WORKER_COUNT", raising=False)


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[GenerationCache]:
    cache = GenerationCache(tmp_path / "generations.sqlite", "run")
    yield cache
    cache.close()


def generator(model: Model, cache: GenerationCache | None, **settings: Any) -> Generator:
    return Generator(model, GenerationOptions(**settings), cache)


def exited() -> Owner:
    """The owner of a process that has ended (its start time read while it still existed)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    start = Path(f"/proc/{child.pid}/stat").read_bytes().rpartition(b")")[2].split()[19].decode()
    child.wait()
    return dataclasses.replace(Owner.this_process(), worker="gw1", pid=child.pid, start=start)


def alive() -> Owner:
    """Another process that runs: this one's parent."""
    parent = os.getppid()
    start = Path(f"/proc/{parent}/stat").read_bytes().rpartition(b")")[2].split()[19].decode()
    return dataclasses.replace(Owner.this_process(), worker="gw1", pid=parent, start=start)


# -- claims


def test_a_claim_of_a_process_that_has_exited_is_taken_over_at_once(cache: GenerationCache) -> None:
    dead = exited()
    assert cache.claim(["k"], dead, stale_after=4200) == [True]
    assert cache.claim(["k"], Owner.this_process(), stale_after=4200) == [True]
    assert cache.holder("k") is not None and cache.holder("k")[0] == str(Owner.this_process())  # type: ignore[index]


def test_a_claim_of_a_live_process_holds_and_a_recycled_pid_does_not(cache: GenerationCache) -> None:
    live = alive()
    assert cache.claim(["a", "b"], live, stale_after=4200) == [True, True]
    assert cache.claim(["a"], Owner.this_process(), stale_after=4200) == [False]
    recycled = dataclasses.replace(live, start=str(int(live.start) + 1))  # its pid, another process's start
    assert cache.claim(["c"], recycled, stale_after=4200) == [True]
    assert cache.claim(["c"], Owner.this_process(), stale_after=4200) == [True]


def test_an_item_waiting_on_a_live_claim_says_who_holds_it(
    cache: GenerationCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    said: list[str] = []
    monkeypatch.setattr(generator_module, "say", said.append)
    monkeypatch.setattr(generator_module, "WAIT_NOTICE_SECONDS", 0.2)
    model, request = Model(), Request(TASK)
    key = request_key(model, request)
    holder = alive()
    cache.claim([key], holder, stale_after=4200)
    gen = generator(model, cache)
    try:
        pending = gen.submit(request)
        deadline = time.monotonic() + 10
        while not said and time.monotonic() < deadline:
            time.sleep(0.05)
        cache.put(key, {0: Answer("def f(): pass", latency=1.5)})  # the holder answers
        (answer,) = pending.result(timeout=10)
    finally:
        gen.close()
    (line,) = said
    who = re.escape(f"gw1 (pid {holder.pid} on {holder.host})")
    assert re.fullmatch(rf"waiting for HumanEval/0: claimed by {who} since \d+ s", line)
    assert model.asked == []  # nothing asked: the live holder's answer was awaited
    assert (answer.text, answer.cached, answer.latency) == ("def f(): pass", False, 1.5)  # made in this run
    assert (answer.request_id, answer.sample) == (key, 0)  # what the row did not say


def test_waiting_on_a_process_of_this_run_says_nothing(cache: GenerationCache, monkeypatch: pytest.MonkeyPatch) -> None:
    """Under xdist every item of another worker's share waits on that worker's claim: that is
    the run sharing its work, not something to report (the notice is for another run's claims)."""
    said: list[str] = []
    monkeypatch.setattr(generator_module, "say", said.append)
    monkeypatch.setattr(generator_module, "WAIT_NOTICE_SECONDS", 0.1)
    model, request = Model(), Request(TASK)
    key = request_key(model, request)
    sibling = dataclasses.replace(Owner.this_process(), worker="gw1")  # another generator of this run
    cache.claim([key], sibling, stale_after=4200)
    gen = generator(model, cache)
    try:
        pending = gen.submit(request)
        time.sleep(0.5)
        cache.put(key, {0: Answer("def f(): pass")})
        pending.result(timeout=10)
    finally:
        gen.close()
    assert said == [] and model.asked == []  # it waited for the sibling's answer, quietly
    assert sibling.of_this_run() and not alive().of_this_run()


# -- what an answer says of its request


def test_samples_name_their_request_and_only_the_first_carries_its_cost(cache: GenerationCache) -> None:
    model = Model(delay=0.05)
    gen = generator(model, cache)
    try:
        answers = gen.answers(Request(TASK, n=3))
    finally:
        gen.close()
    key = request_key(model, Request(TASK, n=3))
    assert [(a.request_id, a.sample) for a in answers] == [(key, 0), (key, 1), (key, 2)]
    assert [a.usage for a in answers] == [{"prompt_tokens": 5, "completion_tokens": 3}, {}, {}]
    assert answers[0].latency >= 0.05 and answers[1].latency == 0.0
    assert {a.finish_reason for a in answers} == {"stop"}


def test_a_model_with_answers_at_hand_gives_each_request_an_id_of_its_own() -> None:
    gen = generator(Model(cacheable=False), None)  # a file's answers: nothing cached, nothing shared
    try:
        first, second = gen.answers(Request(TASK)), gen.answers(Request(TASK))
    finally:
        gen.close()
    assert first[0].request_id and second[0].request_id and first[0].request_id != second[0].request_id


def test_a_request_asked_again_in_the_run_is_reused_and_an_earlier_runs_answer_is_cached(
    cache: GenerationCache, tmp_path: Path
) -> None:
    model = Model(delay=0.05)
    gen = generator(model, cache)
    try:
        (first,) = gen.answers(Request(TASK))
        (again,) = gen.answers(Request(TASK))
    finally:
        gen.close()
    assert (first.cached, again.cached, again.latency, again.request_id) == (False, True, 0.0, first.request_id)
    assert first.latency > 0 and again.usage == first.usage  # the request's cost, counted once by cached
    later = GenerationCache(tmp_path / "generations.sqlite", "another run")
    rerun = generator(model, later)
    try:
        (stored,) = rerun.answers(Request(TASK))
    finally:
        rerun.close()
        later.close()
    assert (stored.cached, stored.latency, len(model.asked)) == (True, 0.0, 1)


def test_a_later_turn_is_asked_again(cache: GenerationCache) -> None:
    model = Model()
    assert request_key(model, Request(TASK)) == request_key(model, Request(TASK, turn=0))  # earlier keys stay
    gen = generator(model, cache)
    try:
        (first,) = gen.answers(Request(TASK, turn=1))
        (second,) = gen.answers(Request(TASK, turn=2))
    finally:
        gen.close()
    assert len(model.asked) == 2 and not second.cached and first.request_id != second.request_id


# -- queueing, servers that ignore n


def test_requests_queue_in_the_harness_up_to_the_models_concurrency(cache: GenerationCache) -> None:
    model = Model(concurrency=1, delay=0.2)
    gen = generator(model, cache)
    tasks = [HUMANEVAL.tasks[f"HumanEval/{i}"] for i in range(3)]
    try:
        gen.prefetch([Request(t) for t in tasks])
        answers = [gen.answers(Request(t))[0] for t in tasks]
    finally:
        gen.close()
    assert model.most_in_flight == 1
    assert all(0.2 <= a.latency < 0.39 for a in answers)  # the request's own time, not its wait
    waits = sorted(a.queue_s for a in answers)
    assert waits[0] < 0.1 and waits[1] >= 0.2 and waits[2] >= 0.4  # behind one request, then two


def test_the_processes_of_a_run_share_the_servers_slots(
    cache: GenerationCache, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two xdist workers and a server that serves one request at a time: one request in flight
    over both, and the other's wait is its queue_s, not its latency."""
    model = Model(concurrency=1, delay=0.2)
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "2")
    tasks = [HUMANEVAL.tasks[f"HumanEval/{i}"] for i in range(4)]
    workers = []
    for worker in ("gw0", "gw1"):
        monkeypatch.setenv("PYTEST_XDIST_WORKER", worker)
        own = GenerationCache(cache.path, cache.run_id)  # each worker has its own connection
        workers.append((generator(model, own), own))
        workers[-1][0].prefetch([Request(t) for t in tasks])  # each claims its share: every other task
    try:
        answers = [workers[i % 2][0].answers(Request(t))[0] for i, t in enumerate(tasks)]
    finally:
        for gen, own in workers:
            gen.close()
            own.close()
    assert model.most_in_flight == 1
    assert all(0.2 <= a.latency < 0.39 for a in answers)
    assert sum(a.queue_s for a in answers) >= 0.2 + 0.4 + 0.6 - 0.1  # three waited behind the others


def test_a_server_that_ignores_n_is_asked_one_sample_a_call_from_then_on(
    cache: GenerationCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    said: list[str] = []
    monkeypatch.setattr(generator_module, "say", said.append)
    model = Model(ignores_n=True)
    gen = generator(model, cache)
    try:
        first = gen.answers(Request(TASK, n=3))
        gen.answers(Request(OTHER, n=2))
    finally:
        gen.close()
    assert model.asked == [3, 1, 1, 1, 1]  # found out once; the next request asks one at a time
    assert said == ["fake at http://fake/v1 ignores n: asking for the 3 samples one at a time"]
    assert [a.text for a in first] == ["sample 0"] * 3 and [a.sample for a in first] == [0, 1, 2]
    assert [a.usage for a in first] == [{"prompt_tokens": 15, "completion_tokens": 9}, {}, {}]  # the 3 calls'


# -- progress


def test_progress_of_a_generator_and_of_the_run(cache: GenerationCache) -> None:
    model = Model(failures=1)
    gen = generator(model, cache, max_retries=2)
    try:
        assert gen.progress() == Progress()
        gen.answers(Request(TASK, n=2))
        gen.answers(Request(OTHER))
        mine = gen.progress()
    finally:
        gen.close()
    assert dataclasses.replace(mine, seconds=0.0) == Progress(answered=2, completion_tokens=6, retries=1)
    assert mine.seconds > 0
    cache.report(exited(), "fake", Progress(in_flight=4, answered=1, completion_tokens=7), time.time() - 60)
    cache.report(alive(), "fake", Progress(in_flight=2, answered=3, completion_tokens=1), time.time() - 30)
    run = cache.progress()
    assert dataclasses.replace(run, seconds=0.0) == Progress(
        in_flight=2, answered=6, completion_tokens=14, retries=1
    )  # the ended process's requests are in flight no more
    assert 60 <= run.seconds < 70
    assert GenerationCache(cache.path, "another run").progress() == Progress()


def test_a_coder_and_a_user_of_the_same_model_in_one_process_are_both_counted(cache: GenerationCache) -> None:
    coder, user = generator(Model(), cache), generator(Model(), cache)  # --user-model gguf:<the coder's file>
    try:
        coder.answers(Request(TASK))
        user.answers(Request(OTHER, verbatim=True))
    finally:
        coder.close()
        user.close()
    assert cache.progress().answered == 2
