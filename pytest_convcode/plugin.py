"""The pytest plugin: options, hooks and fixtures, all declared here.

A suite module names its data set (``SUITE = "humaneval"``) and has a test that
takes ``convcode_verdict``; this plugin makes one item per task and sample,
judges the model's answer in the sandbox while setting the item up (so a harness
failure is an error, E) and lets the test pass or fail on the verdict (F).
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import pytest

try:  # private: only to refine -k for task ids (see pytest_collection_modifyitems)
    from _pytest.mark import KeywordMatcher
    from _pytest.mark.expression import Expression
except ImportError:  # pragma: no cover - a pytest that moved them: plain -k semantics
    KeywordMatcher = Expression = None  # type: ignore[assignment,misc]

from . import conversation, gates, results
from .comparison import load_baseline
from .conversation import TurnResult
from .errors import InfrastructureError, UsageError
from .feedback import Setting
from .generation import CACHE_MODES, RetryPolicy, Settings
from .judge import Verdict
from .models import Answer, Model, ModelSettings, project_aliases, resolve
from .models.endpoint import EndpointModel
from .models.vllm import ServeOptions, VllmServer, free_port
from .reasoning import STYLES as REASONING_STYLES
from .reasoning import ReasoningVerdict, extract
from .registry import UnknownNameError
from .run import SUBSETS, Case, Options, ReasoningCase, Run, TurnCase, parse_settings
from .sandbox import Limits, MiB, backend
from .summary import build_summary
from .tasks import Problem

RUN = pytest.StashKey[Run]()
VERDICT = pytest.StashKey[Verdict]()
TURN = pytest.StashKey[TurnResult]()
# (suite, task id) -> the selected conversations of the task not started yet
CONVERSATIONS = pytest.StashKey[dict[tuple[str, str], dict[Setting, Problem]]]()
ANSWER = pytest.StashKey[Answer]()
SERVER = pytest.StashKey[Any]()  # the `vllm serve` that --autorun started
TIMINGS = pytest.StashKey[dict[str, float]]()
PREDICTION = pytest.StashKey[ReasoningVerdict]()
USAGE_PROBLEM = pytest.StashKey[str]()  # on the collector of a suite module that cannot be run


class SandboxIsolationWarning(UserWarning):
    """This machine cannot provide part of the sandbox's isolation."""


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("convcode", "pytest-convcode: evaluate code-generating models")
    group.addoption(
        "--model", default="reference", help="model to evaluate: reference, replay:PATH (default: reference)"
    )
    group.addoption("--dataset-path", type=Path, help="a data file of the suite's schema instead of the bundled one")
    group.addoption(
        "--dataset-version", help="bundled data set version (HumanEval+ 0.1.10 or 0.1.9; MBPP+ 0.2.0 or 0.1.0)"
    )
    group.addoption("--base-only", action="store_true", help="run the original tests only, not the plus tests")
    group.addoption(
        "--gate",
        action="append",
        default=[],
        metavar="EXPR",
        help="fail the run unless EXPR holds, e.g. 'pass@1>=0.8', 'mrr[cf-ef_full]>=40', "
        "'pass@1>=baseline-1.0' (repeatable)",
    )
    group.addoption(
        "--compare",
        type=Path,
        metavar="PATH",
        help="an earlier run's folder or its summary.json: report deltas and the problems that flipped",
    )
    group.addoption(
        "--html-report",
        metavar="PATH",
        help="write the HTML report here (default: the run's report.html); 'none': no report",
    )
    group.addoption("--run-id", help="name of this run's folder under --reports-dir (default: time and random)")
    group.addoption(
        "--reports-dir", type=Path, default=Path("reports"), help="where runs write results (default: reports)"
    )
    group.addoption("--sandbox", default="process", help="sandbox backend (default: process)")
    group.addoption(
        "--time-factor",
        type=float,
        default=4.0,
        help="CPU-time limit per call as a multiple of the reference's (default: 4)",
    )
    group.addoption(
        "--min-time", type=float, default=1.0, help="floor of the CPU-time limit per call, seconds (default: 1)"
    )
    group.addoption("--base-url", help="OpenAI-compatible endpoint of the model, e.g. http://gpu-box:8000/v1")
    group.addoption("--samples", type=int, help="samples per task (default: the model alias's, usually 1)")
    group.addoption("--temperature", type=float, help="sampling temperature (default: the model alias's)")
    group.addoption("--max-tokens", type=int, help="longest answer, in tokens (default: the model alias's)")
    group.addoption(
        "--max-concurrency",
        type=int,
        default=32,
        help="requests in flight for the whole run, over all xdist workers (default: 32)",
    )
    group.addoption("--request-timeout", type=float, default=600.0, help="seconds per request (default: 600)")
    group.addoption("--max-retries", type=int, default=6, help="retries of a failed request (default: 6)")
    group.addoption(
        "--cache",
        choices=CACHE_MODES,
        default="use",
        help="generation cache: use answers stored by earlier runs, refresh them, or off (default: use)",
    )
    group.addoption(
        "--cache-path", type=Path, help="the generation cache's SQLite file (default: .convcode/generations.sqlite)"
    )
    group.addoption("--autorun", action="store_true", help="start `vllm serve` for --model, and stop it at the end")
    group.addoption("--gpus", help="GPU ids for --autorun, e.g. 0,1 (CUDA_VISIBLE_DEVICES)")
    group.addoption("--tensor-parallel", type=int, help="tensor-parallel size for --autorun (default: GPUs given)")
    group.addoption("--vllm-port", type=int, help="port for --autorun (default: a free one)")
    group.addoption(
        "--vllm-args", default="", help="more arguments for `vllm serve`, one string, e.g. '--max-model-len 8192'"
    )
    parser.addini("convcode_models", "a TOML file of model aliases, over the bundled ones", type="paths", default=[])
    group.addoption(
        "--tasks",
        help="only these tasks: ids separated by commas, or a file of ids, one per line",
    )
    group.addoption(
        "--subset", choices=SUBSETS, help="BigCodeBench: stdlib = the tasks needing only the standard library"
    )
    group.addoption(
        "--sandbox-python",
        help="interpreter that runs candidates (default: this one); BigCodeBench needs its libraries there",
    )
    conv = parser.getgroup("convcode-conversations", "pytest-convcode: multi-turn conversations with feedback")
    conv.addoption(
        "--feedback",
        help="converse in these settings: 'all' or ids separated by commas, e.g. cf-ef_full,cf-expert "
        "(ConvCodeWorld: all nine; other suites: single turn unless given)",
    )
    conv.addoption(
        "--max-turns", type=int, default=conversation.MAX_TURNS, help="feedback rounds after turn 0 (default: 10)"
    )
    conv.addoption(
        "--context",
        choices=("latest", "full"),
        default="latest",
        help="what each turn sends: the problem, latest code and feedback (latest, the paper's) or the whole history",
    )
    conv.addoption(
        "--partial-rule",
        choices=("tests", "original"),
        default="tests",
        help="public tests of partial execution feedback: the first 3 test methods (tests) "
        "or ConvCodeWorld's first 3 methods of any name (original)",
    )
    conv.addoption("--user-model", help="the simulated user's model, any --model backend, e.g. openai:gpt-4o")
    conv.addoption(
        "--prompt",
        choices=("instruct", "complete", *REASONING_STYLES),
        help="BigCodeBench: the natural-language task (instruct, the default) or the code to complete; "
        "code reasoning: direct (the default), cot (chain of thought) or rag (with the API documentation)",
    )
    group.addoption(
        "--rag-path",
        type=Path,
        help="CodeGlance: the API documentation file for --prompt rag (default: <Set>_RAG_result_total.json "
        "beside the data file)",
    )
    group.addoption(
        "--memory-limit",
        type=int,
        default=Limits.memory_bytes // MiB,
        help="address-space limit per candidate, MiB (default: 4096)",
    )


