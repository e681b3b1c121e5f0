"""What every field type is made of, and the values they share.

A `FieldType` holds everything the bot knows about one kind of question: the plan keys its
fields may carry (a pydantic model), how a typed answer is parsed and a button answer
checked, the hint shown with the question, the answer as shown to a person, the buttons it
offers (described abstractly: no Telegram here), and its cell in the Excel export.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from core.i18n import Gettext
from core.texts import esc


@dataclass(frozen=True)
class FieldSpec:
    """One question of a stored form version, as the form engine and the handlers see it."""

    code: str
    label: str
    type: str
    required: bool = True
    help: str | None = None
    unit: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def options(self) -> list[tuple[str, str]]:
        return [(o["value"], o["label"]) for o in self.settings.get("options", [])]

    @property
    def show_if(self) -> str | None:
        return self.settings.get("show_if")

    def bound(self, name: str) -> Any:
        value = self.settings.get(name)
        if value is None:
            return None
        # Imported here: the registry imports the type modules, which import this one.
        from core.fields import field_type

        return field_type(self.type).bound(value)


@dataclass(frozen=True)
class Ok:
    value: Any


@dataclass(frozen=True)
class Problem:
    """A refused answer: `key` is an English msgid the handlers translate."""

    key: str
    params: dict[str, Any] = field(default_factory=dict)


Result = Ok | Problem


@dataclass(frozen=True)
class FileInfo:
    file_name: str | None
    mime_type: str | None
    size: int | None


# ----------------------------------------------------------------------------- buttons


@dataclass(frozen=True)
class Choice:
    """One button. `key` is what the button sends back; `FieldType.button_value` turns it
    into the answer, so callback data stays short and is checked on every press."""

    label: str  # already translated when the type's own words (Yes/No), else plan data
    key: int
    picked: bool = False  # several: whether this option is chosen now


@dataclass(frozen=True)
class Keyboard:
    choices: list[Choice]
    several: bool = False  # each press toggles one option; the answer is the picked list
    done: bool = False  # a «Done» button closes the question (several)
    one_row: bool = False  # short choices side by side (yes/no), else one per row


# ----------------------------------------------------------------------------- plan schema


class Settings(BaseModel):
    """The plan keys a type's fields may carry, beside the common ones (code, label…).

    `misplaced` words the refusal when a key is given to a field of a type that does not
    take it; `{type}` is that field's type (`{key}` the key)."""

    model_config = ConfigDict(extra="forbid")
    misplaced: ClassVar[dict[str, str]] = {}
    # When a field has several problems, the one of the lowest order is reported.
    check_order: ClassVar[int] = 100


class NoSettings(Settings):
    pass


class Option(BaseModel):
    model_config = ConfigDict(extra="forbid")
    value: str
    label: str


# ----------------------------------------------------------------------------- the type


class FieldType:
    """Defaults shared by most types; each module subclasses it and overrides what differs."""

    name: ClassVar[str]
    settings: ClassVar[type[Settings]] = NoSettings
    # Filled in by planfile when a field leaves the key out (normalised definition).
    plan_defaults: ClassVar[Mapping[str, Any]] = {}
    hint_msgid: ClassVar[str]
    # How a plan's target may use the field's answers: "any" aggregate, only the
    # "latest" answer, or None (no target on this field).
    target: ClassVar[str | None] = None
    # The answer is a list of picked options (its buttons toggle; typed text picks several).
    several: ClassVar[bool] = False
    # The answer is a sent file (document or photo), checked by `check_file`, never typed.
    accepts_file: ClassVar[bool] = False

    def check_settings(self, settings: Mapping[str, Any]) -> None:
        """Refuse a plan field whose keys (only those given, not None) do not fit together;
        raise ValueError with the reason."""

    def bound(self, raw: Any) -> Any:
        """A min/max setting as compared with the parsed answer."""
        return Decimal(str(raw))

    def parse(self, spec: FieldSpec, text: str) -> Result:
        """Parse the stripped, non-empty text typed for `spec`."""
        return Problem("Unsupported question type.")

    def validate_value(self, spec: FieldSpec, value: Any) -> Result:
        """Check a value that came from a button."""
        return Problem("Unsupported answer.")

    def hint(self, _: Gettext, spec: FieldSpec) -> str:
        return _(self.hint_msgid)

    def value_text(self, _: Gettext, spec: FieldSpec, value: Any, locale: str) -> str:
        """The answer (never None) as HTML for a person."""
        return esc(value)

    def keyboard(self, _: Gettext, spec: FieldSpec, current: Any) -> Keyboard | None:
        """The buttons offered with the question; None: the answer is typed (or sent)."""
        return None

    def button_value(self, spec: FieldSpec, key: int) -> Any | None:
        """The answer a button's key stands for; None: no such button (stale or forged)."""
        return None

    def toggle(self, spec: FieldSpec, current: Any, key: int) -> list[Any] | None:
        """For `several` keyboards: the picked values after pressing `key`; None: stale."""
        return None

    def export_cell(self, value: Any) -> Any:
        """The answer (never None) as an openpyxl cell value."""
        return value

    def export_total(self, cells: str) -> str | None:
        """The formula of the «Tổng cộng» row over `cells` (e.g. "C3:C9"); None: blank."""
        return None


# ----------------------------------------------------------------------------- shared checks

MAX_MAGNITUDE = Decimal(10) ** 15  # what the database's numeric copy holds


def check_bounds(low: Any, high: Any, value: Any) -> Problem | None:
    if not isinstance(value, dt.date) and abs(Decimal(value)) >= MAX_MAGNITUDE:
        return Problem("This number is too large; please check it.")
    if low is not None and value < low:
        if high is not None:
            return Problem("Please enter a value between {min} and {max}.",
                           {"min": low, "max": high})
        return Problem("Please enter a value of at least {min}.", {"min": low})
    if high is not None and value > high:
        if low is not None:
            return Problem("Please enter a value between {min} and {max}.",
                           {"min": low, "max": high})
        return Problem("Please enter a value of at most {max}.", {"max": high})
    return None


def check_min_max(settings: Mapping[str, Any]) -> None:
    low, high = settings.get("min"), settings.get("max")
    if low is not None and high is not None and low > high:
        raise ValueError(f"min {low} is greater than max {high}")


BOUNDS_MISPLACED = {"min": "bounds do not apply to a {type} field",
                    "max": "bounds do not apply to a {type} field"}
