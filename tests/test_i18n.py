"""The Vietnamese catalog is complete, consistent with the code, and used by default."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from bot.i18n import normalize, pick_language, translator

ROOT = Path(__file__).resolve().parent.parent
PO = ROOT / "locales" / "vi" / "LC_MESSAGES" / "messages.po"
SOURCE_DIRS = ["bot", "core", "handlers", "scheduler", "db", "sandbox"]
KEYWORDS = {"_": None, "N_": None, "ngettext": (1, 2), "n_": (1, 2), "Problem": None}


def _catalog():
    with PO.open("rb") as fh:
        return read_po(fh, locale="vi")


def _placeholders(text: str) -> set[str]:
    names = {f[1] for f in string.Formatter().parse(text) if f[1] is not None}
    return names | set(re.findall(r"%(?:\(\w+\))?[sdif]", text))


def _source_msgids() -> set[str]:
    ids: set[str] = set()
    for directory in SOURCE_DIRS:
        for _file, _line, message, _comments, _ctx in extract_from_dir(
            ROOT / directory, method_map=[("**.py", "python")], keywords=KEYWORDS
        ):
            ids.add(message[0] if isinstance(message, tuple) else message)
    return ids


def test_every_msgid_has_a_vietnamese_translation() -> None:
    missing = [m.id for m in _catalog() if m.id and not m.string]
    fuzzy = [m.id for m in _catalog() if m.id and m.fuzzy]
    assert not missing, f"untranslated: {missing}"
    assert not fuzzy, f"fuzzy (needs review): {fuzzy}"


def test_translations_keep_the_same_placeholders() -> None:
    for message in _catalog():
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for msgstr in strings:
            assert _placeholders(msgstr) == _placeholders(ids[0]), message.id
            # HTML tags used for formatting must survive translation too.
            assert sorted(re.findall(r"</?\w+>", msgstr)) == sorted(
                re.findall(r"</?\w+>", ids[0])
            ), message.id


def test_every_string_in_the_code_is_in_the_catalog() -> None:
    catalog_ids = {m.id if isinstance(m.id, str) else m.id[0] for m in _catalog() if m.id}
    missing = _source_msgids() - catalog_ids
    assert not missing, f"run `make extract-messages` and translate: {sorted(missing)}"


def test_compiled_catalog_is_used_for_vietnamese() -> None:
    _ = translator("vi")
    assert _("Open the main menu") == "Mở menu chính"
    assert translator("en")("Open the main menu") == "Open the main menu"


@pytest.mark.parametrize(
    ("stored", "telegram", "expected"),
    [
        ("en", "vi", "en"),
        ("vi", "en-US", "vi"),
        (None, "en-GB", "en"),
        (None, "vi", "vi"),
        (None, "fr", "vi"),
        (None, None, "vi"),
        ("xx", "en", "en"),
    ],
)
def test_language_is_stored_setting_then_telegram_then_vietnamese(
    stored: str | None, telegram: str | None, expected: str
) -> None:
    assert pick_language(stored, telegram) == expected


def test_normalize_falls_back_to_vietnamese() -> None:
    assert normalize("en_US") == "en" and normalize("de") == "vi" and normalize(None) == "vi"
