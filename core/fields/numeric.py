"""What the number types (integer, decimal, percent) share: their bounds and their cells."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from core.fields.base import BOUNDS_MISPLACED, FieldSpec, FieldType, Settings, check_min_max
from core.formatting import format_number
from core.i18n import Gettext


class NumberSettings(Settings):
    check_order: ClassVar[int] = 1
    misplaced: ClassVar[dict[str, str]] = {
        **BOUNDS_MISPLACED,
        "accumulate": "accumulate applies to number fields only, not to a {type} field"}
    min: float | None = None
    max: float | None = None
    # Year to date (lũy kế): a report of a longer period proposes, from the same agency's
    # answers to the same field in shorter periods within it, their sum, the last one or
    # the largest (db.drafts.proposals_applied).
    accumulate: Literal["sum", "last", "max"] | None = None


class NumericType(FieldType):
    settings = NumberSettings
    target = "any"

    def check_settings(self, settings: Mapping[str, Any]) -> None:
        for key in ("min", "max"):
            if isinstance(settings.get(key), dt.date):
                raise ValueError("a numeric field needs numeric bounds")
        check_min_max(settings)

    def value_text(self, _: Gettext, spec: FieldSpec, value: Any, locale: str) -> str:
        return format_number(value, locale)

    def export_total(self, cells: str) -> str | None:
        return f"=SUM({cells})"
