"""An ad-hoc request is announced at once (issue 5, §4): when the standing office sends it,
the reporters (else the heads) of each chosen agency get «📌 Yêu cầu báo cáo đột xuất: …»
through the outbox with a button to open the report, and the sweep does not announce it a
second time. Its deadline may be typed without the year.

The bot's clock starts on Saturday 05/03/2022 08:00 (Hà Nội), mini plan.
"""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from db.models import AuditLog, Obligation, OutboxItem, OutboxMessage, Schedule
from scheduler.sweeper import run_sweep
from tests.support.harness import BotHarness

LAN = 6001  # reporter, P. Cát Linh
HUNG = 6002  # head, P. Cát Linh: its reporter is told, not the head
MINH = 6003  # head of P. Hàng Bột, which has no reporter: the head is told
MAI = 6004  # standing office, Phòng LĐ-TBXH

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


@pytest.fixture
async def bot(database_url: str):
    async with BotHarness(database_url, send_per_chat_seconds=0) as h:
        await h.join(LAN, "p-cat-linh", "reporter", first_name="Lan")
        await h.join(HUNG, "p-cat-linh", "head", first_name="Hùng")
        await h.join(MINH, "p-hang-bot", "head", first_name="Minh")
        await h.join(MAI, "ldtbxh", "standing_office", first_name="Mai")
        yield h


async def obligations_of(h: BotHarness, code: str) -> list[Obligation]:
    schedule = await h.one(Schedule, Schedule.code == code)
    return await h.rows(Obligation, Obligation.schedule_id == schedule.id)


async def sweep_about(h: BotHarness, when: str, ids: set[int]) -> list[str]:
    """The items a sweep at `when` writes about these obligations."""
    async with h.session() as session:
        result = await run_sweep(session, at(when), h.settings.tz)
    return [i.dedupe_key for d in result.decisions for i in d.items if i.obligation_id in ids]


async def delivered_to(h: BotHarness, uid: int, needle: str) -> dict:
    for _ in range(200):
        found = [m for m in h.bot_messages(uid) if needle in (m.get("text") or "")]
        if found:
            return found[-1]
        await asyncio.sleep(0.02)
    raise AssertionError(f"nothing with {needle!r} for {uid}: {h.bot_texts(uid)}")


async def test_an_adhoc_request_is_announced_at_once_and_not_again(bot: BotHarness) -> None:
    h = bot
    await h.say(MAI, "/adhoc")
    await h.say(MAI, "Báo cáo nhanh tình hình tụ điểm sau Tết")
    await h.press(MAI, "ad:k:phuong")
    await h.press(MAI, "ad:q")
    asked = await h.say(MAI, "Số tụ điểm phát hiện (số)")
    assert "có thể bỏ năm" in asked.text, asked.text
    confirm = await h.say(MAI, "20/3")  # no year: the next 20/03 from today
    assert "Hạn nộp: 20/03/2022 (Chủ Nhật)" in confirm.text, confirm.text
    sent = await h.press(MAI, "ad:ok")
    assert "Đã gửi yêu cầu báo cáo đột xuất tới 3 đơn vị." in sent.text, sent.text
    assert "Đã thông báo ngay cho 2 người" in sent.text, sent.text

    obligations = await obligations_of(h, "adhoc-1")
    ids = {o.id for o in obligations}
    by_agency = {o.agency_id: o for o in obligations}
    cat_linh = by_agency[(await h.agency("p-cat-linh")).id]
    hang_bot = by_agency[(await h.agency("p-hang-bot")).id]
    lan, hung, minh = [(await h.member(uid)).id for uid in (LAN, HUNG, MINH)]
    # Written when the request was created, one per person (reporter, else head).
    rows = await h.rows(OutboxMessage, OutboxMessage.kind == "adhoc")
    assert sorted(m.member_id for m in rows) == sorted([lan, minh]), rows
    assert hung not in {m.member_id for m in rows}
    audit = await h.one(AuditLog, AuditLog.action == "adhoc.create")
    assert audit.details["told"] == 2
    # …and sent at once, with a button that opens the report.
    message = await delivered_to(h, LAN, "Yêu cầu báo cáo đột xuất")
    assert ("📌 Yêu cầu báo cáo đột xuất: Báo cáo nhanh tình hình tụ điểm sau Tết — hạn "
            "cuối: hết ngày 20/03/2022 (Chủ Nhật)") in message["text"], message["text"]
    buttons = [b["callback_data"] for row in message["reply_markup"]["inline_keyboard"]
               for b in row]
    assert buttons == [f"o:{cat_linh.id}"], buttons
    opened = await h.press(LAN, f"o:{cat_linh.id}")
    assert "Số tụ điểm phát hiện" in opened.text, opened.text

    # The sweep's notice is already given: the next sweep says nothing about the request.
    assert f"notice:{hang_bot.id}:{minh}" in [
        i.dedupe_key for i in await h.rows(OutboxItem, OutboxItem.obligation_id == hang_bot.id)]
    assert await sweep_about(h, "2022-03-07T08:00:00+07:00", ids) == []
    # Its reminders still come as for any report.
    assert f"reminder:{cat_linh.id}:2022-03-20:3:{lan}" in await sweep_about(
        h, "2022-03-17T08:00:00+07:00", ids)
    assert h.errors == []


async def test_a_request_due_soon_is_not_reminded_right_after_it_is_announced(
        bot: BotHarness) -> None:
    h = bot
    # Monday 07/03 09:00, due Tuesday 08/03: the day-before reminder is already due.
    h.set_now(at("2022-03-07T09:00:00+07:00"))
    await h.say(MAI, "/adhoc")
    await h.say(MAI, "Báo cáo khẩn về phòng cháy")
    await h.press(MAI, "ad:k:phuong")
    await h.press(MAI, "ad:q")
    await h.say(MAI, "Số cơ sở đã kiểm tra (số)")
    confirm = await h.say(MAI, "08/03 17:00")
    assert "Hạn nộp: 08/03/2022 (Thứ Ba) 17:00" in confirm.text, confirm.text
    await h.press(MAI, "ad:ok")
    ids = {o.id for o in await obligations_of(h, "adhoc-1")}
    assert await sweep_about(h, "2022-03-07T10:00:00+07:00", ids) == []
    # The last day's reminder comes the next morning.
    assert any(k.startswith("reminder:") and k.split(":")[3] == "0"
               for k in await sweep_about(h, "2022-03-08T08:00:00+07:00", ids))
    assert h.errors == []
