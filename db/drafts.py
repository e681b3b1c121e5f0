"""Drafts and submissions in the database: one draft per obligation, versions for resubmits."""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, event, func, select, true, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, aliased, defaultload, joinedload

from core.answers import FieldSpec
from core.calendar import WorkCalendar
from core.fields import field_type
from core.formengine import CheckSpec, FormSpec, FormState, effective_answers
from core.lateness import Lateness, decide, supplement_days
from db.audit import record
from db.models import (
    Answer,
    Attachment,
    Form,
    FormVersion,
    Member,
    Obligation,
    ObligationStatus,
    Plan,
    ReceiptCounter,
    Schedule,
    Submission,
    SubmissionState,
)
from db.session import dialect_of


def _spec_cache(session: AsyncSession) -> dict[int, FormSpec]:
    """Form versions never change once written: their specs are kept, per database engine
    (two databases in one process — the sandbox beside tests — never share ids' specs)."""
    bind = session.get_bind()
    cache: dict[int, FormSpec] | None = bind.__dict__.get("_form_specs")
    if cache is None:
        cache = bind.__dict__["_form_specs"] = {}
    return cache


_LOADED_DRAFT = "draft_loaded_with_member"  # session.info: (submission, obligation)


async def member_and_draft(session: AsyncSession, identity: str, user_id: int, lock: bool
                           ) -> Member | None:
    """The member whose `identity` column (telegram_user_id, zalo_user_id) is `user_id`,
    with their roles and agency, and in the same query the draft they are answering
    (member.active_submission_id) with its obligation and schedule, which
    `draft_and_obligation` then gives without a query: on the answer path a turn reads
    once (issue 16).

    With `lock` (PostgreSQL) the member's and the draft's rows are locked until the commit
    (FOR UPDATE OF member, and FOR UPDATE in the draft's LATERAL sub-select): one person's
    turns, and two editors of one draft, take turns. SQLite has a single writer: no lock."""
    row = (await session.execute(_member_and_draft(identity, lock),
                                 {"user_id": user_id})).unique().first()
    if row is None:
        return None
    member, submission, obligation = row
    if submission is not None and obligation is not None:
        session.info[_LOADED_DRAFT] = (submission, obligation)
    return cast(Member, member)


@functools.cache
def _member_and_draft(identity: str, lock: bool) -> Any:
    """Built once (building it cost more than running it), run with the user id."""
    draft: Any = Submission
    on: Any = Submission.id == Member.active_submission_id
    if lock:
        # FOR UPDATE cannot take the missing side of an outer join; a LATERAL sub-select
        # can lock the one row it reads.
        draft, on = aliased(Submission, (
            select(Submission).where(Submission.id == Member.active_submission_id)
            .with_for_update().lateral("draft"))), true()
    query = (select(Member, draft, Obligation).select_from(Member)
             .where(getattr(Member, identity) == bindparam("user_id"))
             .outerjoin(draft, on)
             .outerjoin(Obligation, Obligation.id == draft.obligation_id)
             # joined, not the relationship's own selectin: one statement, not two
             .options(joinedload(Member.roles),
                      defaultload(Obligation.schedule).lazyload(Schedule.plan))
             .execution_options(populate_existing=True))
    return query.with_for_update(of=Member) if lock else query


async def draft_and_obligation(session: AsyncSession, submission_id: int
                               ) -> tuple[Submission, Obligation] | None:
    """A submission and its obligation (with its schedule and agency) in one query; the
    submission's row is locked until the commit (FOR UPDATE OF submission on PostgreSQL;
    SQLite has a single writer), so two editors of one draft take turns. The schedule's
    plan (its document text and calendar) is not needed to answer: loaded when asked.
    The member's own draft, read (and locked) with the member by `member_and_draft` in
    this transaction, is given as it is."""
    loaded: tuple[Submission, Obligation] | None = session.info.get(_LOADED_DRAFT)
    if loaded is not None and loaded[0].id == submission_id:
        return loaded
    row = (await session.execute(
        select(Submission, Obligation)
        .join(Obligation, Obligation.id == Submission.obligation_id)
        .where(Submission.id == submission_id)
        .options(defaultload(Obligation.schedule).lazyload(Schedule.plan))
        .with_for_update(of=Submission)
        .execution_options(populate_existing=True)
    )).first()
    return (row[0], row[1]) if row is not None else None


