"""The nine feedback settings of ConvCodeWorld: compilation feedback, always, plus a choice of
execution feedback and of simulated user."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from ..errors import UsageError

Execution = Literal["none", "partial", "full"]
User = Literal["none", "novice", "expert"]


@dataclass(frozen=True)
class Setting:
    """One feedback setting. ``id`` names it in test ids ("cf-ef_partial-novice"), ``label`` in
    tables, as the paper writes it ("CF+EF(partial)+novice")."""

    execution: Execution = "none"
    user: User = "none"

    def __post_init__(self) -> None:
        # The Literal types bind mypy only: settings also come from option strings.
        if self.execution not in get_args(Execution):
            raise UsageError(f"unknown execution feedback {self.execution!r}; use one of {get_args(Execution)}")
        if self.user not in get_args(User):
            raise UsageError(f"unknown simulated user {self.user!r}; use one of {get_args(User)}")

    @property
    def id(self) -> str:
        parts = ["cf"]
        if self.execution != "none":
            parts.append(f"ef_{self.execution}")
        if self.user != "none":
            parts.append(self.user)
        return "-".join(parts)

    @property
    def label(self) -> str:
        parts = ["CF"]
        if self.execution != "none":
            parts.append(f"EF({self.execution})")
        if self.user != "none":
            parts.append(self.user)
        return "+".join(parts)

    @classmethod
    def from_id(cls, setting_id: str) -> Setting:
        """The setting an ``id`` names; a UsageError listing the nine otherwise."""
        for setting in ALL_SETTINGS:
            if setting.id == setting_id:
                return setting
        known = ", ".join(setting.id for setting in ALL_SETTINGS)
        raise UsageError(f"unknown feedback setting {setting_id!r}; known settings: {known}")


# In the paper's order.
ALL_SETTINGS: tuple[Setting, ...] = (
    Setting(),
    Setting(execution="partial"),
    Setting(execution="full"),
    Setting(user="novice"),
    Setting(user="expert"),
    Setting(execution="partial", user="novice"),
    Setting(execution="full", user="novice"),
    Setting(execution="partial", user="expert"),
    Setting(execution="full", user="expert"),
)


def parse_settings(text: str) -> tuple[Setting, ...]:
    """``all``, or setting ids separated by commas ("cf-ef_full,cf-expert")."""
    if text.strip() == "all":
        return ALL_SETTINGS
    return tuple(Setting.from_id(part.strip()) for part in text.split(",") if part.strip())
