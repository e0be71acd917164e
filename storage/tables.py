"""The only module with sqlmodel table classes. All datetimes are aware and stored as UTC."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


class Unit(SQLModel, table=True):
    """单位: a city department, county/district, the news office or a news unit (R1, R8)."""

    __tablename__ = "units"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64, unique=True, index=True)
    unit_type: str = Field(max_length=16)
    key_unit: bool = Field(default=False)
    office_phone: str | None = Field(default=None, max_length=32)
    created_at: datetime
    updated_at: datetime


class Person(SQLModel, table=True):
    """人员: one WeCom member of the roster (R4–R7). `roles` holds canonical role names."""

    __tablename__ = "people"

    id: int | None = Field(default=None, primary_key=True)
    userid: str = Field(max_length=64, unique=True, index=True)
    name: str = Field(max_length=64)
    unit_id: int = Field(foreign_key="units.id", index=True)
    roles: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    title: str = Field(default="", max_length=64)
    mobile: str = Field(default="", max_length=32)
    public: bool = Field(default=False)
    active: bool = Field(default=True)
    created_at: datetime
    updated_at: datetime


class InboundMessage(SQLModel, table=True):
    """A decrypted callback, stored once per dedupe key (MsgId, or the event's identity)."""

    __tablename__ = "inbound_messages"

    id: int | None = Field(default=None, primary_key=True)
    dedupe_key: str = Field(max_length=200, unique=True)
    msg_id: str | None = Field(default=None, max_length=64)
    from_user: str = Field(max_length=64, index=True)
    msg_type: str = Field(max_length=32)
    event: str | None = Field(default=None, max_length=64)
    content: str = Field(default="", sa_column=Column(Text, nullable=False))
    raw: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    received_at: datetime
    status: str = Field(default="received", max_length=16, index=True)
    handled_at: datetime | None = None
    reply_text: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    reply_route: str | None = Field(default=None, max_length=16)
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class OutboxMessage(SQLModel, table=True):
    """An outbound message, written before it is sent, delivered once by the outbox worker.

    `kind` is app / appchat / webhook / card_update; `target` is what pacing is keyed on
    (the "|"-joined users of an app message, a chat id, or a robot name).
    """

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "status", "next_attempt_at"),
        UniqueConstraint("dedupe_key", name="uq_outbox_dedupe_key"),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)
    target: str = Field(sa_column=Column(Text, nullable=False))
    body: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    source: str = Field(default="", max_length=200)
    dedupe_key: str | None = Field(default=None, max_length=200)
    status: str = Field(default="pending", max_length=16)
    attempts: int = Field(default=0)
    created_at: datetime
    next_attempt_at: datetime
    lease_until: datetime | None = None
    claimed_by: str | None = Field(default=None, max_length=64)
    sent_at: datetime | None = None
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    last_errcode: int | None = None
    msgid: str | None = Field(default=None, max_length=128)
    response_code: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    invalid_users: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class AuditEntry(SQLModel, table=True):
    """审计: who changed what, when, from which message or card, old and new state."""

    __tablename__ = "audit_log"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(index=True)
    actor: str = Field(max_length=64, index=True)
    action: str = Field(max_length=64)
    record_id: str | None = Field(default=None, max_length=32, index=True)
    old_state: str | None = Field(default=None, max_length=32)
    new_state: str | None = Field(default=None, max_length=32)
    source: str | None = Field(default=None, max_length=200)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
