"""``python -m pytest_convcode.env bigcodebench``: make the environment BigCodeBench's tasks run
in, check it, and say what to pass to ``--sandbox-python``. ``python -m pytest_convcode.env repo
SPEC``: fetch a repository (``django==4.0.4`` or a checkout's path), make the environment its own
tests run in, check its test runner, and record it for the repository-task suite and the miner.
``python -m pytest_convcode.env multipl-e --language java,cpp``: install MultiPL-E's toolchains
(``toolchains.py``).

Exit status: 0 when the environment was made and checked (for BigCodeBench: every module the
tasks import imports there), 1 when BigCodeBench's was made but some modules do not import
(they are listed, with the tasks that need them), 2 when it could not be made, its check failed
or the command line is wrong.
"""

from __future__ import annotations

import argparse
import compileall
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from ..datasets import bigcodebench
from ..datasets.bigcodebench import LEADERBOARD_BUDGET
from ..errors import InfrastructureError, UsageError
from ..repos.environment import RepoEnvironment, default_path, runner_of, save
from ..repos.runner import TestRun, run_direct
from ..repos.source import fetch
from . import AUTO, ENVIRONMENTS, HIDDEN, Made, hidden_from_jobs, record_file, references, toolchains
from . import default_path as env_path
from . import save as save_made
from .build import BuildError, StatusLine, check_existing, default_base_python, install, make, make_venv

SHOWN_TASKS = 6
SHOWN_CHARS = 240  # of why a reference fails, on its line of the summary
_ERROR = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Failure)\b:")  # a traceback's exception line
REPO = "repo"
# a repository's test requirements, where repositories keep them (Django: the first)
TEST_REQUIREMENTS = (
    "tests/requirements/py3.txt",
    "tests/requirements.txt",
    "requirements-test.txt",
    "requirements/test.txt",
    "test-requirements.txt",
)
# what every repository environment needs beside its own: the miner's coverage, a runner for pytest's
TOOLS = {"django": ["coverage>=7"], "pytest": ["coverage>=7", "pytest>=7"]}
DJANGO_CHECK = "utils_tests.test_text"  # a quick part of Django's suite; other repositories: their whole suite
CHECK_SECONDS = 600.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pytest_convcode.env",
        description="Make the environment a suite's tasks run in, check it, and say how the suite finds it.",
    )
    parser.add_argument("name", choices=[*sorted(ENVIRONMENTS), REPO, toolchains.NAME], help="the environment to make")
    parser.add_argument("spec", nargs="?", help="repo: a PyPI sdist pinned to a version (django==4.0.4) or a checkout")
    parser.add_argument("--path", type=Path, help="where to make it (default: the machine's cache, envs/NAME)")
    parser.add_argument(
        "--requirements",
        type=Path,
        help="a pip requirements file instead of the bundled one "
        "(repo: of its tests, instead of the one found in its tree)",
    )
    parser.add_argument("--python", default=default_base_python(), help="the interpreter to make it from")
    parser.add_argument(
        "--check",
        nargs="+",
        metavar="LABEL",
        help="repo: the tests that check its runner "
        "(default: Django's utils_tests.test_text; another repository's whole suite)",
    )
    parser.add_argument("--language", help="multipl-e: languages, comma-separated, or all (default: the kit's 7)")
    parser.add_argument(
        "--existing",
        metavar="PYTHON",
        help="bigcodebench: check an interpreter made elsewhere (its imports and the reference solutions) "
        "instead of making one; nothing is recorded for --sandbox-python auto",
    )
    parser.add_argument(
        "--no-references",
        action="store_true",
        help="bigcodebench: do not run every task's reference solution (runs then run a failing program's)",
    )
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="bigcodebench: reference solutions run at once"
    )
    args = parser.parse_args(argv)
    if args.name == toolchains.NAME:
        return toolchains.run(args.language)
    if args.requirements and not args.requirements.is_file():
        parser.exit(2, f"error: --requirements {args.requirements}: no such file\n")
    if args.path and hidden_from_jobs(args.path):
        parser.exit(2, f"error: --path {args.path.absolute()}: {HIDDEN}; choose another place\n")
    if args.name == REPO:
        if not args.spec:
            parser.exit(2, "error: repo: name the repository: django==4.0.4, or a checkout's path\n")
        return _repo(args)
    if args.spec or args.check:
        parser.exit(2, f"error: {args.name} takes no repository or --check: those are repo's\n")
    if args.existing and not Path(args.existing).is_file():
        parser.exit(2, f"error: --existing {args.existing}: no such interpreter\n")
    return _bigcodebench(args)


