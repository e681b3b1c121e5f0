"""yes_no: «có»/«không» (and their many spellings) or the Yes/No buttons."""

from __future__ import annotations

from typing import Any

from core.fields.base import Choice, FieldSpec, FieldType, Keyboard, Ok, Problem, Result
from core.fields.parsing import parse_yes_no_text
from core.i18n import N_, Gettext


class YesNoType(FieldType):
    name = "yes_no"
    hint_msgid = N_("Tap Yes or No.")
    target = "any"

    def parse(self, spec: FieldSpec, text: str) -> Result:
        answer = parse_yes_no_text(text)
        if answer is None:
            return Problem("Please answer yes or no (Có / Không).")
        return Ok(answer)

    def validate_value(self, spec: FieldSpec, value: Any) -> Result:
        return Ok(value) if isinstance(value, bool) else Problem("Unsupported answer.")

    def value_text(self, _: Gettext, spec: FieldSpec, value: Any, locale: str) -> str:
        return _("Yes") if value else _("No")

    def keyboard(self, _: Gettext, spec: FieldSpec, current: Any) -> Keyboard | None:
        # Keys 1/0 are the callback data the bot has always sent («v:…:1» is yes).
        return Keyboard([Choice(_("Yes"), 1), Choice(_("No"), 0)], one_row=True)

    def button_value(self, spec: FieldSpec, key: int) -> Any | None:
        return bool(key) if key in (0, 1) else None

    def export_cell(self, value: Any) -> Any:
        return "Có" if value else "Không"

    def export_total(self, cells: str) -> str | None:
        return f'=COUNTIF({cells},"Có")'


TYPE = YesNoType()