async def submission_spec(session: AsyncSession, submission: Submission,
                          obligation: Obligation | None = None) -> FormSpec:
    """The form a draft is answered against: its version, with the schedule's rule for the
    signed report file (a plan may require it for official reports, or leave it out).
    Given the submission's obligation (its schedule loaded with it), nothing is read."""
    row: Any
    if obligation is not None and obligation.id == submission.obligation_id:
        row = (obligation.schedule.signed_file, obligation.period_start, obligation.period_end)
    else:
        row = (await session.execute(
            select(Schedule.signed_file, Obligation.period_start, Obligation.period_end)
            .join(Obligation, Obligation.schedule_id == Schedule.id)
            .where(Obligation.id == submission.obligation_id)
        )).first()
    spec = await form_spec(session, submission.form_version_id)
    if row is None:
        return spec
    rule, start, end = row
    spec = period_applied(signed_file_applied(spec, rule), start, end)
    if any(f.settings.get("accumulate") for f in spec.fields):
        spec = await proposals_applied(session, spec, submission.obligation_id)
    return spec


async def proposals_applied(session: AsyncSession, spec: FormSpec, obligation_id: int
                            ) -> FormSpec:
    """On each field that accumulates (settings["accumulate"]), the figure year to date
    (settings["proposal"] = {"value", "periods", "how"}): from the same agency's latest
    report sent (or accepted) for each shorter period of the same plan within this one
    (the shortest such schedule that has answers), the field of the same code: their sum,
    the last one, or the largest."""
    here = await session.get(Obligation, obligation_id)
    schedule = await session.get(Schedule, here.schedule_id) if here else None
    if here is None or schedule is None:
        return spec
    codes = [f.code for f in spec.fields if f.settings.get("accumulate")]
    latest = (select(Submission.obligation_id, func.max(Submission.version).label("v"))
              .where(Submission.state.in_([SubmissionState.submitted,
                                           SubmissionState.accepted]))
              .group_by(Submission.obligation_id).subquery())
    rows = (await session.execute(
        select(Obligation.schedule_id, Obligation.period_start, Obligation.period_end,
               Answer.field_code, Answer.value_number, Schedule.period_type)
        .join(Schedule, Schedule.id == Obligation.schedule_id)
        .join(latest, latest.c.obligation_id == Obligation.id)
        .join(Submission, (Submission.obligation_id == Obligation.id)
              & (Submission.version == latest.c.v))
        .join(Answer, Answer.submission_id == Submission.id)
        .where(Schedule.plan_id == schedule.plan_id, Obligation.agency_id == here.agency_id,
               Obligation.schedule_id != here.schedule_id,
               Obligation.period_start >= here.period_start,
               Obligation.period_end <= here.period_end,
               Answer.field_code.in_(codes), Answer.skipped.is_(False),
               Answer.value_number.is_not(None))
        .order_by(Obligation.period_start)
    )).all()
    found: dict[str, dict[int, list[tuple[dt.date, float]]]] = {}
    length: dict[int, int] = {}
    kinds: dict[int, str] = {}
    for schedule_id, start, end, code, number, period_type in rows:
        length[schedule_id] = (end - start).days
        kinds[schedule_id] = period_type
        found.setdefault(code, {}).setdefault(schedule_id, []).append(
            (start, float(number or 0)))
    fields = []
    for f in spec.fields:
        how = f.settings.get("accumulate")
        sources = found.get(f.code)
        if not how or not sources:
            fields.append(f)
            continue
        shortest = min(sources, key=lambda sid: length[sid])
        values = [v for _start, v in sorted(sources[shortest])]
        value = sum(values) if how == "sum" else values[-1] if how == "last" else max(values)
        proposal = {"value": int(value) if value == int(value) else value,
                    "periods": len(values), "how": how, "period_type": kinds[shortest]}
        fields.append(replace(f, settings={**f.settings, "proposal": proposal}))
    return replace(spec, fields=tuple(fields))


