"""SQLAlchemy 2 models. All instants are stored in UTC (see `UTCDateTime`)."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Double,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Aware datetimes in, aware UTC datetimes out; stored naive UTC on every backend.

    SQLite has no time zone type and PostgreSQL's would convert to the session zone; a naive
    UTC column behaves the same on both.
    """

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use an aware one")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        dt.datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
        list[Any]: JSON(),
    }


class Role(enum.StrEnum):
    """A member's roles. How they map to the levels of a plan's escalation chain
    (scheduler.sweep.LEVELS; db.queries.member_levels, which the sweep's snapshot uses):

    - `reporter`, `head`: the agency's own people (levels reporter and head);
    - `standing_office`: the committee's office staff who review and consolidate the
      reports, i.e. the *consolidating agency's* people (level consolidating; cơ quan tổng
      hợp). The name is historical: before plans told the two roles apart, the agency that
      received the reports was called the standing office. Those of them whose agency is the
      committee's standing office agency (Committee.standing_office_id, when the plan names
      one that is not the consolidating agency) are the *Thường trực Ban Chỉ đạo* instead
      (level standing_office); when both are the same agency, they are both. When the plan
      does not say which agency its standing office is, nobody in the bot is that level:
      the consolidating agency's digest says which reports are due to be reported to it;
    - `chair`: the committee's chairs, attached to the committee (level chair), whatever
      agency they were invited through;
    - `admin`: no escalation level.
    """

    reporter = "reporter"
    head = "head"
    standing_office = "standing_office"
    chair = "chair"
    admin = "admin"


class ObligationStatus(enum.StrEnum):
    open = "open"  # not started
    draft = "draft"  # someone began answering
    submitted = "submitted"
    accepted = "accepted"
    returned = "returned"  # sent back for changes
    waived = "waived"


OPEN_STATUSES = (ObligationStatus.open, ObligationStatus.draft, ObligationStatus.returned)


class SubmissionState(enum.StrEnum):
    draft = "draft"
    submitted = "submitted"
    accepted = "accepted"
    returned = "returned"
    superseded = "superseded"


class OutboxStatus(enum.StrEnum):
    pending = "pending"
    sending = "sending"
    sent = "sent"
    failed = "failed"
    blocked = "blocked"
    cancelled = "cancelled"


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    # Stored as VARCHAR with a CHECK on both backends, so adding a value is a simple migration.
    return Enum(cls, name=name, native_enum=False, create_constraint=True, length=20,
                values_callable=lambda e: [m.value for m in e])


class Committee(Base):
    __tablename__ = "committee"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    # The agency that receives, reviews and consolidates the reports (cơ quan tổng hợp;
    # `committee.consolidating` of the plan file). No ON DELETE action: agencies are never
    # deleted (an import deactivates them), and without one SQLite adds the column in place
    # (migration 0008) instead of rebuilding the committee table.
    consolidating_id: Mapped[int | None] = mapped_column(ForeignKey("agency.id", use_alter=True))
    # The committee's standing office (Thường trực Ban Chỉ đạo) when the plan names it as an
    # agency (`committee.standing_office`); None when it does not say which agency it is.
    # A plan file written before `consolidating` existed names one agency for both.
    standing_office_id: Mapped[int | None] = mapped_column(
        ForeignKey("agency.id", use_alter=True, ondelete="SET NULL")
    )
    # The plan's own words for its roles (`committee.labels`): reporter, head, consolidating,
    # standing_office, chair -> label. Messages use them instead of generic role names.
    role_labels: Mapped[dict[str, Any]] = mapped_column(
        default=dict, server_default=text("'{}'")
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Agency(Base):
    __tablename__ = "agency"
    __table_args__ = (UniqueConstraint("committee_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    committee_id: Mapped[int] = mapped_column(ForeignKey("committee.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(300))
    short_name: Mapped[str | None] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(40), index=True)
    kind_label: Mapped[str | None] = mapped_column(String(200))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("agency.id", ondelete="SET NULL"))
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    # False for a body the plan only requests («đề nghị»: court, procuracy, Fatherland Front,
    # …): it gets its notices, reminders and its own overdue notices, and the consolidating
    # agency sees it late, but its overdue reports never reach the standing office, the
    # chair or an external level (core.planfile.ABOVE_CONSOLIDATING).
    escalate: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))

    committee: Mapped[Committee] = relationship(foreign_keys=[committee_id], lazy="raise")

    @property
    def display_name(self) -> str:
        return self.short_name or self.name