def _bigcodebench(args: argparse.Namespace) -> int:
    env = ENVIRONMENTS[args.name]
    try:
        if args.existing:
            print(f"checking the interpreter {args.existing} for {env.name}'s tasks", flush=True)
            made = check_existing(env, Path(args.existing), sys.stdout)
        else:
            requirements = args.requirements or env.requirements
            path = (args.path or env_path(env.name)).absolute()
            print(f"making the {env.name} environment in {path} from {requirements}", flush=True)
            made = make(env, path, requirements, args.python, sys.stdout)
            save_made(env.name, made)
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        checked = [] if args.no_references else _references(made.python, args.workers)
    except InfrastructureError as exc:
        print(f"error: the reference solutions could not run: {exc}", file=sys.stderr)
        return 2
    print(summary(env.name, made, env.modules(), checked, recorded=not args.existing))
    return 1 if made.missing else 0


def _references(python: str, workers: int) -> list[str]:
    """Every task's reference solution, run once under the suite's budget: the lines that say how they did."""
    dataset = bigcodebench.load(None, None)
    status = StatusLine(sys.stdout)
    try:
        where, failures = references.check_all(dataset, python, LEADERBOARD_BUDGET, workers, status)
    finally:
        status.end()
    n = len(dataset.tasks)
    lines = [f"reference solutions: {n - len(failures)} of {n} pass here (verdicts kept in {where})"]
    for task_id, why in sorted(failures.items()):
        lines.append(f"  {task_id} cannot be judged here: {failure_gist(why)[:SHOWN_CHARS]}")
    return lines


def failure_gist(why: str) -> str:
    """What failed, and the error it ended with: the traceback's last exception line, with the
    first line of text after it where it has no message of its own (NLTK's "LookupError:" box),
    else the last line with words in it."""
    said = [line.strip() for line in why.strip().splitlines()]
    errors = [i for i, line in enumerate(said) if _ERROR.match(line)]
    if not errors:  # cut off above the kept lines: the last line that says something
        last = next((line for line in reversed(said[1:]) if any(c.isalnum() for c in line)), "")
        return f"{said[0].rstrip(':')}: {last}" if last else said[0]
    error = said[errors[-1]]
    if error.endswith(":"):
        error += " " + next((line for line in said[errors[-1] + 1 :] if any(c.isalnum() for c in line)), "")
    return f"{said[0].rstrip(':')}: {error}"


def summary(
    name: str, made: Made, modules: dict[str, tuple[str, ...]], checked: Sequence[str] = (), recorded: bool = True
) -> str:
    """What the check found, and the option that uses the environment."""
    lines = [f"checked: {len(modules) - len(made.missing)} of {len(modules)} modules the tasks import"]
    for module, why in sorted(made.missing.items()):
        tasks = modules.get(module, ())
        shown = ", ".join(tasks[:SHOWN_TASKS]) + (
            f" and {len(tasks) - SHOWN_TASKS} more" if len(tasks) > SHOWN_TASKS else ""
        )
        lines.append(f"  missing {module} ({why}): {len(tasks)} tasks: {shown}")
    if made.missing:
        needing = {task for module in made.missing for task in modules.get(module, ())}
        lines.append(f"{len(needing)} tasks need a module this environment lacks: their runs are environment errors")
    lines += checked
    also = f"   (or --sandbox-python {AUTO}: recorded in {record_file(name)})" if recorded else ""
    lines.append(f"run with: --sandbox-python {made.python}{also}")
    return "\n".join(lines)