def period_applied(spec: FormSpec, start: dt.date, end: dt.date) -> FormSpec:
    """The report's period on its date questions (settings["period"]): a day typed without
    its year is read in the period, and the hint's example is a day of it."""
    if not any(f.type == "date" for f in spec.fields):
        return spec
    period = [start.isoformat(), end.isoformat()]
    return replace(spec, fields=tuple(
        replace(f, settings={**f.settings, "period": period}) if f.type == "date" else f
        for f in spec.fields))


def signed_file_applied(spec: FormSpec, rule: str | None) -> FormSpec:
    files = [f for f in spec.fields if field_type(f.type).accepts_file]
    if rule is None or len(files) != 1:
        return spec
    signed = files[0]
    if rule == "none":
        fields = tuple(f for f in spec.fields if f is not signed)
    else:
        wanted = rule == "required"
        if signed.required == wanted:
            return spec
        fields = tuple(replace(f, required=wanted) if f is signed else f for f in spec.fields)
    return replace(spec, fields=fields)


async def form_spec(session: AsyncSession, form_version_id: int) -> FormSpec:
    cache = _spec_cache(session)
    cached = cache.get(form_version_id)
    if cached is not None:
        return cached
    version = await session.get(FormVersion, form_version_id)
    if version is None:
        raise LookupError(f"form version {form_version_id}")
    spec = FormSpec(
        title=version.title,
        fields=tuple(
            FieldSpec(f.code, f.label, f.type, f.required, f.help, f.unit, dict(f.settings))
            for f in version.fields
        ),
        checks=tuple(CheckSpec(c["rule"], c["message"]) for c in version.checks),
        allow_no_report=version.allow_no_report,
    )
    cache[form_version_id] = spec
    return spec


# Drafts' answers as last committed by this process, per engine: {submission id:
# (lock_version, answers, skipped)}. Every write of a draft's answers goes through
# save_state, which bumps the submission's lock_version (read with the locked row), so an
# entry whose version matches is what the answer table holds, and one written elsewhere
# (another instance, a transaction rolled back) does not match and is read again.
STATE_CACHE_SIZE = 10_000
Remembered = tuple[int, dict[str, Any], frozenset[str]]


def _state_cache(session: AsyncSession) -> OrderedDict[int, Remembered]:
    bind = session.get_bind()
    cache: OrderedDict[int, Remembered] | None = bind.__dict__.get("_draft_states")
    if cache is None:
        cache = bind.__dict__["_draft_states"] = OrderedDict()
    return cache


def _remember_on_commit(session: AsyncSession, submission: Submission, state: FormState
                        ) -> None:
    """Keep the draft's answers for its next answer, once (and only if) they are committed
    (_remember_committed). Values go through JSON as the database gives them back (a tuple
    becomes a list)."""
    entry: Remembered = (submission.lock_version, json.loads(json.dumps(state.answers)),
                         frozenset(state.skipped))
    pending: dict[int, Remembered] = session.info.setdefault(_PENDING_STATES, {})
    pending[submission.id] = entry
    session.info[_STATE_CACHE] = _state_cache(session)


_PENDING_STATES, _STATE_CACHE = "draft_states_to_remember", "draft_state_cache"


@event.listens_for(Session, "after_commit")
def _remember_committed(session: Session) -> None:
    pending = session.info.pop(_PENDING_STATES, None)
    if pending:
        cache: OrderedDict[int, Remembered] = session.info[_STATE_CACHE]
        for key, entry in pending.items():
            cache[key] = entry
            cache.move_to_end(key)
        while len(cache) > STATE_CACHE_SIZE:
            cache.popitem(last=False)


@event.listens_for(Session, "after_soft_rollback")
def _forget_rolled_back(session: Session, _previous: Any) -> None:
    pending = session.info.pop(_PENDING_STATES, None)
    if pending:
        cache: OrderedDict[int, Remembered] = session.info[_STATE_CACHE]
        for key in pending:
            cache.pop(key, None)


