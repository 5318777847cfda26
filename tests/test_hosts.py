"""Jobs spread over several sandbox services (``--sandbox-url URL,URL,URL``), each a real process:
by the capacity each advertises, and through a host that is killed midway (its unanswered jobs
resent to the others, every verdict once, none counted twice) and that comes back (used again).

The hosts are services on 127.0.0.1, and, as on a cluster, services each in a network namespace of
its own, reached over a veth pair at an address of its own (root's ``ip netns``; skipped where
namespaces cannot be made), where they need their bearer token."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from test_rest import SLEEPY, Served, call_job, serving

from pytest_convcode.sandbox.rest import TOKEN_VARIABLE, RestSandbox

SQUARE = "import time\n\ndef f(x):\n    time.sleep(0.15)\n    return x * x\n"
TOKEN = "cluster-token"


def test_jobs_go_round_the_hosts_by_their_slots(tmp_path: Path) -> None:
    with contextlib.ExitStack() as stack:
        services = [
            stack.enter_context(serving("--port", "0", "--jobs", str(slots), log=tmp_path / f"serve{n}.log"))
            for n, slots in enumerate((1, 1, 2))
        ]
        sandbox = RestSandbox(url=",".join(s.url for s in services))
        for x in range(40):
            assert sandbox.run(call_job("def f(x):\n    return x\n", [[x]])).calls[0].value == x
        sandbox.close()
    assert [n["jobs"] for n in sandbox.jobs_per_host().values()] == [10, 10, 20]


Start = Callable[[int], contextlib.AbstractContextManager[Served]]


def kill_one_midway_then_bring_it_back(start: Start) -> None:
    """Three hosts; 48 jobs from 6 threads; host 1 is killed once a dozen are answered and it has
    jobs of ours running. Every job gets its verdict once; then host 1, started again where it was,
    takes its share of 12 more."""
    with contextlib.ExitStack() as stack:
        served = [stack.enter_context(start(n)) for n in range(3)]
        sandbox = RestSandbox(url=",".join(s.url for s in served))
        stack.callback(sandbox.close)
        lost = sandbox.hosts.hosts[1]
        answered: list[int] = []

        def square(x: int) -> int:
            value = sandbox.run(call_job(SQUARE, [[x]])).calls[0].value
            answered.append(x)
            return int(value)

        with ThreadPoolExecutor(6) as pool:
            squares = pool.map(square, range(48))
            deadline = time.monotonic() + 60
            while (len(answered) < 12 or not lost.running) and time.monotonic() < deadline:
                time.sleep(0.01)
            served[1].process.send_signal(signal.SIGKILL)
            assert list(squares) == [x * x for x in range(48)]
        counts = sandbox.jobs_per_host()
        assert sum(n["jobs"] for n in counts.values()) == 48, counts  # each answer counted once
        assert counts[lost.remote.name]["resent"] > 0 and not lost.capacity, counts

        served[1].process.wait(timeout=10)
        stack.enter_context(start(1))  # back where it was
        deadline = time.monotonic() + 20
        while not lost.capacity and time.monotonic() < deadline:
            time.sleep(0.1)
        assert lost.capacity, f"{lost.remote.name} was not taken back: {lost.why}"
        before = counts[lost.remote.name]["jobs"]
        assert [square(x) for x in range(12)] == [x * x for x in range(12)]
        assert sandbox.jobs_per_host()[lost.remote.name]["jobs"] >= before + 3  # its turn in every three, or about


def test_a_host_killed_midway_has_its_jobs_resent_and_is_used_again_when_back(tmp_path: Path) -> None:
    ports: dict[int, str] = {}

    @contextlib.contextmanager
    def start(n: int) -> Iterator[Served]:
        with serving("--port", ports.get(n, "0"), "--jobs", "2", log=tmp_path / f"serve{n}.log") as served:
            ports[n] = served.url.rsplit(":", 1)[1]
            yield served

    kill_one_midway_then_bring_it_back(start)


@pytest.fixture
def namespaces() -> Iterator[list[tuple[str, str]]]:
    """Three network namespaces, each with a veth pair to this one: (name, its address)."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("network namespaces need root and iproute2's ip")
    tag, subnet = uuid.uuid4().hex[:6], random.randrange(100, 200)
    made: list[str] = []

    def ip(*args: str) -> None:
        subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)

    try:
        for n in range(3):
            name, outer, inner = f"cc{tag}{n}", f"cc{tag}{n}o", f"cc{tag}{n}i"
            try:
                ip("netns", "add", name)
            except subprocess.CalledProcessError as exc:
                pytest.skip(f"cannot make a network namespace here: {exc.stderr.decode().strip()}")
            made.append(name)
            ip("link", "add", outer, "type", "veth", "peer", "name", inner, "netns", name)
            ip("addr", "add", f"169.254.{subnet}.{4 * n + 1}/30", "dev", outer)
            ip("link", "set", outer, "up")
            ip("-n", name, "addr", "add", f"169.254.{subnet}.{4 * n + 2}/30", "dev", inner)
            ip("-n", name, "link", "set", inner, "up")
            ip("-n", name, "link", "set", "lo", "up")
        yield [(name, f"169.254.{subnet}.{4 * n + 2}") for n, name in enumerate(made)]
    finally:
        for name in made:  # its end of the veth pair goes with it, and so the pair
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30)


def test_hosts_in_namespaces_of_their_own_one_killed_midway(
    namespaces: list[tuple[str, str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = tmp_path / "token"
    token.write_text(TOKEN)
    monkeypatch.setenv(TOKEN_VARIABLE, TOKEN)

    def start(n: int) -> contextlib.AbstractContextManager[Served]:
        name, address = namespaces[n]
        args = ("--host", address, "--port", "7778", "--jobs", "2", "--token-file", str(token))
        return serving(*args, log=tmp_path / f"serve{n}.log", netns=name)

    with start(0) as served:  # off loopback, the token is asked for
        assert served.url.startswith("http://169.254.") and served.get("/capacity")[0] == 401
    kill_one_midway_then_bring_it_back(start)


def test_a_job_longer_than_the_quiet_limit_is_not_taken_for_a_lost_host(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The service's heartbeats (every 2 s) keep a long job's host counted as alive."""
    monkeypatch.setattr("pytest_convcode.sandbox.rest.QUIET_SECONDS", 3.0)
    with serving("--port", "0", log=tmp_path / "serve.log") as served:
        sandbox = RestSandbox(url=served.url)
        assert sandbox.run(call_job(SLEEPY, [[4.5]], wall=10.0)).calls[0].value == 4.5
        assert sandbox.jobs_per_host()[served.url]["resent"] == 0
        sandbox.close()
