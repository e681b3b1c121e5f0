"""Handler tests for the standing office's and the chair's tools (issue 5, §1 and §3):
status (completeness, timeliness, who is missing), the review queue (open, accept, return,
the reporter's version 2), progress against targets, extensions, ad-hoc requests, the Excel
export and the chart, and the roles around all of them.

Most tests use the mini plan (`tests/data/mini-plan.yaml`: Phòng LĐ-TBXH, Công an quận and
three wards; the monthly report «trước ngày 13», the wards answer the form `phuong`):

  1 co_so_quan_ly integer        7 hinh_thuc multi_choice
  2 co_so_kiem_tra integer       8 xep_loai choice (Tốt / Khá)
  3 co_vi_pham yes/no            9 ngay_hop date, optional
  4 co_so_vi_pham (if 3)        10 khong_te_nan yes/no
  5 ty_le, optional             11 kho_khan, optional
  6 kinh_phi, optional          12 van_ban file, optional

The bot's clock starts on Saturday 05/03/2022 08:00 (Hà Nội). Notifications to agencies go
through the outbox, which the harness's own sender delivers to the fake Bot API.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from db.models import (
    Agency,
    Answer,
    Attachment,
    AuditLog,
    Form,
    Invite,
    Member,
    Obligation,
    ObligationStatus,
    OutboxItem,
    OutboxMessage,
    OutboxStatus,
    Plan,
    Schedule,
    Submission,
    SubmissionState,
)
from scheduler.sweeper import run_sweep
from tests.conftest import run_cli
from tests.support.harness import DONGDA_PLAN, MINI_PLAN, BotHarness, Replies

LAN = 3001  # reporter, P. Cát Linh
HUNG = 3002  # head, P. Cát Linh
MINH = 3003  # reporter, P. Hàng Bột
MAI = 3004  # standing office, Phòng LĐ-TBXH
TUAN = 3005  # chair
STRANGER = 3009

REFUSED = ("Xin lỗi, chức năng này chỉ dành cho lãnh đạo Ban Chỉ đạo, Thường trực Ban Chỉ đạo "
           "và cơ quan tổng hợp.")
ADMINS_ONLY = "Xin lỗi, chức năng này chỉ dành cho quản trị viên."
STALE = "Nút này không còn hiệu lực. Mở «Báo cáo cần nộp» để xem danh sách hiện tại."
STRANGER_TEXT = "đường dẫn mời"


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


@asynccontextmanager
async def started(database_url: str, **settings: Any) -> AsyncIterator[BotHarness]:
    """A BotHarness that sends the outbox without the per-chat pause (tests read it at once);
    the harness stops the sender when it stops."""
    settings.setdefault("send_per_chat_seconds", 0)
    async with BotHarness(database_url, **settings) as h:
        yield h


SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
async def bot(database_url: str):
    async with started(database_url) as h:
        await h.join(LAN, "p-cat-linh", "reporter", first_name="Lan")
        await h.join(HUNG, "p-cat-linh", "head", first_name="Hùng")
        await h.join(MINH, "p-hang-bot", "reporter", first_name="Minh")
        await h.join(MAI, "ldtbxh", "standing_office", first_name="Mai")
        await h.join(TUAN, "ldtbxh", "chair", first_name="Tuấn")
        yield h


# ----------------------------------------------------------------------------- helpers


async def open_report(h: BotHarness, uid: int, obligation: Obligation) -> Replies:
    await h.say(uid, "Báo cáo cần nộp")
    return await h.press(uid, f"o:{obligation.id}")


async def answer_ward_form(h: BotHarness, uid: int, *, managed: int = 10, inspected: int = 8,
                           clean: bool = True, attach: str | None = None) -> Replies:
    """Answer the mini ward form from its first question to the review screen."""
    await h.say(uid, str(managed))
    await h.say(uid, str(inspected))
    await h.tap(uid, "Không")  # co_vi_pham: hides co_so_vi_pham
    await h.tap(uid, "Bỏ qua")  # ty_le
    await h.tap(uid, "Bỏ qua")  # kinh_phi
    await h.tap(uid, "Hội nghị")
    await h.tap(uid, "Xong")
    await h.tap(uid, "Tốt")
    await h.tap(uid, "Bỏ qua")  # ngay_hop
    await h.tap(uid, "Có" if clean else "Không")  # khong_te_nan
    await h.tap(uid, "Bỏ qua")  # kho_khan
    if attach == "pdf":
        return await h.send_document(uid, "bao-cao-thang-3.pdf", mime_type="application/pdf")
    if attach == "photo":
        return await h.send_photo(uid)
    return await h.tap(uid, "Bỏ qua")  # van_ban


async def send_and_confirm(h: BotHarness, uid: int) -> Replies:
    await h.tap(uid, "Gửi báo cáo")
    receipt = await h.tap(uid, "Xác nhận gửi")
    assert "Đã nhận báo cáo" in receipt.text, receipt.text
    return receipt


async def send_ward_report(h: BotHarness, uid: int, obligation: Obligation,
                           **answers: Any) -> Submission:
    await open_report(h, uid, obligation)
    review = await answer_ward_form(h, uid, **answers)
    assert "Xem lại báo cáo" in review.text, review.text
    await send_and_confirm(h, uid)
    return await latest(h, obligation)


async def send_nothing_to_report(h: BotHarness, uid: int, obligation: Obligation) -> Submission:
    await open_report(h, uid, obligation)
    await h.press(uid, f"n:{obligation.id}")
    receipt = await h.press(uid, f"N:{obligation.id}")
    assert "Đã nhận báo cáo" in receipt.text, receipt.text
    return await latest(h, obligation)


async def latest(h: BotHarness, obligation: Obligation) -> Submission:
    rows = await h.rows(Submission, Submission.obligation_id == obligation.id,
                        order_by=Submission.version)
    return rows[-1]


async def fresh(h: BotHarness, obligation: Obligation) -> Obligation:
    return await h.one(Obligation, Obligation.id == obligation.id)


async def answers_of(h: BotHarness, submission: Submission) -> dict[str, Any]:
    return {a.field_code: a.value for a in await h.rows(
        Answer, Answer.submission_id == submission.id) if not a.skipped}


async def schedule_id(h: BotHarness, code: str, plan: str = "mini-2022") -> int:
    async with h.sessionmaker() as session:
        found = await session.scalar(
            select(Schedule.id).join(Plan, Plan.id == Schedule.plan_id)
            .where(Plan.code == plan, Schedule.code == code))
    assert found is not None
    return found


async def member_id(h: BotHarness, uid: int) -> int:
    member = await h.member(uid)
    assert member is not None
    return member.id


async def delivered(h: BotHarness, timeout: float = 10.0) -> list[OutboxMessage]:  # noqa: ASYNC109
    """Wait until the harness's sender has sent every outbox row; return them all."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        rows = await h.rows(OutboxMessage)
        if all(r.status not in (OutboxStatus.pending, OutboxStatus.sending) for r in rows):
            break
        if loop.time() > deadline:
            raise AssertionError(f"outbox not drained: {[(r.id, r.status) for r in rows]}")
        await asyncio.sleep(0.02)
    assert all(r.status == OutboxStatus.sent for r in rows), [(r.id, r.status) for r in rows]
    return rows