async def load_state(session: AsyncSession, submission: Submission) -> FormState:
    cached = _state_cache(session).get(submission.id)
    if cached is not None and cached[0] == submission.lock_version:
        return FormState(
            answers=dict(cached[1]), skipped=cached[2], current=submission.current_field,
            editing=submission.editing, pending=tuple(submission.review_fields or ()))
    rows = (
        await session.scalars(select(Answer).where(Answer.submission_id == submission.id)
                              .execution_options(populate_existing=True))
    ).all()
    return FormState(
        answers={a.field_code: a.value for a in rows if not a.skipped},
        skipped=frozenset(a.field_code for a in rows if a.skipped),
        current=submission.current_field,
        editing=submission.editing,
        # A draft's review_fields are the questions still to revisit (see formengine.revisit).
        pending=tuple(submission.review_fields or ()),
    )


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    return None


async def save_state(
    session: AsyncSession,
    submission: Submission,
    old: FormState,
    new: FormState,
    member: Member | None,
    now: dt.datetime,
) -> None:
    """Write what changed, field by field: two editors of one draft overwrite only the
    fields they answered (the last writer of a field wins)."""
    changed = {
        code for code in set(old.answers) | set(new.answers) | set(old.skipped) | set(new.skipped)
        if old.answers.get(code) != new.answers.get(code)
        or (code in old.skipped) != (code in new.skipped)
    }
    member_id = member.id if member else None
    gone = [c for c in changed if c not in new.answers and c not in new.skipped]
    if gone:
        await session.execute(delete(Answer).where(
            Answer.submission_id == submission.id, Answer.field_code.in_(gone)))
    rows = [
        {"submission_id": submission.id, "field_code": code, "value": new.answers.get(code),
         "value_number": _number(new.answers.get(code)), "skipped": code in new.skipped,
         "answered_by_member_id": member_id, "answered_at": now}
        for code in sorted(changed) if code not in gone
    ]
    if rows:
        # One upsert per answer: if another editor wrote the field a moment ago, this one,
        # the later, wins — without a read first and without a failed insert.
        await session.execute(_answer_upsert(dialect_of(session)), rows)
    submission.current_field = new.current
    submission.editing = new.editing
    if submission.state == SubmissionState.draft:
        submission.review_fields = list(new.pending) or None
    submission.last_editor_member_id = member_id
    submission.last_edited_at = now
    submission.lock_version += 1
    # Usually already loaded with the submission: then no query.
    obligation = await session.get(Obligation, submission.obligation_id)
    if obligation is not None and obligation.status == ObligationStatus.open:
        obligation.status = ObligationStatus.draft
    # Not flushed here: the draft's row goes out at the commit (or before the next query),
    # in one UPDATE with what the turn still changes on it (the question shown).
    _remember_on_commit(session, submission, new)


@functools.cache
def _answer_upsert(dialect: str) -> Any:
    """INSERT … ON CONFLICT DO UPDATE of answers, built once per dialect (building its
    «excluded» columns costs more than running it); run with the rows as parameters."""
    table = cast(Table, Answer.__table__)
    stmt = (pg_insert if dialect == "postgresql" else sqlite_insert)(table)
    return stmt.on_conflict_do_update(
        index_elements=[table.c.submission_id, table.c.field_code],
        set_={name: stmt.excluded[name] for name in (
            "value", "value_number", "skipped", "answered_by_member_id", "answered_at")},
    )


@dataclass
class OpenResult:
    submission: Submission | None
    created: bool = False
    # Set when the obligation was already submitted and cannot be edited now.
    final: Submission | None = None


async def latest_submission(session: AsyncSession, obligation_id: int) -> Submission | None:
    return await session.scalar(
        select(Submission)
        .where(Submission.obligation_id == obligation_id)
        .order_by(Submission.version.desc())
        .limit(1)
    )


