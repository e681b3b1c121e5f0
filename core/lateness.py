"""Whether a report is late, and by how many days: one decision, pure.

The receipt after sending, the review queue and the opened report, the status view, the
export and the stored `late_days` all take it from `decide`.

- A report's timeliness is that of its FIRST submission: on time when it came before the
  deadline (the instant the last day ends), else late by the whole local days after the last
  day («trễ hạn N ngày»).
- A correction sent after the office returned the report is a supplement («bổ sung»). It is on
  time when it comes within the time the return gave: SUPPLEMENT_WORKING_DAYS working days
  after the day of the return, to the end of the last of them (or before the report's own
  deadline, if that is later). After that it is late by the days beyond that last day.
- A supplement never makes a late report on time: the report stays late by at least the days
  its first submission was late.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core.calendar import WorkCalendar

# How long a return gives for the supplement, in working days after the day of the return.
# A plan setting should set it (plan key `reporting.supplement_working_days`, in
# core/planfile.py `defaults`); until then this constant is the rule.
SUPPLEMENT_WORKING_DAYS = 5

_DEFAULT_CALENDAR = WorkCalendar()


@dataclass(frozen=True)
class Lateness:
    late_days: int  # 0: on time
    supplement: bool  # a correction sent after a return («bổ sung»)
    first_late_days: int  # how late the first submission was
    # A supplement's deadline: the instant the time the return gave ends (None otherwise).
    supplement_due_at: dt.datetime | None = None
    supplement_late_days: int = 0  # how late the supplement was, beyond the time given

    @property
    def on_time(self) -> bool:
        return self.late_days == 0

    def last_day(self, tz: Any) -> dt.date | None:
        """The last day of the time the return gave, local («hết ngày …»)."""
        if self.supplement_due_at is None:
            return None
        return last_day(self.supplement_due_at, tz)


def last_day(due_at: dt.datetime, tz: Any) -> dt.date:
    """The local day a deadline instant ends (a deadline is the start of the next day)."""
    return (due_at.astimezone(tz) - dt.timedelta(microseconds=1)).date()


def days_late(due_at: dt.datetime, at: dt.datetime, tz: Any) -> int:
    """0 before `due_at`; otherwise whole local days after the last day, at least 1."""
    if at < due_at:
        return 0
    return max(1, (at.astimezone(tz).date() - last_day(due_at, tz)).days)


def supplement_days(plan_defaults: Mapping[str, Any] | None) -> int:
    """The working days a plan gives a supplement (its `defaults.supplement_working_days`)."""
    value = (plan_defaults or {}).get("supplement_working_days")
    return int(value) if isinstance(value, int) and value > 0 else SUPPLEMENT_WORKING_DAYS


def supplement_due(returned_at: dt.datetime, tz: Any, calendar: WorkCalendar | None = None,
                   working_days: int = SUPPLEMENT_WORKING_DAYS) -> dt.datetime:
    """The instant a supplement to a report returned at `returned_at` becomes late: the end
    of the `working_days`-th working day after the local day of the return."""
    cal = calendar or _DEFAULT_CALENDAR
    last = cal.add_working_days(returned_at.astimezone(tz).date(), working_days)
    return dt.datetime.combine(last + dt.timedelta(days=1), dt.time(0), tzinfo=tz)


def decide(
    *,
    due_at: dt.datetime,
    submitted_at: dt.datetime,
    tz: Any,
    first_submitted_at: dt.datetime | None = None,
    returned_at: dt.datetime | None = None,
    calendar: WorkCalendar | None = None,
    working_days: int = SUPPLEMENT_WORKING_DAYS,
) -> Lateness:
    """The timeliness of the version sent at `submitted_at`.

    `due_at`: the report's effective deadline; `first_submitted_at`: when its first version
    was sent (None, or `submitted_at`, when this is the first); `returned_at`: when the office
    last returned it before this version (None when it never was)."""
    first = submitted_at if first_submitted_at is None else min(first_submitted_at,
                                                                submitted_at)
    first_late = days_late(due_at, first, tz)
    if returned_at is None or submitted_at <= returned_at or submitted_at == first:
        return Lateness(first_late, supplement=False, first_late_days=first_late)
    window = max(due_at, supplement_due(returned_at, tz, calendar, working_days))
    beyond = days_late(window, submitted_at, tz)
    return Lateness(max(first_late, beyond), supplement=True, first_late_days=first_late,
                    supplement_due_at=window, supplement_late_days=beyond)