@pytest.hookimpl(trylast=True)  # after the cache provider has set config.cache
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "convcode: a benchmark item of pytest-convcode")
    worker_input = getattr(config, "workerinput", None)
    try:
        gate_list = [gates.parse(text) for text in config.getoption("gate")]
        compare_path = config.getoption("compare")
        relative = [g.text for g in gate_list if g.relative]
        if relative and compare_path is None:
            raise UsageError(f"gate {relative[0]!r} compares with a baseline: give --compare PATH (an earlier run)")
        baseline = load_baseline(compare_path) if compare_path is not None and worker_input is None else None
        settings = _model_settings(config, worker_input)
        model = resolve(config.getoption("model"), settings)
        user_model = _user_model(config, settings)
        backend(config.getoption("sandbox"))
        if worker_input is None:
            _connect(config, model)
            if user_model is not None:
                _connect(config, user_model, serve=False)
        feedback = config.getoption("feedback")
        conversation_options = conversation.Options(
            max_turns=config.getoption("max_turns"),
            context=config.getoption("context"),
            partial_rule=config.getoption("partial_rule"),  # argparse choices: a Rule
        )
        task_ids = _task_ids(config.getoption("tasks"))
        feedback_settings = parse_settings(feedback) if feedback else None
    except (UsageError, UnknownNameError) as exc:
        raise pytest.UsageError(str(exc)) from None
    run_id = worker_input["convcode_run_id"] if worker_input else config.getoption("run_id") or results.new_run_id()
    reports_dir = Path(config.rootpath, config.getoption("reports_dir"))
    options = Options(
        model=config.getoption("model"),
        sandbox=config.getoption("sandbox"),
        dataset_path=config.getoption("dataset_path"),
        dataset_version=config.getoption("dataset_version"),
        base_only=config.getoption("base_only"),
        time_factor=config.getoption("time_factor"),
        min_time=config.getoption("min_time"),
        limits=Limits(memory_bytes=config.getoption("memory_limit") * MiB),
        gates=gate_list,
        run_id=run_id,
        reports_dir=reports_dir,
        cache_dir=_cache_dir(config),
        generation=Settings(
            cache=config.getoption("cache"),
            max_concurrency=config.getoption("max_concurrency"),
            retry=RetryPolicy(attempts=config.getoption("max_retries") + 1),
            request_timeout=config.getoption("request_timeout"),
        ),
        generation_cache=Path(config.rootpath, config.getoption("cache_path") or ".convcode/generations.sqlite"),
        task_ids=task_ids,
        subset=config.getoption("subset"),
        sandbox_python=config.getoption("sandbox_python") or sys.executable,
        feedback=feedback_settings,
        conversation=conversation_options,
        prompt=config.getoption("prompt"),
        rag_path=config.getoption("rag_path"),
        user_model=user_model,
        model_settings=settings,
    )
    run_log = None if worker_input else results.RunLog(reports_dir / run_id)
    config.stash[RUN] = Run(options, model, run_log, baseline=baseline)
    config.pluginmanager.register(_LogHook(config), "convcode-log")
    if getattr(config, "_json_report", None) is not None:  # pytest-json-report is writing a report
        config.pluginmanager.register(_JsonReportHook(config), "convcode-json-report")


