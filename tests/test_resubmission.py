"""A report returned for changes and sent again: the correction is a supplement («bổ sung»).

Played as the people meet it on the Đống Đa plan: two wards send March on time (last day
Friday 11/03/2022), the office returns both on Monday 14/03, and the wards correct them. A
correction within the time the return gave (5 working days: to the end of Monday 21/03) is on
time on the receipt, in the review queue, in the opened report and in the status view; one
after it is late by the days beyond it. The stored late_days says the same.
"""

from __future__ import annotations

import datetime as dt
import io

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from db.models import Schedule, Submission, SubmissionState
from tests.support.harness import DONGDA_PLAN, HANOI, BotHarness, Replies

LAN = 4001  # reporter, P. Cát Linh
MINH = 4002  # reporter, P. Hàng Bột
MAI = 4003  # standing office, Phòng LĐ-TBXH

SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

# The Đống Đa ward form, in order: «@» taps a button, «#» sends the signed PDF.
WARD_ANSWERS = ["10", "8", "1", "2", "0", "@Không", "0", "@Có", "0", "@Có", "@Bỏ qua",
                "#bao-cao-thang-3.pdf"]


def at(day: int, hour: int) -> dt.datetime:
    return dt.datetime(2022, 3, day, hour, 0, tzinfo=HANOI)


@pytest.fixture
async def bot(database_url: str):
    async with BotHarness(database_url, plan=DONGDA_PLAN, send_per_chat_seconds=0) as h:
        await h.join(LAN, "p-cat-linh", "reporter", first_name="Lan")
        await h.join(MINH, "p-hang-bot", "reporter", first_name="Minh")
        await h.join(MAI, "ldtbxh", "standing_office", first_name="Mai")
        yield h


async def open_march(h: BotHarness, uid: int, agency: str) -> Replies:
    obligation = await h.obligation(agency, "thang", "2022-03")
    await h.say(uid, "Báo cáo cần nộp")
    return await h.press(uid, f"o:{obligation.id}")


async def answer(h: BotHarness, uid: int, action: str) -> Replies:
    if action.startswith("@"):
        return await h.tap(uid, action[1:])
    if action.startswith("#"):
        return await h.send_document(uid, action[1:], mime_type="application/pdf")
    return await h.say(uid, action)


async def send(h: BotHarness, uid: int) -> Replies:
    await h.tap(uid, "Gửi báo cáo")
    receipt = await h.tap(uid, "Xác nhận gửi")
    assert "Đã nhận báo cáo" in receipt.text, receipt.text
    return receipt


async def send_march(h: BotHarness, uid: int, agency: str) -> Replies:
    await open_march(h, uid, agency)
    replies = Replies()
    for action in WARD_ANSWERS:
        replies = await answer(h, uid, action)
        assert "⚠️" not in replies.text, f"{action!r} was refused: {replies.text}"
    assert "Xem lại báo cáo" in replies.text, replies.text
    return await send(h, uid)


async def latest(h: BotHarness, agency: str) -> Submission:
    obligation = await h.obligation(agency, "thang", "2022-03")
    async with h.session() as session:
        found = await session.scalar(
            select(Submission).where(Submission.obligation_id == obligation.id)
            .order_by(Submission.version.desc()).limit(1))
    assert found is not None
    return found


async def return_it(h: BotHarness, agency: str, comment: str) -> None:
    submission = await latest(h, agency)
    await h.say(MAI, "Báo cáo chờ tiếp nhận")
    await h.press(MAI, f"rv:{submission.id}")
    await h.press(MAI, f"rt:{submission.id}")
    told = await h.say(MAI, comment)
    assert "Đã trả lại" in told.text, told.text
    assert (await latest(h, agency)).state == SubmissionState.returned


async def correct(h: BotHarness, uid: int, agency: str) -> Replies:
    """Open the returned report, change nothing more than needed, send it again."""
    opened = await open_march(h, uid, agency)
    assert "⚠️" not in opened.text, opened.text
    return await send(h, uid)


async def march_status(h: BotHarness) -> str:
    thang = await h.one(Schedule, Schedule.code == "thang")
    shown = await h.say(MAI, "/status")
    return (await h.press_raw(MAI, shown.last["message_id"], f"st:{thang.id}:2022-03")).text