class Member(Base):
    """A person bound to an agency, on Telegram, Zalo or both. Roles live in `member_role`.

    `chat_id` is where unprompted messages go: the chat of `preferred_channel`, or of the
    channel the member used last when none is chosen (core.channels: a Zalo chat's local id
    is a negative number of its own range)."""

    __tablename__ = "member"

    id: Mapped[int] = mapped_column(primary_key=True)
    telegram_user_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    zalo_user_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    preferred_channel: Mapped[str | None] = mapped_column(String(10))
    chat_id: Mapped[int | None] = mapped_column(BigInteger)
    committee_id: Mapped[int | None] = mapped_column(
        ForeignKey("committee.id", ondelete="SET NULL"), index=True
    )
    agency_id: Mapped[int | None] = mapped_column(
        ForeignKey("agency.id", ondelete="SET NULL"), index=True
    )
    full_name: Mapped[str] = mapped_column(String(200), default="")
    username: Mapped[str | None] = mapped_column(String(64))
    language: Mapped[str | None] = mapped_column(String(8))
    telegram_language: Mapped[str | None] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    inactive_reason: Mapped[str | None] = mapped_column(String(40))
    # The draft this member is answering now: typed text goes to its current question.
    active_submission_id: Mapped[int | None] = mapped_column(
        ForeignKey("submission.id", use_alter=True, ondelete="SET NULL")
    )
    # A committee action waiting for typed input, e.g. {"kind": "return", "submission": 7}:
    # the next text from this member completes it. In the database, like every other state.
    pending_action: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    roles: Mapped[list[MemberRole]] = relationship(
        back_populates="member", cascade="all, delete-orphan", lazy="selectin"
    )
    agency: Mapped[Agency | None] = relationship(lazy="joined")

    @property
    def role_set(self) -> set[Role]:
        return {r.role for r in self.roles}

    @property
    def reach(self) -> int:
        """The chat unprompted messages go to (in a private chat, the user id is the chat's)."""
        return self.chat_id or self.telegram_user_id or self.zalo_user_id or 0