def _repo(args: argparse.Namespace) -> int:
    status = StatusLine(sys.stdout)
    try:
        status.show("fetching the source", args.spec)
        source = fetch(args.spec)
        path = (args.path or default_path(source)).absolute()
        env = RepoEnvironment(args.spec, source.tree, make_venv(path, args.python, status), runner_of(source.tree))
        _install_tree(env, status)
        skipped = _install_tests_requirements(env, args.requirements, status)
        status.show("compiling the tree", "so that each test run imports it from its bytecode")
        compileall.compile_dir(env.tree, quiet=2, workers=0)
        quick = (env.tree / "tests/utils_tests/test_text.py").is_file()
        labels = args.check or ([DJANGO_CHECK] if env.runner == "django" and quick else [])
        status.show("checking the test runner", " ".join(labels) or "the whole suite")
        check = run_direct(env, env.tree, labels, CHECK_SECONDS)
    except (BuildError, UsageError) as exc:
        status.end()
        print(f"error: {exc}", file=sys.stderr)
        return 2
    status.end()
    if check.crashed or check.ran == 0 or check.failures or check.errors:  # a suite may skip some
        why = check.crashed or f"{check.ran} tests ran, {check.failures} failed, {check.errors} erred"
        print(f"error: the test runner's check did not pass ({why}):\n{check.output[-3000:]}", file=sys.stderr)
        return 2
    save(env, skipped)
    print(repo_summary(env, skipped, check, labels))
    return 0


def _install_tree(env: RepoEnvironment, status: StatusLine) -> None:
    """The package from a copy of its tree (a build writes into the tree it builds), with the tools."""
    with tempfile.TemporaryDirectory(prefix="convcode-build-") as scratch:
        requirements = Path(scratch) / "requirements.txt"
        needed = TOOLS[env.runner]
        if any((env.tree / name).is_file() for name in ("pyproject.toml", "setup.py")):
            copy = shutil.copytree(env.tree, Path(scratch) / "tree", symlinks=True)
            needed = [str(copy), *needed]
        requirements.write_text("\n".join(needed) + "\n")
        install(env.python, requirements, status)


def _install_tests_requirements(env: RepoEnvironment, given: Path | None, status: StatusLine) -> dict[str, str]:
    """The test requirements that install from wheels (quick, no compiler), in one pip run; one
    that pip names as the trouble is skipped, with pip's reason, and the rest tried again (each
    alone, when pip names none)."""
    found = given or next((env.tree / name for name in TEST_REQUIREMENTS if (env.tree / name).is_file()), None)
    lines = [line.partition("#")[0].strip() for line in found.read_text().splitlines()] if found else []
    pending = [line for line in lines if line and not line.startswith("-")]
    skipped: dict[str, str] = {}
    while pending:
        if (why := _wheels(env, pending, status)) is None:
            break
        named = [line for line in pending if f"for {_project(line)}".lower() in why.lower()]
        if not named:
            for line in pending:
                if (alone := _wheels(env, [line], status)) is not None:
                    skipped[line] = alone
            break
        skipped.update((line, why) for line in named)
        pending = [line for line in pending if line not in named]
    return skipped


def _wheels(env: RepoEnvironment, lines: list[str], status: StatusLine) -> str | None:
    """Install ``lines`` from wheels only: None, or why pip failed."""
    with tempfile.TemporaryDirectory(prefix="convcode-requirements-") as scratch:
        requirements = Path(scratch) / "requirements.txt"
        requirements.write_text("--only-binary :all:\n" + "\n".join(lines) + "\n")
        try:
            install(env.python, requirements, status)
        except BuildError as exc:
            return str(exc)
    return None


def _project(requirement: str) -> str:
    """The project a requirement line names: "pylibmc" of "pylibmc; sys.platform != 'win32'"."""
    return re.split(r"[\s;<>=!~\[]", requirement, maxsplit=1)[0]


def repo_summary(env: RepoEnvironment, skipped: dict[str, str], check: TestRun, labels: list[str]) -> str:
    lines = [f"made {env.spec}'s environment: {env.python} ({env.runner}'s runner, tree {env.tree})"]
    lines += [f"  skipped test requirement {name}: {why}" for name, why in sorted(skipped.items())]
    checked = " ".join(labels) or "the whole suite"
    lines.append(
        f"checked: {checked}: {check.ran} tests ran ({check.skipped} skipped), none failed, in {check.seconds:.1f} s"
    )
    lines.append(f"recorded: the repository-task suite and the miner find it by the name {env.spec}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
