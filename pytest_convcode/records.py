"""A result record (a line of ``results.jsonl``): its kind, and what a record of each kind says
about score groups and problems.

Every record names its suite kind in ``kind`` (``kinds/``): ``single`` (a task and sample judged
in one turn), ``conversation`` (a turn of a conversation in a feedback setting) or ``reasoning``
(a prediction in one mode). Readers go by that field, never by which other fields a record holds;
only records written before the field existed (by pytest-convcode 0.1, read back by ``--compare``
or the report) are told apart by their fields, in ``kind_of``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SINGLE, CONVERSATION, REASONING = "single", "conversation", "reasoning"
Record = Mapping[str, Any]


def kind_of(record: Record) -> str:
    """The record's suite kind."""
    kind = record.get("kind")
    if isinstance(kind, str):
        return kind
    return CONVERSATION if "setting" in record else REASONING if "mode" in record else SINGLE


def score_groups(record: Record) -> dict[str, bool]:
    """The score groups a one-turn record counts in, with whether it passed there.

    ``humaneval`` counts the base tests only; ``humaneval+`` needs every phase. A code
    reasoning prediction counts in its suite and mode: ``cruxeval-output``.
    """
    suite = record["suite"]
    if kind_of(record) == REASONING:
        return {f"{suite}-{record['mode']}": record["outcome"] == "passed"}
    phases = record.get("phases") or {}
    groups = {suite: bool(phases.get("base", {}).get("passed"))}
    if "plus" in phases:
        groups[f"{suite}+"] = all(p.get("passed") for p in phases.values())
    return groups


def problem_key(record: Record) -> str:
    """``suite/task_id``, with the feedback setting of a conversation or the mode of a prediction:
    what ``--compare`` and the report call a problem."""
    key = f"{record['suite']}/{record['task_id']}"
    kind = kind_of(record)
    qualifier = record["setting"] if kind == CONVERSATION else record["mode"] if kind == REASONING else None
    return f"{key} {qualifier}" if qualifier else key


def solved(record: Record) -> bool:
    """Whether the record's problem was solved by this item: a conversation by a passing turn
    (this one or an earlier), one turn by passing every score group."""
    if kind_of(record) == CONVERSATION:
        return record.get("solved_at") is not None
    return all(score_groups(record).values())
