"""Keeps the items of one task's conversations on one xdist worker.

The turns of a conversation build on each other and turn 0 is shared by every setting of a task,
so a worker that has one of a task's turn items should have them all. xdist's ``load``
distribution spreads items one by one; this scheduler is that distribution with a task's turn
items as one unit of work (every other item still a unit of its own).
"""

from __future__ import annotations

import re

from xdist.scheduler import LoadScopeScheduling

# the end of a turn item's node id: "...::test_x[BigCodeBench/13-cf-ef_full-expert-turn3]", or a
# repository task's "...[django/utils/text.py::Truncator.chars-method_gen-turn2]"
TURN_ID = re.compile(r"\[(?P<task>.+?)-(?:cf(?:-[a-z_]+)*|method_gen)-turn\d+\]$")


class ConversationScheduling(LoadScopeScheduling):
    def _split_scope(self, nodeid: str) -> str:
        match = TURN_ID.search(nodeid)
        return nodeid if match is None else nodeid[: match.start()] + f"[{match['task']}]"
