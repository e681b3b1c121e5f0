"""Reporting periods, cut-offs and deadlines: pure functions of a rule and a year.

Vocabulary:
- a *period* covers `start`..`end` (both inclusive local dates); `end` is the data cut-off
  (*thời gian chốt số liệu*);
- its *deadline* has a `last_day` (the last day a report is on time) and `due_at`, the first
  instant at which a report is late, as an aware datetime in the committee's time zone.

Rules are plain dicts, as stored in the database (the plan file's `cutoff`, `due` and
`holiday` keys), so the same code serves the importer, the sweep and the CLI.
"""

from __future__ import annotations

import calendar as _cal
import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal
from zoneinfo import ZoneInfo

import holidays as _holidays

PeriodType = Literal[
    "monthly", "quarterly", "half_year", "nine_month", "yearly", "one_off", "ad_hoc"
]
RECURRING: tuple[PeriodType, ...] = ("monthly", "quarterly", "half_year", "nine_month", "yearly")
DECREE09_CUTOFF_DAY = 14
DEFAULT_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
# What happens to a last day that falls on a weekend, a national or a plan holiday.
# Bộ luật Dân sự 2015, article 148(5): the period ends at the end of the next working day;
# a plan may choose the previous working day (for «trước ngày …» wording), or keep the day.
HOLIDAY_RULES = ("next_working_day", "previous_working_day", "keep")
DEFAULT_HOLIDAY_RULE = "next_working_day"

# How often each period type recurs: (months in a period, periods per year).
_SHAPE: dict[str, tuple[int, int]] = {
    "monthly": (1, 12),
    "quarterly": (3, 4),
    "half_year": (6, 2),
    "nine_month": (9, 1),
    "yearly": (12, 1),
}


@dataclass(frozen=True)
class Period:
    type: str
    year: int
    index: int  # 1-based position in the year: month, quarter, half; 1 otherwise
    start: dt.date
    end: dt.date

    @property
    def key(self) -> str:
        match self.type:
            case "monthly":
                return f"{self.year}-{self.index:02d}"
            case "quarterly":
                return f"{self.year}-Q{self.index}"
            case "half_year":
                return f"{self.year}-H{self.index}"
            case "nine_month":
                return f"{self.year}-9M"
            case "yearly":
                return f"{self.year}"
        return f"{self.year}-once"

    @property
    def first_month(self) -> int:
        months, _ = _SHAPE.get(self.type, (12, 1))
        return (self.index - 1) * months + 1

    @property
    def last_month(self) -> int:
        months, _ = _SHAPE.get(self.type, (12, 1))
        return self.index * months


@dataclass(frozen=True)
class Deadline:
    last_day: dt.date
    due_at: dt.datetime  # aware, local time zone
    shifted_from: dt.date | None = None  # the last day before a holiday shift


@dataclass(frozen=True)
class WorkCalendar:
    """Which days are working days: weekdays minus national and plan holidays."""

    extra_holidays: frozenset[dt.date] = frozenset()
    working_days: frozenset[dt.date] = frozenset()  # weekend days worked in lieu (làm bù)
    weekdays: frozenset[int] = frozenset({0, 1, 2, 3, 4})
    country: str = "VN"

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> WorkCalendar:
        data = data or {}
        return cls(
            extra_holidays=frozenset(_as_date(d) for d in data.get("holidays", [])),
            working_days=frozenset(_as_date(d) for d in data.get("working_days", [])),
            weekdays=frozenset(data.get("working_weekdays", [0, 1, 2, 3, 4])),
        )

    def is_holiday(self, day: dt.date) -> bool:
        return day in self.extra_holidays or day in _national_holidays(self.country, day.year)

    def holiday_name(self, day: dt.date) -> str | None:
        if day in self.extra_holidays:
            return "plan holiday"
        return _national_holidays(self.country, day.year).get(day)

    def is_working_day(self, day: dt.date) -> bool:
        if day in self.working_days:
            return True
        return day.weekday() in self.weekdays and not self.is_holiday(day)

    def next_working_day(self, day: dt.date, step: int = 1) -> dt.date:
        """`day` itself when it is a working day, else the nearest one in direction `step`."""
        for _ in range(366):
            if self.is_working_day(day):
                return day
            day += dt.timedelta(days=step)
        raise ValueError("no working day within a year")

    def add_working_days(self, day: dt.date, count: int) -> dt.date:
        step = 1 if count >= 0 else -1
        remaining = abs(count)
        while remaining:
            day += dt.timedelta(days=step)
            if self.is_working_day(day):
                remaining -= 1
        return day


@lru_cache(maxsize=64)
def _national_holidays(country: str, year: int) -> _holidays.HolidayBase:
    return _holidays.country_holidays(country, years=year)


@dataclass(frozen=True)
class ScheduleRule:
    period: str
    cutoff: Any = "decree09"  # "decree09" | "end" | {"day": N}
    due: dict[str, Any] | None = None
    holiday: str = DEFAULT_HOLIDAY_RULE  # see HOLIDAY_RULES
    # One-off: when the period opens. Recurring: no period that ends before this day.
    start: dt.date | None = None
    calendar: WorkCalendar = field(default_factory=WorkCalendar)

    @property
    def cutoff_day(self) -> int | None:
        """The cut-off day of a period's last month, or None for calendar periods."""
        if self.cutoff in (None, "decree09"):
            return DECREE09_CUTOFF_DAY
        if self.cutoff == "end":
            return None
        return int(self.cutoff["day"])


def _as_date(value: Any) -> dt.date:
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


def _add_months(year: int, month: int, delta: int) -> tuple[int, int]:
    total = year * 12 + (month - 1) + delta
    return total // 12, total % 12 + 1


