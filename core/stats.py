"""Reporting completeness and timeliness, and progress against targets. Pure functions.

Completeness and timeliness follow DHIS2's *reporting rate* and *reporting rate on time*:
received / expected and received on time / expected, in percent. Waived reports are not
expected. A returned report counts as received (the agency did report); its first
submission time decides whether it was on time.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from core.expressions import parse as parse_expression


@dataclass(frozen=True)
class ObligationFact:
    obligation_id: int
    agency_id: int
    agency_name: str
    status: str  # open | draft | submitted | accepted | returned | waived
    due_at: dt.datetime  # effective deadline
    first_submitted_at: dt.datetime | None
    # The verdict core.lateness gave (a supplement after a return judged by the time the
    # return gave); None: judged here by the first submission against the deadline.
    on_time: bool | None = None

    @property
    def judged_on_time(self) -> bool:
        if self.on_time is not None:
            return self.on_time
        return self.first_submitted_at is not None and self.first_submitted_at < self.due_at


@dataclass
class Completeness:
    expected: int = 0
    received: int = 0
    on_time: int = 0
    late: int = 0
    missing: int = 0
    # (agency name, days late; 0 when the deadline has not passed yet)
    missing_agencies: list[tuple[str, int]] = field(default_factory=list)

    @property
    def completeness_pct(self) -> float:
        return 100.0 * self.received / self.expected if self.expected else 0.0

    @property
    def timeliness_pct(self) -> float:
        return 100.0 * self.on_time / self.expected if self.expected else 0.0


RECEIVED = {"submitted", "accepted", "returned"}


def completeness(facts: Iterable[ObligationFact], now: dt.datetime, tz: ZoneInfo) -> Completeness:
    out = Completeness()
    today = now.astimezone(tz).date()
    for f in facts:
        if f.status == "waived":
            continue
        out.expected += 1
        if f.status in RECEIVED and f.first_submitted_at is not None:
            out.received += 1
            if f.judged_on_time:
                out.on_time += 1
            else:
                out.late += 1
            continue
        out.missing += 1
        last_day = (f.due_at.astimezone(tz) - dt.timedelta(microseconds=1)).date()
        days = max(0, (today - last_day).days) if now >= f.due_at else 0
        out.missing_agencies.append((f.agency_name, days))
    out.missing_agencies.sort(key=lambda x: (-x[1], x[0]))
    return out


# ------------------------------------------------------------------------------ targets


@dataclass(frozen=True)
class AnswerFact:
    """One numeric answer of one submission, for target aggregation."""

    agency_id: int
    field: str  # "form_code.field_code"
    schedule_id: int
    period_end: dt.date
    value: float | str  # a number, yes/no as 1/0, or a choice's value
    subject_id: int = 0  # the hotspot a per-subject report is about; 0: the agency itself


@dataclass(frozen=True)
class TargetSpec:
    code: str
    name: str
    values: dict[str, dict[str, Any]]  # name -> {"field": "form.field", "aggregate", "schedule"}
    value: str | None
    count_where: str | None
    comparison: str
    target: float
    unit: str | None
    per_agency: bool
    agencies: tuple[int, ...]  # agency ids the target covers; subject ids when per_subject
    # count_where counts subjects (hotspots), each by its own reports, not the agencies
    per_subject: bool = False


@dataclass
class TargetProgress:
    code: str
    name: str
    actual: float | None  # the committee-wide figure, or the count of agencies that meet it
    target: float
    comparison: str
    unit: str | None
    met: bool
    per_agency: dict[int, float | None] = field(default_factory=dict)
    agencies_met: int = 0
    agencies_total: int = 0

    @property
    def pct(self) -> float | None:
        if self.actual is None or not self.target:
            return None
        return 100.0 * self.actual / self.target


_COMPARE: dict[str, Callable[[float, float], bool]] = {
    ">=": lambda a, b: a >= b, ">": lambda a, b: a > b, "<=": lambda a, b: a <= b,
    "<": lambda a, b: a < b, "==": lambda a, b: a == b,
}


def meets(value: float, comparison: str, target: float) -> bool:
    return bool(_COMPARE[comparison](value, target))


def aggregate(values: list[tuple[dt.date, float | str]], how: str) -> float | str | None:
    """Year-to-date: sum, latest (by period end), max, min or average. A choice's value
    (text) only has a latest; the others count numbers only."""
    if not values:
        return None
    if how == "latest":
        latest = max(values, key=lambda x: x[0])[1]
        return latest if isinstance(latest, str) else float(latest)
    numbers = [v for _d, v in values if not isinstance(v, str)]
    if not numbers:
        return None
    match how:
        case "sum":
            return float(sum(numbers))
        case "max":
            return float(max(numbers))
        case "min":
            return float(min(numbers))
        case "average":
            return float(sum(numbers) / len(numbers))
    raise ValueError(f"unknown aggregate {how}")


def _unit(spec: TargetSpec, fact: AnswerFact) -> int:
    """What the target counts one by one: the agency, or the subject it reports on."""
    return fact.subject_id if spec.per_subject else fact.agency_id


def _values_for(spec: TargetSpec, facts: list[AnswerFact], units: set[int],
                schedule_for: dict[str, int | None]) -> dict[str, float | str | None]:
    out: dict[str, float | str | None] = {}
    for name, source in spec.values.items():
        wanted = schedule_for.get(name)
        picked = [
            (f.period_end, f.value) for f in facts
            if f.field == source["field"] and _unit(spec, f) in units
            and (wanted is None or f.schedule_id == wanted)
        ]
        how = source.get("aggregate", "sum")
        if how == "latest" and len(units) > 1:
            # Committee-wide «latest»: each agency's latest figure, added up.
            per = [
                aggregate([(d, v) for d, v, u in _with_unit(spec, facts, source, wanted)
                           if u == unit], "latest")
                for unit in units
            ]
            known = [p for p in per if p is not None and not isinstance(p, str)]
            out[name] = float(sum(known)) if known else None
        else:
            out[name] = aggregate(picked, how)
    return out


def _with_unit(spec: TargetSpec, facts: list[AnswerFact], source: dict[str, Any],
               wanted: int | None) -> list[tuple[dt.date, float | str, int]]:
    return [(f.period_end, f.value, _unit(spec, f)) for f in facts
            if f.field == source["field"] and (wanted is None or f.schedule_id == wanted)]


def target_progress(spec: TargetSpec, facts: list[AnswerFact],
                    schedule_for: dict[str, int | None]) -> TargetProgress:
    """`schedule_for` names, per value, the schedule whose answers count (None: all)."""
    compare = _COMPARE[spec.comparison]
    progress = TargetProgress(spec.code, spec.name, None, spec.target, spec.comparison,
                              spec.unit, False)
    if spec.count_where is not None:
        expr = parse_expression(spec.count_where)
        count = 0
        for agency in spec.agencies:
            values = _values_for(spec, facts, {agency}, schedule_for)
            ok = expr.holds({k: v for k, v in values.items() if v is not None})
            progress.per_agency[agency] = 1.0 if ok else 0.0
            count += 1 if ok else 0
        progress.actual = float(count)
        progress.agencies_met = count
        progress.agencies_total = len(spec.agencies)
        progress.met = compare(progress.actual, spec.target)
        return progress
    assert spec.value is not None
    expr = parse_expression(spec.value)
    if spec.per_agency:
        met = 0
        for agency in spec.agencies:
            values = _values_for(spec, facts, {agency}, schedule_for)
            result = expr.evaluate({k: v for k, v in values.items() if v is not None})
            number = float(result) if isinstance(result, int | float) else None
            progress.per_agency[agency] = number
            if number is not None and compare(number, spec.target):
                met += 1
        progress.agencies_met = met
        progress.agencies_total = len(spec.agencies)
        progress.actual = float(met)
        progress.met = met == len(spec.agencies) and bool(spec.agencies)
        return progress
    values = _values_for(spec, facts, set(spec.agencies), schedule_for)
    result = expr.evaluate({k: v for k, v in values.items() if v is not None})
    progress.actual = float(result) if isinstance(result, int | float) else None
    progress.met = progress.actual is not None and compare(progress.actual, spec.target)
    return progress


def group_by_agency(facts: Iterable[ObligationFact]) -> dict[int, list[ObligationFact]]:
    out: dict[int, list[ObligationFact]] = defaultdict(list)
    for f in facts:
        out[f.agency_id].append(f)
    return dict(out)