async def open_draft(
    session: AsyncSession, obligation: Obligation, member: Member, now: dt.datetime
) -> OpenResult:
    """The obligation's single draft, created when missing. A returned report gets a new
    version that starts from the previous answers; earlier versions stay as they were."""
    for _attempt in range(3):
        latest = await latest_submission(session, obligation.id)
        if latest is not None and latest.state == SubmissionState.draft:
            return OpenResult(latest)
        if latest is not None and latest.state in (
            SubmissionState.submitted, SubmissionState.accepted
        ) and obligation.status != ObligationStatus.returned:
            return OpenResult(None, final=latest)
        form = await session.get(Form, obligation.form_id)
        assert form is not None and form.current_version_id is not None
        draft = Submission(
            obligation_id=obligation.id,
            version=(latest.version + 1) if latest else 1,
            form_version_id=form.current_version_id,
            state=SubmissionState.draft,
            created_by_member_id=member.id,
            last_editor_member_id=member.id,
            last_edited_at=now,
            created_at=now,
        )
        try:
            async with session.begin_nested():
                session.add(draft)
                await session.flush()
        except IntegrityError:
            # Another editor created it at the same moment: use theirs.
            continue
        if latest is not None:
            await _copy_answers(session, latest, draft, now)
        return OpenResult(draft, created=True)
    raise RuntimeError("could not open a draft")


async def _copy_answers(
    session: AsyncSession, source: Submission, target: Submission, now: dt.datetime
) -> None:
    rows = (await session.scalars(select(Answer).where(Answer.submission_id == source.id))).all()
    for a in rows:
        session.add(Answer(
            submission_id=target.id, field_code=a.field_code, value=a.value,
            value_number=a.value_number, skipped=a.skipped,
            answered_by_member_id=a.answered_by_member_id, answered_at=a.answered_at,
        ))
    files = (
        await session.scalars(select(Attachment).where(Attachment.submission_id == source.id))
    ).all()
    for f in files:
        session.add(Attachment(
            submission_id=target.id, field_code=f.field_code,
            telegram_file_id=f.telegram_file_id, telegram_file_unique_id=f.telegram_file_unique_id,
            file_name=f.file_name, mime_type=f.mime_type, file_size=f.file_size,
            uploaded_by_member_id=f.uploaded_by_member_id, created_at=now,
        ))
    await session.flush()


def late_days(due_at: dt.datetime, submitted_at: dt.datetime, tz: Any) -> int:
    """0 when on time; otherwise whole local days after the last day («trễ hạn N ngày»).
    A first submission's lateness; a version after a return is decided by `lateness_of`."""
    return decide(due_at=due_at, submitted_at=submitted_at, tz=tz).late_days


def _aware(moment: dt.datetime | None) -> dt.datetime | None:
    # SQLite gives naive UTC datetimes back.
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=dt.UTC)
    return moment


async def _calendar(session: AsyncSession, schedule_id: int) -> tuple[WorkCalendar, int]:
    """The plan's working calendar and the working days it gives a supplement."""
    row = (await session.execute(
        select(Plan.calendar, Plan.defaults).join(Schedule, Schedule.plan_id == Plan.id)
        .where(Schedule.id == schedule_id))).first()
    calendar, defaults = row if row is not None else (None, None)
    return WorkCalendar.from_dict(calendar), supplement_days(defaults)


def _verdict(obligation: Obligation, versions: list[Submission], version: int,
             submitted_at: dt.datetime, tz: Any, calendar: tuple[WorkCalendar, int]
             ) -> Lateness:
    """The lateness of `version` sent at `submitted_at`, from the obligation's other versions:
    the first time any was sent, and the last return before it."""
    earlier = [s for s in versions if s.version < version]
    sent = [t for s in earlier if (t := _aware(s.submitted_at)) is not None]
    returns = [t for s in earlier
               if s.state in (SubmissionState.returned, SubmissionState.superseded)
               and (t := _aware(s.reviewed_at)) is not None]
    return decide(due_at=obligation.effective_due_at, submitted_at=submitted_at, tz=tz,
                  first_submitted_at=min(sent) if sent else None,
                  returned_at=max(returns) if returns else None, calendar=calendar[0],
                  working_days=calendar[1])


async def lateness_of(session: AsyncSession, obligation: Obligation, version: int,
                      submitted_at: dt.datetime, tz: Any) -> Lateness:
    """The lateness of version `version` of `obligation`, sent (or to be sent) at
    `submitted_at`: what the receipt, the review queue and the stored late_days say."""
    versions = list((await session.scalars(
        select(Submission).where(Submission.obligation_id == obligation.id,
                                 Submission.version < version))).all())
    calendar = await _calendar(session, obligation.schedule_id)
    return _verdict(obligation, versions, version, _aware(submitted_at) or submitted_at, tz,
                    calendar)


