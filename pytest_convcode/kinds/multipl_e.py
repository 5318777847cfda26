"""MultiPL-E: HumanEval in other languages, judged by their own compilers and runtimes. One item per
problem, language and sample (``HumanEval_23_strlen-java``, ``-s1`` ...), for the languages of
``--language`` (default: the seven the Qwen2.5-Coder kit publishes verdicts for).

A completion model continues the data set's prompt, cut at the task's stop tokens; a chat model is
asked for the function with an instruction, and the function is taken out of its reply
(``languages.extraction``). The program (the code, then the tests) runs in the sandbox
(``languages.judge``); a language whose toolchain is missing here is an error (E) that names the
package to install. Scores are pass@k per language: ``multipl_e-java``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from ..datasets.multipl_e import ProgramDataset, ProgramTask, support_files
from ..errors import UsageError
from ..feedback import Setting
from ..languages.catalog import KIT_LANGUAGES, LANGUAGES
from ..languages.extraction import continuation, from_chat
from ..languages.judge import ProgramJudge
from ..metrics import summarize
from ..models import Answer, Message, Request
from ..models.endpoint import EndpointModel
from ..models.reference import ReferenceModel
from ..records import Record
from ..services import Services
from .kind import KINDS, Answers, SuiteKind, request_fields, selected, timed

MULTIPL_E = "multipl-e"  # the kind, as records name it
INSTRUCTION = (
    "Complete the following {title} function so that it passes its tests. Answer with the whole function "
    "in one fenced code block.\n\n```{language}\n{prompt}\n```"
)
NO_REFERENCE = "MultiPL-E has no reference solutions: give --model replay:FILE or a model to evaluate"


@dataclass(frozen=True)
class ProgramVerdict:
    passed: bool
    explanation: str


@dataclass(frozen=True)
class ProgramCase:
    task: ProgramTask
    sample: int
    samples: int
    chat: bool  # the model is asked with an instruction, and its reply holds the code

    @property
    def task_id(self) -> str:
        return self.task.task_id

    @property
    def id(self) -> str:
        return self.task_id if self.samples == 1 else f"{self.task_id}-s{self.sample}"

    @property
    def request(self) -> Request:
        if not self.chat:
            return Request(self.task, n=self.samples)
        language = LANGUAGES[self.task.language]
        text = INSTRUCTION.format(title=language.title, language=language.name, prompt=self.task.prompt.strip())
        return Request(self.task, (Message("user", text),), n=self.samples, verbatim=True)


@dataclass
class ProgramSuite:
    services: Services
    name: str

    def __post_init__(self) -> None:
        self.answers = Answers(self.services)

    @cached_property
    def dataset(self) -> ProgramDataset:
        dataset = self.services.dataset(self.name)
        assert isinstance(dataset, ProgramDataset)  # the kind accepts program-tested data sets only
        return dataset

    @cached_property
    def programs(self) -> ProgramJudge:
        return ProgramJudge(self.services.sandbox, support_files())

    def cases(self, settings: tuple[Setting, ...] | None) -> tuple[list[ProgramCase], list[str]]:
        model, data = self.services.model, self.services.data
        if isinstance(model, ReferenceModel):
            raise UsageError(NO_REFERENCE)
        languages = self.dataset.languages() if data.languages == ("all",) else data.languages or KIT_LANGUAGES
        unknown = sorted(set(languages) - set(self.dataset.languages()))
        if unknown:
            raise UsageError(f"--language {unknown[0]}: not in the data set; known: {', '.join(LANGUAGES)}, or all")
        chat = isinstance(model, EndpointModel) and model.spec.style == "chat"
        cases: list[ProgramCase] = []
        for task in selected(self.name, self.dataset.tasks, data.tasks):
            if task.language in languages:
                n = model.samples(task)
                cases.extend(ProgramCase(task, i, n, chat) for i in range(n))
        return cases, []

    def start(self, cases: Sequence[ProgramCase], everything: bool) -> None:
        self.services.prefetch(list({c.task_id: c.request for c in cases}.values()))

    def cost(self, case: ProgramCase) -> float:
        return 0.0

    def judge(self, case: ProgramCase, record: dict[str, Any]) -> ProgramVerdict:
        task = case.task
        language = LANGUAGES[task.language]
        record.update(language=task.language, sample=case.sample)
        started = time.perf_counter()
        answer = self.answers.sample(case.task_id, case.request, case.sample)
        generated = time.perf_counter()
        if self.services.model.cacheable:
            record.update(request_fields(answer), reply=answer.reply if answer.reply is not None else answer.text)
        code, why = self._code(case, answer)
        if why:
            timed(record, started, generated)
            record["failure"] = f"the reply held no program: {why}"
            return ProgramVerdict(False, record["failure"])
        program = language.program(code, task.tests)
        record["program"] = program
        outcome = self.programs.judge(language, program)
        timed(record, started, generated)
        record.update(status=outcome.status, compile_s=round(outcome.compile_s, 3), run_s=round(outcome.run_s, 3))
        if not outcome.passed:
            record["failure"] = f"{outcome.status}: {outcome.detail}"
        return ProgramVerdict(outcome.passed, record.get("failure", ""))

    def _code(self, case: ProgramCase, answer: Answer) -> tuple[str, str]:
        """The code before the tests, or why the answer gives none."""
        task = case.task
        if case.chat:
            return from_chat(LANGUAGES[task.language], task.prompt, task.entry_point, answer.text)
        if self.services.model.cacheable:  # a model's own reply: cut where this task stops
            return task.prompt + continuation(task.prompt, answer.reply or answer.text, task.stop_tokens), ""
        return answer.program(task), ""  # a samples file's, as it was written

    def close(self) -> None:
        pass


def language_scores(records: Sequence[Record]) -> dict[str, Any]:
    """pass@k per language: score groups ``multipl_e-java`` ..."""
    return {"scores": summarize({**r, "suite": f"{r['suite']}-{r.get('language', '')}"} for r in records)}


KINDS.register(MULTIPL_E)(
    SuiteKind(
        MULTIPL_E,
        accepts=lambda tests, conversational: tests == "programs" and not conversational,
        open=ProgramSuite,
        scores=language_scores,
    )
)