def _model_settings(config: pytest.Config, worker_input: dict[str, Any] | None) -> ModelSettings:
    aliases = project_aliases(Path(config.rootpath, "pyproject.toml"))
    for path in config.getini("convcode_models"):
        aliases.update(project_aliases(Path(path)))
    base_url = config.getoption("base_url")
    if worker_input is not None:
        base_url = worker_input.get("convcode_base_url", base_url)  # where the controller's --autorun serves
    elif config.getoption("autorun"):
        if base_url:
            raise UsageError("--autorun starts its own server: leave out --base-url")
        base_url = f"http://127.0.0.1:{config.getoption('vllm_port') or free_port()}/v1"
    return ModelSettings(
        base_url=base_url,
        samples=config.getoption("samples"),
        temperature=config.getoption("temperature"),
        max_tokens=config.getoption("max_tokens"),
        timeout=config.getoption("request_timeout"),
        aliases=aliases,
        tensor_parallel=config.getoption("tensor_parallel"),
    )


def _user_model(config: pytest.Config, settings: ModelSettings) -> Model | None:
    """The simulated user's model: a language model, with its own defaults (not --base-url's
    endpoint, nor the coding model's sampling options)."""
    spec = config.getoption("user_model")
    if not spec:
        return None
    model = resolve(spec, ModelSettings(aliases=settings.aliases, timeout=settings.timeout))
    if not isinstance(model, EndpointModel):
        raise UsageError(
            f"--user-model {spec!r}: the simulated user must be a language model (an alias or openai:NAME)"
        )
    return model


def _task_ids(value: str | None) -> frozenset[str] | None:
    """--tasks: a file of ids (one per line) when such a file exists, else ids separated by commas."""
    if not value:
        return None
    path = Path(value)
    text = path.read_text() if path.is_file() else value.replace(",", "\n")
    ids = frozenset(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))
    if not ids:
        raise UsageError(f"--tasks {value!r} names no task")
    return ids


