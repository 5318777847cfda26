"""Items: the ``convcode_verdict`` fixture judges an item's case while the item is set up (so
harness trouble is an error, E), the suite module's test passes or fails on the verdict (F), and
the item's report carries its record to the process that keeps the run's log."""

from __future__ import annotations

from typing import Any

import pytest

from ..errors import InfrastructureError, UsageError
from ..kinds import Case, Verdict
from .collection import case_of
from .session import RUN

RECORD = pytest.StashKey[dict[str, Any]]()  # an item's kind-specific record fields


@pytest.fixture
def convcode_verdict(request: pytest.FixtureRequest, convcode_case: Case) -> Verdict:
    """Answer the case and judge it; harness trouble raises here (an E), reported as its cause
    and fix in a line or two, not as the plugin's traceback."""
    _, suite, _ = request.config.stash[RUN].suite(request.module)
    record: dict[str, Any] = {}
    request.node.stash[RECORD] = record
    try:
        return suite.judge(convcode_case, record)
    except (InfrastructureError, UsageError) as exc:
        problem = f"{type(exc).__name__}: {exc}"
    pytest.fail(problem, pytrace=False)  # outside the except: no "during handling" chain


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    case = case_of(item)
    if case is not None and (report.when == "call" or (report.when == "setup" and report.failed)):
        report.user_properties.append(("convcode", _record(item, case, report)))
    return report


def _record(item: pytest.Item, case: Case, report: pytest.TestReport) -> dict[str, Any]:
    """The item's line of results.jsonl: what every record holds, then its kind's fields; an
    item that errored keeps what its kind learnt before, and pytest's report of the error."""
    run = item.config.stash[RUN]
    kind, suite, _ = run.suite(item.module)  # type: ignore[attr-defined]
    dataset = suite.dataset
    record: dict[str, Any] = {
        "run_id": run.services.place.run_id,
        "kind": kind.name,
        "suite": suite.name,
        "dataset": f"{dataset.name} {dataset.version}",
        "task_id": case.task_id,
        "model": run.services.model.name,
        "outcome": "error" if report.when == "setup" else report.outcome,
    }
    fields: dict[str, Any] | None = item.stash.get(RECORD, None)
    record.update(fields or {})
    if report.when == "setup":
        record["error"] = report.longreprtext[-4000:]
    return record
