"""`python -m bot plan calendar`: every agency's deadlines for a year, from a file or the DB.

It lists exactly the obligations the importer creates: both go through
db.obligations.planned_obligations with the rules the importer stores."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from core.calendar import ScheduleRule
from core.formatting import format_date, format_datetime
from core.planfile import PlanSpec
from core.settings import Settings
from db.models import Agency, Form, Plan, Schedule, ScheduleAgency, Subject
from db.obligations import planned_obligations, rule_of, schedule_rule, schedule_targets
from db.plan_import import plan_rule_values, schedule_rule_values
from db.session import make_engine, make_sessionmaker


@dataclass
class _Sched:
    code: str
    name: str
    rule: ScheduleRule
    # (agency code, subject code or None, form code), as db.obligations.schedule_targets
    targets: list[tuple[str, str | None, str]]


@dataclass
class _Plan:
    code: str
    starts: dt.date
    ends: dt.date
    agency_names: dict[str, str]
    schedules: list[_Sched]


def _from_spec(spec: PlanSpec) -> _Plan:
    """A plan file, read as the importer stores it (the same values, the same rules)."""

    plan_values = plan_rule_values(spec)
    out = []
    for s in spec.doc.schedules:
        values = schedule_rule_values(s)
        rule = rule_of(
            period_type=values["period_type"],
            cutoff_rule=values["cutoff_rule"],
            due_rule=values["due_rule"],
            holiday_rule=values["holiday_rule"],
            starts_on=values["starts_on"],
            plan_starts_on=plan_values["starts_on"],
            plan_calendar=plan_values["calendar"],
        )
        targets = schedule_targets(
            list(spec.assignments[s.code].items()),
            [(subj.code, subj.agency, subj.kind) for subj in spec.doc.subjects],
            values["per_subject_kind"],
        )
        out.append(_Sched(s.code, s.name, rule, targets))
    return _Plan(
        spec.code, plan_values["starts_on"], plan_values["ends_on"],
        {a.code: a.short_name or a.name for a in spec.agencies}, out,
    )


async def _from_db(settings: Settings, code: str) -> _Plan:

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
            # The importer's inputs (db.obligations.ensure_obligations): active schedules,
            # their assignments and the plan's subjects.
            schedules = (
                await session.scalars(
                    select(Schedule)
                    .where(Schedule.plan_id == plan.id, Schedule.active.is_(True))
                    .order_by(Schedule.position)
                )
            ).all()
            subjects = [
                (subj.code, agency_code, subj.kind)
                for subj, agency_code in (
                    await session.execute(
                        select(Subject, Agency.code)
                        .join(Agency, Agency.id == Subject.agency_id)
                        .where(Subject.plan_id == plan.id)
                    )
                ).all()
            ]
            names: dict[str, str] = {}
            out = []
            for s in schedules:
                rows = (
                    await session.execute(
                        select(Agency.code, Agency.short_name, Agency.name, Form.code)
                        .join(ScheduleAgency, ScheduleAgency.agency_id == Agency.id)
                        .join(Form, Form.id == ScheduleAgency.form_id)
                        .where(ScheduleAgency.schedule_id == s.id)
                        .order_by(Agency.id)
                    )
                ).all()
                names.update({acode: short or name for acode, short, name, _form in rows})
                targets = schedule_targets(
                    [(acode, form) for acode, _short, _name, form in rows],
                    subjects,
                    s.per_subject_kind,
                )
                out.append(_Sched(s.code, s.name, schedule_rule(s, plan), targets))
            return _Plan(plan.code, plan.starts_on, plan.ends_on, names, out)
    finally:
        await engine.dispose()


def is_plan_file(ref: str) -> bool:
    return ref.endswith((".yaml", ".yml")) or Path(ref).is_file()


async def calendar_rows(
    settings: Settings, plan: str | PlanSpec, year: int | None, agency: str | None = None
) -> list[dict[str, Any]]:
    """The obligations of a plan whose periods are labelled `year` (None: all of them):
    exactly those the importer creates (db.obligations.planned_obligations).

    `plan` is a loaded plan file, or the code of an imported plan."""

    loaded = _from_spec(plan) if isinstance(plan, PlanSpec) else await _from_db(settings, plan)
    if agency is not None and not any(
        t[0] == agency for s in loaded.schedules for t in s.targets
    ):
        raise LookupError(f"agency '{agency}' has no schedule in plan '{loaded.code}'")
    rows: list[dict[str, Any]] = []
    for s in loaded.schedules:
        targets = [t for t in s.targets if agency is None or t[0] == agency]
        for occ, (acode, subject, _form) in planned_obligations(
            s.rule, loaded.starts, loaded.ends, targets, settings.tz
        ):
            if year is not None and occ.period.year != year:
                continue
            row: dict[str, Any] = {
                "plan": loaded.code,
                "schedule": s.code,
                "schedule_name": s.name,
                "period_type": occ.period.type,
                "period": occ.period.key,
                "agency": acode,
                "agency_name": loaded.agency_names[acode],
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

    headers = ["Hạn nộp", "Quá hạn từ", "Kỳ", "Từ", "Đến", "Báo cáo", "Đơn vị"]
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
