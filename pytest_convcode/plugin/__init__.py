"""The pytest plugin (entry point ``pytest11: convcode``): a list of sub-plugins, each a whole
feature with its own options, hooks and stash keys, as pytest's own plugins are.

- ``session``: the run itself (``Run``: the services, the suites, the results), built from the
  model, generation, sandbox and judging options; xdist's workers get the controller's run id;
- ``serving``: ``--autorun``, a `vllm serve` for the run's duration;
- ``collection``: suite modules become items (``-k`` on task ids, ``--tasks``, slowest first),
  work starts ahead of them; the data and conversation options;
- ``items``: the ``convcode_verdict`` fixture and each item's record;
- ``records``: results.jsonl as items finish, summary.json, the HTML report, gates and the exit
  status; ``--gate``, ``--compare``, ``--html-report``;
- ``terminal``: the score tables at the end;
- ``json_report``: the summary inside pytest-json-report's JSON.

A suite module names its data set (``SUITE = "humaneval"``) and has a test that takes
``convcode_verdict`` and calls ``expect_pass`` on it.
"""

import pytest

from ..kinds.kind import expect_pass


def options_group(parser: pytest.Parser) -> pytest.OptionGroup:
    """The ``--help`` section that every sub-plugin's options go into (whichever asks first names it)."""
    return parser.getgroup("convcode", "pytest-convcode: evaluate code-generating models")


# in an order where each imports only those before it (a plugin imported before pytest registers
# it would escape assertion rewriting)
pytest_plugins = [
    "pytest_convcode.plugin.serving",
    "pytest_convcode.plugin.session",
    "pytest_convcode.plugin.collection",
    "pytest_convcode.plugin.items",
    "pytest_convcode.plugin.records",
    "pytest_convcode.plugin.terminal",
    "pytest_convcode.plugin.json_report",
]

__all__ = ["expect_pass", "options_group"]
