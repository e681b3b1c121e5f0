"""`python -m bot plan calendar`: every agency's deadlines for a year, from a file or the DB."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bot.settings import Settings
from core.planfile import PlanSpec
from scheduler.calendar import ScheduleRule, WorkCalendar, occurrences


@dataclass
class _Sched:
    code: str
    name: str
    rule: ScheduleRule
    # (agency code, agency name, subject code or "")
    targets: list[tuple[str, str, str]]


def _from_spec(spec: PlanSpec) -> tuple[str, list[_Sched]]:
    names = {a.code: a.short_name or a.name for a in spec.agencies}
    cal = WorkCalendar.from_dict(spec.doc.calendar.model_dump(mode="json"))
    out = []
    for s in spec.doc.schedules:
        rule = ScheduleRule(
            period=s.period,
            cutoff=s.cutoff if isinstance(s.cutoff, str) else s.cutoff.model_dump(),
            due=s.due.model_dump(mode="json", exclude_defaults=True) if s.due else None,
            holiday=s.holiday,
            start=s.start or spec.doc.plan.starts,
            calendar=cal,
        )
        targets = []
        for code in spec.assignments[s.code]:
            if s.per_subject:
                targets.extend(
                    (code, names[code], subj.code)
                    for subj in spec.doc.subjects
                    if subj.agency == code and subj.kind == s.per_subject
                )
            else:
                targets.append((code, names[code], ""))
        out.append(_Sched(s.code, s.name, rule, targets))
    return spec.code, out


async def _from_db(settings: Settings, code: str) -> tuple[str, list[_Sched]]:
    from db.models import Agency, Plan, Schedule, ScheduleAgency, Subject
    from db.obligations import schedule_rule
    from db.session import make_engine, make_sessionmaker

    engine = make_engine(settings.database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            plan = await session.scalar(select(Plan).where(Plan.code == code))
            if plan is None:
                known = (await session.scalars(select(Plan.code))).all()
                raise LookupError(
                    f"no plan '{code}' in the database"
                    + (f" (known: {', '.join(known)})" if known else " (import one first)")
                )
            schedules = (
                await session.scalars(
                    select(Schedule)
                    .where(Schedule.plan_id == plan.id, Schedule.active.is_(True))
                    .order_by(Schedule.position)
                )
            ).all()
            subjects = (
                await session.scalars(select(Subject).where(Subject.plan_id == plan.id))
            ).all()
            out = []
            for s in schedules:
                rows = (
                    await session.execute(
                        select(Agency.id, Agency.code, Agency.short_name, Agency.name)
                        .join(ScheduleAgency, ScheduleAgency.agency_id == Agency.id)
                        .where(ScheduleAgency.schedule_id == s.id)
                        .order_by(Agency.id)
                    )
                ).all()
                targets = []
                for agency_id, acode, short, name in rows:
                    if s.per_subject_kind:
                        targets.extend(
                            (acode, short or name, subj.code)
                            for subj in subjects
                            if subj.agency_id == agency_id and subj.kind == s.per_subject_kind
                        )
                    else:
                        targets.append((acode, short or name, ""))
                out.append(_Sched(s.code, s.name, schedule_rule(s, plan), targets))
            return plan.code, out
    finally:
        await engine.dispose()


def is_plan_file(ref: str) -> bool:
    return ref.endswith((".yaml", ".yml")) or Path(ref).is_file()


async def calendar_rows(
    settings: Settings, plan: str | PlanSpec, year: int, agency: str | None = None
) -> list[dict[str, Any]]:
    """`plan` is a loaded plan file, or the code of an imported plan."""
    if isinstance(plan, PlanSpec):
        plan_code, schedules = _from_spec(plan)
    else:
        plan_code, schedules = await _from_db(settings, plan)
    if agency is not None and not any(
        t[0] == agency for s in schedules for t in s.targets
    ):
        raise LookupError(f"agency '{agency}' has no schedule in plan '{plan_code}'")
    rows: list[dict[str, Any]] = []
    for s in schedules:
        for occ in occurrences(s.rule, [year], settings.tz):
            for acode, aname, subject in s.targets:
                if agency is not None and acode != agency:
                    continue
                row: dict[str, Any] = {
                    "plan": plan_code,
                    "schedule": s.code,
                    "schedule_name": s.name,
                    "period_type": occ.period.type,
                    "period": occ.period.key,
                    "agency": acode,
                    "agency_name": aname,
                    "period_start": occ.period.start.isoformat(),
                    "period_end": occ.period.end.isoformat(),
                    "last_day": occ.deadline.last_day.isoformat(),
                    "due_at": occ.deadline.due_at.isoformat(),
                }
                if subject:
                    row["subject"] = subject
                if occ.deadline.shifted_from:
                    row["shifted_from"] = occ.deadline.shifted_from.isoformat()
                rows.append(row)
    rows.sort(key=lambda r: (r["due_at"], r["schedule"], r["agency"], r.get("subject", "")))
    return rows


def render_table(rows: list[dict[str, Any]]) -> str:
    """A plain table with Vietnamese date formats (dd/mm/yyyy)."""
    import datetime as dt

    from bot.formatting import format_date, format_datetime

    headers = ["Ngày cuối nộp", "Trễ hạn từ", "Kỳ", "Từ", "Đến", "Báo cáo", "Đơn vị"]
    body = []
    for r in rows:
        last = dt.date.fromisoformat(r["last_day"])
        shifted = " (dời)" if "shifted_from" in r else ""
        agency = r["agency_name"] + (f" · {r['subject']}" if "subject" in r else "")
        body.append([
            format_date(last) + shifted,
            format_datetime(dt.datetime.fromisoformat(r["due_at"])),
            r["period"],
            format_date(dt.date.fromisoformat(r["period_start"])),
            format_date(dt.date.fromisoformat(r["period_end"])),
            r["schedule_name"],
            agency,
        ])
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h)
              for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(b, widths, strict=True)) for b in body]
    lines.append(f"{len(rows)} hạn nộp")
    return "\n".join(lines)
