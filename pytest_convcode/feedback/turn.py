"""One round of feedback as the coding model reads it: compilation, execution and user feedback
composed, as a setting chooses them, into the next user message."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .execution import ExecutionFeedback
from .prompts import render
from .user import UserFeedback


@dataclass(frozen=True)
class Feedback:
    compilation: str
    execution: ExecutionFeedback | None = None
    user: UserFeedback | None = None

    def message(self) -> str:
        return render(
            "turn",
            compilation=self.compilation,
            execution=self.execution.text if self.execution else "",
            user=self.user.text if self.user else "",
        )

    def to_json(self) -> dict[str, Any]:
        """As the conversation log keeps it: each part, and what the simulated user really said."""
        data: dict[str, Any] = {"compilation": self.compilation}
        if self.execution is not None:
            data["execution"] = self.execution.text
            data["tests_shown"] = list(self.execution.shown)
        if self.user is not None:
            data["user"] = self.user.text
            data["user_raw"] = self.user.raw
            data["user_asked"] = self.user.asked
            data["leaked"] = self.user.leaked
            data["leak_ngrams"] = list(self.user.leak_ngrams)
        return data