def _connect(config: pytest.Config, model: Model, serve: bool = True) -> None:
    """Start the model's server (--autorun), or check once that its endpoint answers."""
    autorun = serve and config.getoption("autorun")
    if not isinstance(model, EndpointModel) or model.http is None:
        if autorun:
            raise UsageError(f"--autorun serves a model by its name; {model.name!r} is not one")
    elif autorun:
        _autorun(config, model.spec.model, model.http.base_url)
    else:
        model.http.check_reachable()


def _autorun(config: pytest.Config, served: str, base_url: str) -> None:
    """Start `vllm serve` for the model, where the model's requests go; stopped in unconfigure."""
    import shlex
    from urllib.parse import urlparse

    options = ServeOptions(
        model=served,
        gpus=config.getoption("gpus"),
        tensor_parallel=config.getoption("tensor_parallel"),
        port=urlparse(base_url).port,
        extra_args=tuple(shlex.split(config.getoption("vllm_args"))),
    )
    server = VllmServer(options, Path(config.rootpath, config.getoption("reports_dir"), "vllm-serve.log"))
    config.stash[SERVER] = server
    server.start()


@pytest.hookimpl(optionalhook=True, tryfirst=True)  # before xdist's own
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """xdist's ``load`` distribution, one item at a time (the slowest come first, see
    _slowest_first), keeping each task's conversation items together."""
    if config.getvalue("dist") != "load":
        return None
    from .scheduling import ConversationScheduling

    return ConversationScheduling(config, log)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist: workers label their records with the controller's run id, and use its endpoint."""
    run = node.config.stash[RUN]
    node.workerinput["convcode_run_id"] = run.options.run_id
    if isinstance(run.model, EndpointModel) and run.model.http is not None:
        node.workerinput["convcode_base_url"] = run.model.http.base_url


def _cache_dir(config: pytest.Config) -> Path:
    if getattr(config, "cache", None) is not None:
        return config.cache.mkdir("convcode") / "groundtruth"
    return Path(config.rootpath, ".convcode-cache", "groundtruth")


def pytest_unconfigure(config: pytest.Config) -> None:
    if RUN in config.stash:
        config.stash[RUN].close()
    if SERVER in config.stash:
        config.stash[SERVER].stop()


# ---------------------------------------------------------------- collection


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "convcode_case" not in metafunc.fixturenames:
        return
    run = metafunc.config.stash[RUN]
    cases: list[Case] | list[TurnCase] | list[ReasoningCase]
    notes: list[str] = []
    try:
        suite = getattr(metafunc.module, "SUITE", None)
        if suite is None:
            raise UsageError(f"{metafunc.module.__file__}: a suite module must set SUITE = '<data set>'")
        settings = run.feedback_settings(getattr(metafunc.module, "FEEDBACK", None))
        if run.is_reasoning_suite(suite):
            if settings is not None:
                raise UsageError(f"{suite} predicts what code does, in one turn: --feedback is for code generation")
            cases, notes = run.reasoning_cases(suite)
        elif settings is None:
            cases, notes = run.cases(suite)
        else:
            cases = run.turn_cases(suite, settings)
    except UsageError as exc:
        problem = str(exc)
    else:
        problem = ""
    if problem:  # a bad suite module, data or samples file: its message, no harness traceback
        collector = metafunc.definition.parent
        assert collector is not None  # a test function is always collected by a module or class
        collector.stash[USAGE_PROBLEM] = problem
        pytest.fail(problem, pytrace=False)
    for note in notes:
        warnings.warn(note, stacklevel=1)
    metafunc.parametrize("convcode_case", cases, ids=[c.id for c in cases])


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Any:
    """The report of a suite module that cannot be run (its SUITE, data set or samples) says
    so; the attribute crosses from an xdist worker to the controller with the report."""
    report = yield
    problem = collector.stash.get(USAGE_PROBLEM, None)
    if problem is not None:
        report.convcode_usage_error = problem
    return report


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start generating for the collected items, in the order they will run."""
    if session.config.option.collectonly:
        return
    run = session.config.stash[RUN]
    cases = [case for item in session.items if isinstance(case := _case(item), Case | ReasoningCase)]
    if cases:
        run.prefetch(cases)
    selected: dict[tuple[str, str], dict[Setting, Problem]] = {}
    for item in session.items:
        if isinstance(case := _case(item), TurnCase):
            selected.setdefault((_suite(item), case.task.task_id), {})[case.setting] = case.task
    session.config.stash[CONVERSATIONS] = selected
    if not hasattr(session.config, "workerinput"):  # one process runs them all: start them all
        for suite, task_id in list(selected):
            _start_conversations(run, session.config, suite, task_id)


def _start_conversations(run: Run, config: pytest.Config, suite: str, task_id: str) -> None:
    """Start a task's selected conversations, the first time one of its items asks."""
    conversations = run.conversations(suite)
    for setting, task in config.stash[CONVERSATIONS].pop((suite, task_id), {}).items():
        if setting.user == "none" or run.options.user_model is not None:
            conversations.start(task, setting)


