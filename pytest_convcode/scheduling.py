"""Keeps the items of one task's conversations on one xdist worker.

The turns of a conversation build on each other and turn 0 is shared by every setting of a task,
so a worker that has one of a task's turn items should have them all. xdist's ``load``
distribution spreads items one by one; this scheduler is that distribution with a task's turn
items as one unit of work (every other item still a unit of its own).

It also keeps xdist's bookkeeping linear in the items (``bench/endpoint_concurrency.py``: 1.4
of the controller's 5.4 CPU s for 1000 items): at each completion ``loadscope`` counts the
pending items of every unit a worker was ever given, and it finds each item it sends in the
worker's collection list. Here a finished unit leaves the worker's assigned work, and an item's
place in a collection comes from a dict.
"""

from __future__ import annotations

import re

import pytest
from xdist.remote import Producer
from xdist.scheduler import LoadScopeScheduling
from xdist.workermanage import WorkerController

# the end of a turn item's node id: "...::test_x[BigCodeBench/13-cf-ef_full-expert-turn3]", or a
# repository task's "...[django/utils/text.py::Truncator.chars-method_gen-turn2]"
TURN_ID = re.compile(r"\[(?P<task>.+?)-(?:cf(?:-[a-z_]+)*|method_gen)-turn\d+\]$")


class ConversationScheduling(LoadScopeScheduling):
    def __init__(self, config: pytest.Config, log: Producer | None = None) -> None:
        super().__init__(config, log)
        self._places: dict[WorkerController, dict[str, int]] = {}  # a worker's collection: place by node id

    def _split_scope(self, nodeid: str) -> str:
        match = TURN_ID.search(nodeid)
        return nodeid if match is None else nodeid[: match.start()] + f"[{match['task']}]"

    def mark_test_complete(self, node: WorkerController, item_index: int, duration: float = 0) -> None:
        nodeid = self.registered_collections[node][item_index]
        scope = self._split_scope(nodeid)
        work = self.assigned_work[node]
        work[scope][nodeid] = True
        if all(work[scope].values()):  # what is left is what a crashed worker's items are looked up in
            del work[scope]
        self._reschedule(node)

    def _assign_work_unit(self, node: WorkerController) -> None:
        scope, work_unit = self.workqueue.popitem(last=False)
        self.assigned_work.setdefault(node, {})[scope] = work_unit
        if node not in self._places:
            self._places[node] = {nodeid: i for i, nodeid in enumerate(self.registered_collections[node])}
        places = self._places[node]
        node.send_runtest_some([places[nodeid] for nodeid, completed in work_unit.items() if not completed])
