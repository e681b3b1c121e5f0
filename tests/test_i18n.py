"""The Vietnamese catalog is complete, consistent with the code, and used by default."""

from __future__ import annotations

import re
import string
import unicodedata
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from core.i18n import normalize, pick_language, translator

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


# Words the committee does not use. «vượt cấp» (going over a superior's head) is a breach of
# protocol: escalation is «đôn đốc» / «báo cáo lãnh đạo». Overdue is «quá hạn», never «trễ».
# Phòng LĐ-TBXH is the consolidating agency (cơ quan tổng hợp), not «cơ quan thường trực».
BANNED = {
    "vượt cấp": r"vượt cấp",
    "trễ": r"\btrễ\b",
    "lượt rà soát": r"lượt rà soát",
    "🎉": r"🎉",
    "cơ quan thường trực": r"cơ quan thường trực",
    "ngày cuối": r"ngày cuối",
}

# msgid -> the committee's own wording, or a part of it that must be there.
REWORDED = {
    "Accept": "Tiếp nhận",
    "Reminder queued for {agencies} agencies ({people} people).":
        "Đã xếp lịch gửi nhắc tới {agencies} đơn vị ({people} người).",
    "The new last day cannot be in the past.": "Hạn nộp mới không được trước ngày hôm nay.",
    "Deactivate {name}": "Khóa tài khoản của {name}",
    "{name} has been deactivated.": "Đã khóa tài khoản của {name}.",
    "Deadline rule: {rule}": "Cách tính hạn nộp: {rule}",
    "{days} days before the last day": "{days} ngày trước hạn nộp",
    "Escalation": "Đôn đốc",
    "Nothing is due right now. 🎉": "Hiện không có báo cáo nào cần nộp.",
    "Late by {n} day(s).": "Quá hạn {n} ngày.",
    "late {n} d": "quá hạn {n} ngày",
}
CONTAINS = {
    "This invite code is not valid. Please check the link, or ask the standing office for a "
    "new one.": "đề nghị cơ quan tổng hợp cấp mã mới",
    "This invite code has already been used. Each code works only once; please ask the "
    "standing office for a new one.": "đề nghị cơ quan tổng hợp cấp mã mới",
    "This invite code has expired. Please ask the standing office for a new one.":
        "Đề nghị cơ quan tổng hợp cấp mã mới",
    "This invite code has been revoked. Please ask the standing office for a new one.":
        "Đề nghị cơ quan tổng hợp cấp mã mới",
    "Ad-hoc request sent to {n} agencies. They are notified at the next sweep and reminded "
    "like any other report.": "Đã gửi yêu cầu báo cáo đột xuất tới {n} đơn vị.",
    "Please send it as soon as possible; overdue reports are reported to {levels}. Late "
    "reports are still accepted.": "Đề nghị đơn vị khẩn trương gửi báo cáo",
    "If late: the morning after the deadline, then every {n} working days; the committee is "
    "informed.": "đôn đốc",
    "Escalation after (days): {steps}; repeat every {k} working days, {r} rounds": "Đôn đốc",
    "Escalation updated.": "đôn đốc",
    "After sending, changes need the standing office to return the report.": "cơ quan tổng hợp",
    "Sorry, only the committee's chairs and standing office can use this.":
        "lãnh đạo Ban Chỉ đạo, Thường trực Ban Chỉ đạo",
}


def _translations() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for message in _catalog():
        if not message.id:
            continue
        key = message.id if isinstance(message.id, str) else message.id[0]
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        out[key] = [unicodedata.normalize("NFC", s) for s in strings]
    return out


def test_the_banned_word_patterns_match_whole_words_only() -> None:
    trễ = re.compile(BANNED["trễ"], re.IGNORECASE)
    assert trễ.search("nộp trễ hạn") and trễ.search("Trễ 3 ngày") and trễ.search("(trễ)")
    assert not trễ.search("trẻ em") and not trễ.search("trệ") and not trễ.search("chậm trễx")


def test_no_msgstr_uses_words_the_committee_does_not_use() -> None:
    found = [
        (word, msgid, text)
        for msgid, strings in _translations().items()
        for text in strings
        for word, pattern in BANNED.items()
        if re.search(pattern, text, re.IGNORECASE)
    ]
    assert not found, found


def test_awkward_strings_are_reworded() -> None:
    translations = _translations()
    for msgid, wanted in REWORDED.items():
        assert translations[msgid] == [wanted], (msgid, translations[msgid])
    for msgid, part in CONTAINS.items():
        assert all(part in text for text in translations[msgid]), (msgid, translations[msgid])
