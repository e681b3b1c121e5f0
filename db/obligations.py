"""Generating obligations (agency × schedule × period × subject) from schedules, idempotently."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import (
    OPEN_STATUSES,
    Obligation,
    ObligationStatus,
    Plan,
    Schedule,
    ScheduleAgency,
    Subject,
)
from scheduler.calendar import ScheduleRule, WorkCalendar, occurrences


def schedule_rule(schedule: Schedule, plan: Plan) -> ScheduleRule:
    return ScheduleRule(
        period=schedule.period_type,
        cutoff=schedule.cutoff_rule,
        due=schedule.due_rule,
        holiday=schedule.holiday_rule,
        start=schedule.starts_on or plan.starts_on,
        calendar=WorkCalendar.from_dict(plan.calendar),
    )


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
    """Create the missing obligations of `plan` for `years` (default: the plan's years) and
    move the deadline of open, unextended ones whose rule changed."""
    counts = ObligationCounts()
    now = dt.datetime.now(dt.UTC)
    years = list(years) if years is not None else list(
        range(plan.starts_on.year, plan.ends_on.year + 1)
    )
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
        targets: list[tuple[int, int, int]] = []  # (agency, subject, form)
        for agency_id, form_id in assigned:
            if schedule.per_subject_kind:
                targets.extend(
                    (agency_id, s.id, form_id)
                    for s in subjects
                    if s.agency_id == agency_id and s.kind == schedule.per_subject_kind
                )
            else:
                targets.append((agency_id, 0, form_id))
        existing = {
            (o.agency_id, o.subject_id, o.period_key): o
            for o in (
                await session.scalars(
                    select(Obligation).where(Obligation.schedule_id == schedule.id)
                )
            ).all()
        }
        new_rows: list[dict[str, object]] = []
        for occ in occurrences(rule, years, tz, within=(plan.starts_on, plan.ends_on)):
            due_utc = occ.deadline.due_at.astimezone(dt.UTC)
            for agency_id, subject_id, form_id in targets:
                current = existing.get((agency_id, subject_id, occ.period.key))
                if current is None:
                    # Plain rows, inserted in bulk: a province has 100k+ of them.
                    new_rows.append({
                        "schedule_id": schedule.id, "agency_id": agency_id,
                        "subject_id": subject_id, "form_id": form_id,
                        "period_type": occ.period.type, "period_key": occ.period.key,
                        "period_start": occ.period.start, "period_end": occ.period.end,
                        "due_at": due_utc, "status": ObligationStatus.open,
                        "created_at": now, "updated_at": now,
                    })
                    counts.created += 1
                elif current.status in OPEN_STATUSES and (
                    current.due_at != due_utc
                    or current.period_start != occ.period.start
                    or current.period_end != occ.period.end
                ):
                    # A changed rule moves deadlines that are still open; an extension
                    # given to one agency (extended_due_at) stays as it was.
                    current.due_at = due_utc
                    current.period_start = occ.period.start
                    current.period_end = occ.period.end
                    counts.rescheduled += 1
        for start in range(0, len(new_rows), 5000):
            await session.execute(insert(Obligation), new_rows[start:start + 5000])
    await session.flush()
    return counts
