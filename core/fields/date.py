"""date: dd/mm/yyyy (also d/m/yy, dd-mm-yyyy, dd.mm.yyyy); stored as an ISO date."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, ClassVar

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
from core.fields.parsing import parse_date_text
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
        day = parse_date_text(text)
        if day is None:
            return Problem("Please enter a date as dd/mm/yyyy, for example 13/12/2022.")
        problem = check_bounds(spec.bound("min"), spec.bound("max"), day)
        return problem or Ok(day.isoformat())

    def value_text(self, _: Gettext, spec: FieldSpec, value: Any, locale: str) -> str:
        return format_date(dt.date.fromisoformat(value))

    def export_cell(self, value: Any) -> Any:
        try:
            return dt.date.fromisoformat(value)
        except (TypeError, ValueError):
            return value


TYPE = DateType()
