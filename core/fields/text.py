"""text: a short typed answer, up to max_length characters (200 unless the field says)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from core.fields.base import FieldSpec, FieldType, Ok, Problem, Result, Settings
from core.i18n import N_


class TextSettings(Settings):
    check_order: ClassVar[int] = 3
    misplaced: ClassVar[dict[str, str]] = {"max_length": "max_length is only for text fields"}
    max_length: int | None = Field(None, ge=1, le=4000)


class TextType(FieldType):
    name = "text"
    settings = TextSettings
    hint_msgid = N_("Type your answer.")
    plan_defaults = {"max_length": 200}

    def parse(self, spec: FieldSpec, text: str) -> Result:
        limit = int(spec.settings.get("max_length") or self.plan_defaults["max_length"])
        if len(text) > limit:
            return Problem("Please keep the answer under {limit} characters (now {length}).",
                           {"limit": limit, "length": len(text)})
        return Ok(text)


TYPE = TextType()