async def lateness_by_obligation(session: AsyncSession, obligations: Sequence[Obligation],
                                 tz: Any) -> dict[int, Lateness]:
    """Per obligation with a version sent: the lateness of its latest sent version (the
    status view and the export)."""
    ids = [o.id for o in obligations]
    if not ids:
        return {}
    by_obligation: dict[int, list[Submission]] = {}
    for s in (await session.scalars(
            select(Submission).where(Submission.obligation_id.in_(ids),
                                     Submission.submitted_at.is_not(None)))).all():
        by_obligation.setdefault(s.obligation_id, []).append(s)
    calendars: dict[int, tuple[WorkCalendar, int]] = {}
    out: dict[int, Lateness] = {}
    for o in obligations:
        versions = by_obligation.get(o.id)
        if not versions:
            continue
        if o.schedule_id not in calendars:
            calendars[o.schedule_id] = await _calendar(session, o.schedule_id)
        latest = max(versions, key=lambda s: s.version)
        sent_at = _aware(latest.submitted_at)
        assert sent_at is not None
        out[o.id] = _verdict(o, versions, latest.version, sent_at, tz, calendars[o.schedule_id])
    return out


async def receipt_number(session: AsyncSession, now: dt.datetime, tz: Any) -> str:
    """The next receipt number of the year, BC-2026-00001: one counter row per year,
    incremented in the sending transaction (a row lock on PostgreSQL, the single writer on
    SQLite), so numbers follow the order of sending with no gaps — a draft takes none."""
    year = now.astimezone(tz).year
    insert = pg_insert if dialect_of(session) == "postgresql" else sqlite_insert
    await session.execute(insert(ReceiptCounter).values(year=year, last=0)
                          .on_conflict_do_nothing(index_elements=["year"]))
    number = await session.scalar(
        update(ReceiptCounter).where(ReceiptCounter.year == year)
        .values(last=ReceiptCounter.last + 1).returning(ReceiptCounter.last))
    return f"BC-{year}-{int(number or 0):05d}"


async def submit(
    session: AsyncSession,
    submission: Submission,
    obligation: Obligation,
    form: FormSpec,
    state: FormState,
    member: Member,
    now: dt.datetime,
    tz: Any,
    no_report: bool = False,
) -> Submission:
    if no_report:
        # «Không phát sinh» carries no figures, whatever was typed before.
        await session.execute(delete(Answer).where(Answer.submission_id == submission.id))
        await session.execute(delete(Attachment).where(
            Attachment.submission_id == submission.id))
    else:
        # Answers hidden by skip logic are not part of the report.
        kept = effective_answers(form, state)
        await session.execute(
            delete(Answer).where(
                Answer.submission_id == submission.id,
                Answer.field_code.not_in(list(kept) + list(state.skipped) or [""]),
            )
        )
    submission.state = SubmissionState.submitted
    submission.no_report = no_report
    submission.submitted_at = now
    submission.submitted_by_member_id = member.id
    submission.current_field = None
    submission.editing = False
    submission.late_days = (await lateness_of(session, obligation, submission.version, now,
                                              tz)).late_days
    submission.lock_version += 1
    await session.flush()
    submission.receipt_no = await receipt_number(session, now, tz)
    previous = (
        await session.scalars(
            select(Submission).where(
                Submission.obligation_id == obligation.id,
                Submission.id != submission.id,
                Submission.state == SubmissionState.returned,
            )
        )
    ).all()
    for old in previous:
        old.state = SubmissionState.superseded
    obligation.status = ObligationStatus.submitted
    obligation.submitted_at = now
    record(session, "submission.no_report" if no_report else "submission.submit",
           actor=member, committee_id=member.committee_id, agency_id=obligation.agency_id,
           entity=("submission", submission.id),
           details={"obligation": obligation.id, "version": submission.version,
                    "late_days": submission.late_days, "receipt": submission.receipt_no},
           now=now)
    await session.flush()
    return submission