async def sweep(h: BotHarness, when: str, dry_run: bool = False) -> list[OutboxMessage]:
    async with h.session() as session:
        result = await run_sweep(session, at(when), h.settings.tz, dry_run=dry_run)
        written = list(result.written)
    return written


async def item_keys(h: BotHarness, obligation: Obligation) -> list[str]:
    return [i.dedupe_key for i in await h.rows(OutboxItem,
                                               OutboxItem.obligation_id == obligation.id)]


async def db_state(h: BotHarness) -> dict[str, Any]:
    """Everything a refused action must leave as it was."""
    return {
        "submissions": [(s.id, s.state, s.version, s.review_comment, s.review_fields,
                         s.reviewed_by_member_id) for s in await h.rows(Submission)],
        "obligations": [(o.id, o.status, o.due_at, o.extended_due_at)
                        for o in await h.rows(Obligation)],
        "schedules": [(s.id, s.due_rule, s.reminder_offsets, s.escalation_policy)
                      for s in await h.rows(Schedule)],
        "plans": [(p.id, p.calendar) for p in await h.rows(Plan)],
        "members": [(m.id, m.active, m.pending_action) for m in await h.rows(Member)],
        "forms": await h.count(Form),
        "audit": await h.count(AuditLog),
        "outbox": await h.count(OutboxMessage),
        "invites": [(i.id, i.revoked_at) for i in await h.rows(Invite)],
    }


def files_in(replies: Replies) -> list[str]:
    return [kind for m in replies for kind in ("document", "photo") if m.get(kind)]


# ----------------------------------------------------------------------------- status


async def test_status_counts_expected_received_on_time_late_and_missing(bot: BotHarness) -> None:
    h = bot
    # Hàng Bột reports February on time, Cát Linh a fortnight late; LĐ-TBXH is waived and
    # Công an quận was given until 01/03.
    h.set_now(at("2022-02-10T09:00:00+07:00"))
    hb = await h.obligation("p-hang-bot", "thang", "2022-02")
    await send_ward_report(h, MINH, hb)
    h.set_now(at("2022-03-01T09:00:00+07:00"))
    cl = await h.obligation("p-cat-linh", "thang", "2022-02")
    await send_ward_report(h, LAN, cl)
    async with h.session() as session:
        (await session.get(Obligation, (await h.obligation("ldtbxh", "thang", "2022-02")).id)
         ).status = ObligationStatus.waived
        (await session.get(Obligation, (await h.obligation("ca", "thang", "2022-02")).id)
         ).extended_due_at = at("2022-03-02T00:00:00+07:00")
    h.set_now(at("2022-03-05T08:00:00+07:00"))

    replies = await h.say(MAI, "Tình hình báo cáo")
    text = replies.text
    assert "Tình hình nộp báo cáo — Báo cáo tháng 02/2022" in text, text
    assert "Phải nộp: 4" in text  # the waived report is not expected
    assert "Đã nộp: 2 (đúng hạn 1, quá hạn 1)" in text
    assert "Đã tiếp nhận: 0 · chờ tiếp nhận: 2 · đã trả lại: 0" in text
    assert "Chưa nộp: 2" in text
    assert "Tỷ lệ nộp báo cáo: 50%" in text
    assert "Tỷ lệ nộp đúng hạn: 25%" in text
    # Missing agencies, the latest first: last day 12/02 → 21 days; 01/03 → 4 days.
    missing = text.split("Đơn vị chưa nộp", 1)[1]
    assert missing.strip().splitlines() == ["• P. Ô Chợ Dừa — quá hạn 21 ngày",
                                            "• Công an quận — quá hạn 4 ngày"], missing
    assert "P. Cát Linh —" not in missing and "Phòng LĐ-TBXH" not in missing

    # The chair sees the same; «/status» is the same view.
    assert (await h.say(TUAN, "/status")).text == text

    # «Kỳ sau»: March, not due yet.
    thang = await schedule_id(h, "thang")
    march = await h.press(MAI, f"st:{thang}:2022-03")
    assert "Báo cáo tháng 03/2022" in march.text
    assert "Phải nộp: 5" in march.text and "Chưa nộp: 5" in march.text
    assert "• P. Cát Linh — chưa đến hạn" in march.text
    assert ("« Kỳ trước", f"st:{thang}:2022-02") in march.buttons
    # «Kỳ trước» twice: January, with nobody.
    january = await h.press(MAI, f"st:{thang}:2022-01")
    assert "tháng 01/2022" in january.text and "Tỷ lệ nộp báo cáo: 0%" in january.text
    assert not any(d.startswith(f"st:{thang}:") and "Kỳ trước" in t
                   for t, d in january.buttons), "January is the first period"
    # Another schedule: the quarterly report of LĐ-TBXH and Công an quận.
    quy = await schedule_id(h, "quy")
    quarter = await h.press(MAI, f"st:{quy}:")
    assert "Báo cáo quý I/2022" in quarter.text, quarter.text
    assert "Phải nộp: 2" in quarter.text
    assert {d for _t, d in quarter.buttons} >= {f"xp:{quy}:2022-Q1", f"ch:{quy}:2022-Q1",
                                                f"xl:{quy}:2022-Q1", "tg:", "rq:", "ad:new"}
    assert h.errors == []


# ----------------------------------------------------------------------------- review


