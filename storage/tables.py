"""The only module with sqlmodel table classes (built by `storage.construct.Table`). All
datetimes are aware and stored as UTC."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint
from sqlmodel import Field

from storage.construct import Table


def _empty_list() -> list[Any]:
    """A column's empty list (a default factory; `storage.construct` calls it directly)."""
    return []


def _empty_dict() -> dict[str, Any]:
    """A column's empty dict (a default factory, as `_empty_list`)."""
    return {}


class Unit(Table, table=True):
    """单位: a city department, county/district, the news office or a news unit (R1, R8)."""

    __tablename__ = "units"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64, unique=True, index=True)
    unit_type: str = Field(max_length=16)
    key_unit: bool = Field(default=False)
    office_phone: str | None = Field(default=None, max_length=32)
    created_at: datetime
    updated_at: datetime


class Person(Table, table=True):
    """人员: one WeCom member of the roster (R4–R7). `roles` holds canonical role names."""

    __tablename__ = "people"

    id: int | None = Field(default=None, primary_key=True)
    userid: str = Field(max_length=64, unique=True, index=True)
    name: str = Field(max_length=64)
    unit_id: int = Field(foreign_key="units.id", index=True)
    roles: list[str] = Field(default_factory=_empty_list, sa_column=Column(JSON, nullable=False))
    title: str = Field(default="", max_length=64)
    mobile: str = Field(default="", max_length=32)
    public: bool = Field(default=False)
    active: bool = Field(default=True)
    created_at: datetime
    updated_at: datetime


class InboundMessage(Table, table=True):
    """A decrypted callback, stored once per dedupe key (MsgId, or the event's identity)."""

    __tablename__ = "inbound_messages"

    id: int | None = Field(default=None, primary_key=True)
    dedupe_key: str = Field(max_length=200, unique=True)
    msg_id: str | None = Field(default=None, max_length=64)
    from_user: str = Field(max_length=64, index=True)
    msg_type: str = Field(max_length=32)
    event: str | None = Field(default=None, max_length=64)
    content: str = Field(default="", sa_column=Column(Text, nullable=False))
    raw: dict[str, Any] = Field(
        default_factory=_empty_dict, sa_column=Column(JSON, nullable=False)
    )
    received_at: datetime
    status: str = Field(default="received", max_length=16, index=True)
    handled_at: datetime | None = None
    reply_text: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    reply_route: str | None = Field(default=None, max_length=16)
    # The label a clicked card's buttons turned into, when that was the passive answer: a
    # WeCom retry of the message gets the same answer again (`SqlInboxStore.stored_reply`).
    reply_button: str | None = Field(default=None, max_length=128)
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    claimed_by: str | None = Field(default=None, max_length=64)  # the instance handling it
    lease_until: datetime | None = None  # after this, anyone may take it over (issue 8.1)


class RosterVersion(Table, table=True):
    """One row whose `version` every write to `people` or `units` bumps (database triggers,
    migration 0006), so every instance's sender cache knows at once that it is stale."""

    __tablename__ = "roster_version"

    id: int = Field(default=1, primary_key=True)
    version: int = Field(default=0)


