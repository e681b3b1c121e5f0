"""Changing a schedule's deadline day is safe (issue 5): a preview first, then a
confirmation; only the periods not yet due move unless the admin chooses otherwise; reports
already sent keep their deadline; the reporters are told at once, one message each; audited.

The mini plan's monthly report is due «trước ngày 13» (the last day is the 12th). The clock
is set to Sunday 20/03/2022: January, February and March are past, April to December are
not yet due. Typing «15» means the 15th is the last day (due at 00:00 on the 16th).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest

from db.models import AuditLog, Obligation, ObligationStatus, OutboxMessage, Schedule
from tests.support.harness import BotHarness, Replies

ADMIN = 5001  # admin, Phòng LĐ-TBXH
LAN = 5002  # reporter, P. Cát Linh
HUNG = 5003  # head, P. Cát Linh (its reporter is told, not the head)
MINH = 5004  # reporter, P. Hàng Bột
CHIEN = 5005  # head of Công an quận, which has no reporter: the head is told
STALE = "Nút này không còn hiệu lực."
NOW = dt.datetime.fromisoformat("2022-03-20T09:00:00+07:00")

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


@pytest.fixture
async def bot(database_url: str):
    async with BotHarness(database_url, send_per_chat_seconds=0) as h:
        await h.join(ADMIN, "ldtbxh", "admin", first_name="Quản trị")
        await h.join(LAN, "p-cat-linh", "reporter", first_name="Lan")
        await h.join(HUNG, "p-cat-linh", "head", first_name="Hùng")
        await h.join(MINH, "p-hang-bot", "reporter", first_name="Minh")
        await h.join(CHIEN, "ca", "head", first_name="Chiến")
        h.set_now(NOW)
        yield h


async def thang(h: BotHarness) -> Schedule:
    return await h.one(Schedule, Schedule.code == "thang")


async def state(h: BotHarness) -> tuple[Any, ...]:
    return ([(o.id, o.due_at) for o in await h.rows(Obligation, order_by=Obligation.id)],
            (await thang(h)).due_rule, await h.count(OutboxMessage), await h.count(AuditLog))


async def preview(h: BotHarness, typed: str = "15") -> Replies:
    schedule = await thang(h)
    await h.say(ADMIN, "/admin")
    await h.press(ADMIN, "as:")
    await h.press(ADMIN, f"as:s:{schedule.id}")
    asked = await h.press(ADMIN, f"as:d:{schedule.id}")
    assert "Hạn nộp hiện nay: trước ngày 13." in asked.text, asked.text
    assert "«15» nghĩa là hết ngày 15 hằng tháng (báo cáo nộp trong ngày 15 vẫn đúng hạn)" in (
        asked.text)
    return await h.say(ADMIN, typed)


def button(replies: Replies, label: str) -> str:
    return next(data for text, data in replies.buttons if text == label)


async def delivered_to(h: BotHarness, uid: int, needle: str) -> str:
    """The message with `needle` the sender delivered to `uid` (it is woken at once)."""
    for _ in range(200):
        found = [t for t in h.bot_texts(uid) if needle in t]
        if found:
            return found[-1]
        await asyncio.sleep(0.02)
    raise AssertionError(f"nothing with {needle!r} for {uid}: {h.bot_texts(uid)}")


async def test_preview_then_confirm_moves_only_the_periods_not_yet_due(bot: BotHarness) -> None:
    h = bot
    schedule = await thang(h)
    # Hàng Bột already sent April: its deadline stays as it was.
    hang_bot_april = await h.obligation("p-hang-bot", "thang", "2022-04")
    async with h.session() as session:
        (await session.get(Obligation, hang_bot_april.id)).status = ObligationStatus.submitted
    before = await state(h)

    shown = await preview(h)
    text = shown.text
    assert "Đổi hạn nộp «Báo cáo tháng»?" in text, text
    assert "Hiện nay: trước ngày 13. Mới: hết ngày 15." in text, text
    assert ("• tháng 04/2022: hạn cuối 12/04/2022 (Thứ Ba) → 15/04/2022 (Thứ Sáu) (4 báo cáo)"
            in text), text
    assert "• tháng 05/2022: hạn cuối 12/05/2022 (Thứ Năm) → 15/05/2022 (Chủ Nhật) (5 báo cáo)" \
        in text, text
    assert "… và 3 kỳ khác." in text, text  # April–September shown, 3 more to December
    assert "Các kỳ chưa đến hạn (44 báo cáo chưa nộp):" in text, text
    assert ("Các kỳ đã qua hạn: tháng 01/2022, tháng 02/2022, tháng 03/2022 (15 báo cáo chưa "
            "nộp)") in text, text
    assert "Chưa có thay đổi nào." in text
    labels = [label for label, _data in shown.buttons]
    assert labels == ["✅ Áp dụng", "Áp dụng cả các kỳ đã qua", "✖ Hủy"], labels
    assert await state(h) == before  # a preview changes nothing

    confirm = button(shown, "✅ Áp dụng")
    done = await h.press(ADMIN, confirm)
    assert "Đã đổi hạn nộp thành hết ngày 15: 44 báo cáo của 9 kỳ" in done.text, done.text
    assert "đã thông báo cho 3 người" in done.text, done.text

    assert (await thang(h)).due_rule == {"day": 15, "before": False}
    april = await h.obligation("p-cat-linh", "thang", "2022-04")
    assert april.due_at == at("2022-04-16T00:00:00+07:00")
    december = await h.obligation("p-cat-linh", "thang", "2022-12")
    assert december.due_at == at("2022-12-16T00:00:00+07:00")
    # The past period and the report already sent keep their deadline.
    march = await h.obligation("p-cat-linh", "thang", "2022-03")
    assert march.due_at == at("2022-03-13T00:00:00+07:00")
    assert (await h.obligation("p-hang-bot", "thang", "2022-04")).due_at == hang_bot_april.due_at

    [audit] = await h.rows(AuditLog, AuditLog.action == "schedule.deadline_changed")
    assert audit.entity_id == schedule.id
    assert audit.details["old"] == {"day": 13, "before": True}
    assert audit.details["new"] == {"day": 15, "before": False}
    assert (audit.details["scope"], audit.details["obligations"], audit.details["told"]) == (
        "open", 44, 3)

    # One message per person, at once: the reporters, else the head; not per report.
    told = await h.rows(OutboxMessage, OutboxMessage.kind == "deadline")
    members = {uid: (await h.member(uid)).id for uid in (LAN, HUNG, MINH, CHIEN)}
    assert sorted(m.member_id for m in told) == sorted(
        [members[LAN], members[MINH], members[CHIEN]])
    message = await delivered_to(h, LAN, "Thay đổi hạn nộp báo cáo")
    assert ("• tháng 04/2022: nay là hết ngày 15/04/2022 (Thứ Sáu) (trước đây: hết ngày "
            "12/04/2022 (Thứ Ba))") in message, message
    assert "… và 3 kỳ khác." in message
    # Hàng Bột's April was sent: its reporter hears of May onwards only.
    minh = await delivered_to(h, MINH, "Thay đổi hạn nộp báo cáo")
    assert "tháng 04/2022" not in minh and "tháng 05/2022" in minh, minh

    # A second press of the same button changes nothing more.
    after = await state(h)
    again = await h.press(ADMIN, confirm)
    assert STALE in again.text, again.text
    assert await state(h) == after
    assert h.errors == []


async def test_cancel_and_an_old_preview_change_nothing(bot: BotHarness) -> None:
    h = bot
    before = await state(h)
    first = await preview(h, "16")
    cancelled = await h.press(ADMIN, button(first, "✖ Hủy"))
    assert "Đã hủy" in cancelled.text, cancelled.text
    assert await state(h) == before
    assert STALE in (await h.press(ADMIN, button(first, "✅ Áp dụng"))).text
    assert await state(h) == before

    # Typing again shows a new preview: the old one's button no longer applies anything.
    older = await preview(h, "hết ngày 16")
    newer = await h.say(ADMIN, "trước 10")
    assert "Mới: trước ngày 10." in newer.text, newer.text
    assert STALE in (await h.press(ADMIN, button(older, "✅ Áp dụng"))).text
    assert await state(h) == before
    await h.press(ADMIN, button(newer, "✅ Áp dụng"))
    assert (await thang(h)).due_rule == {"day": 10, "before": True}
    assert (await h.obligation("p-cat-linh", "thang", "2022-04")).due_at == at(
        "2022-04-10T00:00:00+07:00")
    assert (await h.member(ADMIN)).pending_action is None
    assert h.errors == []


async def test_the_past_periods_move_only_when_chosen(bot: BotHarness) -> None:
    h = bot
    shown = await preview(h)
    done = await h.press(ADMIN, button(shown, "Áp dụng cả các kỳ đã qua"))
    assert "✅" in done.text, done.text
    march = await h.obligation("p-cat-linh", "thang", "2022-03")
    assert march.due_at == at("2022-03-16T00:00:00+07:00")
    [audit] = await h.rows(AuditLog, AuditLog.action == "schedule.deadline_changed")
    assert audit.details["scope"] == "all" and "2022-03" in audit.details["periods"]
    message = await delivered_to(h, LAN, "Thay đổi hạn nộp báo cáo")
    assert "• tháng 03/2022: nay là hết ngày 15/03/2022" in message, message
    assert h.errors == []