async def test_review_queue_open_shows_answers_and_attachments_then_accept(
        bot: BotHarness) -> None:
    h = bot
    cl = await h.obligation("p-cat-linh", "thang", "2022-03")
    hb = await h.obligation("p-hang-bot", "thang", "2022-03")
    await open_report(h, LAN, cl)
    await answer_ward_form(h, LAN, managed=12, inspected=11, attach="pdf")
    await send_and_confirm(h, LAN)
    await open_report(h, MINH, hb)
    await answer_ward_form(h, MINH, attach="photo")
    await send_and_confirm(h, MINH)
    sub_cl, sub_hb = await latest(h, cl), await latest(h, hb)

    queue = await h.say(MAI, "Báo cáo chờ tiếp nhận")
    assert "Báo cáo chờ tiếp nhận" in queue.text
    assert "1. P. Cát Linh — Báo cáo tháng 03/2022" in queue.text, queue.text
    assert "2. P. Hàng Bột — Báo cáo tháng 03/2022" in queue.text
    assert [d for _t, d in queue.buttons] == [f"rv:{sub_cl.id}", f"rv:{sub_hb.id}"]
    assert (await h.say(MAI, "/review")).buttons == queue.buttons

    opened = await h.press(MAI, f"rv:{sub_cl.id}")
    text = opened.text
    assert "UBND phường Cát Linh" in text and "Báo cáo tháng 03/2022" in text
    assert f"Số biên nhận: {sub_cl.receipt_no}" in text and "người gửi: Lan" in text
    assert "🟢 Đúng hạn." in text
    # Numbered as the ward saw them: question 4 (violations) was not asked.
    for line in ("1. Số cơ sở đang quản lý: 12", "2. Số cơ sở đã kiểm tra: 11",
                 "3. Có phát hiện vi phạm không? Không", "6. Hình thức tuyên truyền: Hội nghị",
                 "7. Tự đánh giá: Tốt", "9. Phường không có tệ nạn mại dâm? Có",
                 "11. Văn bản có chữ ký: 📎 bao-cao-thang-3.pdf"):
        assert line in text, (line, text)
    assert "4. Tỷ lệ: — (bỏ qua)" in text
    assert ("✅ Tiếp nhận", f"ac:{sub_cl.id}") in opened.buttons
    assert ("↩️ Trả lại để bổ sung", f"rt:{sub_cl.id}") in opened.buttons
    # The attachment follows as a document, the photo as a photo.
    [pdf] = await h.rows(Attachment, Attachment.submission_id == sub_cl.id)
    assert files_in(opened) == ["document"]
    document = next(m for m in opened if m.get("document"))
    assert document["document"]["file_id"] == pdf.telegram_file_id
    assert h.state.file_content(document["document"]["file_id"]).startswith(b"%PDF")
    photo = await h.press(MAI, f"rv:{sub_hb.id}")
    assert files_in(photo) == ["photo"], photo

    accepted = await h.press(MAI, f"ac:{sub_cl.id}")
    assert "Đã tiếp nhận: P. Cát Linh — Báo cáo tháng 03/2022." in accepted.text
    sub = await latest(h, cl)
    assert sub.state == SubmissionState.accepted
    assert sub.reviewed_by_member_id == await member_id(h, MAI)
    assert sub.reviewed_at is not None
    assert (await fresh(h, cl)).status == ObligationStatus.accepted
    audit = await h.one(AuditLog, AuditLog.action == "submission.accept")
    assert (audit.entity_type, audit.entity_id, audit.actor_member_id, audit.agency_id) == (
        "submission", sub.id, await member_id(h, MAI), cl.agency_id)
    # The sender (not the head) hears about it, through the outbox.
    [message] = await h.rows(OutboxMessage, OutboxMessage.kind == "accepted")
    assert message.member_id == await member_id(h, LAN)
    await delivered(h)
    assert "Báo cáo đã được tiếp nhận" in h.last_text(LAN)
    assert "Báo cáo tháng 03/2022" in h.last_text(LAN)
    assert not any("được tiếp nhận" in t for t in h.bot_texts(HUNG))

    # Reviewed: gone from the queue, and a second press changes nothing.
    queue = await h.say(MAI, "Báo cáo chờ tiếp nhận")
    assert [d for _t, d in queue.buttons] == [f"rv:{sub_hb.id}"]
    again = await h.press_raw(MAI, accepted.last["message_id"], f"ac:{sub_cl.id}")
    assert "Báo cáo này đã được tiếp nhận hoặc trả lại trước đó." in again.text
    assert await h.count(AuditLog, AuditLog.action == "submission.accept") == 1
    assert await h.count(OutboxMessage, OutboxMessage.kind == "accepted") == 1
    # An accepted report opens without review buttons (its document to file remains).
    assert (await h.press_raw(MAI, accepted.last["message_id"], f"rv:{sub_cl.id}")).buttons \
        == [("📝 Văn bản báo cáo (.docx)", f"dc:{sub_cl.id}")]
    assert h.errors == []


async def test_return_with_comment_reopens_at_the_named_field_as_version_two(
        bot: BotHarness) -> None:
    h = bot
    cl = await h.obligation("p-cat-linh", "thang", "2022-03")
    v1 = await send_ward_report(h, LAN, cl, managed=10, inspected=8)
    v1_answers = await answers_of(h, v1)

    await h.say(MAI, "Báo cáo chờ tiếp nhận")
    await h.press(MAI, f"rv:{v1.id}")
    asking = await h.press(MAI, f"rt:{v1.id}")
    assert "Trả lại báo cáo của P. Cát Linh" in asking.text
    assert ("⬜ 2. Số cơ sở đã kiểm tra", f"rf:{v1.id}:1") in asking.buttons
    await h.press(MAI, f"rf:{v1.id}:1")  # tick question 2 (the keyboard is edited in place)
    assert ("☑️ 2. Số cơ sở đã kiểm tra", f"rf:{v1.id}:1") in h.last_buttons(MAI)
    done = await h.say(MAI, "Đề nghị kiểm tra lại số cơ sở đã kiểm tra trong tháng")
    assert ("Đã trả lại báo cáo cho P. Cát Linh kèm ý kiến để bổ sung. Đơn vị đã được thông "
            "báo.") in done.text

    returned = await h.one(Submission, Submission.id == v1.id)
    assert returned.state == SubmissionState.returned
    assert returned.review_comment == "Đề nghị kiểm tra lại số cơ sở đã kiểm tra trong tháng"
    assert returned.review_fields == ["co_so_kiem_tra"]
    assert returned.reviewed_by_member_id == await member_id(h, MAI)
    assert (await fresh(h, cl)).status == ObligationStatus.returned
    audit = await h.one(AuditLog, AuditLog.action == "submission.return")
    assert audit.entity_id == v1.id and audit.details == {
        "comment": "Đề nghị kiểm tra lại số cơ sở đã kiểm tra trong tháng",
        "fields": ["co_so_kiem_tra"]}
    assert (await h.member(MAI)).pending_action is None

    # The whole agency is told (reporter and head), with the comment and a button.
    messages = await h.rows(OutboxMessage, OutboxMessage.kind == "returned")
    assert {m.member_id for m in messages} == {await member_id(h, LAN), await member_id(h, HUNG)}
    for m in messages:
        assert "Đề nghị kiểm tra lại số cơ sở" in m.payload["text"]
        assert "Các câu cần sửa: 2. Số cơ sở đã kiểm tra" in m.payload["text"]
        assert m.payload["buttons"] == [[{"text": "✏️ Mở báo cáo", "data": f"o:{cl.id}"}]]
    await delivered(h)
    notice = h.last_message(LAN)
    assert "Báo cáo được trả lại để bổ sung" in notice["text"]
    assert "Ý kiến: «Đề nghị kiểm tra lại số cơ sở đã kiểm tra trong tháng»" in notice["text"]

    # The reporter taps the button: version 2, at question 2, the other answers copied.
    reopened = await h.press(LAN, f"o:{cl.id}")
    assert "Đây là lần gửi thứ 2 của báo cáo." in reopened.text, reopened.text
    assert "Báo cáo được trả lại với ý kiến: «Đề nghị kiểm tra lại số cơ sở" in reopened.text
    assert "Câu 2/" in reopened.text and "Số cơ sở đã kiểm tra" in reopened.text
    assert "Câu trả lời hiện tại: 8" in reopened.text
    v2 = await latest(h, cl)
    assert (v2.version, v2.state) == (2, SubmissionState.draft)
    assert await answers_of(h, v2) == v1_answers
    review = await h.say(LAN, "9")  # the fix; answering returns to the review
    assert "Xem lại báo cáo" in review.text
    assert "2. Số cơ sở đã kiểm tra: 9" in review.text and "1. Số cơ sở đang quản lý: 10" \
        in review.text
    receipt = await send_and_confirm(h, LAN)
    assert "Lần gửi thứ 2; các lần gửi trước vẫn được lưu." in receipt.text, receipt.text

    v2 = await h.one(Submission, Submission.id == v2.id)
    assert v2.state == SubmissionState.submitted and v2.receipt_no != v1.receipt_no
    assert await answers_of(h, v2) == {**v1_answers, "co_so_kiem_tra": 9}
    kept = await h.one(Submission, Submission.id == v1.id)
    assert kept.state == SubmissionState.superseded
    assert await answers_of(h, kept) == v1_answers  # version 1 is kept as it was
    assert (await fresh(h, cl)).status == ObligationStatus.submitted

    # The reviewer sees version 2 with the history, then accepts it.
    queue = await h.say(MAI, "Báo cáo chờ tiếp nhận")
    assert "P. Cát Linh — Báo cáo tháng 03/2022 v2" in queue.text, queue.text
    opened = await h.press(MAI, f"rv:{v2.id}")
    assert "tháng 03/2022 — v2" in opened.text
    assert "2. Số cơ sở đã kiểm tra: 9" in opened.text
    assert ("Lần gửi thứ 1 đã được trả lại với ý kiến: «Đề nghị kiểm tra lại số cơ sở đã "
            "kiểm tra trong tháng»") in opened.text
    await h.press(MAI, f"ac:{v2.id}")
    assert (await fresh(h, cl)).status == ObligationStatus.accepted
    await h.say(MAI, "Tình hình báo cáo")
    status = await h.press(MAI, f"st:{await schedule_id(h, 'thang')}:2022-03")
    assert "Đã tiếp nhận: 1 · chờ tiếp nhận: 0 · đã trả lại: 0" in status.text
    assert "Đã nộp: 1 (đúng hạn 1, quá hạn 0)" in status.text
    assert h.errors == []


