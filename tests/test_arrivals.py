"""The office is told when reports arrive: «📥 Báo cáo mới nhận (N)», at most once an hour.

Played on the Đống Đa plan as the people meet it: wards send their March report, the sweep
(scheduler.arrivals.write_arrivals, then the real sweep path) writes the outbox, the harness's
sender delivers it to the office's chats. Monday 07/03/2022 is a working day; the March
report's last day is Friday 11/03; quiet hours are 21:00-07:00.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from db.models import (
    Form,
    Member,
    Obligation,
    OutboxMessage,
    OutboxStatus,
    Schedule,
    Submission,
    SubmissionState,
)
from scheduler.arrivals import MAX_CHARS, write_arrivals
from scheduler.sweeper import run_sweep
from tests.support.harness import DONGDA_PLAN, HANOI, BotHarness, Replies

LAN = 5001  # reporter, P. Cát Linh
MINH = 5002  # reporter, P. Hàng Bột
MAI = 5003  # standing office, Phòng LĐ-TBXH (the consolidating agency)
THU = 5004  # standing office, Phòng LĐ-TBXH, reads English
TUAN = 5005  # chair
HOA = 5006  # reporter, P. Văn Miếu
STRANGER = 5009

SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
BUTTON = ("📋 Mở danh sách chờ tiếp nhận", "rq:")


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2022, 3, day, hour, minute, tzinfo=HANOI)


@pytest.fixture
async def bot(database_url: str) -> AsyncIterator[BotHarness]:
    async with BotHarness(database_url, plan=DONGDA_PLAN, send_per_chat_seconds=0,
                          fake_now=at(7, 8)) as h:
        await h.join(LAN, "p-cat-linh", "reporter", first_name="Lan")
        await h.join(MINH, "p-hang-bot", "reporter", first_name="Minh")
        await h.join(HOA, "p-van-mieu", "reporter", first_name="Hoa")
        await h.join(MAI, "ldtbxh", "standing_office", first_name="Mai")
        await h.join(THU, "ldtbxh", "standing_office", first_name="Thu")
        await h.join(TUAN, "ldtbxh", "chair", first_name="Tuấn")
        await h.say(STRANGER, "/start")
        async with h.session() as session:  # Thu chose English («Ngôn ngữ»)
            thu = await session.scalar(select(Member).where(Member.telegram_user_id == THU))
            assert thu is not None
            thu.language = "en"
        yield h


async def send_nothing(h: BotHarness, uid: int, agency: str, when: dt.datetime) -> Replies:
    """«Không phát sinh» for March, sent at `when`."""
    h.set_now(when)
    obligation = await h.obligation(agency, "thang", "2022-03")
    await h.say(uid, "Báo cáo cần nộp")
    await h.press(uid, f"o:{obligation.id}")
    await h.press(uid, f"n:{obligation.id}")
    receipt = await h.press(uid, f"N:{obligation.id}")
    assert "Đã nhận báo cáo" in receipt.text, receipt.text
    return receipt


async def arrivals(h: BotHarness, when: dt.datetime) -> dict[int, str]:
    """One sweep's arrivals messages at `when` (the bot's clock too): user id -> text."""
    h.set_now(when)
    async with h.session() as session:
        written = await write_arrivals(session, when, h.settings.tz)
        by_member = {m.member_id: m.payload["text"] for m in written}
    out: dict[int, str] = {}
    for uid in (LAN, MINH, HOA, MAI, THU, TUAN, STRANGER):
        member = await h.member(uid)
        if member is not None and member.id in by_member:
            out[uid] = by_member[member.id]
    assert len(out) == len(by_member)
    return out


async def receipt_of(h: BotHarness, agency: str) -> str:
    obligation = await h.obligation(agency, "thang", "2022-03")
    async with h.session() as session:
        receipt = await session.scalar(
            select(Submission.receipt_no).where(Submission.obligation_id == obligation.id)
            .order_by(Submission.version.desc()).limit(1))
    assert receipt
    return receipt


async def delivered(h: BotHarness) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while any(r.status in (OutboxStatus.pending, OutboxStatus.sending)
              for r in await h.rows(OutboxMessage)):
        assert loop.time() < deadline, "outbox not drained"
        await asyncio.sleep(0.02)


@SQLITE_ONLY
async def test_two_wards_are_one_message_to_each_office_member_and_once(
        bot: BotHarness) -> None:
    h = bot
    await send_nothing(h, LAN, "p-cat-linh", at(7, 9, 10))
    await send_nothing(h, MINH, "p-hang-bot", at(7, 9, 20))
    cat_linh, hang_bot = await receipt_of(h, "p-cat-linh"), await receipt_of(h, "p-hang-bot")

    told = await arrivals(h, at(7, 9, 25))
    # The two office members, each in their own language; not the chair, the wards, a stranger.
    assert set(told) == {MAI, THU}
    assert told[MAI] == (
        "📥 <b>Báo cáo mới nhận</b> (2)\n"
        f"1. P. Cát Linh — Báo cáo tháng 03/2022 — đúng hạn · {cat_linh}\n"
        f"2. P. Hàng Bột — Báo cáo tháng 03/2022 — đúng hạn · {hang_bot}")
    assert told[THU].startswith("📥 <b>New reports received</b> (2)\n1. P. Cát Linh")
    assert "on time" in told[THU]

    # The same sweep again, or any within the hour: nothing more.
    assert await arrivals(h, at(7, 9, 25)) == {}
    async with h.session() as session:  # the real sweep path, then the arrivals
        await run_sweep(session, at(7, 9, 40), h.settings.tz)
    assert await arrivals(h, at(7, 9, 40)) == {}

    # A third ward at 09:50: not before 10:25 (an hour after the last message), alone.
    await send_nothing(h, HOA, "p-van-mieu", at(7, 9, 50))
    assert await arrivals(h, at(7, 10, 20)) == {}
    later = await arrivals(h, at(7, 10, 25))
    assert set(later) == {MAI, THU}
    assert later[MAI].startswith("📥 <b>Báo cáo mới nhận</b> (1)\n1. P. Văn Miếu — ")
    assert "Cát Linh" not in later[MAI] and "Hàng Bột" not in later[MAI]
    # Nothing new since: nothing at the next hour either.
    assert await arrivals(h, at(7, 11, 30)) == {}

    await delivered(h)
    message = h.last_message(MAI)
    assert message["text"].startswith("📥 Báo cáo mới nhận (1)")
    assert h.last_buttons(MAI) == [BUTTON]
    assert not any("Báo cáo mới nhận" in t for uid in (LAN, MINH, HOA, TUAN, STRANGER)
                   for t in h.bot_texts(uid))


@SQLITE_ONLY
async def test_a_report_sent_at_night_is_in_the_next_working_morning(bot: BotHarness) -> None:
    h = bot
    await send_nothing(h, LAN, "p-cat-linh", at(7, 9, 10))
    assert set(await arrivals(h, at(7, 9, 15))) == {MAI, THU}
    # Friday 11/03 22:00, the last day: quiet hours, then the weekend.
    await send_nothing(h, MINH, "p-hang-bot", at(11, 22))
    for when in (at(11, 22, 5), at(12, 6, 59), at(12, 9), at(13, 10), at(14, 6, 59)):
        assert await arrivals(h, when) == {}, when
    morning = await arrivals(h, at(14, 7))
    assert set(morning) == {MAI, THU}
    assert morning[MAI] == (
        "📥 <b>Báo cáo mới nhận</b> (1)\n"
        "1. P. Hàng Bột — Báo cáo tháng 03/2022 — đúng hạn · "
        f"{await receipt_of(h, 'p-hang-bot')}")


@SQLITE_ONLY
async def test_a_correction_after_a_return_is_a_supplement(bot: BotHarness) -> None:
    h = bot
    await send_nothing(h, LAN, "p-cat-linh", at(7, 9, 10))
    assert "đúng hạn" in (await arrivals(h, at(7, 9, 15)))[MAI]
    # Monday 14/03 (after the last day) the office returns it; Lan sends it again at once.
    h.set_now(at(14, 9))
    obligation = await h.obligation("p-cat-linh", "thang", "2022-03")
    async with h.session() as session:
        first = await session.scalar(select(Submission).where(
            Submission.obligation_id == obligation.id))
        assert first is not None
    await h.say(MAI, "Báo cáo chờ tiếp nhận")
    await h.press(MAI, f"rv:{first.id}")
    await h.press(MAI, f"rt:{first.id}")
    assert "Đã trả lại" in (await h.say(MAI, "Đề nghị ghi rõ lý do không phát sinh")).text
    await send_nothing(h, LAN, "p-cat-linh", at(14, 9, 30))
    told = await arrivals(h, at(14, 9, 35))
    assert told[MAI] == (
        "📥 <b>Báo cáo mới nhận</b> (1)\n"
        "1. P. Cát Linh — Báo cáo tháng 03/2022 — bổ sung · "
        f"{await receipt_of(h, 'p-cat-linh')}")
    assert "supplement" in told[THU]


@SQLITE_ONLY
async def test_thirty_six_reports_fit_in_one_short_message(bot: BotHarness) -> None:
    h = bot
    async with h.session() as session:
        rows = (await session.execute(
            select(Obligation, Form.current_version_id)
            .join(Schedule, Schedule.id == Obligation.schedule_id)
            .join(Form, Form.id == Obligation.form_id)
            .where(Schedule.code == "thang", Obligation.period_key == "2022-03")
            .order_by(Obligation.id))).all()
        assert len(rows) >= 36
        for n, (obligation, form_version) in enumerate(rows[:36]):
            sent = at(14, 8) + dt.timedelta(minutes=n)  # Monday, after the last day (11/03)
            session.add(Submission(
                obligation_id=obligation.id, form_version_id=form_version,
                state=SubmissionState.submitted, no_report=True, submitted_at=sent,
                receipt_no=f"BC-2022-{90000 + n}", created_at=sent))
    told = await arrivals(h, at(14, 9))
    assert set(told) == {MAI, THU}
    for text in told.values():
        assert len(text) <= MAX_CHARS, len(text)
    lines = told[MAI].split("\n")
    assert lines[0] == "📥 <b>Báo cáo mới nhận</b> (36)"
    assert lines[1].startswith("1. ") and lines[1].endswith(" — quá hạn 3 ngày · BC-2022-90000")
    assert [line.split(".")[0] for line in lines[1:11]] == [str(n) for n in range(1, 11)]
    assert lines[11:] == ["… và 26 báo cáo khác"]
    assert told[THU].split("\n")[-1] == "… and 26 more reports"
