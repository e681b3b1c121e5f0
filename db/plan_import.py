"""Importing a validated plan into the database: idempotent upserts by code, in one transaction."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.planfile import PlanSpec
from core.settings import Settings
from db.audit import record
from db.models import (
    Agency,
    Committee,
    Form,
    FormField,
    FormVersion,
    Obligation,
    ObligationStatus,
    Plan,
    Schedule,
    ScheduleAgency,
    Subject,
    Target,
    TargetField,
)
from db.obligations import ObligationCounts, ensure_obligations
from db.session import make_engine, make_sessionmaker, rows_changed


@dataclass
class ImportReport:
    plan_code: str
    created: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    new_form_versions: list[str] = field(default_factory=list)
    obligations: ObligationCounts = field(default_factory=ObligationCounts)
    # Open reports whose deadline passed before `chase_from` (import_plan), set aside.
    not_chased: int = 0
    # Open reports whose deadline has already passed and that the bot will chase.
    past_due: int = 0

    @property
    def changed(self) -> bool:
        return bool(
            self.created or self.updated or self.new_form_versions
            or self.obligations.created or self.obligations.rescheduled or self.not_chased
        )

    def count(self, bucket: dict[str, int], what: str) -> None:
        bucket[what] = bucket.get(what, 0) + 1

    def summary(self) -> str:
        if not self.changed:
            return f"{self.plan_code}: already up to date, nothing changed"
        parts = [f"{self.plan_code}: imported"]
        if self.created:
            parts.append("created " + ", ".join(f"{n} {k}" for k, n in self.created.items()))
        if self.updated:
            parts.append("updated " + ", ".join(f"{n} {k}" for k, n in self.updated.items()))
        if self.new_form_versions:
            parts.append("new form versions: " + ", ".join(self.new_form_versions))
        parts.append(
            f"obligations: {self.obligations.created} created, "
            f"{self.obligations.rescheduled} rescheduled"
        )
        if self.not_chased:
            parts.append(f"{self.not_chased} past reports not chased (waived)")
        return "; ".join(parts)


def schedule_rule_values(sched: Any) -> dict[str, Any]:
    """The columns of a schedule that decide its obligations, as stored. `plan calendar` of a
    plan file builds its rules from these too (db.obligations.rule_of), so a file and its
    import list the same deadlines."""
    return {
        "period_type": sched.period,
        "cutoff_rule": sched.cutoff if isinstance(sched.cutoff, str)
        else sched.cutoff.model_dump(),
        "due_rule": sched.due.model_dump(mode="json", exclude_defaults=True)
        if sched.due else None,
        "holiday_rule": sched.holiday,
        "per_subject_kind": sched.per_subject,
        "starts_on": sched.start,
    }


def plan_rule_values(spec: PlanSpec) -> dict[str, Any]:
    """The columns of a plan that decide its obligations, as stored."""
    return {
        "starts_on": spec.doc.plan.starts,
        "ends_on": spec.doc.plan.ends,
        "calendar": spec.doc.calendar.model_dump(mode="json"),
    }


def _assign(obj: Any, values: dict[str, Any]) -> bool:
    """Set attributes that differ; report whether anything changed."""
    changed = False
    for key, value in values.items():
        if getattr(obj, key) != value:
            setattr(obj, key, value)
            changed = True
    return changed


async def _upsert(
    session: AsyncSession, report: ImportReport, what: str, existing: Any, cls: type,
    keys: dict[str, Any], values: dict[str, Any],
) -> Any:
    if existing is None:
        obj = cls(**keys, **values)
        session.add(obj)
        await session.flush()
        report.count(report.created, what)
        return obj
    if _assign(existing, values):
        report.count(report.updated, what)
    return existing


async def import_plan(session: AsyncSession, spec: PlanSpec, settings: Settings,
                      chase_from: dt.date | None = None,
                      now: dt.datetime | None = None) -> ImportReport:
    """Import (or update) a plan. `chase_from`: a plan loaded in the middle of its year
    does not chase the reports whose last day was before that day (they are waived, with
    an audit entry, and can still be sent); None chases every period of the plan."""
    doc = spec.doc
    report = ImportReport(spec.code)

    committee = await session.scalar(select(Committee).where(Committee.code == doc.committee.code))
    new_committee = committee is None
    committee = await _upsert(
        session, report, "committee", committee, Committee,
        {"code": doc.committee.code}, {"name": doc.committee.name},
    )

    agencies = {
        a.code: a
        for a in (
            await session.scalars(select(Agency).where(Agency.committee_id == committee.id))
        ).all()
    }
    for a in spec.agencies:
        agencies[a.code] = await _upsert(
            session, report, "agencies", agencies.get(a.code), Agency,
            {"committee_id": committee.id, "code": a.code},
            {"name": a.name, "short_name": a.short_name, "kind": a.kind,
             "kind_label": doc.kinds.get(a.kind), "escalate": a.escalate, "active": True},
        )
    for a in spec.agencies:
        parent_id = agencies[a.parent].id if a.parent else None
        if _assign(agencies[a.code], {"parent_id": parent_id}):
            report.count(report.updated, "agencies")
    # The two roles the plan keeps apart: the agency that receives and consolidates the
    # reports (a file written before `consolidating` existed names only `standing_office`,
    # read as both), and the committee's standing office, when the plan says which agency
    # it is. The plan's own words for the roles go with them.
    if _assign(committee, {
        "consolidating_id": agencies[spec.consolidating].id,
        "standing_office_id": agencies[spec.standing_office].id
        if spec.standing_office else None,
        "role_labels": doc.committee.labels.model_dump(exclude_none=True),
    }) and not new_committee:
        report.count(report.updated, "committee")

    plan = await session.scalar(select(Plan).where(Plan.code == doc.plan.code))
    plan_values = {
        "committee_id": committee.id,
        "title": doc.plan.title,
        "document": doc.plan.document,
        "issued_by": doc.plan.issued_by,
        "year": doc.plan.year,
        **plan_rule_values(spec),
        "defaults": doc.defaults.model_dump(mode="json"),
    }
    plan = await _upsert(session, report, "plan", plan, Plan, {"code": doc.plan.code}, plan_values)
    _assign(plan, {"source_file": spec.source, "source_hash": spec.source_hash})

    existing_subjects = {
        s.code: s
        for s in (await session.scalars(select(Subject).where(Subject.plan_id == plan.id))).all()
    }
    for s in doc.subjects:
        await _upsert(
            session, report, "subjects", existing_subjects.get(s.code), Subject,
            {"plan_id": plan.id, "code": s.code},
            {"name": s.name, "kind": s.kind, "agency_id": agencies[s.agency].id},
        )

    forms = {
        f.code: f
        for f in (await session.scalars(select(Form).where(Form.plan_id == plan.id))).all()
    }
    for form_spec in doc.forms:
        form = await _upsert(
            session, report, "forms", forms.get(form_spec.code), Form,
            {"plan_id": plan.id, "code": form_spec.code}, {"title": form_spec.title},
        )
        forms[form_spec.code] = form
        await _ensure_form_version(session, form, form_spec, report)

    schedules = {
        s.code: s
        for s in (await session.scalars(select(Schedule).where(Schedule.plan_id == plan.id))).all()
    }
    for position, sched in enumerate(doc.schedules):
        escalation = spec.escalation_for(sched)
        values = {
            "name": sched.name,
            "wording": sched.wording,
            **schedule_rule_values(sched),
            "reminder_offsets": spec.reminders_for(sched),
            "escalation_policy": escalation.model_dump(mode="json", exclude_none=True),
            "signed_file": spec.signed_file_rule(sched),
            "outline": [o.model_dump(mode="json") for o in sched.outline]
            if sched.outline is not None else None,
            "form_id": forms[sched.form].id,
            "active": True,
            "position": position,
        }
        schedule = await _upsert(
            session, report, "schedules", schedules.get(sched.code), Schedule,
            {"plan_id": plan.id, "code": sched.code}, values,
        )
        schedules[sched.code] = schedule
        await _sync_assignments(
            session, schedule, spec.assignments[sched.code], agencies, forms, report
        )
    for code, schedule in schedules.items():
        if code not in spec.assignments and schedule.active and not code.startswith("adhoc-"):
            # Removed from the file: stop generating, keep its history.
            schedule.active = False
            report.count(report.updated, "schedules")

    await _sync_targets(session, plan, spec, forms, schedules, report)

    report.obligations = await ensure_obligations(session, plan, settings.tz)
    moment = now or dt.datetime.now(dt.UTC)
    in_plan = select(Schedule.id).where(Schedule.plan_id == plan.id).scalar_subquery()
    if chase_from is not None:
        start = dt.datetime.combine(chase_from, dt.time(0, 0), settings.tz)
        waived = await session.execute(
            update(Obligation)
            .where(Obligation.schedule_id.in_(in_plan),
                   Obligation.status == ObligationStatus.open,
                   Obligation.extended_due_at.is_(None),
                   Obligation.due_at <= start)
            .values(status=ObligationStatus.waived, updated_at=moment))
        report.not_chased = rows_changed(waived)
        if report.not_chased:
            record(session, "plan.not_chased", actor_label="cli", committee_id=committee.id,
                   entity=("plan", plan.id),
                   details={"before": chase_from.isoformat(), "count": report.not_chased},
                   now=moment)
    report.past_due = int(await session.scalar(
        select(func.count()).select_from(Obligation)
        .where(Obligation.schedule_id.in_(in_plan),
               Obligation.status == ObligationStatus.open,
               func.coalesce(Obligation.extended_due_at, Obligation.due_at) <= moment)) or 0)
    if report.changed:
        record(session, "plan.import", actor_label="cli", committee_id=committee.id,
               entity=("plan", plan.id),
               details={"file": spec.source, "hash": spec.source_hash,
                        "summary": report.summary()}, now=moment)
    return report


async def _ensure_form_version(
    session: AsyncSession, form: Form, form_spec: Any, report: ImportReport
) -> FormVersion:
    digest = form_spec.definition_hash()
    current = (
        await session.get(FormVersion, form.current_version_id)
        if form.current_version_id else None
    )
    if current is not None and current.definition_hash == digest:
        return current
    latest = await session.scalar(
        select(FormVersion.version).where(FormVersion.form_id == form.id)
        .order_by(FormVersion.version.desc()).limit(1)
    )
    definition = form_spec.definition()
    version = FormVersion(
        form_id=form.id,
        version=(latest or 0) + 1,
        title=form_spec.title,
        definition_hash=digest,
        allow_no_report=form_spec.allow_no_report,
        checks=definition["checks"],
    )
    for position, fld in enumerate(definition["fields"]):
        settings = {
            k: v for k, v in fld.items()
            if k not in ("code", "label", "type", "required", "help", "unit")
        }
        version.fields.append(
            FormField(
                position=position, code=fld["code"], label=fld["label"], type=fld["type"],
                required=fld["required"], help=fld.get("help"), unit=fld.get("unit"),
                settings=settings,
            )
        )
    session.add(version)
    await session.flush()
    form.current_version_id = version.id
    if current is not None:
        report.new_form_versions.append(f"{form.code} v{version.version}")
    return version


async def _sync_assignments(
    session: AsyncSession, schedule: Schedule, wanted: dict[str, str],
    agencies: dict[str, Agency], forms: dict[str, Form], report: ImportReport,
) -> None:
    rows = {
        r.agency_id: r
        for r in (
            await session.scalars(
                select(ScheduleAgency).where(ScheduleAgency.schedule_id == schedule.id)
            )
        ).all()
    }
    wanted_ids = {agencies[code].id: forms[form].id for code, form in wanted.items()}
    for agency_id, form_id in wanted_ids.items():
        row = rows.get(agency_id)
        if row is None:
            session.add(ScheduleAgency(schedule_id=schedule.id, agency_id=agency_id,
                                       form_id=form_id))
            report.count(report.created, "assignments")
        elif row.form_id != form_id:
            row.form_id = form_id
            report.count(report.updated, "assignments")
    gone = [a for a in rows if a not in wanted_ids]
    if gone:
        await session.execute(
            delete(ScheduleAgency).where(
                ScheduleAgency.schedule_id == schedule.id, ScheduleAgency.agency_id.in_(gone)
            )
        )
        report.count(report.updated, "assignments")


async def _sync_targets(
    session: AsyncSession, plan: Plan, spec: PlanSpec, forms: dict[str, Form],
    schedules: dict[str, Schedule], report: ImportReport,
) -> None:
    existing = {
        t.code: t
        for t in (await session.scalars(select(Target).where(Target.plan_id == plan.id))).all()
    }
    for position, t in enumerate(spec.doc.targets):
        measure: dict[str, Any] = {"value": t.value} if t.value else {"count_where": t.count_where}
        measure["values"] = {
            name: v.model_dump(exclude_none=True) for name, v in t.values.items()
        }
        target = await _upsert(
            session, report, "targets", existing.get(t.code), Target,
            {"plan_id": plan.id, "code": t.code},
            {"name": t.name, "measure": measure, "per_agency": t.per_agency,
             "comparison": t.comparison, "target_value": t.target, "unit": t.unit,
             "agency_codes": spec.target_agencies[t.code],
             "per_subject_kind": t.per_subject, "position": position},
        )
        fields = {
            f.name: f
            for f in (
                await session.scalars(select(TargetField).where(TargetField.target_id == target.id))
            ).all()
        }
        for name, v in t.values.items():
            form_code, field_code = v.field.split(".", 1)
            await _upsert(
                session, report, "target fields", fields.pop(name, None), TargetField,
                {"target_id": target.id, "name": name},
                {"form_id": forms[form_code].id, "field_code": field_code,
                 "aggregate": v.aggregate,
                 "schedule_id": schedules[v.schedule].id if v.schedule else None},
            )
        for stale in fields.values():
            await session.delete(stale)
            report.count(report.updated, "target fields")
    for code, target in existing.items():
        if code not in {t.code for t in spec.doc.targets}:
            await session.delete(target)
            report.count(report.updated, "targets")


async def import_plan_file(settings: Settings, spec: PlanSpec,
                           chase_from: dt.date | None = None) -> ImportReport:
    engine = make_engine(settings.database_url)
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            return await import_plan(session, spec, settings, chase_from=chase_from)
    finally:
        await engine.dispose()


async def list_plans(settings: Settings) -> list[str]:
    engine = make_engine(settings.database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            plans = (await session.scalars(select(Plan).order_by(Plan.code))).all()
            return [f"{p.code}\t{p.year}\t{p.title}" for p in plans]
    finally:
        await engine.dispose()
