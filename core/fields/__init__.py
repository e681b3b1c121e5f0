"""The registry of form field types: one module per type, one line here per module.

Adding a type: write `core/fields/<name>.py` defining `TYPE = <FieldType subclass>()` and
add it to FIELD_TYPES below. The plan schema (core.planfile), parsing (core.answers), the
question's hint and shown value (handlers.render), its buttons (handlers.forms) and its
Excel cell (db.export) all look the type up here.

The order is the order of the plan schema's keys and of its error message for an unknown
type, so keep new types at the end.
"""

from __future__ import annotations

from core.fields import (
    choice,
    date,
    decimal,
    file,
    integer,
    long_text,
    multi_choice,
    percent,
    text,
    yes_no,
)
from core.fields.base import FieldType

FIELD_TYPES: dict[str, FieldType] = {t.name: t for t in (
    integer.TYPE,
    decimal.TYPE,
    percent.TYPE,
    yes_no.TYPE,
    choice.TYPE,
    multi_choice.TYPE,
    date.TYPE,
    text.TYPE,
    long_text.TYPE,
    file.TYPE,
)}


def field_type(name: str) -> FieldType:
    """The registered type `name`; KeyError for a type no module defines."""
    return FIELD_TYPES[name]