class OutboxMessage(Table, table=True):
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
    body: dict[str, Any] = Field(
        default_factory=_empty_dict, sa_column=Column(JSON, nullable=False)
    )
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
    invalid_users: list[str] = Field(
        default_factory=_empty_list, sa_column=Column(JSON, nullable=False)
    )
    parked_at: datetime | None = None  # status 'parked': gave up, kept for `outbox retry`
    park_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class OutboxPacing(Table, table=True):
    """One send counted in a pacing window (PostgreSQL, shared by every instance): kept for
    the longest window (1 h), keyed `app:<userid>` or `robot:<name>`."""

    __tablename__ = "outbox_pacing"
    __table_args__ = (Index("ix_outbox_pacing_key_at", "key", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=200)
    at: datetime


class OutboxBudget(Table, table=True):
    """Recipient sends used per natural day (Beijing time) against the app's daily budget."""

    __tablename__ = "outbox_budget"

    day: str = Field(max_length=10, primary_key=True)
    used: int = Field(default=0)


class AuditEntry(Table, table=True):
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
    detail: dict[str, Any] = Field(
        default_factory=_empty_dict, sa_column=Column(JSON, nullable=False)
    )


class RecordCounter(Table, table=True):
    """The last number handed out per record prefix and year (SQ-2026-0012 …)."""

    __tablename__ = "record_counters"

    prefix: str = Field(primary_key=True, max_length=4)
    year: int = Field(primary_key=True)
    last: int = Field(default=0)


class Conference(Table, table=True):
    """A press conference: an application for a city-government one (SQ, R15) or a self-held
    one filed with the news office (BA, R16). `speakers` are names as typed; `held_*` record
    who actually spoke, matched to the roster, which decides what it counts for (R8–R10)."""

    __tablename__ = "conferences"

    id: int | None = Field(default=None, primary_key=True)
    record_id: str = Field(max_length=16, unique=True, index=True)
    kind: str = Field(max_length=16)  # application | filing
    unit_id: int = Field(foreign_key="units.id", index=True)
    filer: str = Field(max_length=64)
    state: str = Field(max_length=16, index=True)
    topic: str = Field(max_length=200)
    starts_at: datetime | None = None
    venue: str = Field(default="", max_length=200)
    speakers: list[str] = Field(
        default_factory=_empty_list, sa_column=Column(JSON, nullable=False)
    )
    conf_type: str = Field(default="发布会", max_length=16)
    content: str = Field(default="", sa_column=Column(Text, nullable=False))
    live: bool = Field(default=False)
    incident_record_id: str | None = Field(default=None, max_length=16, index=True)
    review_reason: str = Field(default="", sa_column=Column(Text, nullable=False))
    approval_opinion: str = Field(default="", sa_column=Column(Text, nullable=False))
    draft_format: str = Field(default="", max_length=200)
    held_at: datetime | None = Field(default=None, index=True)
    held_speakers: list[str] = Field(
        default_factory=_empty_list, sa_column=Column(JSON, nullable=False)
    )
    held_speaker_ids: list[str] = Field(
        default_factory=_empty_list, sa_column=Column(JSON, nullable=False)
    )
    counts_for: list[str] = Field(
        default_factory=_empty_list, sa_column=Column(JSON, nullable=False)
    )
    key_points: str = Field(default="", sa_column=Column(Text, nullable=False))
    transcript_url: str = Field(default="", max_length=500)
    video_url: str = Field(default="", max_length=500)
    schedule_id: str | None = Field(default=None, max_length=128)  # its WeCom calendar event
    ends_at: datetime | None = None  # A5: the end of its time interval (venue clashes)
    late: bool = Field(default=False)  # A3: 补报, filed after it took place (R16)
    withdraw_reason: str = Field(default="", sa_column=Column(Text, nullable=False))
    # A1: a 已召开 report waiting for the filer to confirm speakers not found in the roster
    pending_held: dict[str, Any] | None = Field(
        default=None, sa_column=Column(JSON(none_as_null=True), nullable=True)
    )
    created_at: datetime
    updated_at: datetime


class Incident(Table, table=True):
    """突发事件 (R11, R17): the 24-hour clock runs from `occurred_at`."""

    __tablename__ = "incidents"

    id: int | None = Field(default=None, primary_key=True)
    record_id: str = Field(max_length=16, unique=True, index=True)
    unit_id: int = Field(foreign_key="units.id", index=True)
    filer: str = Field(max_length=64)
    state: str = Field(max_length=16, index=True)  # open | answered | closed | withdrawn
    title: str = Field(max_length=200)
    level: str = Field(max_length=8)
    occurred_at: datetime
    first_release_at: datetime | None = None
    answered_at: datetime | None = None
    answered_by: str | None = Field(default=None, max_length=16)
    source_record_id: str | None = Field(default=None, max_length=16)
    state_reason: str = Field(default="", sa_column=Column(Text, nullable=False))  # 结案/撤销
    closed_at: datetime | None = None
    created_at: datetime
    updated_at: datetime


class IncidentRelease(Table, table=True):
    """首发 / 续报 of an incident (R17)."""

    __tablename__ = "incident_releases"

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incidents.id", index=True)
    kind: str = Field(max_length=8)  # first | update
    content: str = Field(sa_column=Column(Text, nullable=False))
    link: str = Field(default="", max_length=500)
    by: str = Field(max_length=64)
    at: datetime


class Policy(Table, table=True):
    """政策文件 filing (R18): interpretation link, or 待定 until it is ready."""

    __tablename__ = "policies"

    id: int | None = Field(default=None, primary_key=True)
    record_id: str = Field(max_length=16, unique=True, index=True)
    unit_id: int = Field(foreign_key="units.id", index=True)
    filer: str = Field(max_length=64)
    state: str = Field(max_length=16)
    title: str = Field(max_length=200)
    publish_at: datetime
    interpretation_url: str = Field(default="", max_length=500)
    briefing: bool = Field(default=False)
    # A3: filed after its publication (created_at > publish_at): "major policy not
    # interpreted in time" (R18/R14)
    late: bool = Field(default=False)
    created_at: datetime
    updated_at: datetime


class RiskAssessment(Table, table=True):
    """风险评估函告 (R13)."""

    __tablename__ = "risk_assessments"

    id: int | None = Field(default=None, primary_key=True)
    record_id: str = Field(max_length=16, unique=True, index=True)
    unit_id: int = Field(foreign_key="units.id", index=True)
    filer: str = Field(max_length=64)
    state: str = Field(max_length=16)
    subject: str = Field(max_length=200)
    kind: str = Field(max_length=16)
    level: str = Field(max_length=8)
    measures: str = Field(default="", sa_column=Column(Text, nullable=False))
    created_at: datetime
    updated_at: datetime


class HotIssue(Table, table=True):
    """舆情报告 (R24); the news office may turn it into an incident."""

    __tablename__ = "hot_issues"

    id: int | None = Field(default=None, primary_key=True)
    record_id: str = Field(max_length=16, unique=True, index=True)
    unit_id: int = Field(foreign_key="units.id", index=True)
    filer: str = Field(max_length=64)
    state: str = Field(max_length=16)
    content: str = Field(sa_column=Column(Text, nullable=False))
    source: str = Field(default="", max_length=200)
    link: str = Field(default="", max_length=500)
    incident_record_id: str | None = Field(default=None, max_length=16)
    created_at: datetime
    updated_at: datetime


class RosterFiling(Table, table=True):
    """报送发言人 (R5): one unit's annual spokesperson filing, one row per spokesperson."""

    __tablename__ = "roster_filings"

    id: int | None = Field(default=None, primary_key=True)
    unit_id: int = Field(foreign_key="units.id", index=True)
    year: int = Field(index=True)
    name: str = Field(max_length=64)
    title: str = Field(max_length=64)
    mobile: str = Field(max_length=32)
    userid: str = Field(default="", max_length=64)
    filer: str = Field(max_length=64)
    created_at: datetime


class Training(Table, table=True):
    """培训 record (R7)."""

    __tablename__ = "trainings"

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="people.id", index=True)
    trained_on: datetime
    course: str = Field(default="", max_length=200)
    recorded_by: str = Field(max_length=64)
    created_at: datetime


