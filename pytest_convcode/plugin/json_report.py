"""With pytest-json-report (``--json-report``), its JSON carries the run's summary under ``"convcode"``."""

from __future__ import annotations

import json
from typing import Any

import pytest

from .records import summarize


@pytest.hookimpl(trylast=True)  # after pytest-json-report has set itself up
def pytest_configure(config: pytest.Config) -> None:
    if getattr(config, "_json_report", None) is not None:  # pytest-json-report is writing a report
        config.pluginmanager.register(_JsonReportHook(config), "convcode-json-report")


class _JsonReportHook:
    """Registered only when pytest-json-report runs: its hook is unknown to pytest otherwise."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    def pytest_json_modifyreport(self, json_report: dict[str, Any]) -> None:
        summary = summarize(self.config)
        if summary:
            json_report["convcode"] = json.loads(json.dumps(summary))
