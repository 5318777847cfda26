"""Command-line options declared once, as fields of a frozen dataclass per concern.

A field made with ``option(...)`` is a pytest option: ``add_options(Cls, group)`` declares every
such field of ``Cls`` (choices come from a ``Literal`` annotation), ``from_config(Cls, config)``
reads them back into an instance, and ``recorded(instance)`` is what ``summary.json`` keeps of it
under ``settings``. So an option is written in one place, with its type, default and help.

Nothing here imports pytest: ``group`` and ``config`` are whatever has pytest's ``addoption`` and
``getoption``, which keeps the concerns' modules free of the plugin.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar, get_args, get_origin


class OptionGroup(Protocol):
    def addoption(self, *names: str, **attrs: Any) -> None: ...


class OptionSource(Protocol):
    def getoption(self, name: str) -> Any: ...


T = TypeVar("T")


def option(
    flag: str,
    *aliases: str,
    help: str,
    default: Any = None,
    parse: Callable[[Any], Any] | None = None,
    show: Callable[[Any], Any] | None = None,
    record: bool = True,
    **argparse: Any,
) -> Any:
    """A dataclass field that is the option ``flag`` (also spelt ``aliases``: one option under
    another benchmark's name, which cannot disagree with it). ``parse`` turns what argparse gives into the
    field's value (``from_config``); ``show`` turns the value into JSON for ``summary.json``
    (``record=False`` leaves it out: options that do not change what is measured). Other keyword
    arguments go to argparse as they are (``type``, ``action``, ``metavar``)."""
    metadata = {
        "flag": flag,
        "aliases": aliases,
        "help": help,
        "parse": parse,
        "show": show,
        "record": record,
        "argparse": argparse,
    }
    return dataclasses.field(default=default, metadata=metadata)


def _options(cls: type) -> list[dataclasses.Field[Any]]:
    return [f for f in dataclasses.fields(cls) if "flag" in f.metadata]


def _choices(cls: type, name: str) -> tuple[Any, ...] | None:
    """The values of a field annotated ``Literal[...]`` (or ``Literal[...] | None``)."""
    hint = typing.get_type_hints(cls)[name]
    if get_origin(hint) is Literal:
        return get_args(hint)
    literals = [arg for arg in get_args(hint) if get_origin(arg) is Literal]
    return get_args(literals[0]) if literals else None


def add_options(cls: type, group: OptionGroup) -> None:
    """Declare every option field of ``cls`` in ``group``."""
    for field in _options(cls):
        attrs = dict(field.metadata["argparse"])
        choices = _choices(cls, field.name)
        if choices is not None:
            attrs.setdefault("choices", choices)
        group.addoption(
            field.metadata["flag"],
            *field.metadata["aliases"],
            dest=field.name,
            default=field.default,
            help=field.metadata["help"],
            **attrs,
        )


def from_config(cls: type[T], config: OptionSource, **given: Any) -> T:
    """An instance of ``cls`` from the command line; ``given`` fills the fields that are not options."""
    values = dict(given)
    for field in _options(cls):
        value = config.getoption(field.name)
        parse = field.metadata["parse"]
        values[field.name] = parse(value) if parse is not None and value is not None else value
    return cls(**values)


def recorded(instance: Any) -> dict[str, Any]:
    """The options of ``instance`` that summary.json records, as JSON values."""
    settings: dict[str, Any] = {}
    for field in _options(type(instance)):
        if not field.metadata["record"]:
            continue
        value = getattr(instance, field.name)
        show = field.metadata["show"]
        if value is not None and show is not None:
            value = show(value)
        elif isinstance(value, Path):
            value = str(value)
        settings[field.name] = value
    return settings
