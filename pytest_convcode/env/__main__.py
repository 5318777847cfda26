"""``python -m pytest_convcode.env bigcodebench``: make the environment BigCodeBench's tasks run
in, check it, and say what to pass to ``--sandbox-python``.

Exit status: 0 when every module the tasks import imports there, 1 when the environment was
made but some do not (they are listed, with the tasks that need them), 2 when it could not be
made or the command line is wrong.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import AUTO, ENVIRONMENTS, HIDDEN, Made, default_path, hidden_from_jobs, record_file, save
from .build import BuildError, default_base_python, make

SHOWN_TASKS = 6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pytest_convcode.env",
        description="Make the environment a suite's tasks run in, check it, and say what to pass to --sandbox-python.",
    )
    parser.add_argument("name", choices=sorted(ENVIRONMENTS), help="the environment to make")
    parser.add_argument("--path", type=Path, help="where to make it (default: the machine's cache, envs/NAME)")
    parser.add_argument("--requirements", type=Path, help="a pip requirements file instead of the bundled one")
    parser.add_argument("--python", default=default_base_python(), help="the interpreter to make it from")
    args = parser.parse_args(argv)
    env = ENVIRONMENTS[args.name]
    requirements = args.requirements or env.requirements
    if not requirements.is_file():
        parser.exit(2, f"error: --requirements {requirements}: no such file\n")
    path = (args.path or default_path(env.name)).absolute()
    if hidden_from_jobs(path):
        parser.exit(2, f"error: --path {path}: {HIDDEN}; choose another place\n")
    print(f"making the {env.name} environment in {path} from {requirements}", flush=True)
    try:
        made = make(env, path, requirements, args.python, sys.stdout)
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    save(env.name, made)
    print(summary(env.name, made, env.modules()))
    return 1 if made.missing else 0


def summary(name: str, made: Made, modules: dict[str, tuple[str, ...]]) -> str:
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
    lines.append(
        f"run with: --sandbox-python {made.python}   (or --sandbox-python {AUTO}: recorded in {record_file(name)})"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