@SQLITE_ONLY
async def test_a_correction_within_the_time_the_return_gave_is_on_time(bot: BotHarness) -> None:
    h = bot
    # Saturday 05/03: both wards send March, a week before the last day (Friday 11/03).
    for uid, agency in ((LAN, "p-cat-linh"), (MINH, "p-hang-bot")):
        receipt = await send_march(h, uid, agency)
        assert "🟢 Đúng hạn." in receipt.text, receipt.text
    # Monday 14/03, after the last day: the office returns both.
    h.set_now(at(14, 9))
    await return_it(h, "p-cat-linh", "Bổ sung số cơ sở vi phạm")
    await return_it(h, "p-hang-bot", "Bổ sung số buổi tuyên truyền")

    # Friday 18/03: Cát Linh corrects it, within 5 working days of the return.
    h.set_now(at(18, 10))
    opened = await open_march(h, LAN, "p-cat-linh")
    assert "Hạn bổ sung: hết ngày 21/03/2022." in opened.text, opened.text
    confirm_text = await h.tap(LAN, "Gửi báo cáo")
    assert "Đã quá hạn" not in confirm_text.text, confirm_text.text
    receipt = await h.tap(LAN, "Xác nhận gửi")
    assert "🟢 Bổ sung đúng hạn (hạn bổ sung: hết ngày 21/03/2022)." in receipt.text, receipt.text
    assert "⏰" not in receipt.text and "Quá hạn" not in receipt.text
    assert "Lần gửi thứ 2" in receipt.text, receipt.text
    cat_linh = await latest(h, "p-cat-linh")
    assert (cat_linh.version, cat_linh.late_days) == (2, 0)

    # Thursday 24/03: Hàng Bột corrects it three days after the time given.
    h.set_now(at(24, 10))
    await open_march(h, MINH, "p-hang-bot")
    confirm = await h.tap(MINH, "Gửi báo cáo")
    assert "Đã quá thời hạn bổ sung" in confirm.text, confirm.text
    receipt = await h.tap(MINH, "Xác nhận gửi")
    assert "⏰ Bổ sung quá hạn 3 ngày (hạn bổ sung: hết ngày 21/03/2022)." in receipt.text, \
        receipt.text
    hang_bot = await latest(h, "p-hang-bot")
    assert (hang_bot.version, hang_bot.late_days) == (2, 3)

    # The review queue says the same: v2, a supplement, late only when it is.
    queue = await h.say(MAI, "Báo cáo chờ tiếp nhận")
    [cl_line] = [line for line in queue.text.splitlines() if "Cát Linh" in line]
    [hb_line] = [line for line in queue.text.splitlines() if "Hàng Bột" in line]
    assert cl_line.endswith("v2 bổ sung"), cl_line
    assert hb_line.endswith("v2 bổ sung ⏰quá hạn 3 ngày"), hb_line
    # So does the opened report.
    opened = await h.press(MAI, f"rv:{cat_linh.id}")
    assert "🟢 Bổ sung đúng hạn (hạn bổ sung: hết ngày 21/03/2022)." in opened.text, opened.text
    opened = await h.press(MAI, f"rv:{hang_bot.id}")
    assert "⏰ Bổ sung quá hạn 3 ngày" in opened.text, opened.text

    # And the status view: Cát Linh on time, Hàng Bột late.
    text = await march_status(h)
    assert "Đã nộp: 2 (đúng hạn 1, quá hạn 1)" in text, text
    assert "Bổ sung sau khi trả lại: 2 (đúng hạn 1, quá hạn 1)" in text, text

    # The export: the last day to submit is a date cell (11/03, as the bot says it), and the
    # same verdicts.
    thang = await h.one(Schedule, Schedule.code == "thang")
    exported = await h.press(MAI, f"xp:{thang.id}:2022-03")
    [message] = [m for m in exported if m.get("document")]
    book = load_workbook(io.BytesIO(h.state.file_content(message["document"]["file_id"])))
    cover = {r[0]: r[1] for r in book["Tổng hợp"].iter_rows(values_only=True) if r[0]}
    assert cover["Nộp đúng hạn"] == 1  # Cát Linh only
    sheet = book["Tình hình nộp"]
    rows = {r[0].value: r for r in sheet.iter_rows(min_row=2) if r[0].value}
    cl, hb = rows["UBND phường Cát Linh"], rows["UBND phường Hàng Bột"]
    assert cl[1].value == dt.datetime(2022, 3, 11) and cl[1].number_format == "DD/MM/YYYY"
    assert [c.value for c in cl[4:6]] == ["Có", 2] and [c.value for c in cl[9:]] == [0, "Đúng hạn"]
    assert [c.value for c in hb[4:6]] == ["Không", 2]
    assert [c.value for c in hb[9:]] == [3, "Quá hạn 3 ngày"]
    assert h.errors == []


@SQLITE_ONLY
async def test_a_returned_report_is_chased_against_the_time_the_return_gave(
        bot: BotHarness) -> None:
    """Sent on time, returned after the last day: the sweep does not call it overdue while
    the correction is still on time (to the end of Monday 21/03), and reminds against that
    day; after it, the report is overdue again."""
    from scheduler.sweeper import load_snapshot

    h = bot
    await send_march(h, LAN, "p-cat-linh")
    h.set_now(at(14, 9))
    await return_it(h, "p-cat-linh", "Bổ sung số cơ sở vi phạm")
    march = await h.obligation("p-cat-linh", "thang", "2022-03")
    async with h.session() as session:
        snapshot = await load_snapshot(session, at(15, 8), HANOI)
    [view] = [o for o in snapshot.obligations if o.id == march.id]
    assert view.due_at == dt.datetime(2022, 3, 22, 0, 0, tzinfo=HANOI)  # end of 21/03
    assert view.due_at > march.due_at


@SQLITE_ONLY
async def test_the_plan_sets_the_working_days_a_supplement_has(database_url: str,
                                                              tmp_path) -> None:
    """`defaults.supplement_working_days: 2`: returned on Monday 14/03, a correction on
    Thursday 17/03 is a day late."""
    text = DONGDA_PLAN.read_text(encoding="utf-8").replace(
        "defaults:\n", "defaults:\n  supplement_working_days: 2\n", 1)
    plan = tmp_path / "dongda-2.yaml"
    plan.write_text(text, encoding="utf-8")
    async with BotHarness(database_url, plan=plan, send_per_chat_seconds=0) as h:
        await h.join(LAN, "p-cat-linh", "reporter", first_name="Lan")
        await h.join(MAI, "ldtbxh", "standing_office", first_name="Mai")
        await send_march(h, LAN, "p-cat-linh")
        h.set_now(at(14, 9))
        await return_it(h, "p-cat-linh", "Bổ sung số cơ sở vi phạm")
        h.set_now(at(17, 10))
        receipt = await correct(h, LAN, "p-cat-linh")
        assert "hạn bổ sung: hết ngày 16/03/2022" in receipt.text, receipt.text
        assert (await latest(h, "p-cat-linh")).late_days == 1
