"""multi_choice: several of the field's options; buttons toggle, then «Done»."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from core.fields.base import Choice, FieldSpec, FieldType, Keyboard, Ok, Problem, Result
from core.fields.choice import ChoiceSettings, check_options
from core.fields.parsing import match_option
from core.i18n import N_, Gettext
from core.texts import esc


class MultiChoiceType(FieldType):
    name = "multi_choice"
    settings = ChoiceSettings
    hint_msgid = N_("Tap every option that applies, then Done.")
    several = True

    def check_settings(self, settings: Mapping[str, Any]) -> None:
        check_options(self.name, settings)

    def parse(self, spec: FieldSpec, text: str) -> Result:
        values: list[str] = []
        for chunk in re.split(r"[;\n]+", text):
            if not chunk.strip():
                continue
            # A whole chunk may be one label that contains a comma («Tờ rơi, áp phích»).
            whole = match_option(spec, chunk)
            parts = [chunk] if whole is not None else chunk.split(",")
            for part in parts:
                if not part.strip():
                    continue
                value = match_option(spec, part)
                if value is None:
                    return Problem(
                        "Please choose with the buttons, or type the option numbers "
                        "separated by commas."
                    )
                if value not in values:
                    values.append(value)
        return Ok(values) if values else Problem("Please choose at least one option.")

    def validate_value(self, spec: FieldSpec, value: Any) -> Result:
        valid = {v for v, _ in spec.options}
        if not isinstance(value, list) or not set(value) <= valid:
            return Problem("This option no longer exists.")
        return Ok(value)

    def value_text(self, _: Gettext, spec: FieldSpec, value: Any, locale: str) -> str:
        labels = dict(spec.options)
        return esc("; ".join(labels.get(v, v) for v in value))

    def keyboard(self, _: Gettext, spec: FieldSpec, current: Any) -> Keyboard | None:
        chosen = set(current or [])
        return Keyboard(
            [Choice(label, index, value in chosen)
             for index, (value, label) in enumerate(spec.options)],
            several=True, done=True,
        )

    def button_value(self, spec: FieldSpec, key: int) -> Any | None:
        return spec.options[key][0] if 0 <= key < len(spec.options) else None

    def toggle(self, spec: FieldSpec, current: Any, key: int) -> list[Any] | None:
        value = self.button_value(spec, key)
        if value is None:
            return None
        chosen = list(current or [])
        return [v for v in chosen if v != value] if value in chosen else [*chosen, value]

    def export_cell(self, value: Any) -> Any:
        return "; ".join(map(str, value)) if isinstance(value, list) else value


TYPE = MultiChoiceType()
