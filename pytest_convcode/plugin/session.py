"""The run: its services (model, sandboxes, data sets, judges), its suites (one per suite module's
data set and kind) and its results, built when pytest configures and closed when it ends.

Every xdist worker builds its own ``Run``; only the controller keeps the run's log and results.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from .. import conversation, results
from ..datasets.options import DataOptions
from ..errors import UsageError
from ..feedback import Setting, parse_settings
from ..generation import GenerationOptions
from ..judging import JudgeOptions, SandboxOptions
from ..kinds import KINDS, Suite, SuiteKind, kind_for
from ..models import ModelSettings, project_aliases
from ..models.endpoint import EndpointModel
from ..models.options import ModelOptions
from ..options import add_options, from_config, option, recorded
from ..registry import UnknownNameError
from ..results import Results, RunLog
from ..sandbox import backend
from ..services import RunPlace, Services
from . import options_group, serving


@dataclass
class Run:
    services: Services
    log: RunLog | None  # None on xdist workers
    results: Results = field(default_factory=Results)
    _suites: dict[tuple[str, str], Suite[Any]] = field(default_factory=dict)  # by data set and kind
    _modules: dict[str, tuple[SuiteKind, Suite[Any], tuple[Setting, ...] | None]] = field(default_factory=dict)

    def suite(self, module: ModuleType) -> tuple[SuiteKind, Suite[Any], tuple[Setting, ...] | None]:
        """A suite module's kind, its suite, and the feedback settings it converses in (None:
        one turn); a usage error for a module that cannot be run."""
        if module.__name__ not in self._modules:
            name = getattr(module, "SUITE", None)
            if name is None:
                raise UsageError(f"{module.__file__}: a suite module must set SUITE = '<data set>'")
            settings = self.settings(getattr(module, "FEEDBACK", None))
            kind = self._kind(module, name, settings)
            key = (name, kind.name)
            if key not in self._suites:
                self._suites[key] = kind.open(self.services, name)
            self._modules[module.__name__] = (kind, self._suites[key], settings)
        return self._modules[module.__name__]

    @staticmethod
    def _kind(module: ModuleType, name: str, settings: tuple[Setting, ...] | None) -> SuiteKind:
        """The kind a suite module names outright (``KIND = "convcodebench"``), else its data set's."""
        named = getattr(module, "KIND", None)
        if named is None:
            return kind_for(name, settings)
        try:
            return KINDS.get(named)
        except UnknownNameError as exc:
            raise UsageError(f"{module.__file__}: {exc}") from None

    def settings(self, module_default: str | None) -> tuple[Setting, ...] | None:
        """The settings to converse in: --feedback's, else the suite module's ``FEEDBACK``;
        None for a single-turn suite."""
        feedback = self.services.conversations.feedback
        if feedback is not None:
            return feedback
        return parse_settings(module_default) if module_default else None

    def recorded_settings(self) -> dict[str, Any]:
        """summary.json's ``settings``: every option that changes what was measured or how."""
        s = self.services
        options = (s.models, s.data, s.conversations, s.judging, s.sandboxes, s.generation)
        settings = {key: value for o in options for key, value in recorded(o).items()}
        return {**settings, "workers": self.results.workers}

    def close(self) -> None:
        for suite in self._suites.values():
            suite.close()
        self.services.close(last=self.log is not None)
        if self.log is not None:
            self.log.close()


RUN = pytest.StashKey[Run]()


@dataclass(frozen=True)
class PlaceOptions:
    run_id: str | None = option(
        "--run-id", record=False, help="name of this run's folder under --reports-dir (default: time and random)"
    )
    reports_dir: Path = option(
        "--reports-dir",
        default=Path("reports"),
        type=Path,
        record=False,
        help="where runs write results (default: reports)",
    )


def pytest_addoption(parser: pytest.Parser) -> None:
    group = options_group(parser)
    for options in (ModelOptions, GenerationOptions, SandboxOptions, JudgeOptions, PlaceOptions):
        add_options(options, group)
    parser.addini("convcode_models", "a TOML file of model aliases, over the bundled ones", type="paths", default=[])


