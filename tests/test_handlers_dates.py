"""Dates as people type them, in every place the bot asks for one (core/dates.py):
an extension («25/3 lý do»), a pause of reminders («22/03 23/03»), one period's deadline
(«18/3»), a form's date question («25/3»); and no ISO date ever shown.

The mini plan (`tests/data/mini-plan.yaml`); the bot's clock starts on Saturday 05/03/2022
08:00 (Hà Nội), so a day typed without its year is in 2022 when it is still to come.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from sqlalchemy import select

from db.models import Obligation, Plan, Schedule
from tests.support.harness import BotHarness, Replies

ADMIN = 5001  # admin, attached to Phòng LĐ-TBXH
LAN = 5002  # reporter, P. Cát Linh
MAI = 5004  # standing office
ISO = re.compile(r"\d{4}-\d{2}-\d{2}")
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
pytestmark = SQLITE_ONLY


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


@asynccontextmanager
async def started(database_url: str, **settings: Any) -> AsyncIterator[BotHarness]:
    settings.setdefault("send_per_chat_seconds", 0)
    async with BotHarness(database_url, **settings) as h:
        yield h


@pytest.fixture
async def bot(database_url: str) -> AsyncIterator[BotHarness]:
    async with started(database_url) as h:
        await h.join(ADMIN, "ldtbxh", "admin", first_name="Quản trị")
        await h.join(LAN, "p-cat-linh", "reporter", first_name="Lan")
        await h.join(MAI, "ldtbxh", "standing_office", first_name="Mai")
        yield h


async def schedule_id(h: BotHarness, code: str) -> int:
    async with h.sessionmaker() as session:
        found = await session.scalar(select(Schedule.id).where(Schedule.code == code))
    assert found is not None
    return found


async def ask_extension(h: BotHarness, obligation: Obligation) -> Replies:
    thang = await schedule_id(h, "thang")
    await h.press_raw(MAI, (await h.say(MAI, "/status")).last["message_id"],
                      f"st:{thang}:2022-03")
    await h.press(MAI, f"xl:{thang}:2022-03")
    return await h.press(MAI, f"ex:{obligation.id}")


async def fresh(h: BotHarness, obligation: Obligation) -> Obligation:
    return await h.one(Obligation, Obligation.id == obligation.id)


# ----------------------------------------------------------------------------- extension


async def test_an_extension_takes_a_day_without_its_year(bot: BotHarness) -> None:
    h = bot
    cl = await h.obligation("p-cat-linh", "thang", "2022-03")
    asked = await ask_extension(h, cl)
    # The example is a week from today (Saturday 05/03/2022), never in the past.
    assert "ví dụ 12/03/2022 thủ trưởng đi công tác" in asked.text, asked.text
    unreadable = await h.say(MAI, "mai thủ trưởng đi công tác")
    assert unreadable.text.startswith("⚠️ Chưa đọc được ngày."), unreadable.text
    impossible = await h.say(MAI, "31/4 thủ trưởng đi công tác")
    assert impossible.text.startswith("⚠️ Không có ngày 31/04."), impossible.text
    no_reason = await h.say(MAI, "25/3")
    assert no_reason.text.startswith("⚠️ Vui lòng ghi lý do sau ngày"), no_reason.text
    assert "25/03/2022" in no_reason.text
    done = await h.say(MAI, "25/3 Phường đang tổng hợp số liệu")
    assert "Đã gia hạn cho P. Cát Linh đến hết ngày 25/03/2022" in done.text, done.text
    extended = await fresh(h, cl)
    assert extended.extended_due_at == at("2022-03-26T00:00:00+07:00")
    assert extended.extension_reason == "Phường đang tổng hợp số liệu"
    assert h.errors == []


@pytest.mark.parametrize("typed", ["25-3 lý do", "25.3 lý do", "25/03 lý do",
                                   "25/03/2022 lý do", "ngày 25/3 lý do"])
async def test_an_extension_in_every_way_of_writing_the_day(bot: BotHarness, typed: str) -> None:
    h = bot
    cl = await h.obligation("p-cat-linh", "thang", "2022-03")
    await ask_extension(h, cl)
    done = await h.say(MAI, typed)
    assert "đến hết ngày 25/03/2022" in done.text, done.text
    assert (await fresh(h, cl)).extended_due_at == at("2022-03-26T00:00:00+07:00")


async def test_a_day_already_gone_this_year_is_next_years(bot: BotHarness) -> None:
    h = bot
    cl = await h.obligation("p-cat-linh", "thang", "2022-03")
    await ask_extension(h, cl)
    done = await h.say(MAI, "1/3 lý do")  # 01/03/2022 has passed: 01/03/2023
    assert "đến hết ngày 01/03/2023" in done.text, done.text
    await ask_extension(h, await fresh(h, cl))
    past = await h.say(MAI, "01/03/2022 lý do")  # a year typed is kept, and refused
    assert "Hạn nộp mới không được trước ngày hôm nay." in past.text, past.text


# ----------------------------------------------------------------------------- pauses


@pytest.mark.parametrize("typed", ["22/03 - 23/03", "22/03 23/03", "22/3-23/3",
                                   "22/03 đến 23/03"])
async def test_a_pause_typed_as_people_write_it(bot: BotHarness, typed: str) -> None:
    h = bot
    await h.say(ADMIN, "/admin")
    asked = await h.press(ADMIN, "ap:")
    assert "«06/03/2022 - 12/03/2022»" in asked.text, asked.text
    done = await h.say(ADMIN, typed)
    assert "Đã tạm dừng nhắc hạn từ 22/03/2022 đến 23/03/2022." in done.text, done.text
    assert (await h.one(Plan)).calendar["pauses"] == [["2022-03-22", "2022-03-23"]]
    listing = await h.press_raw(ADMIN, done.last["message_id"], "ap:")
    assert "• 22/03/2022 – 23/03/2022" in listing.text
    assert not ISO.search(listing.text) and not any(ISO.search(t) for t, _d in listing.buttons)


async def test_a_pause_that_cannot_be_read_is_explained(bot: BotHarness) -> None:
    h = bot
    await h.say(ADMIN, "/admin")
    await h.press(ADMIN, "ap:")
    one = await h.say(ADMIN, "22/03")
    assert one.text.startswith("⚠️ Chưa đọc được hai ngày."), one.text
    assert "«06/03/2022 - 12/03/2022»" in one.text
    impossible = await h.say(ADMIN, "30/02 - 03/03")
    assert impossible.text.startswith("⚠️ Không có ngày 30/02."), impossible.text
    backwards = await h.say(ADMIN, "23/03/2022 - 22/03/2022")
    assert backwards.text.startswith("⚠️ Ngày bắt đầu tạm dừng (23/03/2022) sau ngày kết thúc "
                                     "(22/03/2022)."), backwards.text
    across = await h.say(ADMIN, "28/12 - 3/1")  # Tết dương lịch, over the new year
    assert "từ 28/12/2022 đến 03/01/2023" in across.text, across.text


# ----------------------------------------------------------------------------- deadlines


async def test_one_periods_deadline_without_its_year(bot: BotHarness) -> None:
    h = bot
    schedule = await schedule_id(h, "thang")
    await h.say(ADMIN, "/admin")
    await h.press(ADMIN, "as:")
    await h.press(ADMIN, f"as:s:{schedule}")
    await h.press(ADMIN, f"as:p:{schedule}")
    asked = await h.press(ADMIN, f"as:p:{schedule}:2022-03")
    assert "ví dụ 12/03/2022" in asked.text, asked.text
    wrong = await h.say(ADMIN, "ngày mai")
    assert wrong.text.startswith("⚠️ Chưa đọc được ngày."), wrong.text
    done = await h.say(ADMIN, "18/3")
    assert "đã đổi thành 18/03/2022" in done.text, done.text
    march = await h.rows(Obligation, Obligation.schedule_id == schedule,
                         Obligation.period_key == "2022-03")
    assert {o.due_at for o in march} == {at("2022-03-19T00:00:00+07:00")}


async def test_a_fixed_deadline_is_shown_day_first(bot: BotHarness) -> None:
    h = bot
    schedule = await schedule_id(h, "tong-ket")  # due: {date: 2022-11-30}
    await h.say(ADMIN, "/admin")
    await h.press(ADMIN, "as:")
    shown = await h.press(ADMIN, f"as:s:{schedule}")
    assert "Cách tính hạn nộp: 30/11/2022" in shown.text, shown.text
    assert not ISO.search(shown.text)


# ----------------------------------------------------------------------------- forms


async def test_a_form_date_without_its_year(bot: BotHarness) -> None:
    h = bot
    march = await h.obligation("p-cat-linh", "thang", "2022-03")
    await h.say(LAN, "Báo cáo cần nộp")
    await h.press(LAN, f"o:{march.id}")
    for typed in ("10", "8"):
        await h.say(LAN, typed)
    await h.tap(LAN, "Không")
    await h.tap(LAN, "Bỏ qua")
    await h.tap(LAN, "Bỏ qua")
    await h.tap(LAN, "Hội nghị")
    await h.tap(LAN, "Xong")
    await h.tap(LAN, "Tốt")
    answered = await h.say(LAN, "2/3")  # ngay_hop, on or after 01/01/2022
    assert "Phường không có tệ nạn mại dâm?" in answered.text, answered.text
    await h.tap(LAN, "Có")
    await h.tap(LAN, "Bỏ qua")
    review = await h.tap(LAN, "Bỏ qua")
    assert "Ngày họp: 02/03/2022" in review.text, review.text
