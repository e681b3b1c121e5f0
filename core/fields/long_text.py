"""long_text: a longer typed answer (difficulties, proposals), up to 4000 characters."""

from __future__ import annotations

from core.fields.text import TextType


class LongTextType(TextType):
    name = "long_text"
    plan_defaults = {"max_length": 4000}


TYPE = LongTextType()