@SQLITE_ONLY
async def test_return_without_fields_and_cancel(bot: BotHarness) -> None:
    h = bot
    cl = await h.obligation("p-cat-linh", "thang", "2022-03")
    v1 = await send_nothing_to_report(h, LAN, cl)
    await h.say(MAI, "Báo cáo chờ tiếp nhận")
    opened = await h.press(MAI, f"rv:{v1.id}")
    assert "Ghi nhận: trong kỳ không phát sinh." in opened.text
    await h.press(MAI, f"rt:{v1.id}")
    cancelled = await h.press(MAI, "rx:")
    assert "Đã hủy; báo cáo giữ nguyên." in cancelled.text
    assert (await h.member(MAI)).pending_action is None
    # After the cancel, a text is just a text: nothing is returned.
    await h.say(MAI, "Không phải ý kiến")
    assert (await h.one(Submission, Submission.id == v1.id)).state == SubmissionState.submitted
    # Returned with a comment only: the report reopens at its review screen.
    await h.press(MAI, f"rv:{v1.id}")
    await h.press(MAI, f"rt:{v1.id}")
    await h.say(MAI, "Tháng này có kiểm tra, đề nghị báo cáo số liệu")
    returned = await h.one(Submission, Submission.id == v1.id)
    assert returned.state == SubmissionState.returned and returned.review_fields == []
    reopened = await open_report(h, LAN, cl)
    assert "Đây là lần gửi thứ 2 của báo cáo." in reopened.text
    assert h.errors == []


# ----------------------------------------------------------------------------- targets


@SQLITE_ONLY
async def test_targets_from_accepted_answers_and_with_submitted_ones(bot: BotHarness) -> None:
    h = bot
    cl = await h.obligation("p-cat-linh", "thang", "2022-03")
    hb = await h.obligation("p-hang-bot", "thang", "2022-03")
    v_cl = await send_ward_report(h, LAN, cl, managed=10, inspected=9, clean=True)  # 90 %
    await send_ward_report(h, MINH, hb, managed=10, inspected=10, clean=True)  # 100 %
    await h.say(MAI, "Báo cáo chờ tiếp nhận")
    await h.press(MAI, f"rv:{v_cl.id}")
    await h.press(MAI, f"ac:{v_cl.id}")  # Hàng Bột stays «submitted»

    await h.say(MAI, "Tình hình báo cáo")
    targets = await h.press(MAI, "tg:")
    text = targets.text
    assert "Tiến độ thực hiện chỉ tiêu — Kế hoạch thử nghiệm năm 2022" in text
    assert "Số liệu từ báo cáo đã tiếp nhận" in text
    assert "⏳ Phường kiểm tra trên 80% cơ sở: 1/3" in text, text
    assert "⏳ Phường không có tệ nạn: 1/3 (chỉ tiêu 3)" in text
    assert targets.buttons == [("Tính cả báo cáo chờ tiếp nhận", "tg:all")]
    assert (await h.say(TUAN, "/targets")).text == text  # the chair sees the same

    both = await h.press(MAI, "tg:all")
    assert "Số liệu từ báo cáo đã tiếp nhận và báo cáo chờ tiếp nhận" in both.text
    assert "⏳ Phường kiểm tra trên 80% cơ sở: 2/3" in both.text, both.text
    assert "⏳ Phường không có tệ nạn: 2/3 (chỉ tiêu 3)" in both.text
    assert both.buttons == [("Chỉ tính báo cáo đã tiếp nhận", "tg:")]
    assert "1/3" in (await h.press(MAI, "tg:")).text
    assert h.errors == []


@SQLITE_ONLY
async def test_a_per_agency_target_is_shown_per_agency(bot: BotHarness) -> None:
    h = bot
    cl = await h.obligation("p-cat-linh", "thang", "2022-03")
    hb = await h.obligation("p-hang-bot", "thang", "2022-03")
    await send_ward_report(h, LAN, cl, managed=10, inspected=9)  # 90 %
    await send_ward_report(h, MINH, hb, managed=10, inspected=5)  # 50 %
    await h.say(TUAN, "/targets")
    text = (await h.press(TUAN, "tg:all")).text
    ratio = text.split("Phường kiểm tra trên 80% cơ sở", 1)[1].split("Phường không có", 1)[0]
    assert "P. Cát Linh" in ratio and "90%" in ratio, text
    assert "P. Hàng Bột" in ratio and "50%" in ratio, text


@SQLITE_ONLY
async def test_sum_target_counts_monthly_reports_once(database_url: str) -> None:
    """Đống Đa: «05 vụ án» from the police's monthly reports; the quarterly report repeats
    the same figures and must not be added again."""
    async with started(database_url, plan=DONGDA_PLAN) as h:
        await h.join(1, "ca", "reporter")
        await h.join(2, "ldtbxh", "standing_office")

        async def police_report(schedule: str, period: str, cases: int) -> Submission:
            obligation = await h.obligation("ca", schedule, period)
            await open_report(h, 1, obligation)
            await h.say(1, "2")  # vu_an_phat_hien
            await h.say(1, str(cases))  # vu_an_xu_ly
            if cases:
                await h.say(1, str(cases))  # bi_can_khoi_to
            await h.tap(1, "Bỏ qua")  # chuyen_an
            await h.say(1, "0")  # nguoi_xu_phat_hc
            await h.say(1, "0")  # co_so_kiem_tra: hides the rest
            await h.tap(1, "Bỏ qua")  # kho_khan
            # Đống Đa requires the signed report (signed_file: required): no «Bỏ qua».
            review = await h.send_document(1, "bao-cao-cong-an.pdf", mime_type="application/pdf")
            assert "Xem lại báo cáo" in review.text, review.text
            await send_and_confirm(h, 1)
            submission = await latest(h, obligation)
            await h.press_raw(2, h.last_message(2)["message_id"], f"ac:{submission.id}")
            return submission

        await h.say(2, "/start")
        await police_report("thang", "2022-01", 1)
        await police_report("thang", "2022-02", 2)
        await police_report("quy", "2022-Q1", 3)
        text = (await h.press_raw(2, h.last_message(2)["message_id"], "tg:")).text
        assert "Phát hiện, khám phá, xử lý hình sự 05 vụ án liên quan đến hoạt động mại dâm: " \
               "3/5 vụ án (60%)" in text, text
        # The 21 wards: nobody has reported yet.
        assert "Duy trì Mô hình phòng, chống mại dâm cấp xã tại 21 phường: chưa có số liệu " \
               "(chỉ tiêu 21 phường)" in text
        assert h.errors == []