@pytest.hookimpl(trylast=True)  # after the cache provider has set config.cache
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "convcode: a benchmark item of pytest-convcode")
    worker_input: dict[str, Any] | None = getattr(config, "workerinput", None)
    if worker_input is None:  # a run started from inside an xdist worker inherits its variables
        for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT"):
            os.environ.pop(name, None)
    place = from_config(PlaceOptions, config)
    run_id = worker_input["convcode_run_id"] if worker_input else place.run_id or results.new_run_id()
    reports_dir = Path(config.rootpath, place.reports_dir)
    try:
        services = _services(config, worker_input, RunPlace(run_id, reports_dir, _cache_dir(config)))
        services.model  # noqa: B018  (resolved now: a bad --model is a usage error here, not per item)
        user_model = services.user_model
        backend(services.sandboxes.sandbox)
        if worker_input is None:
            serving.connect(config, services.model, reports_dir / run_id)
            if user_model is not None:
                serving.connect(config, user_model, reports_dir / run_id, serve=False)
        else:
            for model in (services.model, user_model):
                if model is not None:
                    serving.attach(model, worker_input.get(serving.GGUF_URLS, {}))
    except (UsageError, UnknownNameError) as exc:
        raise pytest.UsageError(str(exc)) from None
    log = None if worker_input else RunLog(reports_dir / run_id)
    config.stash[RUN] = Run(services, log)


def _services(config: pytest.Config, worker_input: dict[str, Any] | None, place: RunPlace) -> Services:
    generation = from_config(GenerationOptions, config)
    generation = replace(generation, cache_path=Path(config.rootpath, generation.cache_path))
    models = from_config(ModelOptions, config)
    if worker_input is not None:  # where the controller's --autorun serves
        models = replace(models, base_url=worker_input.get("convcode_base_url", models.base_url))
    else:
        models = serving.with_endpoint(config, models)
    aliases = project_aliases(Path(config.rootpath, "pyproject.toml"))
    for path in config.getini("convcode_models"):
        aliases.update(project_aliases(Path(path)))
    settings = ModelSettings(
        base_url=models.base_url,
        samples=models.samples,
        temperature=models.temperature,
        max_tokens=models.max_tokens,
        timeout=generation.request_timeout,
        aliases=aliases,
        tensor_parallel=serving.tensor_parallel(config),
    )
    return Services(
        place=place,
        models=models,
        model_settings=settings,
        generation=generation,
        sandboxes=from_config(SandboxOptions, config),
        judging=from_config(JudgeOptions, config),
        data=from_config(DataOptions, config),
        conversations=from_config(conversation.Options, config),
    )


def _cache_dir(config: pytest.Config) -> Path:
    if getattr(config, "cache", None) is not None:
        return config.cache.mkdir("convcode") / "groundtruth"
    return Path(config.rootpath, ".convcode-cache", "groundtruth")


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist: workers label their records with the controller's run id, and use its endpoint."""
    run = node.config.stash[RUN]
    node.workerinput["convcode_run_id"] = run.services.place.run_id
    model = run.services.model
    if isinstance(model, EndpointModel) and model.http is not None:
        node.workerinput["convcode_base_url"] = model.http.base_url
    node.workerinput[serving.GGUF_URLS] = serving.gguf_urls(node.config)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """xdist: the controller learns which data sets a worker scored."""
    run = node.config.stash[RUN]
    run.results.workers += 1
    run.results.suites_scored.update(getattr(node, "workeroutput", {}).get("convcode_suites", {}))


def pytest_sessionfinish(session: pytest.Session) -> None:
    """xdist: a worker tells the controller which data sets it scored."""
    worker_output = getattr(session.config, "workeroutput", None)
    if worker_output is not None:
        worker_output["convcode_suites"] = session.config.stash[RUN].services.dataset_info()


def pytest_unconfigure(config: pytest.Config) -> None:
    if RUN in config.stash:
        config.stash[RUN].close()
