"""Progress against a plan's targets, year to date, from the answers the database holds: for
the targets view (handlers/status.py) and for the documents (db/documents.py), so both read
the same figures. Each target value adds its field up by the field's own year-to-date rule
(core.planfile fills `aggregate` from the field's `accumulate`), the rule the forms'
proposals use."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import lazyload

from core.fields import FIELD_TYPES
from core.stats import AnswerFact, TargetProgress, TargetSpec, target_progress
from db.models import (
    Agency,
    Answer,
    Form,
    FormField,
    Obligation,
    ObligationStatus,
    Plan,
    Schedule,
    Subject,
    Submission,
    SubmissionState,
    Target,
    TargetField,
)

PERIOD_RANK = {"monthly": 0, "quarterly": 1, "half_year": 2, "nine_month": 3, "yearly": 4,
               "one_off": 5}


@dataclass(frozen=True)
class TargetResult:
    target: Target
    spec: TargetSpec
    progress: TargetProgress
    has_figures: bool  # whether any answer it reads has come in from what it covers


async def answer_facts(session: AsyncSession, plan_id: int, include_submitted: bool,
                       until: dt.date | None = None) -> list[AnswerFact]:
    """The answers targets count (numbers, yes/no as 1/0, the values of choices), of reports
    accepted (and sent, with `include_submitted`) for periods ending by `until`."""
    states = [SubmissionState.accepted]
    if include_submitted:
        states.append(SubmissionState.submitted)
    query = (
        select(Obligation.agency_id, Form.code, Answer.field_code, Obligation.schedule_id,
               Obligation.period_end, Answer.value_number, Answer.value, Obligation.subject_id)
        .join(Submission, Submission.id == Answer.submission_id)
        .join(Obligation, Obligation.id == Submission.obligation_id)
        .join(Form, Form.id == Obligation.form_id)
        .join(Schedule, Schedule.id == Obligation.schedule_id)
        .join(FormField, (FormField.form_version_id == Submission.form_version_id)
              & (FormField.code == Answer.field_code))
        .where(Schedule.plan_id == plan_id, Submission.state.in_(states),
               Answer.skipped.is_(False),
               # Numbers count as numbers; a type whose target reads its latest text (a
               # choice) counts by value.
               Answer.value_number.is_not(None) | FormField.type.in_(
                   [name for name, kind in FIELD_TYPES.items() if kind.target == "latest"]),
               Obligation.status.in_([ObligationStatus.accepted, ObligationStatus.submitted]))
    )
    if until is not None:
        query = query.where(Obligation.period_end <= until)
    facts = []
    for agency, form, field, schedule, end, number, value, subject in (
            await session.execute(query)).all():
        shown: float | str | None = (float(number) if number is not None
                                     else value if isinstance(value, str) else None)
        if shown is not None:
            facts.append(AnswerFact(agency, f"{form}.{field}", schedule, end, shown, subject))
    return facts


async def most_frequent_schedules(session: AsyncSession, plan_id: int) -> dict[int, int]:
    """form id -> the most frequent schedule that uses it, so figures are not added twice."""
    rows = (await session.execute(
        select(Obligation.form_id, Schedule.id, Schedule.period_type)
        .join(Schedule, Schedule.id == Obligation.schedule_id)
        .where(Schedule.plan_id == plan_id).distinct()
    )).all()
    best: dict[int, tuple[int, int]] = {}
    for form_id, schedule_id, period_type in rows:
        rank = PERIOD_RANK.get(period_type, 9)
        if form_id not in best or rank < best[form_id][0]:
            best[form_id] = (rank, schedule_id)
    return {form_id: schedule_id for form_id, (_rank, schedule_id) in best.items()}


def has_figures(spec: TargetSpec, facts: Sequence[AnswerFact]) -> bool:
    """Whether any answer the target reads has come in from the agencies (or subjects) it
    covers."""
    fields = {source["field"] for source in spec.values.values()}
    units = set(spec.agencies)
    return any(f.field in fields and (f.subject_id if spec.per_subject else f.agency_id)
               in units for f in facts)


async def latest_plan(session: AsyncSession, committee_id: int) -> Plan | None:
    return await session.scalar(
        select(Plan).options(lazyload("*")).where(Plan.committee_id == committee_id)
        .order_by(Plan.year.desc()).limit(1))


async def targets_progress(session: AsyncSession, plan: Plan, *, include_submitted: bool,
                           until: dt.date | None = None, agency_id: int | None = None
                           ) -> list[TargetResult]:
    """Each target of `plan` with its progress year to date (by `until`). With `agency_id`:
    only the targets covering that agency, counted on its own answers (its contribution to
    a committee-wide figure, or its own figure for a per-agency target)."""
    targets = (await session.scalars(
        select(Target).where(Target.plan_id == plan.id).order_by(Target.position))).all()
    if not targets:
        return []
    agencies = {a.code: a.id for a in (await session.scalars(
        select(Agency).options(lazyload("*"))
        .where(Agency.committee_id == plan.committee_id))).all()}
    codes = {v: k for k, v in agencies.items()}
    facts = await answer_facts(session, plan.id, include_submitted, until)
    subjects: dict[str, list[tuple[int, str]]] = defaultdict(list)  # kind → (id, holder)
    for subject in (await session.scalars(
            select(Subject).where(Subject.plan_id == plan.id).order_by(Subject.id))).all():
        subjects[subject.kind].append((subject.id, codes.get(subject.agency_id, "")))
    schedules_by_form = await most_frequent_schedules(session, plan.id)
    sources: dict[int, list[TargetField]] = defaultdict(list)
    for source in (await session.scalars(select(TargetField).where(
            TargetField.target_id.in_([t.id for t in targets])))).all():
        sources[source.target_id].append(source)
    out = []
    for target in targets:
        schedule_for = {f.name: f.schedule_id or schedules_by_form.get(f.form_id)
                        for f in sources[target.id]}
        holders = list(target.agency_codes)
        if agency_id is not None:
            if codes.get(agency_id) not in holders:
                continue
            holders = [codes[agency_id]]
        if target.per_subject_kind:
            # agency_codes are the agencies holding the subjects; each subject counts.
            units = tuple(sid for sid, holder in subjects.get(target.per_subject_kind, [])
                          if holder in holders)
        else:
            units = tuple(agencies[c] for c in holders if c in agencies)
        spec = TargetSpec(
            code=target.code, name=target.name, values=target.measure["values"],
            value=target.measure.get("value"), count_where=target.measure.get("count_where"),
            comparison=target.comparison, target=float(target.target_value), unit=target.unit,
            per_agency=target.per_agency, agencies=units,
            per_subject=target.per_subject_kind is not None,
        )
        out.append(TargetResult(target, spec, target_progress(spec, facts, schedule_for),
                                has_figures(spec, facts)))
    return out
