"""integer: a whole number («12», «1.234»), within the field's min and max."""

from __future__ import annotations

from decimal import Decimal

from core.fields.base import FieldSpec, Ok, Problem, Result, check_bounds
from core.fields.numeric import NumericType
from core.fields.parsing import parse_decimal_text, parse_integer_text
from core.i18n import N_


class IntegerType(NumericType):
    name = "integer"
    hint_msgid = N_("Type a whole number, e.g. 12 or 1.234.")

    def parse(self, spec: FieldSpec, text: str) -> Result:
        number = parse_integer_text(text)
        if number is None:
            if parse_decimal_text(text) is not None:
                return Problem("Please enter a whole number, without decimals.")
            return Problem("Please enter a number, for example 12 or 1.234.")
        problem = check_bounds(spec.bound("min"), spec.bound("max"), Decimal(number))
        return problem or Ok(number)


TYPE = IntegerType()
