"""The field type registry (core.fields): every type is whole, the plans use only registered
types, and a new type needs only its module and its line in the registry."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import pytest
from babel.util import pathmatch
from pydantic import ValidationError

from core import answers, planfile
from core.fields import FIELD_TYPES, field_type
from core.fields.base import (
    Choice,
    FieldSpec,
    FieldType,
    Keyboard,
    Ok,
    Problem,
    Result,
    Settings,
)
from core.i18n import translator
from core.planfile import load_plan
from db import export
from handlers import render

ROOT = Path(__file__).resolve().parent.parent
PLAN_FILES = sorted((ROOT / "plans").glob("*.yaml"))

OPTIONS = [{"value": "tot", "label": "Tốt"}, {"value": "kha", "label": "Khá"}]
# Per type: a field's settings, a typed answer it accepts and one it refuses.
SAMPLES: dict[str, tuple[dict[str, Any], str, str]] = {
    "integer": ({}, "1.234", "1,5"),
    "decimal": ({}, "12,5", "abc"),
    "percent": ({}, "80%", "120"),
    "yes_no": ({}, "có", "có lẽ"),
    "choice": ({"options": OPTIONS}, "2", "Trung bình"),
    "multi_choice": ({"options": OPTIONS}, "1, 2", "7"),
    "date": ({}, "13/12/2022", "31/02/2022"),
    "text": ({"max_length": 5}, "ngắn", "quá dài rồi"),
    "long_text": ({}, "Khó khăn", "x" * 4001),
    "file": ({}, "", "tệp ở đâu"),
}


def spec_of(name: str, **settings: Any) -> FieldSpec:
    return FieldSpec("f", "Câu hỏi", name, settings=settings)


def test_the_samples_cover_every_registered_type() -> None:
    assert set(SAMPLES) == set(FIELD_TYPES)


@pytest.mark.parametrize("name", list(FIELD_TYPES))
def test_every_type_has_every_part(name: str) -> None:
    ftype = FIELD_TYPES[name]
    assert ftype.name == name and field_type(name) is ftype
    # One module per type, named after it.
    assert type(ftype).__module__ == f"core.fields.{name}"
    assert issubclass(ftype.settings, Settings)
    assert set(ftype.plan_defaults) <= set(ftype.settings.model_fields)
    assert ftype.target in (None, "any", "latest")
    # Its hint is a msgid with a Vietnamese translation.
    assert ftype.hint_msgid and translator("vi")(ftype.hint_msgid) != ftype.hint_msgid
    settings, good, bad = SAMPLES[name]
    spec = spec_of(name, **settings)
    assert isinstance(ftype.hint(translator("vi"), spec), str)
    assert isinstance(ftype.parse(spec, bad), Problem)
    keyboard = ftype.keyboard(translator("vi"), spec, None)
    assert keyboard is None or all(isinstance(c, Choice) for c in keyboard.choices)
    assert ftype.several == (keyboard is not None and keyboard.several)
    assert ftype.accepts_file == hasattr(ftype, "check_file")
    if name == "file":
        return  # a file is sent, never typed
    parsed = ftype.parse(spec, good)
    assert isinstance(parsed, Ok), parsed
    assert isinstance(ftype.value_text(translator("vi"), spec, parsed.value, "vi"), str)
    assert ftype.export_cell(parsed.value) is not None


@pytest.mark.parametrize("path", PLAN_FILES, ids=lambda p: p.name)
def test_every_field_type_of_a_shipped_plan_is_registered(path: Path) -> None:
    # Read from the text too: load_plan would refuse an unregistered type before we looked.
    written = set(re.findall(r"\btype:\s*([a-z_]+)", path.read_text(encoding="utf-8")))
    used = {f.type for form in load_plan(path).doc.forms for f in form.fields}
    assert used and used <= set(FIELD_TYPES)
    assert written & set(FIELD_TYPES) == used


def test_babel_extracts_the_field_modules() -> None:
    patterns = re.findall(r"^\[python: (.+)\]$", (ROOT / "babel.cfg").read_text(), re.M)
    for module in sorted((ROOT / "core" / "fields").glob("*.py")):
        relative = module.relative_to(ROOT).as_posix()
        assert any(pathmatch(p, relative) for p in patterns), relative


# ----------------------------------------------------------------------------- the buttons


def test_yes_no_buttons_send_1_and_0() -> None:
    ftype, spec = FIELD_TYPES["yes_no"], spec_of("yes_no")
    keyboard = ftype.keyboard(translator("en"), spec, None)
    assert keyboard == Keyboard([Choice("Yes", 1), Choice("No", 0)], one_row=True)
    assert ftype.button_value(spec, 1) is True and ftype.button_value(spec, 0) is False
    assert ftype.button_value(spec, 2) is None


def test_choice_buttons_send_the_option_index() -> None:
    ftype, spec = FIELD_TYPES["choice"], spec_of("choice", options=OPTIONS)
    keyboard = ftype.keyboard(translator("en"), spec, None)
    assert keyboard is not None and not keyboard.several and not keyboard.done
    assert [(c.label, c.key) for c in keyboard.choices] == [("Tốt", 0), ("Khá", 1)]
    assert ftype.button_value(spec, 1) == "kha" and ftype.button_value(spec, 2) is None


def test_multi_choice_buttons_toggle_then_done() -> None:
    ftype, spec = FIELD_TYPES["multi_choice"], spec_of("multi_choice", options=OPTIONS)
    keyboard = ftype.keyboard(translator("en"), spec, ["kha"])
    assert keyboard is not None and keyboard.several and keyboard.done
    assert [c.picked for c in keyboard.choices] == [False, True]
    assert ftype.toggle(spec, ["kha"], 0) == ["kha", "tot"]
    assert ftype.toggle(spec, ["kha", "tot"], 1) == ["tot"]
    assert ftype.toggle(spec, [], 5) is None


@pytest.mark.parametrize("name", ["integer", "decimal", "percent", "date", "text", "file"])
def test_typed_types_offer_no_buttons(name: str) -> None:
    assert FIELD_TYPES[name].keyboard(translator("en"), spec_of(name), None) is None


# ----------------------------------------------------------------------------- a new type


class PhoneSettings(Settings):
    misplaced: ClassVar[dict[str, str]] = {"country": "country is only for phone fields"}
    country: str | None = None


class PhoneType(FieldType):
    """A toy type, as a new module would define it."""

    name = "phone"
    settings = PhoneSettings
    plan_defaults: ClassVar[Mapping[str, Any]] = {"country": "vn"}
    hint_msgid = "Type a phone number."

    def parse(self, spec: FieldSpec, text: str) -> Result:
        digits = re.sub(r"[\s.]", "", text)
        if not re.fullmatch(r"0\d{9}", digits):
            return Problem("Please enter a phone number.")
        return Ok(digits)

    def value_text(self, _: Any, spec: FieldSpec, value: Any, locale: str) -> str:
        return f"☎ {value}"

    def export_cell(self, value: Any) -> Any:
        return f"'{value}"

    def export_total(self, cells: str) -> str | None:
        return f"=COUNTA({cells})"


PHONE = PhoneType()


@pytest.fixture
def with_phone(monkeypatch: pytest.MonkeyPatch) -> None:
    # What the one registry line does: FIELD_TYPES gains the type.
    monkeypatch.setitem(FIELD_TYPES, "phone", PHONE)


@pytest.mark.usefixtures("with_phone")
def test_answers_parse_a_new_type_through_the_registry() -> None:
    spec = spec_of("phone")
    assert answers.parse(spec, " 0912 345 678 ") == Ok("0912345678")
    assert answers.parse(spec, "12") == Problem("Please enter a phone number.")
    assert answers.parse(spec, "  ") == Problem("Please type an answer.")
    assert answers.validate_value(spec, "0912345678") == Problem("Unsupported answer.")


def test_an_unregistered_type_is_unsupported() -> None:
    assert answers.parse(spec_of("phone"), "0912345678") == Problem(
        "Unsupported question type.")
    assert render.value_text(translator("en"), spec_of("phone"), "<b>") == "&lt;b&gt;"


@pytest.mark.usefixtures("with_phone")
def test_render_shows_a_new_type_through_the_registry() -> None:
    _ = translator("en")
    assert render.value_text(_, spec_of("phone"), "0912345678") == "☎ 0912345678"
    assert render.value_text(_, spec_of("phone"), None) == "—"
    assert render.TYPE_HINT["phone"] == "Type a phone number."
    assert render.type_hint(_, spec_of("phone")) == "Type a phone number."
    assert set(render.TYPE_HINT) == set(FIELD_TYPES)


@pytest.mark.usefixtures("with_phone")
def test_export_writes_a_new_type_through_the_registry() -> None:
    assert export._cell("0912345678", "phone") == "'0912345678"
    assert export._cell(None, "phone") is None


def test_the_plan_schema_is_the_registrys() -> None:
    names = planfile.FormField.model_fields["type"].annotation.__args__  # type: ignore[union-attr]
    assert names == tuple(FIELD_TYPES)
    keys = {k for t in FIELD_TYPES.values() for k in t.settings.model_fields}
    assert keys <= set(planfile.FormField.model_fields)


def test_the_plan_schema_takes_a_new_type_from_its_module_alone() -> None:
    model = planfile.field_model({**FIELD_TYPES, "phone": PHONE})
    field = model.model_validate({"code": "sdt", "label": "Số máy", "type": "phone"})
    assert field.normalized() == {"code": "sdt", "label": "Số máy", "type": "phone",
                                  "required": True, "country": "vn"}
    assert model.model_validate(
        {"code": "sdt", "label": "Số máy", "type": "phone", "country": "la"}
    ).normalized()["country"] == "la"
    # Its key belongs to it: another type's field that gives it is refused in its words.
    with pytest.raises(ValidationError, match="country is only for phone fields"):
        model.model_validate({"code": "n", "label": "N", "type": "integer", "country": "vn"})
    # And the old types keep their rules.
    with pytest.raises(ValidationError, match="a choice field needs options"):
        model.model_validate({"code": "c", "label": "C", "type": "choice"})
    with pytest.raises(ValidationError, match="or 'phone'"):
        model.model_validate({"code": "c", "label": "C", "type": "email"})


def test_the_plan_schema_refuses_what_each_type_refuses() -> None:
    model = planfile.FormField
    with pytest.raises(ValidationError, match="a date field needs YYYY-MM-DD bounds"):
        model.model_validate({"code": "d", "label": "D", "type": "date", "min": 3})
    with pytest.raises(ValidationError, match="a numeric field needs numeric bounds"):
        model.model_validate(
            {"code": "n", "label": "N", "type": "integer", "min": dt.date(2022, 1, 1)})
    with pytest.raises(ValidationError, match="bounds do not apply to a text field"):
        model.model_validate({"code": "t", "label": "T", "type": "text", "max": 3})
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        model.model_validate({"code": "t", "label": "T", "type": "text", "colour": "red"})
