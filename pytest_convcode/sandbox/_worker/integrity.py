"""What a test job's runner relies on, and whether the program changed it.

The candidate shares the runner's process, so it can patch whatever the runner uses to run and
judge the tests. ``Machinery`` takes stock of all of it before any candidate runs; the runner
asks it what changed after the program loads, after the tests load, after each test and after
the last, and a change fails the test it is found in and every later one. Everything is
compared by identity, never by ``==`` (the candidate can make ``==`` lie):

- every attribute of the classes the unittest modules (unittest.mock's too) define, and the
  functions, classes and modules in those modules, in the builtins and in the runner's own
  modules (``_Modules`` says what may change there);
- ``sys.modules``' entries for those modules, the trace and profile functions, and import hooks
  made by the program;
- the test class and its bases as the tests loaded: the methods they define, and no attribute
  added later that hides an inherited method;
- a test case: no instance attribute that hides a method, and its equality functions (the ones
  ``assertEqual`` picks by type) as ``__init__`` made them.

A check sees what has changed, not what changed and was put back within a test; three things
close the ways that would matter there. An audit hook (which cannot be removed) sees a trace or
profile function set (one can jump over an assertion and remove itself) and a protected
function's code replaced. The runner learns of every exception a test raised from unittest's
own ``_Outcome.testPartExecutor`` (``raised``), whatever the outcome object reports afterwards.
And a test case cannot hide TestCase's assertion methods behind attributes of its own: they are
data descriptors (``_Method``).

Since a comparison with an object that claims to equal anything proves nothing, the
``assert*Equal`` methods refuse such an object made by the program.
"""

from __future__ import annotations

import builtins
import contextlib
import functools
import sys
import threading
import types
import unittest
from collections.abc import Callable, Iterable, Iterator
from itertools import chain, repeat
from operator import is_, methodcaller
from typing import Any

__unittest = True  # unittest leaves this module's frames (the assert wrappers) out of tracebacks

PROGRAM_MODULE, PROGRAM_FILENAME = "__candidate__", "<candidate>"  # the program's and its tests' module
EQUALITY_ASSERTS = (
    "assertEqual",
    "assertAlmostEqual",
    "assertCountEqual",
    "assertDictEqual",
    "assertListEqual",
    "assertMultiLineEqual",
    "assertSequenceEqual",
    "assertSetEqual",
    "assertTupleEqual",
)
_ROUTINES = (types.FunctionType, staticmethod, classmethod, property)
_BUILTIN_NAMES = frozenset(vars(builtins))
_MISSING = object()
_values = methodcaller("values")


class _Classes:
    """Classes' dicts as they were: every attribute stays, none is added. Checked in a few passes
    at C speed: a runner checks after each test."""

    def __init__(self, classes: Iterable[tuple[str, type]]) -> None:
        self.labels, self.lives = zip(*((label, vars(cls)) for label, cls in classes), strict=True)
        self.sizes = list(map(len, self.lives))
        self.keys = [key for live in self.lives for key in live]
        self.values = [value for live in self.lives for value in live.values()]

    def changed(self) -> str:
        lives = self.lives
        if (
            list(map(len, lives)) == self.sizes
            and all(map(is_, chain.from_iterable(lives), self.keys))
            and all(map(is_, chain.from_iterable(map(_values, lives)), self.values))
        ):
            return ""
        start = 0
        for label, live, size in zip(self.labels, lives, self.sizes, strict=True):
            keys, values = self.keys[start : start + size], self.values[start : start + size]
            start += size
            for key, value in zip(keys, values, strict=True):
                if live.get(key, _MISSING) is not value:
                    return f"{label}.{key}"
            for key in live.keys() - set(keys):
                return f"{label}.{key}"
        return "the order of a class's attributes"


class _Modules:
    """Modules' dicts as they were: their functions, classes and modules stay, and no name is
    added that hides a builtin. Their data may change (unittest.mock sets ``file_spec`` on first
    use), and they may gain names (submodules, ``__warningregistry__``)."""

    def __init__(self, modules: Iterable[tuple[str, dict[str, Any]]]) -> None:
        self.modules = list(modules)
        self.known = [set(live) for _, live in self.modules]
        watched = [
            (label, live, key, value)
            for label, live in self.modules
            for key, value in live.items()
            if callable(value) or isinstance(value, types.ModuleType)
        ]
        self.labels, self.lives, self.keys, self.values = (list(column) for column in zip(*watched, strict=True))

    def changed(self) -> str:
        if not all(map(is_, map(dict.get, self.lives, self.keys, repeat(_MISSING)), self.values)):
            for label, live, key, value in zip(self.labels, self.lives, self.keys, self.values, strict=True):
                if live.get(key, _MISSING) is not value:
                    return f"{label}.{key}"
        for (label, live), known in zip(self.modules, self.known, strict=True):
            if len(live) != len(known):
                for key in live.keys() - known:
                    if type(key) is not str or key in _BUILTIN_NAMES:
                        return f"{label}.{key}"
                known.clear()
                known.update(live)
        return ""


