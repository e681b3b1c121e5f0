"""date: dd/mm/yyyy (also d/m/yy, dd-mm-yyyy, dd.mm.yyyy; core.dates); stored as an ISO date.

A day typed without its year («25/3») is the first such day the question allows (from its
`min`, else the last one up to its `max`); without bounds the person is asked for the year."""

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


class DateSettings(Settings):
    check_order: ClassVar[int] = 1
    misplaced: ClassVar[dict[str, str]] = BOUNDS_MISPLACED
    min: dt.date | None = None
    max: dt.date | None = None


class DateType(FieldType):
    name = "date"
    settings = DateSettings
    hint_msgid = N_("Type a date as dd/mm/yyyy, e.g. 13/12/2022.")

    def check_settings(self, settings: Mapping[str, Any]) -> None:
        for key in ("min", "max"):
            if key in settings and not isinstance(settings[key], dt.date):
                raise ValueError("a date field needs YYYY-MM-DD bounds")
        check_min_max(settings)

    def bound(self, raw: Any) -> Any:
        return dt.date.fromisoformat(str(raw))

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
