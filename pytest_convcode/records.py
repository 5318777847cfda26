"""A result record (a line of ``results.jsonl``): its kind, and what a record of each kind says
about score groups and problems.

Every record names its suite kind in ``kind`` (``kinds/``): ``single`` (a task and sample judged
in one turn), ``unittest`` (the same for BigCodeBench, grouped by its subset and split),
``conversation`` (a turn of a conversation in a feedback setting), ``convcodebench`` (a turn
answered from a frozen reference conversation), ``repotasks`` (a repository task's kind and turn,
its kind in ``setting``) or ``reasoning`` (a prediction in one mode). Readers go by that field,
never by which other fields a record holds; only records
written before the field existed (by pytest-convcode 0.1, read back by ``--compare`` or the
report) are told apart by their fields, in ``kind_of``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

SINGLE, CONVERSATION, REASONING = "single", "conversation", "reasoning"
CONVCODEBENCH = "convcodebench"  # a turn answered from a frozen reference conversation
UNITTEST = "unittest"  # a task and sample judged by its unittest class (BigCodeBench)
REPOTASKS = "repotasks"  # a repository task's method generation turn, completion or repair
Record = Mapping[str, Any]
R = TypeVar("R", bound=Record)


@dataclass(frozen=True)
class RecordFormat:
    """What a kind's records say about problems and scores, for readers that know no kinds
    (``--compare``, the report). A kind with none registered reads as a plain one-turn record:
    its score group is its suite, split into ``suite`` / ``suite+`` when it has base and plus
    ``phases``, and a problem is solved when the record passed there."""

    variant: str | None = None  # the field that tells a task's problems apart ("setting", "mode")
    grouped_by_variant: bool = False  # score groups are "suite-<variant>" (cruxeval-output)
    conversational: bool = False  # a problem is solved by a turn: the record's "solved_at"


FORMATS: dict[str, RecordFormat] = {
    SINGLE: RecordFormat(),
    CONVERSATION: RecordFormat(variant="setting", conversational=True),
    REASONING: RecordFormat(variant="mode", grouped_by_variant=True),
    # a turn passes on its own (the target's code, or settled by the reference): its "solved_at"
    CONVCODEBENCH: RecordFormat(variant="setting", conversational=True),
    # BigCodeBench in one turn: its score groups as BigCodeBench names them (bigcodebench-hard-complete)
    UNITTEST: RecordFormat(variant="split", grouped_by_variant=True),
    # method generation is a conversation; completion and repair one turn of their own: "solved_at"
    REPOTASKS: RecordFormat(variant="setting", conversational=True),
}


def kind_of(record: Record) -> str:
    """The record's suite kind."""
    kind = record.get("kind")
    if isinstance(kind, str):
        return kind
    return CONVERSATION if "setting" in record else REASONING if "mode" in record else SINGLE


def format_of(record: Record) -> RecordFormat:
    return FORMATS.get(kind_of(record), RecordFormat())


def is_conversation(record: Record) -> bool:
    """A turn of a conversation (scored by MRR and Recall), not a one-turn item (scored by pass@k)."""
    return format_of(record).conversational


def variant(record: Record) -> str | None:
    """What tells the record's problem apart from the task's others: a conversation's setting,
    a prediction's mode; None for a plain one-turn record."""
    field = format_of(record).variant
    value = record.get(field) if field is not None else None
    return str(value) if value is not None else None


def score_groups(record: Record) -> dict[str, bool]:
    """The score groups a one-turn record counts in, with whether it passed there.

    ``humaneval`` counts the base tests only; ``humaneval+`` needs every phase. A code
    reasoning prediction counts in its suite and mode: ``cruxeval-output``.
    """
    fmt = format_of(record)
    suite = record["suite"]
    if fmt.grouped_by_variant and fmt.variant is not None and fmt.variant in record:  # a default one-turn
        return {f"{suite}-{record[fmt.variant]}": record["outcome"] == "passed"}  # BigCodeBench has none
    phases = record.get("phases")
    if not phases:  # no tests by phase (or none ran): passed or not
        return {suite: record["outcome"] == "passed"}
    groups = {suite: bool(phases.get("base", {}).get("passed"))}
    if "plus" in phases:
        groups[f"{suite}+"] = all(p.get("passed") for p in phases.values())
    return groups


def problem_key(record: Record) -> str:
    """``suite/task_id``, with the feedback setting of a conversation or the mode of a prediction:
    what ``--compare`` and the report call a problem."""
    key = f"{record['suite']}/{record['task_id']}"
    qualifier = variant(record)
    return f"{key} {qualifier}" if qualifier else key


def item_key(record: Record) -> tuple[Any, ...]:
    """What tells a record's item apart from every other item of its run: suite, kind, task,
    sample, feedback setting, turn and mode. A run resumed under the same ``--run-id`` writes a
    second record for an item; readers keep the latest (``latest``)."""
    return (
        record["suite"],
        kind_of(record),
        record["task_id"],
        *(record.get(name) for name in ("sample", "setting", "turn", "mode")),
    )


def latest(records: Iterable[R]) -> list[R]:
    """One record per item, the last one written, in the order the items first appear."""
    return list({item_key(record): record for record in records}.values())


def solved(record: Record) -> bool:
    """Whether the record's problem was solved by this item: a conversation by a passing turn
    (this one or an earlier), one turn by passing every score group."""
    if format_of(record).conversational:
        return record.get("solved_at") is not None
    return all(score_groups(record).values())