class Machinery:
    """The test machinery as it was before any program ran, and what has changed of it since.
    Made once in the zygote (see ``unittests.prepare``); each runner ``start``s it."""

    def __init__(self, runner: Iterable[types.ModuleType]) -> None:
        """``runner``: the runner's own modules."""
        self.raised: list[BaseException] = []  # by the test parts of the test in progress
        self.methods = _guard_test_case(self.raised)
        unittest_modules = [m for name, m in sorted(sys.modules.items()) if name.partition(".")[0] == "unittest"]
        self.sys_modules = {m.__name__: m for m in [*unittest_modules, *runner]}
        self.modules = _Modules([("builtins", vars(builtins))] + [(n, vars(m)) for n, m in self.sys_modules.items()])
        self.classes = _Classes(
            (f"{m.__name__}.{c.__qualname__}", c) for m in self.sys_modules.values() for c in _classes(m)
        )
        self.functions = {id(f) for f in _functions([*self.modules.values, *self.classes.values])}
        self.functions.update(id(function) for _, function in self.methods)
        self.hooks = _hooks()
        self.program: dict[str, Any] = {}
        self.test_classes: list[tuple[type, dict[str, Any]]] = []
        self.equality: dict[int, tuple[dict[Any, Any], list[tuple[Any, Any]]]] = {}  # by id of a test case
        self.events: list[str] = []

    def start(self, program: dict[str, Any]) -> None:
        """In a runner, before the program runs: watch the namespace it and its tests run in
        (their builtins), and what the audit hook sees."""
        program["__builtins__"] = vars(builtins)
        self.program = program
        sys.addaudithook(self._audit)

    def watch_tests(self, cls: type) -> None:
        """The test class and its bases from the program's module, as the tests loaded."""
        for klass in cls.__mro__:
            if klass.__module__ == PROGRAM_MODULE:
                methods = {name: value for name, value in vars(klass).items() if isinstance(value, _ROUTINES)}
                self.test_classes.append((klass, methods))

    def watch_case(self, case: unittest.TestCase) -> None:
        funcs: dict[Any, Any] = vars(case).get("_type_equality_funcs", {})
        self.equality[id(case)] = (funcs, list(funcs.items()))

    def changed(self, case: unittest.TestCase | None = None) -> str:
        """What the program changed, named ("" for nothing); a check that fails counts as a change."""
        try:
            return self._changed(case)
        except BaseException as exc:
            return f"the test machinery could not be checked ({type(exc).__name__})"

    def _changed(self, case: unittest.TestCase | None) -> str:
        if self.events:
            return self.events[0]
        if what := self.modules.changed() or self.classes.changed():
            return what
        for method, function in self.methods:
            if method.function is not function:
                return f"unittest.case.TestCase.{function.__name__}"
        for name, module in self.sys_modules.items():
            if sys.modules.get(name) is not module:
                return f"sys.modules[{name!r}]"
        if not all(map(is_, _hooks(), self.hooks)):
            return "the trace or profile function (sys.settrace, sys.setprofile, threading.settrace)"
        if self.program.get("__builtins__") is not vars(builtins):
            return "the builtins of the program's module"
        for where in ("meta_path", "path_hooks", "path_importer_cache"):
            hooks = getattr(sys, where)
            if any(map(_made_by_program, list(hooks.values() if isinstance(hooks, dict) else hooks))):
                return f"sys.{where} (an import hook of the program's)"
        for klass, methods in self.test_classes:
            own = vars(klass)
            for name, method in methods.items():
                if own.get(name, _MISSING) is not method:
                    return f"{klass.__qualname__}.{name}"
            for name in own.keys() - methods.keys():
                if _hides_method(klass.__mro__[1:], name):
                    return f"{klass.__qualname__}.{name}"
        return self._case_changed(case) if case is not None else ""

    def _case_changed(self, case: unittest.TestCase) -> str:
        for name in vars(case):
            if _hides_method(type(case).__mro__, name):
                return f"the test case's {name}"
        funcs, items = self.equality.get(id(case), ({}, []))
        if vars(case).get("_type_equality_funcs", funcs) is not funcs or any(
            funcs.get(t, _MISSING) is not f for t, f in items
        ):
            return "the test case's equality functions (_type_equality_funcs)"
        return ""

    def _audit(self, event: str, args: tuple[Any, ...]) -> None:
        if event in ("sys.settrace", "sys.setprofile"):
            what = f"{event} (a trace or profile function)"
        elif event == "object.__setattr__" and id(args[0]) in self.functions:
            what = f"the {args[1]} of {args[0].__module__}.{args[0].__qualname__}"
        else:
            return
        self.events.append(what)  # the next check fails the test


