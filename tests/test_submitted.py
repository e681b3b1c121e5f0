"""«Báo cáo đã gửi»: a reporter sees what the agency sent, version by version; the office sees
what changed between two versions.

Played on the mini plan: Công an quận answers the general form (số buổi tuyên truyền, ghi
chú) for March 2022, the standing office returns it naming question 1, the police correct
that answer and send it again.
"""

from __future__ import annotations

import pytest

from db.models import Submission
from tests.support.harness import BotHarness, Replies

HUNG = 5001  # reporter, Công an quận
MAI = 5002  # standing office, Phòng LĐ-TBXH
LAN = 5003  # reporter, P. Cát Linh (another agency)
MENU = "Báo cáo đã gửi"
COMMENT = "Số buổi chưa khớp sổ theo dõi"

SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
async def bot(database_url: str):
    async with BotHarness(database_url) as h:
        await h.join(HUNG, "ca", first_name="Hùng")
        await h.join(MAI, "ldtbxh", "standing_office", first_name="Mai")
        await h.join(LAN, "p-cat-linh", first_name="Lan")
        yield h


async def send(h: BotHarness) -> Replies:
    await h.tap(HUNG, "Gửi báo cáo")
    receipt = await h.tap(HUNG, "Xác nhận gửi")
    assert "Đã nhận báo cáo" in receipt.text, receipt.text
    return receipt


async def versions(h: BotHarness) -> list[Submission]:
    return await h.rows(Submission, order_by=Submission.version)


async def sent_twice(h: BotHarness) -> tuple[Submission, Submission]:
    """v1 (17 buổi) returned with question 1 ticked; v2 (20 buổi) sent, waiting."""
    march = await h.obligation("ca", "thang", "2022-03")
    await h.say(HUNG, "Báo cáo cần nộp")
    await h.press(HUNG, f"o:{march.id}")
    await h.say(HUNG, "17")
    await h.say(HUNG, "Tuyên truyền tại 3 phường")
    await send(h)
    [v1] = await versions(h)
    await h.say(MAI, "Báo cáo chờ tiếp nhận")
    await h.press(MAI, f"rv:{v1.id}")
    await h.press(MAI, f"rt:{v1.id}")
    await h.press(MAI, f"rf:{v1.id}:0")
    told = await h.say(MAI, COMMENT)
    assert "Đã trả lại" in told.text, told.text
    await h.say(HUNG, "Báo cáo cần nộp")
    await h.press(HUNG, f"o:{march.id}")
    review = await h.say(HUNG, "20")
    assert "Xem lại báo cáo" in review.text, review.text
    await send(h)
    v1, v2 = await versions(h)
    assert v2.version == 2 and v1.receipt_no and v2.receipt_no
    return v1, v2


@SQLITE_ONLY
async def test_the_reporter_sees_both_versions_and_opens_the_first(bot: BotHarness) -> None:
    h = bot
    empty = await h.say(HUNG, MENU)
    assert "Đơn vị chưa gửi báo cáo nào." in empty.text, empty.text
    v1, v2 = await sent_twice(h)

    listed = await h.say(HUNG, MENU)
    text = listed.text
    assert "1. <b>" not in text  # HTML is parsed, not shown
    assert "Báo cáo tháng 03/2022" in text, text
    assert f"Số biên nhận: {v2.receipt_no} · ⏳ chờ tiếp nhận" in text, text
    assert "Đã gửi 2 lần" in text and "Bổ sung đúng hạn" in text, text
    assert ("1. Báo cáo tháng 03/2022", f"sv:{v2.id}") in listed.buttons

    opened = await h.press(HUNG, f"sv:{v2.id}")
    text = opened.text
    assert "Tình trạng: ⏳ chờ tiếp nhận" in text and "1. Số buổi tuyên truyền: 20" in text, text
    assert f"v1 · {v1.receipt_no} · ↩️ yêu cầu bổ sung" in text, text
    assert f"v2 · {v2.receipt_no} · ⏳ chờ tiếp nhận" in text, text
    assert ("📄 v1", f"sv:{v1.id}") in opened.buttons
    assert ("🔀 So sánh với bản trước", f"sc:{v2.id}") in opened.buttons

    first = await h.press(HUNG, f"sv:{v1.id}")
    text = first.text
    assert "1. Số buổi tuyên truyền: 17" in text and "— v1" in text, text
    assert f"Ý kiến khi xem xét: «{COMMENT}»" in text, text
    assert "Tình trạng: ↩️ yêu cầu bổ sung" in text, text
    assert not any(data.startswith("sc:") for _label, data in first.buttons)

    compared = await h.press(HUNG, f"sc:{v2.id}")
    assert "Bản trước: 17" in compared.text and "Bản này: 20" in compared.text, compared.text
    assert h.errors == []


@SQLITE_ONLY
async def test_the_office_sees_exactly_the_changed_question(bot: BotHarness) -> None:
    h = bot
    v1, v2 = await sent_twice(h)
    await h.say(MAI, "Báo cáo chờ tiếp nhận")
    opened = await h.press(MAI, f"rv:{v2.id}")
    buttons = opened.buttons
    assert ("✅ Tiếp nhận", f"ac:{v2.id}") in buttons  # the review's own buttons stay
    assert ("📄 v1", f"rv:{v1.id}") in buttons
    assert ("🔀 Thay đổi so với bản trước", f"rd:{v2.id}") in buttons

    changes = await h.press(MAI, f"rd:{v2.id}")
    text = changes.text
    assert "Thay đổi từ lần gửi thứ 1 sang lần gửi thứ 2" in text, text
    assert [line for line in text.splitlines() if line.startswith("•")] == [
        "• Số buổi tuyên truyền"], text
    assert "Bản trước: 17" in text and "Bản này: 20" in text, text
    assert "(không đổi: 1 câu)" in text, text
    assert "Ghi chú" not in text

    old = await h.press(MAI, f"rv:{v1.id}")
    assert "1. Số buổi tuyên truyền: 17" in old.text, old.text
    assert not any(data.startswith(("ac:", "rd:")) for _label, data in old.buttons)
    assert ("📄 v2", f"rv:{v2.id}") in old.buttons
    assert h.errors == []


@SQLITE_ONLY
async def test_another_agency_is_refused_a_crafted_button(bot: BotHarness) -> None:
    h = bot
    v1, v2 = await sent_twice(h)
    screen = (await h.say(LAN, MENU)).last["message_id"]
    for data in (f"sv:{v1.id}", f"sc:{v2.id}", f"sv:{v2.id + 1000}"):
        replies = await h.press_raw(LAN, screen, data)
        assert replies.texts == ["Xin lỗi, chỉ xem được báo cáo của đơn vị mình."], replies.texts
        assert not replies.buttons
    # The office is no reporter: its own tools show versions, this list is not theirs.
    refused = await h.press_raw(MAI, screen, f"sv:{v1.id}")
    assert "chỉ cán bộ làm báo cáo" in refused.text, refused.text
    assert h.errors == []
