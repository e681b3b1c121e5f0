"""Parsing and validating answers the way people type them on phones. Pure functions.

`parse(field, text)` returns `Ok(value)` or `Problem(key, params)`; the key is an English
msgid that handlers translate, so this module needs no Telegram and no gettext.

Each field type parses its own answers (core.fields, one module per type); this module is
the entry point that dispatches to them. The typing conventions are in core.fields.parsing.
"""

from __future__ import annotations

from typing import Any

from core.expressions import parse as parse_expression
from core.fields import FIELD_TYPES, file
from core.fields.base import FieldSpec, FileInfo, Ok, Problem, Result
from core.fields.file import FileType
from core.fields.parsing import (
    MAX_DIGITS,
    NO,
    YES,
    fold,
    parse_date_text,
    parse_decimal_text,
    parse_integer_text,
    parse_yes_no_text,
)

__all__ = [
    "MAX_DIGITS", "NO", "YES", "FieldSpec", "FileInfo", "Ok", "Problem", "Result",
    "check_file", "check_visible", "fold", "parse", "parse_date_text", "parse_decimal_text",
    "parse_integer_text", "parse_yes_no_text", "validate_value",
]


def parse(spec: FieldSpec, text: str) -> Result:
    """Parse free text typed for `spec`. Buttons go through `validate_value` instead."""
    text = (text or "").strip()
    if not text:
        return Problem("Please type an answer.")
    field_type = FIELD_TYPES.get(spec.type)
    if field_type is None:
        return Problem("Unsupported question type.")
    return field_type.parse(spec, text)


def validate_value(spec: FieldSpec, value: Any) -> Result:
    """Check a value that came from a button (already typed), e.g. a choice."""
    field_type = FIELD_TYPES.get(spec.type)
    if field_type is None:
        return Problem("Unsupported answer.")
    return field_type.validate_value(spec, value)


def check_file(spec: FieldSpec, info: FileInfo) -> Problem | None:
    """Check a sent file against the field's accepted extensions and size."""
    field_type = FIELD_TYPES.get(spec.type)
    if not isinstance(field_type, FileType):
        field_type = file.TYPE  # as it always was: the file rules, whatever the field
    return field_type.check_file(spec, info)


def check_visible(spec: FieldSpec, answers: dict[str, Any]) -> bool:
    """Skip logic: a field with show_if is asked only when its condition holds."""
    if not spec.show_if:
        return True
    return bool(parse_expression(spec.show_if).holds(answers))
