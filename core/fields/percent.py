"""percent: «80», «80%», «80,5 %»; between 0 and 100 unless the field says otherwise."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from core.fields.base import FieldSpec, Ok, Problem, Result, check_bounds
from core.fields.numeric import NumericType
from core.fields.parsing import number_value, parse_decimal_text
from core.formatting import format_percent
from core.i18n import N_, Gettext


class PercentType(NumericType):
    name = "percent"
    hint_msgid = N_("Type a percentage, e.g. 80 or 80%.")
    plan_defaults = {"min": 0, "max": 100}

    def parse(self, spec: FieldSpec, text: str) -> Result:
        value = parse_decimal_text(text.replace("%", "").strip())
        if value is None:
            return Problem("Please enter a percentage, for example 80 or 80,5%.")
        low, high = spec.bound("min"), spec.bound("max")
        low = Decimal(0) if low is None else low
        high = Decimal(100) if high is None else high
        problem = check_bounds(low, high, value)
        return problem or Ok(number_value(value))

    def value_text(self, _: Gettext, spec: FieldSpec, value: Any, locale: str) -> str:
        return format_percent(value, locale)

    def export_total(self, cells: str) -> str | None:
        return None  # a sum of percentages means nothing


TYPE = PercentType()
