"""Lists of agencies in Vietnamese alphabetical order (issue 11 §4), with ICU's collation."""

from __future__ import annotations

import pytest

from core.collation import vi_key, vi_sorted
from tests.support.harness import DONGDA_PLAN, BotHarness, inline_buttons

SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
ADMIN = 5101


def test_vietnamese_letters_sort_as_letters_of_their_own() -> None:
    words = ["Văn Miếu", "Phương Liên", "Ô Chợ Dừa", "Ơn", "Ốc", "Ngã Tư Sở", "Đống Đa",
             "Dịch Vọng", "Ăn", "Anh", "Ân", "Ưng", "Uy"]
    assert sorted(words, key=vi_key) == [
        "Anh", "Ăn", "Ân", "Dịch Vọng", "Đống Đa", "Ngã Tư Sở", "Ô Chợ Dừa", "Ốc", "Ơn",
        "Phương Liên", "Uy", "Ưng", "Văn Miếu"]
    assert vi_sorted([("b", "Văn Miếu"), ("a", "Ô Chợ Dừa")], key=lambda p: p[1])[0][0] == "a"


@SQLITE_ONLY
async def test_the_admins_ward_picker_lists_wards_in_vietnamese_order(database_url: str) -> None:
    async with BotHarness(database_url, plan=DONGDA_PLAN) as h:
        await h.join(ADMIN, "ldtbxh", "admin", first_name="Quân")
        await h.say(ADMIN, "/admin")
        await h.press(ADMIN, "ai:")
        kinds = [d for _t, d in h.last_buttons(ADMIN) if d.startswith("ai:k:")]
        ward_kind = next(d for t, d in h.last_buttons(ADMIN) if "phường" in t.lower())
        assert ward_kind in kinds
        await h.press(ADMIN, ward_kind)
        names = [t for t, d in inline_buttons(h.last_message(ADMIN)) if d.startswith("ai:a:")]
        assert len(names) == 21, names
        assert names == sorted(names, key=vi_key), names
        assert names.index("P. Ô Chợ Dừa") < names.index("P. Phương Liên") < names.index(
            "P. Văn Miếu"), names


@SQLITE_ONLY
async def test_the_chairs_overdue_details_list_agencies_in_vietnamese_order(
        database_url: str) -> None:
    import datetime as dt

    from db.models import Committee
    from tests.support.harness import HANOI
    from tests.support.pages import all_detail_pages

    async with BotHarness(database_url, plan=DONGDA_PLAN) as h:
        await h.join(ADMIN, "ldtbxh", "chair", first_name="Bình")
        committee = await h.one(Committee, Committee.code != "")
        h.set_now(dt.datetime(2022, 3, 21, 8, 0, tzinfo=HANOI))
        text = await all_detail_pages(h, ADMIN, committee.id)
        assert "Ô Chợ Dừa" in text and "Phương Liên" in text, text
        assert text.index("Ô Chợ Dừa") < text.index("Phương Liên") < text.index("Văn Miếu")