# ----------------------------------------------------------------------------- extension


async def test_extension_moves_one_deadline_and_the_sweep_follows_it(bot: BotHarness) -> None:
    h = bot
    cl = await h.obligation("p-cat-linh", "thang", "2022-03")
    hb = await h.obligation("p-hang-bot", "thang", "2022-03")
    # Monday 07/03: the 7-day reminder of the original deadline (last day Saturday 12/03).
    await sweep(h, "2022-03-07T08:00:00+07:00")
    lan = await member_id(h, LAN)
    assert await item_keys(h, cl) == [f"reminder:{cl.id}:2022-03-12:7:{lan}"]
    h.set_now(at("2022-03-07T09:00:00+07:00"))

    thang = await schedule_id(h, "thang")
    status = await h.press_raw(MAI, (await h.say(MAI, "/status")).last["message_id"],
                               f"st:{thang}:2022-03")
    listing = await h.press(MAI, f"xl:{thang}:2022-03")
    assert "Gia hạn cho đơn vị nào?" in listing.text
    assert ("P. Cát Linh", f"ex:{cl.id}") in listing.buttons
    assert len(listing.buttons) == 5, status.text
    asked = await h.press(MAI, f"ex:{cl.id}")
    assert "Gia hạn cho P. Cát Linh — Báo cáo tháng 03/2022" in asked.text
    wrong = await h.say(MAI, "20/03/2022")  # no reason
    assert wrong.text.startswith("⚠️"), wrong.text
    past = await h.say(MAI, "01/03/2022 quá khứ")
    assert "Hạn nộp mới không được trước ngày hôm nay." in past.text, past.text
    done = await h.say(MAI, "20/03/2022 Phường đang tổng hợp số liệu")
    assert ("Đã gia hạn cho P. Cát Linh đến hết ngày 20/03/2022 (Chủ Nhật). Đơn vị đã được "
            "thông báo.") in done.text, done.text

    extended = await fresh(h, cl)
    assert extended.extended_due_at == at("2022-03-21T00:00:00+07:00")
    assert extended.due_at == cl.due_at  # the rule's deadline is kept
    assert extended.extension_reason == "Phường đang tổng hợp số liệu"
    assert (await fresh(h, hb)).extended_due_at is None  # one agency only
    audit = await h.one(AuditLog, AuditLog.action == "obligation.extend")
    assert (audit.entity_id, audit.agency_id, audit.actor_member_id) == (
        cl.id, cl.agency_id, await member_id(h, MAI))
    assert audit.details["reason"] == "Phường đang tổng hợp số liệu"
    assert at(audit.details["to"]) == at("2022-03-21T00:00:00+07:00")
    assert at(audit.details["from"]) == at("2022-03-13T00:00:00+07:00")
    told = await h.rows(OutboxMessage, OutboxMessage.kind == "extended")
    assert {m.member_id for m in told} == {lan, await member_id(h, HUNG)}
    await delivered(h)
    assert "Gia hạn nộp báo cáo" in h.last_text(LAN)
    assert "Hạn nộp mới: hết ngày 20/03/2022" in h.last_text(LAN), h.last_text(LAN)
    assert "Lý do: Phường đang tổng hợp số liệu" in h.last_text(LAN)
    # The status shows the new deadline: not due yet.
    status = await h.press_raw(MAI, h.last_message(MAI)["message_id"], f"st:{thang}:2022-03")
    assert "Tỷ lệ nộp báo cáo: 0%" in status.text

    # Monday 14/03: Hàng Bột is overdue, Cát Linh is not; its reminders start over.
    await sweep(h, "2022-03-14T08:00:00+07:00")
    minh = await member_id(h, MINH)
    assert f"overdue:{hb.id}:2022-03-12:0:{minh}" in await item_keys(h, hb)
    keys = await item_keys(h, cl)
    assert not any(k.startswith("overdue:") for k in keys), keys
    assert f"reminder:{cl.id}:2022-03-20:7:{lan}" in keys, keys
    # Friday 18/03, the last working day before Sunday 20/03: the day-before and day-of
    # reminders of the new deadline, merged into one (keyed by the smallest offset).
    await sweep(h, "2022-03-18T08:00:00+07:00")
    assert f"reminder:{cl.id}:2022-03-20:0:{lan}" in await item_keys(h, cl)
    # Monday 21/03: overdue against the new deadline.
    await sweep(h, "2022-03-21T08:00:00+07:00")
    assert f"overdue:{cl.id}:2022-03-20:0:{lan}" in await item_keys(h, cl)
    assert h.errors == []


# ----------------------------------------------------------------------------- ad hoc


@SQLITE_ONLY
async def test_adhoc_request_with_a_quick_form_to_one_kind(bot: BotHarness) -> None:
    h = bot
    await h.say(MAI, "/adhoc")
    await h.say(MAI, "Báo cáo nhanh tình hình tụ điểm sau Tết")
    kinds = h.last_buttons(MAI)
    assert ("Tất cả đơn vị", "ad:all") in kinds and ("Phường (3)", "ad:k:phuong") in kinds
    await h.press(MAI, "ad:k:phuong")
    await h.press(MAI, "ad:q")
    await h.say(MAI, "Số tụ điểm phát hiện (số)\nCó tái phát không (có/không)\nGhi chú")
    confirm = await h.say(MAI, "20/03/2022")
    assert "Gửi yêu cầu báo cáo đột xuất này?" in confirm.text
    assert "Số đơn vị: 3 — P. Cát Linh, P. Hàng Bột, P. Ô Chợ Dừa" in confirm.text
    assert "Hạn nộp: 20/03/2022 (Chủ Nhật)" in confirm.text
    sent = await h.press(MAI, "ad:ok")
    assert "Đã gửi yêu cầu báo cáo đột xuất tới 3 đơn vị." in sent.text

    schedule = await h.one(Schedule, Schedule.period_type == "ad_hoc",
                           Schedule.code.startswith("adhoc-"))
    assert (schedule.code, schedule.name) == ("adhoc-1", "Báo cáo nhanh tình hình tụ điểm sau Tết")
    obligations = await h.rows(Obligation, Obligation.schedule_id == schedule.id)
    wards = {a.id for a in await h.rows(Agency, Agency.kind == "phuong")}
    assert {o.agency_id for o in obligations} == wards
    assert all(o.due_at == at("2022-03-21T00:00:00+07:00") and o.period_type == "ad_hoc"
               for o in obligations)
    form = await h.one(Form, Form.id == schedule.form_id)
    assert form.title == "Báo cáo nhanh tình hình tụ điểm sau Tết"
    audit = await h.one(AuditLog, AuditLog.action == "adhoc.create")
    assert audit.entity_id == schedule.id and audit.details["agencies"] == 3

    due = await h.say(LAN, "Báo cáo cần nộp")
    assert "Báo cáo nhanh tình hình tụ điểm sau Tết · báo cáo đột xuất" in due.text
    cat_linh = (await h.agency("p-cat-linh")).id
    mine = next(o for o in obligations if o.agency_id == cat_linh)
    assert any(d == f"o:{mine.id}" for _t, d in due.buttons)
    assert "đột xuất" not in (await h.say(MAI, "Báo cáo cần nộp")).text  # not LĐ-TBXH's

    # The next sweep (Monday) announces it; reminders follow the deadline.
    await sweep(h, "2022-03-07T08:00:00+07:00")
    lan = await member_id(h, LAN)
    assert f"notice:{mine.id}:{lan}" in await item_keys(h, mine)
    await sweep(h, "2022-03-17T08:00:00+07:00")
    assert f"reminder:{mine.id}:2022-03-20:3:{lan}" in await item_keys(h, mine)

    # It is a report like any other: three questions, then the review.
    question = await open_report(h, LAN, mine)
    assert "Câu 1/3" in question.text and "Số tụ điểm phát hiện" in question.text
    await h.say(LAN, "2")
    await h.tap(LAN, "Không")
    review = await h.say(LAN, "Đã xử lý")
    assert "Xem lại báo cáo" in review.text
    await send_and_confirm(h, LAN)
    assert await answers_of(h, await latest(h, mine)) == {"q1": 2, "q2": False, "q3": "Đã xử lý"}
    assert h.errors == []


