"""date: dd/mm/yyyy (also d/m/yy, dd-mm-yyyy, dd.mm.yyyy; core.dates); stored as an ISO date.

A day typed without its year («25/3») is the first such day the question allows (from its
`min`, else the last one up to its `max`); without bounds, the last such day up to the end
of the report's period (settings["period"], set by db.drafts.period_applied), the such day
nearest to the period's end («15/3» in a March 2022 report is 15/03/2022, «20/12» in a
January 2022 one the December before); with no period either, the year is asked for."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, ClassVar

from core.dates import last_such_day, next_such_day, read_day, resolve
from core.fields.base import (
    BOUNDS_MISPLACED,
    FieldSpec,
    FieldType,
    Ok,
    Problem,
    Result,
    Settings,
    check_bounds,
    check_min_max,
)
from core.formatting import format_date
from core.i18n import N_, Gettext


def nearest_such_day(day: int, month: int, near: dt.date) -> dt.date | None:
    """The date with this day and month nearest to `near` (its year, the one before or the
    one after); None if there is no such day in those years (29/02)."""
    found = []
    for year in (near.year - 1, near.year, near.year + 1):
        try:
            found.append(dt.date(year, month, day))
        except ValueError:
            continue
    return min(found, key=lambda d: abs((d - near).days)) if found else None


class DateSettings(Settings):
    check_order: ClassVar[int] = 1
    misplaced: ClassVar[dict[str, str]] = BOUNDS_MISPLACED
    min: dt.date | None = None
    max: dt.date | None = None


class DateType(FieldType):
    name = "date"
    settings = DateSettings
    hint_msgid = N_("Type a date as dd/mm/yyyy, e.g. 13/12/2022.")
    period_hint_msgid = N_("Type a date as dd/mm (or dd/mm/yyyy), e.g. {example}.")

    def check_settings(self, settings: Mapping[str, Any]) -> None:
        for key in ("min", "max"):
            if key in settings and not isinstance(settings[key], dt.date):
                raise ValueError("a date field needs YYYY-MM-DD bounds")
        check_min_max(settings)

    def bound(self, raw: Any) -> Any:
        return dt.date.fromisoformat(str(raw))

    @staticmethod
    def _period_end(spec: FieldSpec) -> dt.date | None:
        period = spec.settings.get("period")
        try:
            return dt.date.fromisoformat(str(period[1])) if period else None
        except (TypeError, ValueError, IndexError):
            return None

    def hint(self, _: Gettext, spec: FieldSpec) -> str:
        # The example is a day of the report's period (its last), never a date out of it.
        end = self._period_end(spec)
        if end is None:
            return _(self.hint_msgid)
        return _(self.period_hint_msgid).format(example=format_date(end)[:5])

    def parse(self, spec: FieldSpec, text: str) -> Result:
        typed = read_day(text)
        if typed is None or not typed.possible():
            return Problem("Please enter a date as dd/mm/yyyy, for example 13/12/2022.")
        low, high = spec.bound("min"), spec.bound("max")
        if typed.year is not None:
            day = resolve(typed)
        elif low is not None:
            day = next_such_day(typed.day, typed.month, low)
        elif high is not None:
            day = last_such_day(typed.day, typed.month, high)
        elif (end := self._period_end(spec)) is not None:
            day = nearest_such_day(typed.day, typed.month, end)
        else:
            return Problem("Please add the year: {day}/yyyy.",
                           {"day": f"{typed.day:02d}/{typed.month:02d}"})
        if day is None:  # 29/02/2023
            return Problem("Please enter a date as dd/mm/yyyy, for example 13/12/2022.")
        problem = check_bounds(low, high, day)
        return problem or Ok(day.isoformat())

    def value_text(self, _: Gettext, spec: FieldSpec, value: Any, locale: str) -> str:
        return format_date(dt.date.fromisoformat(value))

    def export_cell(self, value: Any) -> Any:
        try:
            return dt.date.fromisoformat(value)
        except (TypeError, ValueError):
            return value


TYPE = DateType()