class Card(Table, table=True):
    """A button card sent for a decision (review / approval); clicks come back by task id."""

    __tablename__ = "cards"

    id: int | None = Field(default=None, primary_key=True)
    task_id: str = Field(max_length=128, unique=True)
    record_id: str = Field(max_length=16, index=True)
    purpose: str = Field(max_length=16)  # review | approve
    state_when_sent: str = Field(max_length=16)
    recipients: list[str] = Field(
        default_factory=_empty_list, sa_column=Column(JSON, nullable=False)
    )
    outbox_id: int | None = Field(default=None)
    closed: bool = Field(default=False)
    outcome: str = Field(default="", max_length=64)
    created_at: datetime


class ReminderInstance(Table, table=True):
    """One reminder instance, recorded once per idempotency key `rule|subject|period|step`
    (issue 4): whichever sweep inserts the key first sends it; every other sweep skips it."""

    __tablename__ = "reminder_instances"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=200, unique=True)
    rule: str = Field(max_length=8, index=True)
    kind: str = Field(max_length=32)
    unit_id: int | None = Field(default=None, index=True)
    status: str = Field(max_length=16)  # sent | skipped
    due_at: datetime
    recorded_at: datetime
    recipients: list[str] = Field(
        default_factory=_empty_list, sa_column=Column(JSON, nullable=False)
    )
    text: str = Field(default="", sa_column=Column(Text, nullable=False))


class ReminderDelivery(Table, table=True):
    """A reminder as one person received it: the message (batch) it went out in, its outbox
    row (delivery time) and when the person pressed 收到 — the evidence of R14."""

    __tablename__ = "reminder_deliveries"

    id: int | None = Field(default=None, primary_key=True)
    instance_id: int = Field(foreign_key="reminder_instances.id", index=True)
    userid: str = Field(max_length=64, index=True)
    batch: str = Field(max_length=64, index=True)
    outbox_id: int | None = None
    acked_at: datetime | None = None