@SQLITE_ONLY
async def test_adhoc_request_with_an_existing_form_to_a_list_and_to_all(bot: BotHarness) -> None:
    h = bot
    ca, cl = await h.agency("ca"), await h.agency("p-cat-linh")
    chung = await h.one(Form, Form.code == "chung")
    await h.say(MAI, "/adhoc")
    await h.say(MAI, "Báo cáo kiểm tra liên ngành")
    await h.press(MAI, "ad:p")
    await h.press(MAI, f"ad:t:{ca.id}")
    await h.press(MAI, f"ad:t:{cl.id}")
    assert ("☑️ Công an quận", f"ad:t:{ca.id}") in h.last_buttons(MAI)
    forms = await h.press(MAI, "ad:d")
    assert ("Báo cáo chung", f"ad:f:{chung.id}") in forms.buttons
    await h.press(MAI, f"ad:f:{chung.id}")
    confirm = await h.say(MAI, "18/03/2022 17:00")
    assert "Biểu mẫu: Báo cáo chung" in confirm.text and "Số đơn vị: 2" in confirm.text
    await h.press(MAI, "ad:ok")
    schedule = await h.one(Schedule, Schedule.code == "adhoc-1")
    assert schedule.form_id == chung.id
    obligations = await h.rows(Obligation, Obligation.schedule_id == schedule.id)
    assert {o.agency_id for o in obligations} == {ca.id, cl.id}
    assert {o.due_at for o in obligations} == {at("2022-03-18T17:00:00+07:00")}
    assert await h.count(Form) == 2  # no new form

    await h.say(MAI, "/adhoc")
    await h.say(MAI, "Báo cáo toàn quận")
    await h.press(MAI, "ad:all")
    await h.press(MAI, f"ad:f:{chung.id}")
    await h.say(MAI, "25/03/2022")
    await h.press(MAI, "ad:ok")
    everyone = await h.one(Schedule, Schedule.code == "adhoc-2")
    assert await h.count(Obligation, Obligation.schedule_id == everyone.id) == 5
    assert await h.count(AuditLog, AuditLog.action == "adhoc.create") == 2
    assert h.errors == []


# ----------------------------------------------------------------------------- export


def sheet_values(content: bytes) -> dict[str, list[tuple[Any, ...]]]:
    book = load_workbook(io.BytesIO(content))
    return {ws.title: [tuple(row) for row in ws.iter_rows(values_only=True)]
            for ws in book.worksheets}


@SQLITE_ONLY
async def test_excel_export_chart_and_the_cli_write_the_same_file(
        bot: BotHarness, sqlite_url: str, tmp_path: Path) -> None:
    h = bot
    cl = await h.obligation("p-cat-linh", "thang", "2022-03")
    hb = await h.obligation("p-hang-bot", "thang", "2022-03")
    ldtbxh = await h.obligation("ldtbxh", "thang", "2022-03")
    v1 = await send_ward_report(h, LAN, cl, managed=12, inspected=7, clean=False)
    await send_ward_report(h, MINH, hb, managed=30, inspected=25)
    await h.join(3010, "ldtbxh", "reporter")
    await open_report(h, 3010, ldtbxh)
    await h.say(3010, "4")  # so_buoi
    await h.tap(3010, "Bỏ qua")
    await send_and_confirm(h, 3010)
    # Cát Linh is returned on Saturday 05/03 and sends version 2 on Monday 14/03: late, by
    # the time the return gave (5 working days, but not before the last day 12/03), 2 days.
    await h.say(MAI, "Báo cáo chờ tiếp nhận")
    await h.press(MAI, f"rv:{v1.id}")
    await h.press(MAI, f"rt:{v1.id}")
    await h.say(MAI, "Sửa số kiểm tra")
    h.set_now(at("2022-03-14T10:00:00+07:00"))
    await open_report(h, LAN, cl)
    await h.tap(LAN, "Gửi báo cáo")
    await h.tap(LAN, "Xác nhận gửi")

    thang = await schedule_id(h, "thang")
    status = await h.say(MAI, "Tình hình báo cáo")  # March is now past its deadline
    assert "Báo cáo tháng 03/2022" in status.text, status.text
    exported = await h.press(MAI, f"xp:{thang}:2022-03")
    [message] = [m for m in exported if m.get("document")]
    assert message["document"]["file_name"] == "mini-2022_thang_2022-03.xlsx"
    assert message["document"]["mime_type"].endswith("spreadsheetml.sheet")
    content = h.state.file_content(message["document"]["file_id"])
    sheets = sheet_values(content)
    # Sheets named by the form titles, after the cover and the status sheets.
    assert list(sheets) == ["Tổng hợp", "Tình hình nộp", "Báo cáo chung",
                            "Báo cáo của UBND phường"], list(sheets)

    ward = sheets["Báo cáo của UBND phường"]
    assert ward[0][:4] == ("Đơn vị", "Trạng thái", "1. Số cơ sở đang quản lý",
                           "2. Số cơ sở đã kiểm tra")
    assert len(ward[0]) == 2 + 12  # a column per field
    rows = {r[0]: r for r in ward[1:-1]}
    assert set(rows) == {"UBND phường Cát Linh", "UBND phường Hàng Bột", "UBND phường Ô Chợ Dừa"}
    assert rows["UBND phường Cát Linh"][1:4] == ("Đã nộp, chờ tiếp nhận", 12, 7)
    assert rows["UBND phường Hàng Bột"][1:4] == ("Đã nộp, chờ tiếp nhận", 30, 25)
    assert rows["UBND phường Ô Chợ Dừa"][1:4] == ("Chưa nộp", None, None)
    assert rows["UBND phường Cát Linh"][11] == "Không" and rows["UBND phường Hàng Bột"][11] == "Có"
    totals = ward[-1]
    assert totals[:4] == ("Tổng cộng", None, "=SUM(C2:C4)", "=SUM(D2:D4)")
    assert totals[11] == '=COUNTIF(L2:L4,"Có")'
    # The totals cover exactly the agency rows: their sums are the sums of the answers.
    assert sum(r[2] or 0 for r in rows.values()) == 42
    assert sum(r[3] or 0 for r in rows.values()) == 32
    common = sheets["Báo cáo chung"]
    assert [r[0] for r in common[1:-1]] == ["Phòng Lao động, Thương binh và Xã hội",
                                            "Công an quận"]
    assert common[1][2] == 4 and common[-1][2] == "=SUM(C2:C3)"

    cover = {r[0]: r[1] for r in sheets["Tổng hợp"] if r and r[0]}
    assert (cover["Phải nộp"], cover["Đã nộp"], cover["Nộp đúng hạn"]) == (5, 3, 2)
    state = sheets["Tình hình nộp"]
    header = state[0][:9]
    assert header == ("Đơn vị", "Hạn nộp", "Gửi lần đầu", "Gửi lần cuối", "Đúng hạn",
                      "Số lần gửi", "Trạng thái", "Số biên nhận", "Người gửi")
    assert state[0][9:] == ("Số ngày quá hạn", "Bổ sung")
    by_agency = {r[0]: r for r in state[1:-1]}
    first = by_agency["UBND phường Cát Linh"]
    # The last day to submit, as the bot says it («hết ngày 12/03»), in a date cell.
    assert first[1] == dt.datetime(2022, 3, 12, 0, 0)
    # The bot's clock runs on from the instant it was set to: compare to the minute.
    assert first[2].replace(second=0, microsecond=0) == dt.datetime(2022, 3, 5, 8, 0)
    assert first[3].replace(second=0, microsecond=0) == dt.datetime(2022, 3, 14, 10, 0)
    assert (first[4], first[5], first[6], first[8]) == ("Không", 2, "Đã nộp, chờ tiếp nhận",
                                                        "Lan")
    assert first[9:] == (2, "Quá hạn 2 ngày")
    assert by_agency["UBND phường Hàng Bột"][4:6] == ("Có", 1)
    assert by_agency["UBND phường Hàng Bột"][9:] == (0, None)
    assert by_agency["Công an quận"][2:7] == (None, None, None, 0, "Chưa nộp")
    assert "Chưa nộp: 2" in status.text

    # The chart is a photo.
    chart = await h.press(MAI, f"ch:{thang}:2022-03")
    [photo] = [m for m in chart if m.get("photo")]
    assert h.state.file_content(photo["photo"][-1]["file_id"]).startswith(b"\x89PNG")

    # `python -m bot export` writes the same sheets.
    out = tmp_path / "thang-2022-03.xlsx"
    url = h.database_url
    result = await asyncio.to_thread(run_cli, "export", "--plan", "mini-2022", "--schedule",
                                     "thang", "--period", "2022-03", "--out", str(out),
                                     DATABASE_URL=url)
    assert result.returncode == 0, result.stderr
    written = sheet_values(out.read_bytes())
    # The same, but for the time of export on the cover.
    assert {k: v for k, v in written.items() if k != "Tổng hợp"} == {
        k: v for k, v in sheets.items() if k != "Tổng hợp"}
    assert [r for r in written["Tổng hợp"] if r[0] != "Thời điểm xuất"] == [
        r for r in sheets["Tổng hợp"] if r[0] != "Thời điểm xuất"]
    bad = await asyncio.to_thread(run_cli, "export", "--plan", "mini-2022", "--schedule", "thang",
                                  "--period", "2031-01", "--out", str(tmp_path / "x.xlsx"),
                                  DATABASE_URL=url)
    assert bad.returncode == 1 and "no period" in bad.stderr
    assert h.errors == []


