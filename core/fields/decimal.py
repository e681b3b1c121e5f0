"""decimal: a number with a decimal comma («12,5», «1.234,5»), within min and max."""

from __future__ import annotations

from core.fields.base import FieldSpec, Ok, Problem, Result, check_bounds
from core.fields.numeric import NumericType
from core.fields.parsing import number_value, parse_decimal_text
from core.i18n import N_


class DecimalType(NumericType):
    name = "decimal"
    hint_msgid = N_("Type a number; use a comma for decimals, e.g. 12,5.")

    def parse(self, spec: FieldSpec, text: str) -> Result:
        value = parse_decimal_text(text)
        if value is None:
            return Problem("Please enter a number, for example 12,5 or 1.234,5.")
        problem = check_bounds(spec.bound("min"), spec.bound("max"), value)
        return problem or Ok(number_value(value))


TYPE = DecimalType()