class AccountabilityEntry(Table, table=True):
    """问责清单 (R14): a unit's failure, with the reminders sent about it as evidence."""

    __tablename__ = "accountability_entries"
    __table_args__ = (
        UniqueConstraint("rule", "subject", "period", "unit_id", name="uq_accountability"),
    )

    id: int | None = Field(default=None, primary_key=True)
    unit_id: int = Field(foreign_key="units.id", index=True)
    rule: str = Field(max_length=8)
    label: str = Field(max_length=64)
    subject: str = Field(max_length=64)
    period: str = Field(max_length=32)
    evidence: list[str] = Field(
        default_factory=_empty_list, sa_column=Column(JSON, nullable=False)
    )
    created_at: datetime


class Announcement(Table, table=True):
    """公告 from the news office (issue 5), optionally with read receipts (回执)."""

    __tablename__ = "announcements"

    id: int | None = Field(default=None, primary_key=True)
    record_id: str = Field(max_length=16, unique=True, index=True)
    sender: str = Field(max_length=64)
    audience: str = Field(max_length=200)
    content: str = Field(sa_column=Column(Text, nullable=False))
    receipt: bool = Field(default=False)
    groups: list[str] = Field(default_factory=_empty_list, sa_column=Column(JSON, nullable=False))
    created_at: datetime


class AnnouncementRecipient(Table, table=True):
    """One member an announcement was sent to: invalid per WeCom, read (已阅), resends."""

    __tablename__ = "announcement_recipients"
    __table_args__ = (UniqueConstraint("announcement_id", "userid", name="uq_announcement_user"),)

    id: int | None = Field(default=None, primary_key=True)
    announcement_id: int = Field(foreign_key="announcements.id", index=True)
    userid: str = Field(max_length=64, index=True)
    invalid: bool = Field(default=False)
    read_at: datetime | None = None
    resent: int = Field(default=0)


class Release(Table, table=True):
    """发布: a held conference being relayed to every channel (R19–R23)."""

    __tablename__ = "releases"

    id: int | None = Field(default=None, primary_key=True)
    record_id: str = Field(max_length=16, unique=True, index=True)  # the conference's id
    unit_id: int = Field(foreign_key="units.id", index=True)
    topic: str = Field(max_length=200)
    created_at: datetime


class ReleaseChannel(Table, table=True):
    """One channel of one release: pending → sent → published (with its link) or failed."""

    __tablename__ = "release_channels"
    __table_args__ = (UniqueConstraint("release_id", "channel", name="uq_release_channel"),)

    id: int | None = Field(default=None, primary_key=True)
    release_id: int = Field(foreign_key="releases.id", index=True)
    channel: str = Field(max_length=32)
    state: str = Field(default="pending", max_length=16, index=True)
    title: str = Field(default="", max_length=200)
    text: str = Field(default="", sa_column=Column(Text, nullable=False))
    link: str = Field(default="", max_length=500)
    note: str = Field(default="", max_length=500)
    sent_at: datetime | None = None
    published_at: datetime | None = None
    confirmed_by: str | None = Field(default=None, max_length=64)


class ReleasePlan(Table, table=True):
    """发布计划 (R12): one unit's planned topics for one quarter; re-filing replaces it (the
    earlier versions stay in the audit log)."""

    __tablename__ = "release_plans"
    __table_args__ = (UniqueConstraint("unit_id", "quarter", name="uq_release_plan"),)

    id: int | None = Field(default=None, primary_key=True)
    unit_id: int = Field(foreign_key="units.id", index=True)
    quarter: str = Field(max_length=8)  # 2027Q1
    topics: list[str] = Field(default_factory=_empty_list, sa_column=Column(JSON, nullable=False))
    filer: str = Field(max_length=64)
    created_at: datetime
    updated_at: datetime


class RiskLink(Table, table=True):
    """R13: a risk letter (FX-…) linked to the later policy (ZC-…) or conference (SQ-/BA-…)."""

    __tablename__ = "risk_links"
    __table_args__ = (UniqueConstraint("risk_record_id", "target_record_id", name="uq_risk_link"),)

    id: int | None = Field(default=None, primary_key=True)
    risk_record_id: str = Field(max_length=16, index=True)
    target_record_id: str = Field(max_length=16, index=True)
    linked_by: str = Field(max_length=64)
    linked_at: datetime


class ConferencePreview(Table, table=True):
    """What the website channels were told about a conference (R21, issue 9 B1): the 发布预告,
    a 【改期】 correction or a 【取消】 retraction, with the time and venue as told."""

    __tablename__ = "conference_previews"

    id: int | None = Field(default=None, primary_key=True)
    record_id: str = Field(max_length=16, index=True)
    action: str = Field(max_length=16)  # sent | corrected | retracted
    starts_at: datetime | None = None
    venue: str = Field(default="", max_length=200)
    at: datetime
