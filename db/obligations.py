"""Generating obligations (agency × schedule × period × subject) from schedules, idempotently."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import lazyload

from core.calendar import (
    DEFAULT_HOLIDAY_RULE,
    Occurrence,
    ScheduleRule,
    WorkCalendar,
    plan_occurrences,
)
from db.models import (
    OPEN_STATUSES,
    Obligation,
    ObligationStatus,
    Plan,
    Schedule,
    ScheduleAgency,
    Subject,
)

A = TypeVar("A")  # an agency: its id (importer) or its code (calendar of a plan file)
S = TypeVar("S")  # a subject, likewise
F = TypeVar("F")  # a form, likewise
T = TypeVar("T")


def rule_of(
    *,
    period_type: str,
    cutoff_rule: Any,
    due_rule: dict[str, Any] | None,
    holiday_rule: str | None,
    starts_on: dt.date | None,
    plan_starts_on: dt.date,
    plan_calendar: dict[str, Any] | None,
) -> ScheduleRule:
    """A schedule's rule from the values the importer stores (db.plan_import.schedule_values)."""
    return ScheduleRule(
        period=period_type,
        cutoff=cutoff_rule,
        due=due_rule,
        holiday=holiday_rule or DEFAULT_HOLIDAY_RULE,
        start=starts_on or plan_starts_on,
        calendar=WorkCalendar.from_dict(plan_calendar),
    )


def schedule_rule(schedule: Schedule, plan: Plan) -> ScheduleRule:
    return rule_of(
        period_type=schedule.period_type,
        cutoff_rule=schedule.cutoff_rule,
        due_rule=schedule.due_rule,
        holiday_rule=schedule.holiday_rule,
        starts_on=schedule.starts_on,
        plan_starts_on=plan.starts_on,
        plan_calendar=plan.calendar,
    )


def schedule_targets(
    assigned: Iterable[tuple[A, F]],
    subjects: Iterable[tuple[S, A, str]],
    per_subject_kind: str | None,
) -> list[tuple[A, S | None, F]]:
    """Who reports for a schedule: (agency, subject or None, form) per assigned agency (with
    its form, overrides applied), or per subject of the schedule's kind that the agency has.
    `subjects` are (subject, its agency, its kind)."""
    subjects = list(subjects)
    targets: list[tuple[A, S | None, F]] = []
    for agency, form in assigned:
        if per_subject_kind:
            targets.extend(
                (agency, subject, form)
                for subject, owner, kind in subjects
                if owner == agency and kind == per_subject_kind
            )
        else:
            targets.append((agency, None, form))
    return targets


def planned_obligations(
    rule: ScheduleRule,
    plan_starts: dt.date,
    plan_ends: dt.date,
    targets: Sequence[T],
    tz: ZoneInfo,
) -> Iterator[tuple[Occurrence, T]]:
    """Every obligation a schedule has in a plan: (period and deadline, target). The one
    definition the importer (ensure_obligations) and `plan calendar` both use."""
    for occ in plan_occurrences(rule, plan_starts, plan_ends, tz):
        for target in targets:
            yield occ, target


# Obligations are inserted (and looked up) this many at a time.
INSERT_CHUNK = 5000


def _pieces(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


@dataclass
class ObligationCounts:
    created: int = 0
    rescheduled: int = 0


async def ensure_obligations(
    session: AsyncSession,
    plan: Plan,
    tz: ZoneInfo,
    years: Iterable[int] | None = None,
) -> ObligationCounts:
    """Create the missing obligations of `plan` (planned_obligations: the periods the plan
    covers; only those labelled with `years` when given) and move the deadline of open,
    unextended ones whose rule changed."""
    counts = ObligationCounts()
    now = dt.datetime.now(dt.UTC)
    only_years = set(years) if years is not None else None
    schedules = (
        await session.scalars(
            select(Schedule).where(Schedule.plan_id == plan.id, Schedule.active.is_(True))
        )
    ).all()
    subjects = (await session.scalars(select(Subject).where(Subject.plan_id == plan.id))).all()
    for schedule in schedules:
        if schedule.period_type == "ad_hoc":
            continue
        rule = schedule_rule(schedule, plan)
        assigned = (
            await session.execute(
                select(ScheduleAgency.agency_id, ScheduleAgency.form_id).where(
                    ScheduleAgency.schedule_id == schedule.id
                )
            )
        ).all()
        targets = schedule_targets(
            [(agency_id, form_id) for agency_id, form_id in assigned],
            [(s.id, s.agency_id, s.kind) for s in subjects],
            schedule.per_subject_kind,
        )
        # What exists, as columns (a province has 100k+ obligations; the ORM objects, with
        # their joined schedule and agency, cost several times more).
        existing = {
            (agency_id, subject_id, period_key): (oid, status, due_at, start, end)
            for oid, agency_id, subject_id, period_key, status, due_at, start, end in (
                await session.execute(
                    select(Obligation.id, Obligation.agency_id, Obligation.subject_id,
                           Obligation.period_key, Obligation.status, Obligation.due_at,
                           Obligation.period_start, Obligation.period_end)
                    .where(Obligation.schedule_id == schedule.id)
                )
            )
        }
        new_rows: list[dict[str, object]] = []
        moved: dict[int, Occurrence] = {}
        for occ, (agency_id, subject, form_id) in planned_obligations(
            rule, plan.starts_on, plan.ends_on, targets, tz
        ):
            if only_years is not None and occ.period.year not in only_years:
                continue
            subject_id = subject or 0  # 0: not per subject
            due_utc = occ.deadline.due_at.astimezone(dt.UTC)
            current = existing.get((agency_id, subject_id, occ.period.key))
            if current is None:
                # Plain rows, inserted in bulk as they come: a province has 100k+ of them.
                new_rows.append({
                    "schedule_id": schedule.id, "agency_id": agency_id,
                    "subject_id": subject_id, "form_id": form_id,
                    "period_type": occ.period.type, "period_key": occ.period.key,
                    "period_start": occ.period.start, "period_end": occ.period.end,
                    "due_at": due_utc, "status": ObligationStatus.open,
                    "created_at": now, "updated_at": now,
                })
                counts.created += 1
                if len(new_rows) >= INSERT_CHUNK:
                    await session.execute(insert(Obligation), new_rows)
                    new_rows = []
            elif current[1] in OPEN_STATUSES and (
                current[2] != due_utc
                or current[3] != occ.period.start
                or current[4] != occ.period.end
            ):
                moved[current[0]] = occ
        if new_rows:
            await session.execute(insert(Obligation), new_rows)
        del existing, new_rows
        # A changed rule moves deadlines that are still open; an extension given to one
        # agency (extended_due_at) stays as it was. Only the rows that move are loaded.
        for ids in _pieces(sorted(moved), INSERT_CHUNK):
            for obligation in (await session.scalars(
                select(Obligation).options(lazyload("*")).where(Obligation.id.in_(ids))
            )).all():
                occ = moved[obligation.id]
                obligation.due_at = occ.deadline.due_at.astimezone(dt.UTC)
                obligation.period_start = occ.period.start
                obligation.period_end = occ.period.end
                counts.rescheduled += 1
    await session.flush()
    return counts