def _case(item: pytest.Item) -> Case | TurnCase | ReasoningCase | None:
    callspec = getattr(item, "callspec", None)
    return callspec.params.get("convcode_case") if callspec is not None else None


def _suite(item: pytest.Item) -> str:
    return str(item.module.SUITE)  # type: ignore[attr-defined]


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    _select_task_ids(config, items)
    if hasattr(config, "workerinput"):
        _slowest_first(config, items)


def _slowest_first(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under xdist, start the tasks whose reference ran longest (as measured when their
    ground truth was made), so that no worker is left with a slow one at the end.
    Every worker sees the same cache, so they all collect the same order."""
    run = config.stash[RUN]
    costs: dict[tuple[str, str], float] = {}  # a task's samples share one cost file

    def cost(item: pytest.Item) -> float:
        case = _case(item)
        if not isinstance(case, Case):  # conversations keep their order: turn after turn
            return 0.0
        key = (_suite(item), case.task.task_id)
        if key not in costs:
            costs[key] = run.judge(key[0]).expected_cost(case.task)
        return costs[key]

    items.sort(key=cost, reverse=True)


def _select_task_ids(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Make ``-k HumanEval/12`` mean that task, not also HumanEval/120-129.

    pytest matches -k names as substrings; a name that is a whole task id of
    this collection is matched exactly against the item's task instead.
    """
    expression = config.option.keyword
    if not expression or Expression is None:
        return
    try:
        compiled = Expression.compile(expression)
    except Exception:  # a malformed -k: pytest reports it itself
        return
    task_ids = {case.task.task_id.lower() for item in items if (case := _case(item))}
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        case = _case(item)
        matches = case is None or compiled.evaluate(_TaskIdMatcher(item, case.task.task_id, task_ids))
        (keep if matches else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


class _TaskIdMatcher:
    """-k names: a whole task id of this collection must be the item's own; others as pytest does."""

    def __init__(self, item: pytest.Item, task_id: str, task_ids: set[str]) -> None:
        self.item, self.task_id, self.task_ids = item, task_id.lower(), task_ids

    def __call__(self, name: str, /, **kwargs: str | int | bool | None) -> bool:
        if name.lower() in self.task_ids:
            return name.lower() == self.task_id
        return bool(KeywordMatcher.from_item(self.item)(name, **kwargs))


# ---------------------------------------------------------------- items


@pytest.fixture
def convcode_verdict(
    request: pytest.FixtureRequest, convcode_case: Case | TurnCase | ReasoningCase
) -> Verdict | TurnResult | ReasoningVerdict:
    """Generate the case's answer and judge it; harness trouble raises here (an E)."""
    if isinstance(convcode_case, TurnCase):
        return _turn(request, convcode_case)
    if isinstance(convcode_case, ReasoningCase):
        return _predict(request, convcode_case)
    run = request.config.stash[RUN]
    sandbox_was_new = not run.sandbox_started
    started = time.perf_counter()
    answer = run.answer(convcode_case)
    generated = time.perf_counter()
    judge = run.judge(request.module.SUITE)
    if sandbox_was_new:
        for text in run.sandbox.warnings():
            warnings.warn(SandboxIsolationWarning(text), stacklevel=1)
    if answer.text or not answer.why:
        verdict = judge.judge(convcode_case.task, answer.program(convcode_case.task))
    else:
        verdict = judge.unanswered(convcode_case.task, answer.why)
    request.node.stash[VERDICT] = verdict
    request.node.stash[ANSWER] = answer
    _keep_timings(request, started, generated)
    return verdict


def _predict(request: pytest.FixtureRequest, case: ReasoningCase) -> ReasoningVerdict:
    """A code reasoning item: the model's prediction, run against the data set's answer in the
    sandbox. Code of the task that cannot run here (a missing library) is an error (E)."""
    run = request.config.stash[RUN]
    started = time.perf_counter()
    answer = run.answer(case)
    generated = time.perf_counter()
    verdict = run.reasoning_judge.judge(case.task, extract(answer.text, case.task))
    request.node.stash[ANSWER] = answer
    request.node.stash[PREDICTION] = verdict
    _keep_timings(request, started, generated)
    if verdict.environment:
        pytest.fail(f"the task's code cannot run here: {verdict.explanation}", pytrace=False)
    return verdict


def _keep_timings(request: pytest.FixtureRequest, started: float, generated: float) -> None:
    """The item's seconds getting its answer (from ``started``) and judging it (from ``generated``
    until now), for its record."""
    request.node.stash[TIMINGS] = {
        "generate_s": round(generated - started, 4),
        "judge_s": round(time.perf_counter() - generated, 4),
    }


def _turn(request: pytest.FixtureRequest, case: TurnCase) -> TurnResult:
    """Wait for the case's turn of its conversation, starting the task's conversations first."""
    run = request.config.stash[RUN]
    if case.setting.user != "none" and run.options.user_model is None:
        pytest.skip(f"{case.setting.id} simulates a user: give --user-model, e.g. --user-model openai:gpt-4o")
    suite = _suite(request.node)
    _start_conversations(run, request.config, suite, case.task.task_id)
    started = time.perf_counter()
    try:
        result = run.turn(suite, case)
    except InfrastructureError as exc:
        problem = f"{type(exc).__name__}: {exc}"
    else:
        problem = ""
    if problem:  # failing in a fixture: an error (E), shown as its message alone
        pytest.fail(problem, pytrace=False)
    request.node.stash[TURN] = result
    request.node.stash[TIMINGS] = {"wait_s": round(time.perf_counter() - started, 4)}
    return result


def expect_pass(verdict: Verdict | TurnResult | ReasoningVerdict) -> None:
    """Fail the item with the verdict's explanation (no traceback of the harness)."""
    if not verdict.passed:
        pytest.fail(verdict.explanation, pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    case = _case(item)
    if case is not None and (report.when == "call" or (report.when == "setup" and report.failed)):
        if isinstance(case, TurnCase):
            record = _turn_record(item, case, report)
        elif isinstance(case, ReasoningCase):
            record = _reasoning_record(item, case, report)
        else:
            record = _record(item, case, report)
        report.user_properties.append(("convcode", record))
    return report


def _common_record(
    item: pytest.Item, case: Case | TurnCase | ReasoningCase, report: pytest.TestReport
) -> dict[str, Any]:
    run = item.config.stash[RUN]
    suite = _suite(item)
    dataset = run.scored_dataset(suite)
    record: dict[str, Any] = {
        "run_id": run.options.run_id,
        "suite": suite,
        "dataset": f"{dataset.name} {dataset.version}",
        "task_id": case.task.task_id,
        "model": run.model.name,
        "outcome": "error" if report.when == "setup" else report.outcome,
    }
    timings: dict[str, float] | None = item.stash.get(TIMINGS, None)
    record.update(timings or {})
    return record


def _turn_record(item: pytest.Item, case: TurnCase, report: pytest.TestReport) -> dict[str, Any]:
    """A turn's record; the conversation log has the messages and the feedback in full."""
    record = _common_record(item, case, report)
    record.update(setting=case.setting.id, turn=case.turn)
    result = item.stash.get(TURN, None)
    if result is None:
        record["error"] = report.longreprtext[-4000:]
        return record
    record["solved_at"] = result.solved_at
    turn = result.turn
    if turn is not None:
        answer = turn.answer
        record.update(_request_fields(answer))
        record["program"] = turn.program
        if not result.passed:
            record["failure"] = result.explanation
        user = turn.feedback.user if turn.feedback is not None else None
        if user is not None:
            record["leaked"] = user.leaked
    return record


def _request_fields(answer: Answer) -> dict[str, Any]:
    """What the answer's request cost: summary.json's ``generation`` totals are summed from these."""
    return {"usage": answer.usage, "latency_s": answer.latency, "retries": answer.retries, "cached": answer.cached}


def _reasoning_record(item: pytest.Item, case: ReasoningCase, report: pytest.TestReport) -> dict[str, Any]:
    """A prediction's record, with the task's code features (scores are broken down by them)."""
    run = item.config.stash[RUN]
    record = _common_record(item, case, report)
    question = case.task
    record.update(mode=question.mode, prompt=question.style, sample=case.sample, features=dict(question.task.features))
    answer = item.stash.get(ANSWER, None)
    if answer is not None and run.model.cacheable:
        record.update(_request_fields(answer))
        record["reply"] = answer.text
    verdict = item.stash.get(PREDICTION, None)
    if verdict is None or verdict.environment:
        record["error"] = report.longreprtext[-4000:]
        return record
    record["prediction"] = verdict.prediction
    if not verdict.passed:
        record["failure"] = verdict.explanation
    return record


def _record(item: pytest.Item, case: Case, report: pytest.TestReport) -> dict[str, Any]:
    run = item.config.stash[RUN]
    record = _common_record(item, case, report)
    record["sample"] = case.sample
    answer = item.stash.get(ANSWER, None)
    if answer is not None and run.model.cacheable:
        record.update(_request_fields(answer))
        if answer.reply is not None:
            record["reply"] = answer.reply
    verdict = item.stash.get(VERDICT, None)
    if verdict is None:
        record["error"] = report.longreprtext[-4000:]
        return record
    record["phases"] = {
        name: {"passed": p.passed, "n_passed": p.n_passed, "n": len(p.statuses), "tests": p.statuses}
        for name, p in verdict.phases.items()
    }
    if not verdict.passed:
        record["failure"] = verdict.explanation
    record["program"] = verdict.program
    return record


class _LogHook:
    """Writes each item's record on the controller as its report arrives, and stops the run
    on a collect report that names a usage problem (a plugin object, because the report hooks
    are not given the config)."""

    def __init__(self, config: pytest.Config) -> None:
        self.run = config.stash[RUN]

    @pytest.hookimpl(tryfirst=True)  # before the terminal lists it as an error of collection
    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        """A suite that cannot be run is a usage error (exit status 4, one line), as a bad
        option or samples file is; under xdist the worker's collect report carries it to the
        controller, the process that keeps the run's log."""
        problem = getattr(report, "convcode_usage_error", None)
        if problem is not None and self.run.log is not None:
            raise pytest.UsageError(problem)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if self.run.log is None:
            return
        records = [v for name, v in report.user_properties if name == "convcode" and isinstance(v, dict)]
        for record in records:
            self.run.records.append(record)
            self.run.log.append(record)
        if report.failed and not records:
            self.run.other_failures += 1


# ---------------------------------------------------------------- end of run


def _summarize(run: Run) -> dict[str, Any] | None:
    """The run's summary, computed once (the JSON report may ask before sessionfinish)."""
    if run.summary is None and run.log is not None and run.records:
        run.summary = build_summary(
            run_id=run.options.run_id,
            model=run.model.name,
            model_identity=run.model.identity(),
            options=run.options,
            records=run.records,
            suites={**run.suites_scored, **run.dataset_info()},
            started=run.started,
            workers=run.workers,
            baseline=run.baseline,
        )
    return run.summary


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """xdist: the controller learns which data sets a worker scored."""
    run = node.config.stash[RUN]
    run.workers += 1
    run.suites_scored.update(getattr(node, "workeroutput", {}).get("convcode_suites", {}))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    run = session.config.stash[RUN]
    worker_output = getattr(session.config, "workeroutput", None)
    if worker_output is not None:
        worker_output["convcode_suites"] = run.dataset_info()
    summary = _summarize(run)
    if summary is None or run.log is None:
        return
    run.log.write_summary(summary)
    run.log.write_samples(run.records)
    _write_html(session.config, run)
    if summary["items"]["error"] or not all(g["passed"] for g in summary["gates"]):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    elif exitstatus == pytest.ExitCode.TESTS_FAILED and not run.other_failures:
        session.exitstatus = pytest.ExitCode.OK  # wrong answers are measurements, not a failed run


def _write_html(config: pytest.Config, run: Run) -> None:
    """The HTML report; a failure to draw it is reported, and loses none of the run's files."""
    assert run.log is not None
    out = config.getoption("html_report") or run.log.directory / "report.html"
    if out == "none":
        return
    try:
        from .report import write_html

        run.report = write_html(run.log.directory, Path(out))
    except Exception as exc:  # the results are written already: say so, do not lose them
        run.report_problem = f"{type(exc).__name__}: {exc}"


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    run = config.stash[RUN]
    summary = run.summary
    if not summary or run.log is None:
        return
    tr = terminalreporter
    tr.write_sep("=", f"convcode: {summary['model']} · run {summary['run_id']}")
    if summary["scores"]:
        _write_scores(tr, summary["scores"])
    if summary["conversations"]:
        _write_conversations(tr, summary["conversations"])
    if summary["features"]:
        _write_features(tr, summary["features"])
    items = summary["items"]
    tr.write_line(
        f"items: {items['passed']} passed, {items['failed']} failed (wrong answers), "
        f"{items['error']} errors (harness, not counted in scores)"
    )
    tr.write_line(f"results: {run.log.results_path}")
    if run.report is not None:
        tr.write_line(f"report: {run.report}")
    if run.report_problem:
        tr.write_line(f"report: not written: {run.report_problem}", red=True)
    if "comparison" in summary:
        _write_comparison(tr, summary["comparison"])
    for gate in summary["gates"]:
        if gate["passed"]:
            tr.write_line(f"gate {gate['gate']}: passed", green=True)
        else:
            tr.write_line(f"gate {gate['gate']}: FAILED: {'; '.join(gate['reasons'])}", red=True, bold=True)


def _write_scores(tr: Any, scores: dict[str, dict[str, Any]]) -> None:
    ks = sorted(
        {key for entry in scores.values() for key in entry if key.startswith("pass@")}, key=lambda k: int(k[5:])
    )
    width = max(14, *(len(group) + 2 for group in scores))
    header = f"{'score':<{width}}{'tasks':>7}{'samples':>9}{'passed':>8}{'errors':>8}" + "".join(f"{k:>9}" for k in ks)
    tr.write_line(header)
    for group, entry in scores.items():
        cells = "".join(f"{100 * entry[k]:>9.1f}" if k in entry else f"{'-':>9}" for k in ks)
        tr.write_line(
            f"{group:<{width}}{entry['tasks']:>7}{entry['samples']:>9}{entry['passed']:>8}{entry['errors']:>8}{cells}"
        )


def _write_conversations(tr: Any, conversations: dict[str, dict[str, Any]]) -> None:
    """MRR, Recall and the pass curve per setting, as ConvCodeWorld reports them."""
    width = max(len(group) for group in conversations) + 2
    tr.write_line(
        f"{'conversation':<{width}}{'tasks':>6}{'MRR':>7}{'Recall':>8}{'errors':>8}{'leaks':>7}  pass by turn"
    )
    for group, entry in conversations.items():
        mrr = f"{entry['mrr']:>7.1f}{entry['recall']:>8.1f}" if entry["tasks"] else f"{'-':>7}{'-':>8}"
        curve = " ".join(f"{value:.1f}" for value in entry.get("curve", []))
        leaks = f"{entry['leaks']}/{entry['user_feedback']}" if entry["user_feedback"] else "-"
        tr.write_line(f"{group:<{width}}{entry['tasks']:>6}{mrr}{entry['errors']:>8}{leaks:>7}  {curve}")


def _write_features(tr: Any, features: dict[str, dict[str, list[dict[str, Any]]]]) -> None:
    """pass@1 by code feature: one line per feature, ``bucket: pass@1 (tasks)`` for each bucket."""
    for group, by_feature in features.items():
        tr.write_line(f"{group} pass@1 by code feature, bucket: pass@1 (tasks)")
        for feature, buckets in by_feature.items():
            scored = [b for b in buckets if "pass@1" in b]
            cells = " | ".join(f"{b['bucket']}: {100 * b['pass@1']:.1f} ({b['tasks']})" for b in scored)
            tr.write_line(f"  {feature:<26}{cells}")


def _write_comparison(tr: Any, comparison: dict[str, Any], shown: int = 20) -> None:
    """Deltas of the metrics both runs measured, and the problems that flipped (the first few)."""
    base = comparison["baseline"]
    tr.write_line(f"compared with run {base['run_id']} ({base['model']}):")
    for name, m in comparison["metrics"].items():
        if m["delta"] is not None:
            tr.write_line(f"  {name:<40}{m['value']:>7.1f}{m['delta']:>+8.1f}  (was {m['baseline']:.1f})")
    for label, key, colour in (("now passing", "now_passing", "green"), ("now failing", "now_failing", "red")):
        problems = comparison[key]
        more = f", and {len(problems) - shown} more (summary.json)" if len(problems) > shown else ""
        listed = ", ".join(problems[:shown]) or "none"
        tr.write_line(f"  {label} ({len(problems)}): {listed}{more}", **({colour: True} if problems else {}))


class _JsonReportHook:
    """Adds the run's scores to pytest-json-report's JSON (``--json-report``)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    def pytest_json_modifyreport(self, json_report: dict[str, Any]) -> None:
        summary = _summarize(self.config.stash[RUN])
        if summary:
            json_report["convcode"] = json.loads(json.dumps(summary))
