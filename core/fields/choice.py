"""choice: one of the field's options, by button, number or name."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from core.fields.base import (
    Choice,
    FieldSpec,
    FieldType,
    Keyboard,
    Ok,
    Option,
    Problem,
    Result,
    Settings,
)
from core.fields.parsing import match_option
from core.i18n import N_, Gettext
from core.texts import esc


class ChoiceSettings(Settings):
    check_order: ClassVar[int] = 0
    misplaced: ClassVar[dict[str, str]] = {
        "options": "options are only for choice fields, not {type}"}
    options: list[Option | str] | None = None


def check_options(type_name: str, settings: Mapping[str, Any]) -> None:
    options = settings.get("options")
    if not options:
        raise ValueError(f"a {type_name} field needs options")
    values = [o.value if isinstance(o, Option) else o for o in options]
    if len(set(values)) != len(values):
        raise ValueError("duplicate option values")


class ChoiceType(FieldType):
    name = "choice"
    settings = ChoiceSettings
    hint_msgid = N_("Tap one option.")
    target = "latest"

    def check_settings(self, settings: Mapping[str, Any]) -> None:
        check_options(self.name, settings)

    def parse(self, spec: FieldSpec, text: str) -> Result:
        value = match_option(spec, text)
        if value is None:
            return Problem("Please choose one of the options with the buttons.")
        return Ok(value)

    def validate_value(self, spec: FieldSpec, value: Any) -> Result:
        valid = {v for v, _ in spec.options}
        return Ok(value) if value in valid else Problem("This option no longer exists.")

    def value_text(self, _: Gettext, spec: FieldSpec, value: Any, locale: str) -> str:
        return esc(dict(spec.options).get(value, value))

    def keyboard(self, _: Gettext, spec: FieldSpec, current: Any) -> Keyboard | None:
        return Keyboard([Choice(label, index) for index, (_v, label) in enumerate(spec.options)])

    def button_value(self, spec: FieldSpec, key: int) -> Any | None:
        return spec.options[key][0] if 0 <= key < len(spec.options) else None


TYPE = ChoiceType()