# ----------------------------------------------------------------------------- roles

COMMANDS = ["/status", "/review", "/adhoc", "/targets", "/admin", "/audit", "/audit 5 ca"]


@SQLITE_ONLY
@pytest.mark.parametrize("who", [LAN, HUNG, STRANGER])
async def test_others_get_a_polite_refusal_and_nothing_changes(bot: BotHarness, who: int) -> None:
    h = bot
    cl = await h.obligation("p-cat-linh", "thang", "2022-03")
    submission = await send_ward_report(h, LAN, cl)
    thang = await schedule_id(h, "thang")
    plan = await h.one(Plan)
    await h.invite("p-hang-bot")
    invite = (await h.rows(Invite))[-1]
    mai = await member_id(h, MAI)
    before = await db_state(h)
    committee_only = ["rq:", f"rv:{submission.id}", f"ac:{submission.id}",
                      f"rt:{submission.id}", f"rf:{submission.id}:0", "rx:",
                      f"st:{thang}:2022-03", "tg:", "tg:all", f"xp:{thang}:2022-03",
                      f"ch:{thang}:2022-03", f"xl:{thang}:2022-03", f"ex:{cl.id}", "ad:new",
                      "ad:all", "ad:ok", "ra:1", "dd:1"]
    admin_only = ["ai:", f"ai:r:{cl.agency_id}:admin", f"ar:{invite.id}", "am:",
                  f"md:{mai}", f"md:{mai}:y", "as:", f"as:d:{thang}", f"as:r:{thang}", "ap:",
                  f"ap:x:{plan.id}:0", "al:", "al:csv"]
    if who == STRANGER:
        await h.say(who, "/start")
    message_id = h.last_message(who)["message_id"]

    for command in COMMANDS:
        replies = await h.say(who, command)
        text = replies.text
        if command.startswith(("/admin", "/audit")):
            assert text == ADMINS_ONLY, (command, text)
        else:
            assert text == REFUSED, (command, text)
    for data in committee_only + admin_only:
        replies = await h.press_raw(who, message_id, data)
        text = replies.text
        assert files_in(replies) == [], data
        if who == STRANGER:
            assert STRANGER_TEXT in text, (data, text)
        elif data in admin_only:
            assert text == ADMINS_ONLY, (data, text)
        else:
            assert text == REFUSED, (data, text)
    # A text afterwards is not taken as a comment, a deadline or a title.
    await h.say(who, "20/03/2022 lý do")
    assert await db_state(h) == before
    assert h.errors == []