class MemberRole(Base):
    __tablename__ = "member_role"

    member_id: Mapped[int] = mapped_column(
        ForeignKey("member.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[Role] = mapped_column(_enum(Role, "role"), primary_key=True)
    granted_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    member: Mapped[Member] = relationship(back_populates="roles")


class Invite(Base):
    """A single-use, expiring invite. Only a hash of the code is stored."""

    __tablename__ = "invite"

    id: Mapped[int] = mapped_column(primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    committee_id: Mapped[int] = mapped_column(ForeignKey("committee.id", ondelete="CASCADE"))
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id", ondelete="CASCADE"), index=True)
    role: Mapped[Role] = mapped_column(_enum(Role, "role"))
    created_by_member_id: Mapped[int | None] = mapped_column(
        ForeignKey("member.id", ondelete="SET NULL")
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]
    used_at: Mapped[dt.datetime | None]
    used_by_member_id: Mapped[int | None] = mapped_column(
        ForeignKey("member.id", ondelete="SET NULL")
    )
    revoked_at: Mapped[dt.datetime | None]
    # A code a member made to bind their account on another channel to themselves.
    for_member_id: Mapped[int | None] = mapped_column(
        ForeignKey("member.id", ondelete="CASCADE")
    )

    agency: Mapped[Agency] = relationship(lazy="joined")


class Plan(Base):
    __tablename__ = "plan"

    id: Mapped[int] = mapped_column(primary_key=True)
    committee_id: Mapped[int] = mapped_column(
        ForeignKey("committee.id", ondelete="CASCADE"), index=True
    )
    code: Mapped[str] = mapped_column(String(40), unique=True)
    title: Mapped[str] = mapped_column(Text)
    document: Mapped[str | None] = mapped_column(Text)
    issued_by: Mapped[str | None] = mapped_column(String(300))
    year: Mapped[int]
    starts_on: Mapped[dt.date] = mapped_column(Date)
    ends_on: Mapped[dt.date] = mapped_column(Date)
    calendar: Mapped[dict[str, Any]] = mapped_column(default=dict)
    defaults: Mapped[dict[str, Any]] = mapped_column(default=dict)
    source_file: Mapped[str | None] = mapped_column(Text)
    source_hash: Mapped[str | None] = mapped_column(String(64))
    imported_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    committee: Mapped[Committee] = relationship(lazy="raise")


class Subject(Base):
    """Something reported on one by one, e.g. a hotspot (tụ điểm)."""

    __tablename__ = "subject"
    __table_args__ = (UniqueConstraint("plan_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plan.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(40))
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id", ondelete="CASCADE"))


class Form(Base):
    __tablename__ = "form"
    __table_args__ = (UniqueConstraint("plan_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("plan.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(Text)
    current_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("form_version.id", use_alter=True, ondelete="SET NULL")
    )


class FormVersion(Base):
    __tablename__ = "form_version"
    __table_args__ = (UniqueConstraint("form_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    form_id: Mapped[int] = mapped_column(ForeignKey("form.id", ondelete="CASCADE"))
    version: Mapped[int]
    title: Mapped[str] = mapped_column(Text)
    definition_hash: Mapped[str] = mapped_column(String(64))
    allow_no_report: Mapped[bool] = mapped_column(Boolean, default=False)
    checks: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    fields: Mapped[list[FormField]] = relationship(
        order_by="FormField.position", cascade="all, delete-orphan", lazy="selectin"
    )


class FormField(Base):
    __tablename__ = "form_field"
    __table_args__ = (UniqueConstraint("form_version_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    form_version_id: Mapped[int] = mapped_column(ForeignKey("form_version.id", ondelete="CASCADE"))
    position: Mapped[int]
    code: Mapped[str] = mapped_column(String(40))
    label: Mapped[str] = mapped_column(Text)
    type: Mapped[str] = mapped_column(String(20))
    required: Mapped[bool] = mapped_column(Boolean, default=True)
    help: Mapped[str | None] = mapped_column(Text)
    unit: Mapped[str | None] = mapped_column(String(60))
    # Bounds, options, accepted file types, show_if: the field's typed settings.
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Target(Base):
    __tablename__ = "target"
    __table_args__ = (UniqueConstraint("plan_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plan.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(Text)
    # {"values": {name: {form, field, aggregate, schedule}}, "value" | "count_where": expr}
    measure: Mapped[dict[str, Any]] = mapped_column(default=dict)
    per_agency: Mapped[bool] = mapped_column(Boolean, default=False)
    comparison: Mapped[str] = mapped_column(String(2), default=">=")
    target_value: Mapped[float] = mapped_column(Numeric(18, 4))
    unit: Mapped[str | None] = mapped_column(String(60))
    agency_codes: Mapped[list[Any]] = mapped_column(default=list)
    # count_where counts subjects of this kind (hotspots), each with its own answers.
    per_subject_kind: Mapped[str | None] = mapped_column(String(40))
    position: Mapped[int] = mapped_column(default=0)


class TargetField(Base):
    """Which form fields feed a target, and how they aggregate over the year."""

    __tablename__ = "target_field"
    __table_args__ = (UniqueConstraint("target_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    target_id: Mapped[int] = mapped_column(ForeignKey("target.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(40))
    form_id: Mapped[int] = mapped_column(ForeignKey("form.id", ondelete="CASCADE"))
    field_code: Mapped[str] = mapped_column(String(40))
    aggregate: Mapped[str] = mapped_column(String(10), default="sum")
    schedule_id: Mapped[int | None] = mapped_column(ForeignKey("schedule.id", ondelete="SET NULL"))


class Schedule(Base):
    __tablename__ = "schedule"
    __table_args__ = (UniqueConstraint("plan_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plan.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(Text)
    wording: Mapped[str | None] = mapped_column(Text)
    period_type: Mapped[str] = mapped_column(String(12))
    cutoff_rule: Mapped[Any] = mapped_column(JSON, default="decree09")
    due_rule: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    holiday_rule: Mapped[str] = mapped_column(String(24), default="keep")
    reminder_offsets: Mapped[list[Any]] = mapped_column(default=list)
    escalation_policy: Mapped[dict[str, Any]] = mapped_column(default=dict)
    form_id: Mapped[int] = mapped_column(ForeignKey("form.id", ondelete="RESTRICT"))
    per_subject_kind: Mapped[str | None] = mapped_column(String(40))
    starts_on: Mapped[dt.date | None] = mapped_column(Date)
    # The signed report file of this schedule's reports (the form's one `file` field):
    # "required", "optional" or "none" (not asked); None: as the form's field says.
    signed_file: Mapped[str | None] = mapped_column(String(10))
    # The agency's report's sections: [{"heading", "fields": [codes]}] (plan `outline`).
    outline: Mapped[list[Any] | None] = mapped_column(JSON)
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    position: Mapped[int] = mapped_column(default=0)

    plan: Mapped[Plan] = relationship(lazy="joined")


class ScheduleAgency(Base):
    """An agency assigned to a schedule, and the form it answers."""

    __tablename__ = "schedule_agency"

    schedule_id: Mapped[int] = mapped_column(
        ForeignKey("schedule.id", ondelete="CASCADE"), primary_key=True
    )
    agency_id: Mapped[int] = mapped_column(
        ForeignKey("agency.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    form_id: Mapped[int] = mapped_column(ForeignKey("form.id", ondelete="RESTRICT"))


class Obligation(Base):
    """One agency's report for one schedule and period (and subject, for per-hotspot ones)."""

    __tablename__ = "obligation"
    __table_args__ = (
        UniqueConstraint("schedule_id", "agency_id", "period_key", "subject_id"),
        # The sweep: open obligations by deadline.
        Index("ix_obligation_status_due_at", "status", "due_at"),
        Index("ix_obligation_agency_id_status", "agency_id", "status"),
        # Dashboards: one schedule's period.
        Index("ix_obligation_schedule_id_period_key", "schedule_id", "period_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    schedule_id: Mapped[int] = mapped_column(ForeignKey("schedule.id", ondelete="CASCADE"))
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id", ondelete="CASCADE"))
    # 0 means "no subject", so the unique constraint holds (NULLs never collide).
    subject_id: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    form_id: Mapped[int] = mapped_column(ForeignKey("form.id", ondelete="RESTRICT"))
    period_type: Mapped[str] = mapped_column(String(12))
    period_key: Mapped[str] = mapped_column(String(20))
    period_start: Mapped[dt.date] = mapped_column(Date)
    period_end: Mapped[dt.date] = mapped_column(Date)
    due_at: Mapped[dt.datetime]
    extended_due_at: Mapped[dt.datetime | None]
    extension_reason: Mapped[str | None] = mapped_column(Text)
    status: Mapped[ObligationStatus] = mapped_column(
        _enum(ObligationStatus, "obligation_status"), default=ObligationStatus.open
    )
    submitted_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    schedule: Mapped[Schedule] = relationship(lazy="joined")
    agency: Mapped[Agency] = relationship(lazy="joined")

    @property
    def effective_due_at(self) -> dt.datetime:
        return self.extended_due_at or self.due_at


class Submission(Base):
    """One version of an obligation's report; the draft is the version being edited."""

    __tablename__ = "submission"
    __table_args__ = (
        UniqueConstraint("obligation_id", "version"),
        Index("ix_submission_state_submitted_at", "state", "submitted_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    obligation_id: Mapped[int] = mapped_column(ForeignKey("obligation.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(default=1)
    form_version_id: Mapped[int] = mapped_column(ForeignKey("form_version.id"))
    state: Mapped[SubmissionState] = mapped_column(
        _enum(SubmissionState, "submission_state"), default=SubmissionState.draft
    )
    current_field: Mapped[str | None] = mapped_column(String(40))
    # True while changing one answer from the review screen: answering returns to review.
    editing: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    no_report: Mapped[bool] = mapped_column(Boolean, default=False)
    lock_version: Mapped[int] = mapped_column(default=1)
    receipt_no: Mapped[str | None] = mapped_column(String(40), unique=True)
    created_by_member_id: Mapped[int | None] = mapped_column(
        ForeignKey("member.id", ondelete="SET NULL")
    )
    last_editor_member_id: Mapped[int | None] = mapped_column(
        ForeignKey("member.id", ondelete="SET NULL")
    )
    last_edited_at: Mapped[dt.datetime | None]
    submitted_by_member_id: Mapped[int | None] = mapped_column(
        ForeignKey("member.id", ondelete="SET NULL")
    )
    submitted_at: Mapped[dt.datetime | None]
    late_days: Mapped[int | None]
    reviewed_by_member_id: Mapped[int | None] = mapped_column(
        ForeignKey("member.id", ondelete="SET NULL")
    )
    reviewed_at: Mapped[dt.datetime | None]
    review_comment: Mapped[str | None] = mapped_column(Text)
    review_fields: Mapped[list[Any] | None] = mapped_column(JSON)
    # The question each editor of a draft was last shown, {"member id": field code}: typed
    # text answers that question only, so two editors never answer each other's questions.
    # Kept on the draft, whose row every answer writes anyway (not one more UPDATE, of the
    # member, per answer).
    shown_to: Mapped[dict[str, str] | None] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Answer(Base):
    __tablename__ = "answer"
    __table_args__ = (UniqueConstraint("submission_id", "field_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submission.id", ondelete="CASCADE"))
    field_code: Mapped[str] = mapped_column(String(40))
    value: Mapped[Any] = mapped_column(JSON)
    # A numeric copy for aggregation (targets, exports) without parsing JSON in SQL.
    value_number: Mapped[float | None] = mapped_column(Numeric(20, 4))
    skipped: Mapped[bool] = mapped_column(Boolean, default=False)
    answered_by_member_id: Mapped[int | None] = mapped_column(
        ForeignKey("member.id", ondelete="SET NULL")
    )
    answered_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Attachment(Base):
    __tablename__ = "attachment"

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(
        ForeignKey("submission.id", ondelete="CASCADE"), index=True
    )
    field_code: Mapped[str] = mapped_column(String(40))
    telegram_file_id: Mapped[str] = mapped_column(String(255))
    telegram_file_unique_id: Mapped[str | None] = mapped_column(String(100))
    file_name: Mapped[str | None] = mapped_column(String(255))
    mime_type: Mapped[str | None] = mapped_column(String(100))
    file_size: Mapped[int | None] = mapped_column(BigInteger)
    uploaded_by_member_id: Mapped[int | None] = mapped_column(
        ForeignKey("member.id", ondelete="SET NULL")
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class OutboxMessage(Base):
    """Everything the bot sends unprompted. `dedupe_key` makes a repeated sweep a no-op."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_outbox_chat_id_status", "chat_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(30))
    member_id: Mapped[int | None] = mapped_column(
        ForeignKey("member.id", ondelete="SET NULL"), index=True
    )
    chat_id: Mapped[int] = mapped_column(BigInteger)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[OutboxStatus] = mapped_column(
        _enum(OutboxStatus, "outbox_status"), default=OutboxStatus.pending
    )
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    claimed_at: Mapped[dt.datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(80))
    # A fresh random value at every claim: the sender's later updates of the row carry it
    # (WHERE claim_token = …), so a sender whose claim was recovered meanwhile changes nothing.
    claim_token: Mapped[str | None] = mapped_column(String(32))
    # When Telegram last answered a send of this row, in seconds since the epoch on the
    # database's clock (the instances' clocks may differ, the bot's may be simulated): the
    # chat's next message waits `SEND_PER_CHAT_SECONDS` from the latest of its rows.
    done_at: Mapped[float | None] = mapped_column(Double)
    sent_at: Mapped[dt.datetime | None]
    telegram_message_id: Mapped[int | None] = mapped_column(BigInteger)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class SenderLease(Base):
    """Each sender instance's share of the overall rate (`SEND_RATE`, messages per second for
    the bot token): the shares of the live leases never add up to more than the rate.
    Times in seconds since the epoch on the database's clock."""

    __tablename__ = "sender_lease"

    owner: Mapped[str] = mapped_column(String(80), primary_key=True)
    share: Mapped[int] = mapped_column(default=0)  # messages per second it may send
    wants: Mapped[int] = mapped_column(default=0)  # what it would use (0: nothing to send)
    expires_at: Mapped[float] = mapped_column(Double)
    # A 429 told this instance to wait until then: every instance waits (one bot token).
    paused_until: Mapped[float] = mapped_column(Double, default=0.0)


class OutboxItem(Base):
    """What a sweep decided, one row per (step, obligation, person); the unique key is what
    makes a repeated or concurrent sweep add nothing. Several items share one message, and
    the person is the message's (OutboxMessage.member_id): not repeated here, where its
    foreign key cost the sweep a check per item (migration 0013)."""

    __tablename__ = "outbox_item"
    __table_args__ = (Index("ix_outbox_item_obligation_id_created_at", "obligation_id",
                            "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    outbox_id: Mapped[int] = mapped_column(ForeignKey("outbox.id", ondelete="CASCADE"),
                                           index=True)
    kind: Mapped[str] = mapped_column(String(20))
    level: Mapped[int] = mapped_column(default=0)
    obligation_id: Mapped[int | None] = mapped_column(
        ForeignKey("obligation.id", ondelete="CASCADE")
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ReceiptCounter(Base):
    """The last receipt number given in a year: receipts are numbered without gaps
    (BC-2026-00001, 00002, …) in the order reports are sent, whatever drafts were begun."""

    __tablename__ = "receipt_counter"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last: Mapped[int] = mapped_column(Integer, default=0)


class ZaloChat(Base):
    """A Zalo chat: its id (a string) for a local id, and the last numbered list sent to it,
    which a typed number or label answers (`{"items": [[label, data], …], "kind":
    "buttons"|"menu", "typed": bool, "message_id": int, "text": str}`)."""

    __tablename__ = "zalo_chat"

    local_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    zalo_id: Mapped[str] = mapped_column(String(64), unique=True)
    choices: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class FileLink(Base):
    """A file offered as a download link where the channel cannot carry it (Zalo): only a
    hash of the link's token is kept; the link expires."""

    __tablename__ = "file_link"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    filename: Mapped[str] = mapped_column(String(200))
    mime: Mapped[str] = mapped_column(String(100))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ProcessedUpdate(Base):
    """Telegram update ids already handled, written in the same transaction as the effects:
    an update that Telegram delivers again (a webhook instance died before answering 200)
    is recognised and ignored. Old rows are pruned by the sweep."""

    __tablename__ = "processed_update"

    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)


class AuditLog(Base):
    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_committee_id_at", "committee_id", "at"),
        Index("ix_audit_log_agency_id_at", "agency_id", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    actor_member_id: Mapped[int | None] = mapped_column(
        ForeignKey("member.id", ondelete="SET NULL")
    )
    actor_telegram_id: Mapped[int | None] = mapped_column(BigInteger)
    actor_label: Mapped[str | None] = mapped_column(String(200))  # e.g. "cli" for the CLI
    action: Mapped[str] = mapped_column(String(60))
    committee_id: Mapped[int | None] = mapped_column(
        ForeignKey("committee.id", ondelete="SET NULL")
    )
    agency_id: Mapped[int | None] = mapped_column(ForeignKey("agency.id", ondelete="SET NULL"))
    entity_type: Mapped[str | None] = mapped_column(String(40))
    entity_id: Mapped[int | None]
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