def _classes(module: types.ModuleType) -> list[type]:
    return [v for v in vars(module).values() if isinstance(v, type) and v.__module__ == module.__name__]


def _functions(values: Iterable[Any]) -> Iterable[types.FunctionType]:
    """The functions among a namespace's values, those that staticmethods, classmethods and
    ``_Method``s hold included."""
    for value in values:
        if isinstance(value, (staticmethod, classmethod)):
            value = value.__func__
        elif isinstance(value, _Method):
            value = value.function
        if isinstance(value, types.FunctionType):
            yield value


def _hooks() -> tuple[object, ...]:
    return sys.gettrace(), sys.getprofile(), threading.gettrace(), threading.getprofile()


def _hides_method(mro: Iterable[type], name: str) -> bool:
    """Whether the first class of ``mro`` that has ``name`` has a method by that name."""
    for klass in mro:
        if name in vars(klass):
            value = vars(klass)[name]
            return callable(value) or isinstance(value, (*_ROUTINES, _Method))
    return False


def _made_by_program(hook: object) -> bool:
    owner = hook if isinstance(hook, (type, types.FunctionType)) else type(hook)
    return getattr(owner, "__module__", None) == PROGRAM_MODULE


# ---------------------------------------------------------------- unittest, made harder to fool


class _Method:
    """A TestCase method that a test case cannot hide: as a data descriptor it outranks the
    instance's dict, so ``self.assertEqual = ...`` fails and ``vars(self)["assertEqual"]`` is
    never looked at."""

    __slots__ = ("function",)

    def __init__(self, function: types.FunctionType) -> None:
        self.function = function

    def __get__(self, instance: object, owner: type | None = None) -> Any:
        return self.function if instance is None else types.MethodType(self.function, instance)

    def __set__(self, instance: object, value: object) -> None:
        raise AttributeError(f"a test case's {self.function.__name__} cannot be replaced")

    def __delete__(self, instance: object) -> None:
        raise AttributeError(f"a test case's {self.function.__name__} cannot be deleted")


def _guard_test_case(raised: list[BaseException]) -> list[tuple[_Method, types.FunctionType]]:
    """Before the snapshot: the equality asserts refuse liars, the methods a test calls to
    assert (and their helpers) become ``_Method``s, and every exception a test part raises is
    appended to ``raised``. Returns each ``_Method`` with its function."""
    case = unittest.TestCase
    for name in EQUALITY_ASSERTS:
        setattr(case, name, _refusing_liars(vars(case)[name]))
    methods = []
    for name, value in list(vars(case).items()):
        asserting = (name.startswith(("assert", "fail", "_")) and not name.startswith("__")) or name == "subTest"
        if asserting and isinstance(value, types.FunctionType):
            methods.append((_Method(value), value))
            setattr(case, name, methods[-1][0])
    outcome = unittest.case._Outcome  # type: ignore[attr-defined]  # private: not in the stubs
    outcome.testPartExecutor = _observing(outcome.testPartExecutor, raised)
    return methods


def _observing(executor: Callable[..., Any], raised: list[BaseException]) -> Callable[..., Any]:
    """``_Outcome.testPartExecutor`` that also appends what the test part raised to ``raised``."""

    @contextlib.contextmanager
    def testPartExecutor(self: object, test_case: unittest.TestCase, subTest: bool = False) -> Iterator[None]:
        with executor(self, test_case, subTest):
            try:
                yield
            except BaseException as exc:
                raised.append(exc)
                raise

    return testPartExecutor


class _Nothing:
    """Equal to nothing but itself."""


_NOTHING = _Nothing()


def _refusing_liars(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def checked(self: unittest.TestCase, *args: Any, **kwargs: Any) -> Any:
        for value in args[:2]:
            if _equals_anything(value):
                text = f"{object.__repr__(value)} claims to equal anything: a comparison with it proves nothing"
                raise self.failureException(text)
        return method(self, *args, **kwargs)

    return checked


def _equals_anything(value: object) -> bool:
    """Whether the program made ``value`` of a class whose ``__eq__`` says it equals even an
    object it has never seen (only such a class's ``__eq__`` runs here)."""
    eq = getattr(type(value), "__eq__", None)
    if not isinstance(eq, types.FunctionType) or eq.__code__.co_filename != PROGRAM_FILENAME:
        return False
    try:
        return (value == _NOTHING) is True
    except Exception:
        return False
