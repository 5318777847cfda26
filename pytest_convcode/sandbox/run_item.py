"""The seed's repository endpoint on the sandbox service (GUIDE section 9), so that its own clients
can use ours: ``POST /run_item?do_edit=true`` with ``{idx, dp_id, file_path, replace_content,
method_name, start_line, end_line, tests}`` replaces lines ``start_line`` to ``end_line`` (0-based,
inclusive, as the seed's spans are) of the file with ``replace_content`` and runs the first 20 of
``tests`` with the repository's own runner, on a copy-on-write copy of its tree in the sandbox
(``repos.runner.run_tests``). The answer is ``{datapoint, test_output, edited_file}``; errors are
HTTP 500 with ``{"error": ...}``, as the seed's service gives them.

The repository is the service's: ``serve --repo SPEC``, an environment that ``python -m
pytest_convcode.env repo SPEC`` made on this host. The one module of the sandbox package that
reads repositories (pyproject.toml's import contracts let it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp import web

from ..errors import InfrastructureError
from ..repos.environment import RepoEnvironment, find_environment
from ..repos.runner import run_tests
from .service import Service, client_of

MAX_TESTS = 20  # the seed runs tests.full_paths[:20]
FIELDS: dict[str, type] = {
    "idx": int,
    "dp_id": str,
    "file_path": str,
    "replace_content": str,
    "method_name": str,
    "start_line": int,
    "end_line": int,
    "tests": list,
}


class ItemError(ValueError):
    pass


def routes(service: Service, spec: str) -> list[web.RouteDef]:
    """``POST /run_item`` on the repository ``spec`` (a UsageError naming the command that makes
    its environment, where this host has none)."""
    env = find_environment(spec)

    async def run_item(request: web.Request) -> web.Response:
        try:
            item = _item(await request.json())
            original = _original(env, item["file_path"])
            do_edit = request.query.get("do_edit", "true").lower() != "false"
            edited = _spliced(original, item) if do_edit else original
            labels = [str(label) for label in item["tests"][:MAX_TESTS]]
            sandbox = service.sandbox()
            run = await service.run(client_of(request), run_tests, sandbox, env, item["file_path"], edited, labels)
        except (ValueError, InfrastructureError) as exc:  # a body that is not JSON is a ValueError too
            return web.json_response({"error": f"{type(exc).__name__}: {exc}"}, status=500)
        datapoint = {
            **item,
            "tests": labels,
            "passed": run.passed,
            "ran": run.ran,
            "failures": run.failures,
            "errors": run.errors,
            "skipped": run.skipped,
            "share_passed": run.share_passed,
            "crashed": run.crashed,
            "seconds": run.seconds,
        }
        return web.json_response({"datapoint": datapoint, "test_output": run.output, "edited_file": edited})

    return [web.post("/run_item", run_item)]


def _item(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ItemError("the body must be a JSON object")
    for name, kind in FIELDS.items():
        if not isinstance(body.get(name), kind) or isinstance(body.get(name), bool):
            raise ItemError(f"field {name!r} must be a {kind.__name__}")
    return {name: body[name] for name in FIELDS}


def _original(env: RepoEnvironment, file_path: str) -> str:
    """The file as the repository has it; a path outside its tree is refused."""
    tree = env.tree.resolve()
    path = (tree / file_path).resolve()
    if Path(file_path).is_absolute() or not path.is_relative_to(tree) or not path.is_file():
        raise ItemError(f"file_path {file_path!r} is not a file of the repository {env.spec}")
    return path.read_text()


def _spliced(original: str, item: dict[str, Any]) -> str:
    lines = original.splitlines(keepends=True)
    start, end = item["start_line"], item["end_line"]
    if not 0 <= start <= end < len(lines):
        raise ItemError(f"lines {start}-{end} are not in {item['file_path']} ({len(lines)} lines)")
    content = item["replace_content"]
    return "".join([*lines[:start], content if content.endswith("\n") else content + "\n", *lines[end + 1 :]])