@SQLITE_ONLY
async def test_the_standing_office_of_one_committee_cannot_act_on_another(
        database_url: str) -> None:
    """Two committees: Đống Đa (A) and the mini plan's test committee (B). Agency codes
    overlap (both have ldtbxh and p-cat-linh), ids do not."""
    async with started(database_url, plan=DONGDA_PLAN) as h:
        await h.import_plan(MINI_PLAN)

        async def join(uid: int, agency: str, role: str, plan: str) -> None:
            code = await h.invite(agency, role, plan=plan)
            assert "✅" in (await h.say(uid, f"/start {code}")).text

        A_SO, A_ADMIN, B_REP, B_SO = 11, 12, 21, 22
        await join(A_SO, "ldtbxh", "standing_office", "dongda-2022")
        await join(A_ADMIN, "ldtbxh", "admin", "dongda-2022")
        await join(B_REP, "p-cat-linh", "reporter", "mini-2022")
        await join(B_SO, "ldtbxh", "standing_office", "mini-2022")
        b_agency = await h.agency("p-cat-linh", "mini-2022")
        b_obligation = await h.obligation("p-cat-linh", "thang", "2022-03", plan="mini-2022")
        assert b_obligation.agency_id == b_agency.id
        submission = await send_nothing_to_report(h, B_REP, b_obligation)
        b_thang = await schedule_id(h, "thang", "mini-2022")
        b_form = await h.one(Form, Form.code == "chung",
                             Form.plan_id == (await h.one(Plan, Plan.code == "mini-2022")).id)
        b_member = await member_id(h, B_REP)
        await h.invite("p-hang-bot", plan="mini-2022")
        [b_invite_row] = [i for i in await h.rows(Invite) if i.agency_id != b_agency.id
                          and i.used_at is None]
        before = await db_state(h)

        queue = await h.say(A_SO, "Báo cáo chờ tiếp nhận")
        assert "Không có báo cáo nào chờ tiếp nhận." in queue.text
        message_id = queue.last["message_id"]
        for data in (f"rv:{submission.id}", f"ac:{submission.id}", f"rt:{submission.id}",
                     f"rf:{submission.id}:0", f"xp:{b_thang}:2022-03", f"ch:{b_thang}:2022-03",
                     f"ex:{b_obligation.id}"):
            replies = await h.press_raw(A_SO, message_id, data)
            assert replies.text == STALE, (data, replies.text)
            assert files_in(replies) == []
        listing = await h.press_raw(A_SO, message_id, f"xl:{b_thang}:2022-03")
        assert listing.buttons == [], listing.buttons
        # A foreign schedule id shows the member's own committee instead.
        status = await h.press_raw(A_SO, message_id, f"st:{b_thang}:2022-03")
        assert "Phải nộp: 36" in status.text, status.text
        for data in (f"md:{b_member}:y", f"ai:r:{b_agency.id}:reporter", f"am:a:{b_agency.id}",
                     f"as:s:{b_thang}", f"as:d:{b_thang}", f"ar:{b_invite_row.id}"):
            replies = await h.press_raw(A_ADMIN, h.last_message(A_ADMIN)["message_id"], data)
            assert replies.text == STALE, (data, replies.text)
        assert await db_state(h) == before
        # An ad-hoc request cannot use the other committee's form.
        await h.say(A_SO, "/adhoc")
        await h.say(A_SO, "Báo cáo thử")
        await h.press(A_SO, "ad:all")
        refused = await h.press_raw(A_SO, h.last_message(A_SO)["message_id"],
                                    f"ad:f:{b_form.id}")
        assert refused.text == STALE, refused.text  # not even the form's title is shown
        replies = await h.say(A_SO, "20/03/2022")
        assert b_form.title not in replies.text, replies.text
        assert await h.count(Schedule, Schedule.code.startswith("adhoc-")) == 0

        # B's own standing office can.
        await h.say(B_SO, "Báo cáo chờ tiếp nhận")
        await h.press(B_SO, f"rv:{submission.id}")
        await h.press(B_SO, f"ac:{submission.id}")
        assert (await latest(h, b_obligation)).state == SubmissionState.accepted
        assert h.errors == []


@SQLITE_ONLY
async def test_a_head_and_a_reporter_still_see_only_their_agency(bot: BotHarness) -> None:
    """The committee's menu is for the committee; the head sees the agency's reports."""
    h = bot
    assert "Tình hình báo cáo" in h.reply_keyboard(MAI)
    assert "Tình hình báo cáo" in h.reply_keyboard(TUAN)
    assert "Tình hình báo cáo" not in h.reply_keyboard(HUNG)
    assert "Tình hình báo cáo" not in h.reply_keyboard(LAN)
    # Typing the committee menu's label does not open it for them.
    typed = await h.say(HUNG, "Tình hình báo cáo")
    assert "Phải nộp" not in typed.text
    due = await h.say(HUNG, "Báo cáo cần nộp")
    assert "P. Cát Linh" in due.text and "P. Hàng Bột" not in due.text
    hb = await h.obligation("p-hang-bot", "thang", "2022-03")
    other = await h.press_raw(HUNG, due.last["message_id"], f"o:{hb.id}")
    assert "thuộc đơn vị khác" in other.text
    assert h.errors == []


# ----------------------------------------------------------------------------- product bugs


@SQLITE_ONLY
async def test_cancel_stops_a_pending_return(bot: BotHarness) -> None:
    h = bot
    cl = await h.obligation("p-cat-linh", "thang", "2022-03")
    submission = await send_ward_report(h, LAN, cl)
    await h.say(MAI, "Báo cáo chờ tiếp nhận")
    await h.press(MAI, f"rv:{submission.id}")
    await h.press(MAI, f"rt:{submission.id}")
    stopped = await h.say(MAI, "/cancel")
    assert "Không có thao tác nào để hủy." not in stopped.text, stopped.text
    await h.say(MAI, "cảm ơn")
    assert (await latest(h, cl)).state == SubmissionState.submitted
    assert await h.count(OutboxMessage, OutboxMessage.kind == "returned") == 0


@SQLITE_ONLY
async def test_a_return_naming_two_questions_asks_both_again(bot: BotHarness) -> None:
    h = bot
    cl = await h.obligation("p-cat-linh", "thang", "2022-03")
    submission = await send_ward_report(h, LAN, cl, managed=10, inspected=8)
    await h.say(MAI, "Báo cáo chờ tiếp nhận")
    await h.press(MAI, f"rv:{submission.id}")
    await h.press(MAI, f"rt:{submission.id}")
    await h.press(MAI, f"rf:{submission.id}:0")  # 1. Số cơ sở đang quản lý
    await h.press(MAI, f"rf:{submission.id}:1")  # 2. Số cơ sở đã kiểm tra
    await h.say(MAI, "Đề nghị kiểm tra lại hai số liệu đầu")
    assert (await h.one(Submission, Submission.id == submission.id)).review_fields == [
        "co_so_quan_ly", "co_so_kiem_tra"]
    first = await open_report(h, LAN, cl)
    assert "Số cơ sở đang quản lý" in first.text and "Câu 1/" in first.text
    second = await h.say(LAN, "12")
    assert "Câu 2/" in second.text and "Số cơ sở đã kiểm tra" in second.text, second.text


@SQLITE_ONLY
async def test_the_questions_to_fix_carry_the_numbers_the_reporter_sees(bot: BotHarness) -> None:
    h = bot
    cl = await h.obligation("p-cat-linh", "thang", "2022-03")
    submission = await send_ward_report(h, LAN, cl)  # «Có vi phạm?» Không: question 4 hidden
    await h.say(MAI, "Báo cáo chờ tiếp nhận")
    await h.press(MAI, f"rv:{submission.id}")
    await h.press(MAI, f"rt:{submission.id}")
    await h.press(MAI, f"rf:{submission.id}:4")  # Tỷ lệ
    await h.say(MAI, "Đề nghị ghi tỷ lệ")
    await delivered(h)
    notice = h.last_text(LAN)
    reopened = await h.press(LAN, f"o:{cl.id}")
    shown = re.search(r"Câu (\d+)/\d+", reopened.text)
    assert shown and "Tỷ lệ" in reopened.text, reopened.text
    assert f"Các câu cần sửa: {shown.group(1)}. Tỷ lệ" in notice, (notice, reopened.text)


@SQLITE_ONLY
async def test_an_adhoc_request_appears_in_the_status_view(bot: BotHarness) -> None:
    h = bot
    await h.say(MAI, "/adhoc")
    await h.say(MAI, "Báo cáo nhanh sau Tết")
    await h.press(MAI, "ad:all")
    await h.press(MAI, "ad:q")
    await h.say(MAI, "Số tụ điểm (số)")
    await h.say(MAI, "20/03/2022")
    await h.press(MAI, "ad:ok")
    schedule = await h.one(Schedule, Schedule.code == "adhoc-1")
    status = await h.say(MAI, "Tình hình báo cáo")
    assert (schedule.name, f"st:{schedule.id}:") in status.buttons, status.buttons
