"""The planner's decisions (outputs): a Reminder instance, its idempotency key, and a Plan."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Reminder:
    """One reminder instance; `kind` and `data` are rendered into Chinese by the handlers."""

    rule: str
    subject: str
    period: str
    step: str
    kind: str
    due_at: datetime
    expires_at: datetime
    recipients: tuple[str, ...]
    routine: bool = True
    unit_id: int | None = None
    data: Mapping[str, object] = field(default_factory=dict)
    accountability: tuple[tuple[int, str], ...] = ()  # (unit id, failure kind) to record

    @property
    def key(self) -> str:
        """The idempotency key `rule|subject|period|step`, recorded once by the caller."""
        return f"{self.rule}|{self.subject}|{self.period}|{self.step}"


@dataclass(frozen=True)
class Plan:
    due: list[Reminder]
    missed: list[Reminder]