def _month_end(year: int, month: int) -> dt.date:
    return dt.date(year, month, _cal.monthrange(year, month)[1])


def period(rule: ScheduleRule, year: int, index: int) -> Period:
    """The `index`-th period of `year` (1-based)."""
    months, count = _SHAPE[rule.period]
    if not 1 <= index <= count:
        raise ValueError(f"{rule.period} has no period {index}")
    first, last = (index - 1) * months + 1, index * months
    cut = rule.cutoff_day
    if cut is None:
        start, end = dt.date(year, first, 1), _month_end(year, last)
    else:
        py, pm = _add_months(year, first, -1)
        start = dt.date(py, pm, cut) + dt.timedelta(days=1)
        end = dt.date(year, last, cut)
    return Period(rule.period, year, index, start, end)


def periods_of_year(rule: ScheduleRule, year: int) -> list[Period]:
    """The recurring periods labelled with `year` (January's to December's)."""
    if rule.period in _SHAPE:
        return [period(rule, year, i) for i in range(1, _SHAPE[rule.period][1] + 1)]
    if rule.period == "one_off":
        if rule.due is None or "date" not in rule.due:
            return []
        due_day = _as_date(rule.due["date"])
        if due_day.year != year:
            return []
        start = rule.start or dt.date(year, 1, 1)
        return [Period("one_off", year, 1, start, due_day)]
    return []  # ad hoc periods are created on request


def deadline(rule: ScheduleRule, p: Period, tz: ZoneInfo = DEFAULT_TZ) -> Deadline:
    due = rule.due or {}
    if "date" in due:
        last = _as_date(due["date"])
    elif due.get("after_cutoff_days") is not None:
        last = p.end + dt.timedelta(days=int(due["after_cutoff_days"]))
    else:
        month_rule = due.get("month", "last")
        if month_rule == "last":
            y, m = p.year, p.last_month
        elif month_rule == "next":
            y, m = _add_months(p.year, p.last_month, 1)
        else:
            y, m = p.year, int(month_rule)
        day = min(int(due["day"]), _cal.monthrange(y, m)[1])
        last = dt.date(y, m, day)
        if due.get("before"):
            last -= dt.timedelta(days=1)
    return make_deadline(last, due.get("time"), rule.holiday, rule.calendar, tz)


def make_deadline(
    last: dt.date,
    time: str | None,
    holiday: str,
    calendar: WorkCalendar,
    tz: ZoneInfo = DEFAULT_TZ,
) -> Deadline:
    """A deadline from its last day; `time` "HH:MM" or None for the end of that day.

    `holiday` (HOLIDAY_RULES): a last day that is not a working day moves to the next
    working day (the default, BLDS 2015 art. 148(5)), to the previous one, or stays (keep)."""
    if holiday not in HOLIDAY_RULES:
        raise ValueError(f"unknown holiday rule {holiday!r} (one of {', '.join(HOLIDAY_RULES)})")
    shifted_from = None
    if holiday != "keep":
        moved = calendar.next_working_day(last, 1 if holiday == "next_working_day" else -1)
        if moved != last:
            shifted_from, last = last, moved
    if time:
        hh, mm = (int(x) for x in time.split(":"))
        due_at = dt.datetime.combine(last, dt.time(hh, mm), tz)
    else:
        due_at = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(0, 0), tz)
    return Deadline(last, due_at, shifted_from)


@dataclass(frozen=True)
class Occurrence:
    period: Period
    deadline: Deadline


def occurrences(
    rule: ScheduleRule,
    years: Iterable[int],
    tz: ZoneInfo = DEFAULT_TZ,
    within: tuple[dt.date, dt.date] | None = None,
) -> Iterator[Occurrence]:
    """Each period of the given years with its deadline, optionally only the periods that
    overlap `within` (a plan's start and end)."""
    for year in years:
        for p in periods_of_year(rule, year):
            if within is not None and (p.end < within[0] or p.start > within[1]):
                continue
            yield Occurrence(p, deadline(rule, p, tz))


def occurrences_between(
    rule: ScheduleRule, start: dt.date, end: dt.date, tz: ZoneInfo = DEFAULT_TZ
) -> list[Occurrence]:
    """Periods whose deadline's last day falls within `start`..`end`."""
    years = range(start.year - 1, end.year + 2)
    return [
        occ
        for occ in occurrences(rule, years, tz)
        if start <= occ.deadline.last_day <= end
    ]


def plan_occurrences(
    rule: ScheduleRule,
    plan_starts: dt.date,
    plan_ends: dt.date,
    tz: ZoneInfo = DEFAULT_TZ,
) -> list[Occurrence]:
    """The periods, with their deadlines, that a plan running `plan_starts`..`plan_ends` has
    for one schedule: what the importer creates obligations for and what `plan calendar`
    lists (both call this, so they cannot disagree).

    - recurring: the periods labelled with the plan's years that overlap the plan and do not
      end before the schedule's own `start` (a period the plan does not cover has no report:
      Hà Nội's dispatch of 06/03/2020 asks nothing for January and February 2020);
    - one-off: its one period, even when its deadline falls in the year after the plan ends
      (the plan file allows up to a year after); it opens on `start`;
    - ad hoc: none, they are created on request.
    """
    years = list(range(plan_starts.year, plan_ends.year + 1))
    start = plan_starts
    if rule.period == "one_off":
        if rule.due is not None and "date" in rule.due:
            due_year = _as_date(rule.due["date"]).year
            if due_year not in years:
                years.append(due_year)
    elif rule.start is not None:
        start = max(start, rule.start)
    if start > plan_ends:
        return []
    return list(occurrences(rule, years, tz, within=(start, plan_ends)))
