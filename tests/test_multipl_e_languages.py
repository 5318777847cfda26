"""MultiPL-E's languages with their own compilers, in the sandbox: HumanEval_23_strlen given a right
body and deliberately wrong ones (a compile error, a runtime exception, a wrong answer, an endless
loop) in each language installed here, and programs that do harm (fork without end, write outside
their directory, open a socket), which fail as a Python candidate's would: a failure (F) with its
reason, never an error (E), and nothing changed on the machine.

A language whose toolchain is missing is skipped, naming the command that installs it; CI
installs a few quick ones (``.ci/run``). The matrix is the slow tier (a compiler per program)."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from multipl_e_toolchains import program_judge, ready

from pytest_convcode.datasets.multipl_e import load
from pytest_convcode.languages.catalog import LANGUAGES, Language
from pytest_convcode.languages.judge import ProgramJudge
from pytest_convcode.languages.running import Outcome

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = ("right", "wrong", "crash", "loop", "syntax")
# strlen's body in each language: right, wrong answer, runtime exception, endless loop, compile error.
# Where the tests do not close the function (closed_by_tests), the body does.
BODIES: dict[str, tuple[str, str, str, str, str]] = {
    "cpp": ("return string.size();\n", "return 0;\n", "throw 1;\n", "while (true) {}\n", "return string.size(\n"),
    "cs": (
        "return str.Length;\n",
        "return 0;\n",
        "throw new Exception();\n",
        "while (true) {}\n",
        "return str.Length(\n",
    ),
    "java": (
        "return string.length();\n",
        "return 0;\n",
        "throw new RuntimeException();\n",
        "while (true) {}\n",
        "return string.length(\n",
    ),
    "js": ("return string.length;\n}\n", "return 0;\n}\n", "throw 1;\n}\n", "while (true) {}\n}\n", "return (;\n}\n"),
    "sh": ('echo "${#1}"\n', "echo 0\n", "exit 3\n", "while true; do :; done\n", "if then fi\n"),
    "go": ("return len(myString)\n}\n", "return 0\n}\n", 'panic("no")\n}\n', "for {}\n}\n", "return len(myString\n}\n"),
    "rs": ("return string.len() as isize;\n", "return 0;\n", 'panic!("no");\n', "loop {}\n", "return string.len(\n"),
    "python": (
        "    return len(string)\n",
        "    return 0\n",
        "    raise ValueError\n",
        "    while True: pass\n",
        "    return (\n",
    ),
    "lua": (
        "return #string\nend\n",
        "return 0\nend\n",
        'error("no")\nend\n',
        "while true do end\nend\n",
        "return (\nend\n",
    ),
    "rb": ("string.length\nend\n", "0\nend\n", 'raise "no"\nend\n', "loop do end\nend\n", "string.length(\nend\n"),
    "r": ("\nnchar(string)\n}\n", "\n0\n}\n", '\nstop("no")\n}\n', "\nrepeat {}\n}\n", "\nnchar(string\n}\n"),
    "pl": ("return length($string);\n}\n", "return 0;\n}\n", 'die "no";\n}\n', "while (1) {}\n}\n", "return (;\n}\n"),
    "d": (
        "{\n    return string.length;\n}\n",
        "{\n    return 0;\n}\n",
        '{\n    throw new Exception("no");\n}\n',
        "{\n    while (true) {}\n}\n",
        "{\n    return string.length(\n}\n",
    ),
    "rkt": (
        "  (string-length string))\n",
        "  0)\n",
        '  (error "no"))\n',
        "  (let loop () (loop)))\n",
        "  (string-length\n",
    ),
    "scala": (
        "return string.length\n",
        "return 0\n",
        "throw new Exception()\n",
        "while (true) {}\nreturn 0\n",
        "return (\n",
    ),
}
BODIES |= {"cs-bu": BODIES["cs"], "ts": BODIES["js"]}


@pytest.fixture(scope="module")
def judge() -> Iterator[ProgramJudge]:
    with program_judge() as judge:
        yield judge


TASKS = {"php": "HumanEval_53_add"}


def strlen(language: Language, body: str) -> str:
    task = load().tasks[f"{TASKS.get(language.name, 'HumanEval_23_strlen')}-{language.name}"]
    return language.program(task.prompt + body, task.tests)


def judged(judge: ProgramJudge, language: Language, programs: list[str]) -> list[Outcome]:
    with ThreadPoolExecutor(len(programs)) as pool:  # the loop waits out its time limit: all at once
        return list(pool.map(lambda program: judge.judge(language, program), programs))


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(BODIES))
def test_wrong_programs_fail_with_the_right_status_in_each_language(judge: ProgramJudge, name: str) -> None:
    language = LANGUAGES[name]
    ready(language, judge)
    outcomes = judged(judge, language, [strlen(language, body) for body in BODIES[name]])
    statuses = dict(zip(VARIANTS, ((o.status, o.passed) for o in outcomes), strict=True))
    syntax = "SyntaxError" if language.compile or language.syntax_errors else "Exception"
    assert statuses == {
        "right": ("OK", True),
        "wrong": ("Exception", False),
        "crash": ("Exception", False),
        "loop": ("Timeout", False),
        "syntax": (syntax, False),
    }, [o.detail[:300] for o in outcomes]


# programs that do harm, and return the right length only if the harm was done
HARM = {
    "cpp": (
        'FILE* f = fopen("{outside}", "w"); if (!f) return -1; fputs("x", f); fclose(f);\nreturn string.size();\n',
        "int s = socket(AF_INET, SOCK_STREAM, 0); sockaddr_in a{{}}; a.sin_family = AF_INET;\n"
        "a.sin_port = htons({port});\n"
        'inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);\n'
        "if (connect(s, (sockaddr*)&a, sizeof a) != 0) return -1;\nreturn string.size();\n",
        "while (true) fork();\n",
    ),
    "sh": (
        'echo x > "{outside}" || return 1\necho "${{#1}}"\n',
        'exec 3<>/dev/tcp/127.0.0.1/{port} || return 1\necho "${{#1}}"\n',
        'f() {{ f | f & }}; f\necho "${{#1}}"\n',
    ),
}
HEADERS = {"cpp": "#include <sys/socket.h>\n#include <netinet/in.h>\n#include <arpa/inet.h>\n#include <unistd.h>\n"}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(HARM))
def test_programs_that_do_harm_fail_and_leave_the_machine_as_it_was(judge: ProgramJudge, name: str) -> None:
    language = LANGUAGES[name]
    ready(language, judge)
    outside = ROOT / f"multipl-e-harm-{uuid.uuid4().hex}"
    with socket.socket() as listener:  # on the host's loopback: a job has a loopback of its own
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        bodies = [body.format(outside=outside, port=port) for body in HARM[name]]
        outcomes = judged(judge, language, [HEADERS.get(name, "") + strlen(language, body) for body in bodies])
    assert [o.passed for o in outcomes] == [False, False, False], [o.detail[:300] for o in outcomes]
    assert outcomes[2].status in ("Timeout", "Exception")  # forks until its process limit, then its time limit
    assert not outside.exists()
