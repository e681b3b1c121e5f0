"""Handler tests for the guided form (issue 3, §3, §4, §6): every field type and validation
path, skip logic, back/skip/cancel, resuming after a restart, «Không phát sinh», attachments,
review and change, submit and the late flag, stale and tampered buttons, authorization, two
editors and returned reports.

The form is the mini plan's ward form (`tests/data/mini-plan.yaml`, form `phuong`):

  1 co_so_quan_ly integer ≥ 0        7 hinh_thuc multi_choice
  2 co_so_kiem_tra integer ≥ 0       8 xep_loai choice (Tốt / Khá)
  3 co_vi_pham yes_no                9 ngay_hop date ≥ 01/01/2022, optional
  4 co_so_vi_pham (if co_vi_pham)   10 khong_te_nan yes_no
  5 ty_le percent, optional         11 kho_khan long_text, optional
  6 kinh_phi decimal ≥ 0, optional  12 van_ban file, optional

with the checks co_so_kiem_tra ≤ co_so_quan_ly and co_so_vi_pham ≤ co_so_kiem_tra.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest

from db.models import (
    Answer,
    Attachment,
    AuditLog,
    Member,
    Obligation,
    ObligationStatus,
    Submission,
    SubmissionState,
)
from tests.support.harness import (
    DONGDA_PLAN,
    HANOI,
    PDF_BYTES,
    BotHarness,
    Replies,
    inline_buttons,
    reply_keyboard,
)

LAN = 2001  # reporter of P. Cát Linh
HUNG = 2002  # head of P. Cát Linh
MAI = 2003  # reporter of P. Hàng Bột
STRANGER = 2004

STALE = "Nút này không còn hiệu lực. Mở «Báo cáo cần nộp» để xem danh sách hiện tại."
OTHER_AGENCY = "Xin lỗi, báo cáo này thuộc đơn vị khác nên anh/chị không mở được."
# Answers for the whole ward form, in order: «@» taps a button, «#file» sends a PDF.
VALID = ["10", "8", "@Có", "3", "80%", "12,5", "@Hội nghị", "@Loa truyền thanh", "@Xong",
         "@Khá", "15/02/2022", "KHÔNG", "Thiếu kinh phí", "#bao-cao.pdf"]


# UI-only behaviour: SQLite is enough (the PostgreSQL runs cost a database each).
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
async def bot(database_url: str):
    async with BotHarness(database_url) as h:
        await h.join(LAN, "p-cat-linh", first_name="Lan")
        yield h


async def open_report(bot: BotHarness, user: int, agency: str = "p-cat-linh",
                      schedule: str = "thang", period: str = "2022-03") -> Replies:
    """Open a report the way a user does: «Báo cáo cần nộp», then its button."""
    obligation = await bot.obligation(agency, schedule, period)
    listed = await bot.say(user, "Báo cáo cần nộp")
    assert f"o:{obligation.id}" in [data for _label, data in listed.buttons]
    return await bot.press(user, f"o:{obligation.id}")


async def step(bot: BotHarness, user: int, action: str) -> Replies:
    if action.startswith("@"):
        return await bot.tap(user, action[1:])
    if action.startswith("#"):
        return await bot.send_document(user, action[1:])
    return await bot.say(user, action)


async def play(bot: BotHarness, user: int, *actions: str) -> Replies:
    """Answer questions; every answer must be accepted (no ⚠️)."""
    replies = Replies()
    for action in actions:
        replies = await step(bot, user, action)
        assert "⚠️" not in replies.text, f"{action!r} was refused: {replies.text}"
    return replies


async def draft(bot: BotHarness) -> Submission:
    return await bot.one(Submission, Submission.state == SubmissionState.draft)


async def answers(bot: BotHarness, submission_id: int) -> dict[str, Any]:
    """{field: value} of a submission; skipped fields map to «skipped»."""
    rows = await bot.rows(Answer, Answer.submission_id == submission_id)
    return {a.field_code: "skipped" if a.skipped else a.value for a in rows}


def question(replies: Replies) -> str:
    """The text of the last message, i.e. the question asked now."""
    return replies.last["text"]


def refused(replies: Replies, problem: str, number: str) -> None:
    """One message: the problem, then the same question again."""
    assert len(replies) == 1, replies.texts
    text = replies.text
    assert text.startswith("⚠️ " + problem), text
    assert f"\n\nCâu {number} · " in text, text


async def snapshot(bot: BotHarness) -> tuple[Any, ...]:
    """Everything a press could change."""
    submissions = [(s.id, s.state, s.current_field, s.lock_version, s.editing)
                   for s in await bot.rows(Submission)]
    rows = [(a.submission_id, a.field_code, a.value, a.skipped) for a in await bot.rows(Answer)]
    obligations = [(o.id, o.status) for o in await bot.rows(
        Obligation, Obligation.status != ObligationStatus.open)]
    members = [(m.id, m.active_submission_id, m.language, m.agency_id)
               for m in await bot.rows(Member)]
    return submissions, rows, obligations, members, await bot.count(Attachment)


# ----------------------------------------------------------------------------- field types


async def test_every_field_type_is_read_the_way_people_type(bot: BotHarness) -> None:
    replies = await open_report(bot, LAN)
    assert len(replies) == 2
    intro, first = replies.texts
    assert intro.splitlines() == [
        "📋 Báo cáo của UBND phường",
        "Báo cáo tháng 03/2022",
        "Hạn nộp: hết ngày 12/03/2022 (Thứ Bảy) — còn 7 ngày",
        "Nếu trong kỳ không có nội dung phát sinh, bấm «Không phát sinh».",
    ]
    assert first.splitlines() == [
        "Câu 1/11 · Báo cáo tháng 03/2022", "", "Số cơ sở đang quản lý",
        "Nhập một số nguyên, ví dụ 12 hoặc 1.234.",
    ]
    submission = await draft(bot)
    sid = submission.id
    assert inline_buttons(replies.last) == [("Hủy", f"c:{sid}")]  # first and required
    assert bot.last_buttons(LAN) == [("Hủy", f"c:{sid}")]
    assert bot.last_text(LAN) == first

    # integer with a thousands dot / comma
    replies = await bot.say(LAN, "1.234")
    assert question(replies).startswith("Câu 2/11 · ")
    assert inline_buttons(replies.last) == [("« Quay lại", f"b:{sid}:1"), ("Hủy", f"c:{sid}")]
    replies = await bot.say(LAN, "1,200")
    assert question(replies).startswith("Câu 3/11 · ")
    assert "Có phát hiện vi phạm không?\nBấm Có hoặc Không." in question(replies)
    assert inline_buttons(replies.last)[:2] == [("Có", f"v:{sid}:2:1"), ("Không", f"v:{sid}:2:0")]
    # yes/no typed without diacritics: the question shown only when «Có» appears (4/12)
    replies = await bot.say(LAN, "co")
    assert question(replies).startswith("Câu 4/12 · ")
    assert "Số cơ sở vi phạm" in question(replies)
    replies = await bot.say(LAN, "12")
    # percent, optional: «Bỏ qua» is offered
    assert "Tỷ lệ\nNhập tỷ lệ phần trăm, ví dụ 80 hoặc 80%.\n(không bắt buộc)" in question(replies)
    assert ("Bỏ qua", f"k:{sid}:4") in inline_buttons(replies.last)
    replies = await bot.say(LAN, "80%")
    assert "Kinh phí (triệu đồng)" in question(replies)
    replies = await bot.say(LAN, "1.234,5")
    # multi-choice: toggles edit the buttons in place, «Xong» ends
    assert "Bấm chọn tất cả các mục phù hợp, rồi bấm Xong." in question(replies)
    multi = replies.last["message_id"]
    assert [t for t, _d in inline_buttons(replies.last)][:4] == [
        "⬜ Hội nghị", "⬜ Tờ rơi", "⬜ Loa truyền thanh", "✔️ Xong"]
    assert await bot.tap(LAN, "Hội nghị") == []
    assert await bot.tap(LAN, "Tờ rơi") == []
    assert await bot.tap(LAN, "Tờ rơi") == []  # toggled off again
    assert await bot.tap(LAN, "Loa truyền thanh") == []
    shown = next(m for m in bot.bot_messages(LAN) if m["message_id"] == multi)
    assert [t for t, _d in inline_buttons(shown)][:3] == [
        "☑️ Hội nghị", "⬜ Tờ rơi", "☑️ Loa truyền thanh"]
    assert (await answers(bot, sid))["hinh_thuc"] == ["Hội nghị", "Loa truyền thanh"]
    replies = await bot.tap(LAN, "Xong")
    # choice by button
    assert "Tự đánh giá\nBấm chọn một phương án." in question(replies)
    assert inline_buttons(replies.last)[:2] == [("Tốt", f"v:{sid}:7:0"), ("Khá", f"v:{sid}:7:1")]
    replies = await bot.tap(LAN, "Khá")
    # date
    # (the example is a day of the report's period; the year may be left out)
    assert ("Nhập ngày theo dạng ngày/tháng (hoặc ngày/tháng/năm), ví dụ 12/03."
            in question(replies))
    replies = await bot.say(LAN, "15/02")
    # yes/no typed in capitals with diacritics
    replies = await bot.say(LAN, "KHÔNG")
    assert "Khó khăn, đề xuất\nNhập câu trả lời." in question(replies)
    replies = await bot.say(LAN, "Thiếu kinh phí <b>in</b> & tờ rơi")
    assert ("Định dạng được chấp nhận: pdf, doc, docx, jpg, jpeg, png; tối đa 20 MB."
            in question(replies))
    replies = await bot.send_document(LAN, "bao-cao.pdf")
    assert replies.text.startswith("Xem lại báo cáo · Báo cáo tháng 03/2022")

    assert await answers(bot, sid) == {
        "co_so_quan_ly": 1234, "co_so_kiem_tra": 1200, "co_vi_pham": True,
        "co_so_vi_pham": 12, "ty_le": 80, "kinh_phi": 1234.5,
        "hinh_thuc": ["Hội nghị", "Loa truyền thanh"], "xep_loai": "kha",
        "ngay_hop": "2022-02-15", "khong_te_nan": False,
        "kho_khan": "Thiếu kinh phí <b>in</b> & tờ rơi",
        "van_ban": {"file_name": "bao-cao.pdf", "mime_type": "application/pdf",
                    "size": len(PDF_BYTES)},
    }
    numbers = {a.field_code: a.value_number for a in await bot.rows(Answer)}
    assert float(numbers["co_so_quan_ly"]) == 1234 and float(numbers["kinh_phi"]) == 1234.5
    assert float(numbers["co_vi_pham"]) == 1 and numbers["xep_loai"] is None


@SQLITE_ONLY
async def test_other_ways_of_typing_answers(bot: BotHarness) -> None:
    await open_report(bot, LAN)
    sid = (await draft(bot)).id
    replies = await play(bot, LAN, "1 234", "0")
    # yes/no by button; «Không» hides «Số cơ sở vi phạm» (skip logic): 4/11 is «Tỷ lệ»
    replies = await bot.tap(LAN, "Không")
    assert question(replies).startswith("Câu 4/11 · ")
    assert "\nTỷ lệ\n" in question(replies)
    replies = await play(bot, LAN, "80", "12,5")
    # multi-choice typed as option numbers, choice typed as a number and as a label
    replies = await bot.say(LAN, "1, 3")
    assert "Tự đánh giá" in question(replies)
    replies = await bot.say(LAN, "tot")
    assert "Ngày họp" in question(replies)
    replies = await bot.tap(LAN, "Quay lại")
    assert question(replies).endswith("Câu trả lời hiện tại: Tốt")
    await bot.say(LAN, "2")
    await play(bot, LAN, "5-3-22", "Có.")
    # a long text over several lines
    replies = await bot.say(LAN, "Dòng 1\nDòng 2")
    stored = await answers(bot, sid)
    assert stored == {
        "co_so_quan_ly": 1234, "co_so_kiem_tra": 0, "co_vi_pham": False, "ty_le": 80,
        "kinh_phi": 12.5, "hinh_thuc": ["Hội nghị", "Loa truyền thanh"], "xep_loai": "kha",
        "ngay_hop": "2022-03-05", "khong_te_nan": True, "kho_khan": "Dòng 1\nDòng 2",
    }
    assert "co_so_vi_pham" not in stored
    assert question(replies).startswith("Câu 11/11 · ")  # the file question


@SQLITE_ONLY
async def test_text_field_length_limit(bot: BotHarness) -> None:
    # The police's monthly form is the plan's general form: a number and a short note.
    await bot.join(MAI, "ca", first_name="Mai")
    replies = await open_report(bot, MAI, agency="ca")
    assert "Số buổi tuyên truyền (buổi)" in question(replies)
    replies = await play(bot, MAI, "5")
    assert "Ghi chú\nNhập câu trả lời.\n(không bắt buộc)" in question(replies)
    refused(await bot.say(MAI, "x" * 201),
            "Vui lòng trả lời không quá 200 ký tự (hiện có 201 ký tự).", "2/2")
    replies = await bot.say(MAI, "y" * 200)
    assert replies.text.startswith("Xem lại báo cáo")
    assert (await answers(bot, (await draft(bot)).id))["ghi_chu"] == "y" * 200


# ----------------------------------------------------------------------------- validation


async def test_every_bad_answer_gets_a_short_explanation_and_the_same_question(
    bot: BotHarness,
) -> None:
    await open_report(bot, LAN)
    sid = (await draft(bot)).id
    # 1: integer ≥ 0
    refused(await bot.say(LAN, "mười"), "Vui lòng nhập một số, ví dụ 12 hoặc 1.234.", "1/11")
    refused(await bot.say(LAN, "1,5"), "Vui lòng nhập số nguyên, không có phần thập phân.",
            "1/11")
    refused(await bot.say(LAN, "-1"), "Vui lòng nhập giá trị không nhỏ hơn 0.", "1/11")
    refused(await bot.say(LAN, "   "), "Vui lòng nhập câu trả lời.", "1/11")
    await play(bot, LAN, "10")
    # 2: cross-field check as soon as both are answered, naming both questions
    replies = await bot.say(LAN, "11")
    refused(replies, "Số cơ sở được kiểm tra không thể lớn hơn số cơ sở đang quản lý.", "2/11")
    assert ("Vui lòng kiểm tra: câu 1 «Số cơ sở đang quản lý», câu 2 «Số cơ sở đã kiểm tra»."
            in replies.text)
    await play(bot, LAN, "8")
    # 3: yes/no; a sticker, a photo or a file where an answer is expected
    refused(await bot.say(LAN, "có lẽ"), "Vui lòng trả lời Có hoặc Không.", "3/11")
    refused(await bot.send_sticker(LAN), "Vui lòng trả lời bằng chữ (hoặc bấm nút).", "3/11")
    refused(await bot.send_photo(LAN),
            "Câu hỏi này không yêu cầu gửi tệp; vui lòng trả lời câu hỏi.", "3/11")
    refused(await bot.send_document(LAN, "so-lieu.pdf"),
            "Câu hỏi này không yêu cầu gửi tệp; vui lòng trả lời câu hỏi.", "3/11")
    await play(bot, LAN, "@Có")
    # 4: violations > inspected
    replies = await bot.say(LAN, "9")
    refused(replies, "Số cơ sở vi phạm không thể lớn hơn số cơ sở được kiểm tra.", "4/12")
    assert ("Vui lòng kiểm tra: câu 2 «Số cơ sở đã kiểm tra», câu 4 «Số cơ sở vi phạm»."
            in replies.text)
    await play(bot, LAN, "3")
    # 5: percent within 0–100
    refused(await bot.say(LAN, "150"), "Vui lòng nhập giá trị từ 0 đến 100.", "5/12")
    refused(await bot.say(LAN, "nhiều%"),
            "Vui lòng nhập tỷ lệ phần trăm, ví dụ 80 hoặc 80,5%.", "5/12")
    await play(bot, LAN, "80,5 %")
    # 6: decimal ≥ 0
    refused(await bot.say(LAN, "-2,5"), "Vui lòng nhập giá trị không nhỏ hơn 0.", "6/12")
    refused(await bot.say(LAN, "1,2,3,4"), "Vui lòng nhập một số, ví dụ 12,5 hoặc 1.234,5.",
            "6/12")
    await play(bot, LAN, "0,5")
    # 7: multi-choice, required: «Xong» with nothing chosen, unknown option typed
    refused(await bot.tap(LAN, "Xong"), "Vui lòng chọn ít nhất một mục.", "7/12")
    refused(await bot.say(LAN, "7"), "Vui lòng bấm nút để chọn, hoặc gõ số thứ tự các phương "
            "án, cách nhau bằng dấu phẩy.", "7/12")
    await play(bot, LAN, "@Tờ rơi", "@Xong")
    # 8: choice
    refused(await bot.say(LAN, "Trung bình"),
            "Vui lòng bấm nút để chọn một trong các phương án.", "8/12")
    await play(bot, LAN, "@Tốt")
    # 9: date ≥ 01/01/2022
    date_problem = "Vui lòng nhập ngày theo dạng ngày/tháng/năm, ví dụ 13/12/2022."
    refused(await bot.say(LAN, "tháng trước"), date_problem, "9/12")
    refused(await bot.say(LAN, "31/02/2022"), date_problem, "9/12")
    refused(await bot.say(LAN, "2022-02-15"), date_problem, "9/12")
    refused(await bot.say(LAN, "15/12/2021"), "Vui lòng nhập giá trị không nhỏ hơn 01/01/2022.",
            "9/12")
    await play(bot, LAN, "28/02/2022", "@Có")
    # 11: long text
    refused(await bot.say(LAN, "a" * 4001),
            "Vui lòng trả lời không quá 4.000 ký tự (hiện có 4.001 ký tự).", "11/12")
    await play(bot, LAN, "Không có")
    # 12: file: text, a sticker, a wrong type, a file too large
    refused(await bot.say(LAN, "đã gửi bản giấy"),
            "Vui lòng gửi tệp dưới dạng tài liệu hoặc ảnh.", "12/12")
    refused(await bot.send_sticker(LAN), "Vui lòng trả lời bằng chữ (hoặc bấm nút).", "12/12")
    refused(await bot.send_document(LAN, "bao-cao.exe", b"MZ\x90\x00"),
            "Loại tệp này không được chấp nhận. Vui lòng gửi một trong các loại: pdf, doc, "
            "docx, jpg, jpeg, png.", "12/12")
    refused(await bot.send_document(LAN, "bao-cao.pdf", file_size=25 * 1024 * 1024),
            "Tệp quá lớn (25 MB). Dung lượng tối đa là 20 MB.", "12/12")
    assert await bot.count(Attachment) == 0

    assert await answers(bot, sid) == {
        "co_so_quan_ly": 10, "co_so_kiem_tra": 8, "co_vi_pham": True, "co_so_vi_pham": 3,
        "ty_le": 80.5, "kinh_phi": 0.5, "hinh_thuc": ["Tờ rơi"], "xep_loai": "tot",
        "ngay_hop": "2022-02-28", "khong_te_nan": True, "kho_khan": "Không có",
    }
    assert (await draft(bot)).current_field == "van_ban"


# ----------------------------------------------------------------------------- navigation


async def test_skip_back_and_required_questions(bot: BotHarness) -> None:
    replies = await open_report(bot, LAN)
    sid = (await draft(bot)).id
    first = replies.last["message_id"]
    # A required question offers no «Bỏ qua», and the first no «Quay lại»; forged presses
    # of those buttons are refused.
    assert [t for t, _d in inline_buttons(replies.last)] == ["Hủy"]
    refused(await bot.press_raw(LAN, first, f"k:{sid}:0"),
            "Đây là câu hỏi bắt buộc, không thể bỏ qua.", "1/11")
    refused(await bot.press_raw(LAN, first, f"b:{sid}:0"), "Đây là câu hỏi đầu tiên.", "1/11")

    replies = await play(bot, LAN, "10", "8", "@Có", "3")
    assert "\nTỷ lệ\n" in question(replies)
    replies = await bot.tap(LAN, "Bỏ qua")
    assert question(replies).startswith("Câu 6/12 · ")
    assert (await answers(bot, sid))["ty_le"] == "skipped"

    # «Quay lại» shows the previous question with its current answer.
    replies = await bot.tap(LAN, "Quay lại")
    assert question(replies).startswith("Câu 5/12 · ")
    assert question(replies).endswith("Câu trả lời hiện tại: bỏ qua")
    replies = await bot.tap(LAN, "Quay lại")
    assert question(replies).startswith("Câu 4/12 · ")
    assert question(replies).endswith("Câu trả lời hiện tại: 3")
    replies = await bot.say(LAN, "2")
    assert question(replies).startswith("Câu 5/12 · ")
    replies = await bot.say(LAN, "50")
    assert question(replies).startswith("Câu 6/12 · ")
    stored = await answers(bot, sid)
    assert (stored["co_so_vi_pham"], stored["ty_le"]) == (2, 50)

    # Optional decimal and date questions skipped by button.
    replies = await play(bot, LAN, "@Bỏ qua", "@Hội nghị", "@Xong", "@Tốt")
    assert "Ngày họp" in question(replies)
    replies = await bot.tap(LAN, "Bỏ qua")
    assert "Phường không có tệ nạn mại dâm?" in question(replies)
    stored = await answers(bot, sid)
    assert (stored["kinh_phi"], stored["ngay_hop"]) == ("skipped", "skipped")


async def test_cancel_keeps_the_draft_and_reopening_continues(bot: BotHarness) -> None:
    await open_report(bot, LAN)
    sid = (await draft(bot)).id
    await play(bot, LAN, "10", "8")
    replies = await bot.tap(LAN, "Hủy")
    assert replies.texts == ["Đã dừng. Bản nháp đã được lưu; mở lại báo cáo để tiếp tục."]
    assert reply_keyboard(replies.last)[0] == "Báo cáo cần nộp"
    member = await bot.member(LAN)
    assert member is not None and member.active_submission_id is None
    # Typing now answers nothing.
    replies = await bot.say(LAN, "co")
    assert replies.text.startswith("Vui lòng dùng các nút trong menu.")
    assert set(await answers(bot, sid)) == {"co_so_quan_ly", "co_so_kiem_tra"}
    # The list shows the draft; opening it continues at question 3.
    listed = await bot.say(LAN, "Báo cáo cần nộp")
    assert "📝 đang soạn (bản nháp)" in listed.text
    replies = await open_report(bot, LAN)
    assert "Tiếp tục từ chỗ đã dừng." in replies.texts[0]
    assert "«Không phát sinh»" not in replies.texts[0]  # answers were given
    assert question(replies).startswith("Câu 3/11 · ")
    await play(bot, LAN, "co")
    # /cancel does the same.
    replies = await bot.say(LAN, "/cancel")
    assert replies.texts == ["Đã dừng. Bản nháp đã được lưu; mở lại báo cáo để tiếp tục."]
    replies = await open_report(bot, LAN)
    assert question(replies).startswith("Câu 4/12 · ")
    assert await bot.count(Submission) == 1


async def test_resuming_after_the_bot_is_rebuilt(bot: BotHarness) -> None:
    await open_report(bot, LAN)
    sid = (await draft(bot)).id
    await play(bot, LAN, "10", "8", "@Có")

    # A restart: new Application, new engine, empty caches, same database.
    await bot.rebuild()
    replies = await bot.say(LAN, "3")  # answers question 4, as if nothing happened
    assert question(replies).startswith("Câu 5/12 · ")
    assert (await answers(bot, sid))["co_so_vi_pham"] == 3

    await bot.rebuild()
    replies = await open_report(bot, LAN)
    assert "Tiếp tục từ chỗ đã dừng." in replies.texts[0]
    assert question(replies).startswith("Câu 5/12 · ")
    await play(bot, LAN, "@Bỏ qua")
    await bot.rebuild()
    replies = await bot.tap(LAN, "Quay lại")  # a button sent by the previous process
    assert question(replies).startswith("Câu 5/12 · ")
    assert bot.builds == 4
    assert await bot.count(Submission) == 1


# ----------------------------------------------------------------------------- nothing to report


async def test_nothing_to_report_asks_then_records_a_zero_report(bot: BotHarness) -> None:
    march = await bot.obligation("p-cat-linh", "thang", "2022-03")
    await open_report(bot, LAN)
    replies = await bot.tap(LAN, "Không phát sinh")
    assert replies.texts == [
        "Ghi nhận «Không phát sinh» cho Báo cáo tháng 03/2022? Trong kỳ không có nội "
        "dung phát sinh nên báo cáo được gửi không kèm số liệu."]
    sid = (await draft(bot)).id
    assert inline_buttons(replies.last) == [("✅ Xác nhận", f"N:{march.id}"),
                                            ("Hủy", f"c:{sid}")]
    # Changing one's mind keeps the draft.
    replies = await bot.tap(LAN, "Hủy")
    assert replies.text.startswith("Đã dừng.")
    assert (await draft(bot)).no_report is False

    replies = await open_report(bot, LAN)
    await bot.tap(LAN, "Không phát sinh")
    replies = await bot.tap(LAN, "Xác nhận")
    lines = replies.text.splitlines()
    assert lines[0] == "✅ Đã nhận báo cáo. Xin cảm ơn!"
    assert lines[1] == "Báo cáo tháng 03/2022"
    assert lines[2] == f"Số biên nhận: BC-2022-{sid:05d}"
    assert lines[3] == "Thời gian: 08:00 05/03/2022"
    assert lines[4] == "Người gửi: Lan"
    assert lines[5:] == ["Ghi nhận: trong kỳ không phát sinh.", "🟢 Đúng hạn.",
                         # the document to sign comes with the receipt (issue 15)
                         "Văn bản báo cáo theo thể thức hành chính, sẵn sàng để ký."]

    submission = await bot.one(Submission)
    assert (submission.state, submission.no_report) == (SubmissionState.submitted, True)
    assert submission.receipt_no == f"BC-2022-{sid:05d}" and submission.late_days == 0
    obligation = await bot.one(Obligation, Obligation.id == march.id)
    assert obligation.status == ObligationStatus.submitted
    audit = await bot.one(AuditLog, AuditLog.action == "submission.no_report")
    assert audit.entity_id == sid

    # Opening it again shows the receipt; the old confirmation button is inert.
    replies = await open_report(bot, LAN)
    assert replies.texts == [f"Báo cáo này đã được gửi lúc 08:00 05/03/2022. Số biên nhận: "
                             f"BC-2022-{sid:05d}."]
    confirm = [m for m in bot.bot_messages(LAN)
               if "Ghi nhận «Không phát sinh»" in (m.get("text") or "")]
    replies = await bot.press_raw(LAN, confirm[-1]["message_id"], f"N:{march.id}")
    assert replies.texts == ["Báo cáo này đã được gửi; nút không còn hiệu lực."]
    assert await bot.count(Submission) == 1


# ----------------------------------------------------------------------------- attachments


async def test_attachments_store_the_telegram_file_id(bot: BotHarness) -> None:
    await open_report(bot, LAN)
    sid = (await draft(bot)).id
    await play(bot, LAN, *VALID[:-1])
    refused(await bot.send_document(LAN, "bao-cao.exe", b"MZ"),
            "Loại tệp này không được chấp nhận.", "12/12")
    refused(await bot.send_document(LAN, "bao-cao.docx", file_size=21 * 1024 * 1024),
            "Tệp quá lớn (21 MB). Dung lượng tối đa là 20 MB.", "12/12")
    assert await bot.count(Attachment) == 0

    replies = await bot.send_document(LAN, "Bao cao thang 3.PDF", b"%PDF-1.7 signed")
    assert replies.text.startswith("Xem lại báo cáo")
    sent = bot.state.chat_messages(LAN)
    document = [m for m in sent if not m["from_bot"] and "document" in m][-1]["document"]
    attachment = await bot.one(Attachment)
    member = await bot.member(LAN)
    assert member is not None
    assert attachment.submission_id == sid and attachment.field_code == "van_ban"
    assert attachment.telegram_file_id == document["file_id"]
    assert attachment.telegram_file_unique_id == document["file_unique_id"]
    assert (attachment.file_name, attachment.mime_type, attachment.file_size) == (
        "Bao cao thang 3.PDF", "application/pdf", len(b"%PDF-1.7 signed"))
    assert attachment.uploaded_by_member_id == member.id
    assert "12. Văn bản có chữ ký: 📎 Bao cao thang 3.PDF" in replies.text

    # A photo of the signed page replaces the document.
    await bot.tap(LAN, "✏️ 12")
    replies = await bot.send_photo(LAN)
    assert replies.text.startswith("Xem lại báo cáo")
    photo = [m for m in bot.state.chat_messages(LAN) if "photo" in m][-1]["photo"][-1]
    attachment = await bot.one(Attachment)
    assert attachment.telegram_file_id == photo["file_id"]
    assert (attachment.file_name, attachment.mime_type) == ("photo.jpg", "image/jpeg")
    assert "12. Văn bản có chữ ký: 📎 photo.jpg" in replies.text


# ----------------------------------------------------------------------------- review, submit


async def test_review_change_and_submit_with_a_receipt(bot: BotHarness) -> None:
    march = await bot.obligation("p-cat-linh", "thang", "2022-03")
    await open_report(bot, LAN)
    submission = await draft(bot)
    sid = submission.id
    replies = await play(bot, LAN, *VALID)
    assert replies.texts[0].splitlines()[:3] == [
        "Xem lại báo cáo · Báo cáo tháng 03/2022",
        "Kiểm tra từng câu trả lời. Bấm vào số thứ tự để sửa câu đó.", ""]
    assert replies.text.splitlines()[3:] == [
        "1. Số cơ sở đang quản lý: 10",
        "2. Số cơ sở đã kiểm tra: 8",
        "3. Có phát hiện vi phạm không? Có",
        "4. Số cơ sở vi phạm: 3",
        "5. Tỷ lệ: 80%",
        "6. Kinh phí (triệu đồng): 12,5",
        "7. Hình thức tuyên truyền: Hội nghị; Loa truyền thanh",
        "8. Tự đánh giá: Khá",
        "9. Ngày họp: 15/02/2022",
        "10. Phường không có tệ nạn mại dâm? Không",
        "11. Khó khăn, đề xuất: Thiếu kinh phí",
        "12. Văn bản có chữ ký: 📎 bao-cao.pdf",
    ]
    buttons = inline_buttons(replies.last)
    assert [t for t, _d in buttons] == [f"✏️ {n}" for n in range(1, 13)] + [
        "✅ Gửi báo cáo", "Hủy"]
    assert buttons[0][1] == f"e:{sid}:0" and buttons[-2][1] == f"s:{sid}"
    # Text typed on the review screen only points at the buttons.
    replies = await bot.say(LAN, "gửi")
    assert replies.text.startswith("Dùng các nút bên dưới để sửa câu trả lời hoặc gửi báo cáo.")

    # Change one answer: its question with the current value, then back to the review.
    replies = await bot.tap(LAN, "✏️ 1")
    assert question(replies).startswith("Câu 1/12 · ")
    assert question(replies).endswith("Câu trả lời hiện tại: 10")
    assert ("Xem lại", f"R:{sid}") in inline_buttons(replies.last)
    replies = await bot.say(LAN, "20")
    assert replies.text.startswith("Xem lại báo cáo")
    assert "1. Số cơ sở đang quản lý: 20" in replies.text
    assert "2. Số cơ sở đã kiểm tra: 8" in replies.text
    # Changing «Có» to «Không» hides question 4: not listed, not sent.
    await bot.tap(LAN, "✏️ 3")
    replies = await bot.tap(LAN, "Không")
    assert "Số cơ sở vi phạm" not in replies.text
    assert "3. Có phát hiện vi phạm không? Không" in replies.text
    # …and back to «Có»: the earlier answer to question 4 is shown again.
    await bot.tap(LAN, "✏️ 3")
    replies = await bot.tap(LAN, "Có")
    assert "4. Số cơ sở vi phạm: 3" in replies.text
    await bot.tap(LAN, "✏️ 3")
    replies = await bot.tap(LAN, "Không")

    # Submit asks first.
    replies = await bot.tap(LAN, "Gửi báo cáo")
    lock = (await draft(bot)).lock_version
    assert replies.texts == [
        "Gửi «Báo cáo tháng 03/2022» ngay bây giờ?\n"
        "Sau khi gửi, chỉ sửa được báo cáo khi cơ quan tổng hợp trả lại để bổ sung."]
    assert inline_buttons(replies.last) == [("✅ Xác nhận gửi", f"S:{sid}:{lock}"),
                                            ("« Xem lại báo cáo", f"R:{sid}")]
    replies = await bot.press(LAN, f"S:{sid}:{lock}")
    lines = replies.text.splitlines()
    assert lines == [
        "✅ Đã nhận báo cáo. Xin cảm ơn!",
        "Báo cáo tháng 03/2022",
        f"Số biên nhận: BC-2022-{sid:05d}",
        "Thời gian: 08:00 05/03/2022",
        "Người gửi: Lan",
        "🟢 Đúng hạn.",
        # the document to sign comes with the receipt (issue 15)
        "Văn bản báo cáo theo thể thức hành chính, sẵn sàng để ký.",
    ]
    assert reply_keyboard(replies[0])[0] == "Báo cáo cần nộp"

    member = await bot.member(LAN)
    assert member is not None and member.active_submission_id is None
    submission = await bot.one(Submission)
    assert submission.state == SubmissionState.submitted and not submission.no_report
    assert submission.submitted_by_member_id == member.id
    assert abs(submission.submitted_at - bot.now) < dt.timedelta(minutes=1)
    assert submission.late_days == 0
    assert submission.receipt_no == f"BC-2022-{sid:05d}"
    obligation = await bot.one(Obligation, Obligation.id == march.id)
    assert obligation.status == ObligationStatus.submitted
    assert obligation.submitted_at == submission.submitted_at
    stored = await answers(bot, sid)
    assert stored["co_so_quan_ly"] == 20 and stored["co_vi_pham"] is False
    assert "co_so_vi_pham" not in stored  # hidden answers are not part of the report
    audit = await bot.one(AuditLog, AuditLog.action == "submission.submit")
    assert audit.details["receipt"] == submission.receipt_no

    listed = await bot.say(LAN, "Báo cáo cần nộp")
    assert "Báo cáo tháng 03/2022\n   Hạn nộp: hết ngày 12/03/2022 (Thứ Bảy) — ✅ đã nộp" \
        in listed.text
    replies = await bot.say(LAN, "25")  # no form open any more
    assert replies.text.startswith("Vui lòng dùng các nút trong menu.")


async def test_submit_refuses_an_incomplete_report(bot: BotHarness) -> None:
    await open_report(bot, LAN)
    sid = (await draft(bot)).id
    await play(bot, LAN, *[a for a in VALID if a not in ("@Có", "3")][:2], "@Không",
               *VALID[4:])
    # Change «Không» to «Có» and go to the review without answering the revealed question.
    await bot.tap(LAN, "✏️ 3")
    replies = await bot.tap(LAN, "Có")
    assert "Số cơ sở vi phạm" in question(replies)
    replies = await bot.tap(LAN, "Xem lại")
    assert "4. Số cơ sở vi phạm: ⚠️ chưa trả lời" in replies.text
    replies = await bot.tap(LAN, "Gửi báo cáo")
    assert replies.text.startswith("⚠️ Còn câu bắt buộc chưa trả lời: 4.")
    # A forged «confirm» is refused the same way.
    lock = (await draft(bot)).lock_version
    replies = await bot.press_raw(LAN, replies.last["message_id"], f"S:{sid}:{lock}")
    assert replies.text.startswith("⚠️ Còn câu bắt buộc chưa trả lời: 4.")
    assert (await draft(bot)).state == SubmissionState.draft
    assert await bot.count(Submission, Submission.state == SubmissionState.submitted) == 0


async def test_a_late_report_is_accepted_and_flagged(database_url: str) -> None:
    after = dt.datetime(2022, 3, 15, 10, 30, tzinfo=HANOI)
    async with BotHarness(database_url, fake_now=after) as bot:
        await bot.join(MAI, "ca", first_name="Mai")
        march = await bot.obligation("ca", "thang", "2022-03")
        listed = await bot.say(MAI, "Báo cáo cần nộp")
        assert "Hạn nộp: hết ngày 12/03/2022 (Thứ Bảy) — quá hạn 3 ngày" in listed.text
        replies = await bot.press(MAI, f"o:{march.id}")
        assert "— quá hạn 3 ngày" in replies.texts[0]
        await play(bot, MAI, "4", "@Bỏ qua")
        replies = await bot.tap(MAI, "Gửi báo cáo")
        assert ("Đã quá hạn nộp; báo cáo vẫn được tiếp nhận và ghi nhận là nộp quá hạn."
                in replies.text)
        replies = await bot.tap(MAI, "Xác nhận gửi")
        assert "Thời gian: 10:30 15/03/2022" in replies.text
        assert replies.texts[0].endswith("⏰ Quá hạn 3 ngày.")
        submission = await bot.one(Submission)
        member = await bot.member(MAI)
        assert member is not None
        assert (submission.state, submission.late_days) == (SubmissionState.submitted, 3)
        assert submission.submitted_by_member_id == member.id
        obligation = await bot.one(Obligation, Obligation.id == march.id)
        assert obligation.status == ObligationStatus.submitted


# ----------------------------------------------------------------------------- stale, tampered


async def test_a_stale_button_changes_nothing(bot: BotHarness) -> None:
    await open_report(bot, LAN)
    sid = (await draft(bot)).id
    replies = await play(bot, LAN, "10", "8")
    yes_no = replies.last["message_id"]  # question 3, answered below by typing
    await play(bot, LAN, "không", "50")
    before = await snapshot(bot)

    for data in (f"v:{sid}:2:1", f"b:{sid}:2", f"k:{sid}:4"):
        replies = await bot.press_raw(LAN, yes_no, data)
        assert len(replies) == 1
        assert replies.text.startswith("ℹ️ Câu hỏi đó đã qua. Báo cáo đang ở câu sau:\n\n"
                                       "Câu 5/11 · ")
        assert await snapshot(bot) == before
    # The old message's buttons are gone now.
    old = next(m for m in bot.bot_messages(LAN) if m["message_id"] == yes_no)
    assert inline_buttons(old) == []

    # A stale «send» (the report changed after asking to send) is refused too.
    await play(bot, LAN, *VALID[5:])
    replies = await bot.tap(LAN, "Gửi báo cáo")
    ask = replies.last["message_id"]
    old_lock = (await draft(bot)).lock_version
    await bot.tap(LAN, "Xem lại báo cáo")
    await bot.tap(LAN, "✏️ 1")
    await bot.say(LAN, "11")
    before = await snapshot(bot)
    replies = await bot.press_raw(LAN, ask, f"S:{sid}:{old_lock}")
    assert replies.text.startswith("⚠️ Báo cáo đã thay đổi sau khi anh/chị bấm gửi; vui lòng "
                                   "kiểm tra lại.")
    assert "1. Số cơ sở đang quản lý: 11" in replies.text
    assert await snapshot(bot) == before
    # After sending, every old button of the report is inert.
    replies = await bot.tap(LAN, "Gửi báo cáo")
    await bot.tap(LAN, "Xác nhận gửi")
    before = await snapshot(bot)
    for data in (f"e:{sid}:0", f"R:{sid}", f"s:{sid}", f"c:{sid}"):
        replies = await bot.press_raw(LAN, ask, data)
        assert replies.texts == ["Báo cáo này đã được gửi; nút không còn hiệu lực."]
    assert await snapshot(bot) == before


async def test_tampered_callback_data_gets_a_polite_message(bot: BotHarness) -> None:
    await bot.join(MAI, "p-hang-bot", first_name="Mai")
    theirs = await bot.obligation("p-hang-bot", "thang", "2022-03")
    await open_report(bot, MAI, agency="p-hang-bot")
    their_draft = await draft(bot)
    await play(bot, MAI, "5")

    replies = await open_report(bot, LAN)
    here = replies.last["message_id"]
    sid = max(s.id for s in await bot.rows(Submission))
    await play(bot, LAN, "10", "8", "@Có", "3", "80")  # now at «Kinh phí»
    before = await snapshot(bot)

    polite = {
        "garbage": STALE, "o:": STALE, "o:abc": STALE, "o:1:2": STALE, "o:-5": STALE,
        "o:999999": STALE, "n:999999": STALE, "v:": STALE, "v:a:b:c": STALE,
        f"v:{sid}:5": STALE, f"x:{sid}:5": STALE, f"S:{sid}:abc": STALE,
        f"e:{sid}:99": STALE, f"e:{sid}:-1": STALE, f"v:{sid}:-1:0": STALE,
        "c:999999": STALE,
        # buttons the current (decimal) question cannot have
        f"v:{sid}:5:0": STALE, f"t:{sid}:5:0": STALE, f"d:{sid}:5:0": STALE,
        f"o:{theirs.id}": OTHER_AGENCY, f"n:{theirs.id}": OTHER_AGENCY,
        f"N:{theirs.id}": OTHER_AGENCY, f"v:{their_draft.id}:1:0": OTHER_AGENCY,
        f"S:{their_draft.id}:{their_draft.lock_version}": OTHER_AGENCY,
        f"c:{their_draft.id}": OTHER_AGENCY, f"R:{their_draft.id}": OTHER_AGENCY,
        "L:xx": STALE,
    }
    for data, expected in polite.items():
        replies = await bot.press_raw(LAN, here, data)
        assert replies.texts == [expected], data
        assert await snapshot(bot) == before, data
    # The form still works afterwards.
    replies = await bot.say(LAN, "12,5")
    assert "Hình thức tuyên truyền" in question(replies)


async def test_tampered_huge_ids_get_a_polite_message(bot: BotHarness) -> None:
    message = bot.last_message(LAN)["message_id"]
    for data in ("o:99999999999999999999", "o:4294967296", "n:4294967296",
                 "c:99999999999999999999", "v:4294967296:0:1"):
        replies = await bot.press_raw(LAN, message, data)
        assert replies.texts == [STALE], data


async def test_a_huge_number_gets_an_explanation_on_postgresql(postgres_url: str) -> None:
    async with BotHarness(postgres_url) as bot:
        await bot.join(LAN, "p-cat-linh", first_name="Lan")
        await open_report(bot, LAN)
        replies = await bot.say(LAN, "12345678901234567")
        assert "⚠️" in replies.text and "Câu 1/11" in replies.text


async def test_going_back_to_a_long_answer_shows_the_question(sqlite_url: str) -> None:
    async with BotHarness(sqlite_url) as bot:
        await bot.join(LAN, "p-cat-linh", first_name="Lan")
        await open_report(bot, LAN)
        await play(bot, LAN, *VALID[:12], "a" * 3990)
        replies = await bot.tap(LAN, "Quay lại")
        assert "Khó khăn, đề xuất" in question(replies)


# ----------------------------------------------------------------------------- authorization


async def test_other_agencies_and_strangers_cannot_open_or_submit(bot: BotHarness) -> None:
    march = await bot.obligation("p-cat-linh", "thang", "2022-03")
    await open_report(bot, LAN)
    await play(bot, LAN, *VALID)
    submission = await draft(bot)
    sid, lock = submission.id, submission.lock_version
    await bot.join(MAI, "p-hang-bot", first_name="Mai")
    listed = await bot.say(MAI, "Báo cáo cần nộp")
    assert f"o:{march.id}" not in [d for _t, d in listed.buttons]  # not even listed
    mai_message = listed.last["message_id"]
    before = await snapshot(bot)

    for data in (f"o:{march.id}", f"n:{march.id}", f"N:{march.id}", f"s:{sid}",
                 f"S:{sid}:{lock}", f"e:{sid}:0", f"R:{sid}", f"v:{sid}:2:0"):
        replies = await bot.press_raw(MAI, mai_message, data)
        assert replies.texts == [OTHER_AGENCY], data
    # Typing does not reach Lan's draft either.
    replies = await bot.say(MAI, "99")
    assert replies.text.startswith("Vui lòng dùng các nút trong menu.")
    assert await snapshot(bot) == before

    # A stranger pressing the same buttons gets only the invite explanation.
    await bot.say(STRANGER, "/start", first_name="Khách")
    stranger_message = bot.last_message(STRANGER)["message_id"]
    for data in (f"o:{march.id}", f"S:{sid}:{lock}", f"N:{march.id}"):
        replies = await bot.press_raw(STRANGER, stranger_message, data)
        assert len(replies) == 1 and "đường dẫn mời" in replies.text
    assert await bot.member(STRANGER) is None
    assert await snapshot(bot) == before

    # Lan still submits normally.
    await bot.tap(LAN, "Gửi báo cáo")
    replies = await bot.tap(LAN, "Xác nhận gửi")
    assert "Số biên nhận: BC-2022-" in replies.text


# ----------------------------------------------------------------------------- two editors


async def test_two_editors_share_one_draft_and_the_last_writer_wins(bot: BotHarness) -> None:
    await bot.join(HUNG, "p-cat-linh", "head", first_name="Hùng")
    await open_report(bot, LAN)
    await play(bot, LAN, "10")

    replies = await open_report(bot, HUNG)
    assert replies.texts[0] == ("👥 Lan cũng đang nhập báo cáo này (trả lời gần nhất lúc "
                                "08:00 05/03/2022). Hai người dùng chung một bản nháp: mỗi câu "
                                "hỏi lấy câu trả lời sau cùng.")
    assert question(replies).startswith("Câu 2/11 · ")
    assert await bot.count(Submission) == 1
    sid = (await draft(bot)).id

    # Hùng changes question 1; Lan then answers question 2: both answers stand.
    replies = await bot.tap(HUNG, "Quay lại")
    assert question(replies).endswith("Câu trả lời hiện tại: 10")
    await play(bot, HUNG, "12")
    await play(bot, LAN, "9")
    rows = {a.field_code: a for a in await bot.rows(Answer, Answer.submission_id == sid)}
    lan, hung = await bot.member(LAN), await bot.member(HUNG)
    assert lan is not None and hung is not None
    assert (rows["co_so_quan_ly"].value, rows["co_so_quan_ly"].answered_by_member_id) == (
        12, hung.id)
    assert (rows["co_so_kiem_tra"].value, rows["co_so_kiem_tra"].answered_by_member_id) == (
        9, lan.id)
    # The same field written twice: the later answer wins.
    await bot.tap(LAN, "Quay lại")
    await bot.tap(LAN, "Quay lại")
    await play(bot, LAN, "15")
    rows = {a.field_code: a for a in await bot.rows(Answer, Answer.submission_id == sid)}
    assert (rows["co_so_quan_ly"].value, rows["co_so_quan_ly"].answered_by_member_id) == (
        15, lan.id)
    assert rows["co_so_kiem_tra"].value == 9
    assert await bot.count(Submission) == 1


@SQLITE_ONLY
async def test_a_typed_answer_goes_to_the_question_its_writer_saw(bot: BotHarness) -> None:
    await bot.join(HUNG, "p-cat-linh", "head", first_name="Hùng")
    await open_report(bot, LAN)  # Lan sees question 1
    replies = await open_report(bot, HUNG)  # so does Hùng
    assert question(replies).startswith("Câu 1/11 · ")
    await play(bot, HUNG, "10")  # Hùng answers question 1
    await bot.say(LAN, "7")  # Lan answers question 1 as it is on her screen
    stored = await answers(bot, (await draft(bot)).id)
    assert "co_so_kiem_tra" not in stored, stored  # nobody was shown question 2


# ----------------------------------------------------------------------------- versions


async def test_a_returned_report_becomes_version_two(bot: BotHarness) -> None:
    march = await bot.obligation("p-cat-linh", "thang", "2022-03")
    await open_report(bot, LAN)
    await play(bot, LAN, *VALID)
    await bot.tap(LAN, "Gửi báo cáo")
    await bot.tap(LAN, "Xác nhận gửi")
    first = await bot.one(Submission)
    first_answers = await answers(bot, first.id)

    # The standing office returns it (the review feature comes later: set it directly).
    async with bot.session() as session:
        obligation = await session.get(Obligation, march.id)
        submission = await session.get(Submission, first.id)
        assert obligation is not None and submission is not None
        obligation.status = ObligationStatus.returned
        submission.state = SubmissionState.returned
        submission.review_comment = "Số cơ sở vi phạm chưa khớp với biên bản."

    listed = await bot.say(LAN, "Báo cáo cần nộp")
    assert "↩️ được trả lại để bổ sung" in listed.text
    replies = await bot.press(LAN, f"o:{march.id}")
    intro = replies.texts[0]
    assert "Đây là lần gửi thứ 2 của báo cáo." in intro
    assert "Báo cáo được trả lại với ý kiến: «Số cơ sở vi phạm chưa khớp với biên bản.»" in intro
    # Every answer was copied: straight to the review.
    assert replies.texts[1].startswith("Xem lại báo cáo")
    assert "4. Số cơ sở vi phạm: 3" in replies.texts[1]
    second = await draft(bot)
    assert second.version == 2 and second.id != first.id
    assert await answers(bot, second.id) == first_answers
    assert await bot.count(Attachment, Attachment.submission_id == second.id) == 1

    await bot.tap(LAN, "✏️ 4")
    await play(bot, LAN, "2")
    await bot.tap(LAN, "Gửi báo cáo")
    replies = await bot.tap(LAN, "Xác nhận gửi")
    assert f"Số biên nhận: BC-2022-{second.id:05d}" in replies.text
    assert replies.texts[0].endswith("Lần gửi thứ 2; các lần gửi trước vẫn được lưu.")

    versions = await bot.rows(Submission, order_by=Submission.version)
    assert [(s.version, s.state) for s in versions] == [
        (1, SubmissionState.superseded), (2, SubmissionState.submitted)]
    assert versions[0].receipt_no == first.receipt_no  # version 1 is kept as it was
    assert await answers(bot, first.id) == first_answers
    assert (await answers(bot, second.id))["co_so_vi_pham"] == 2
    obligation = await bot.one(Obligation, Obligation.id == march.id)
    assert obligation.status == ObligationStatus.submitted


# ----------------------------------------------------------------------------- Đống Đa


async def test_dong_da_ward_quarterly_report(database_url: str) -> None:
    async with BotHarness(database_url, plan=DONGDA_PLAN) as bot:
        await bot.join(LAN, "p-van-mieu", first_name="Lan")
        quarter = await bot.obligation("p-van-mieu", "quy", "2022-Q1")
        listed = await bot.say(LAN, "Báo cáo cần nộp")
        # «trước ngày 13»: the 12th is a Saturday, so the last working day before it.
        assert ("Báo cáo quý I/2022\n   Hạn nộp: hết ngày 11/03/2022 (Thứ Sáu) — còn 6 "
                "ngày\n   ⚪ chưa bắt đầu") in listed.text
        replies = await bot.press(LAN, f"o:{quarter.id}")
        assert replies.texts[0].startswith(
            "📋 Báo cáo kết quả phòng, chống mại dâm của UBND phường\nBáo cáo quý I/2022")
        assert question(replies).startswith("Câu 1/11 · Báo cáo quý I/2022")
        assert "đang quản lý trên địa bàn phường (cơ sở)" in question(replies)
        # No inspection: «Số cơ sở phát hiện vi phạm» is not asked.
        replies = await play(bot, LAN, "12", "0")
        assert question(replies).startswith("Câu 3/11 · ")
        assert "Số buổi tuyên truyền" in question(replies)
        replies = await play(bot, LAN, "3", "2", "@Có")
        assert question(replies).startswith("Câu 6/12 · ")
        refused(await bot.say(LAN, "0"), "Vui lòng nhập giá trị không nhỏ hơn 1.", "6/12")
        replies = await play(bot, LAN, "2", "1", "@Không", "3")
        assert question(replies).startswith("Câu 10/13 · ")
        replies = await bot.say(LAN, "5")
        refused(replies, "Số người được hỗ trợ không thể lớn hơn số người có nhu cầu.", "10/13")
        assert "câu 9 «Số người bán dâm có nhu cầu hỗ trợ" in replies.text
        assert "câu 10 «Số người bán dâm đã được hỗ trợ" in replies.text
        replies = await play(bot, LAN, "2", "@Có", "@Bỏ qua")
        # Đống Đa requires the signed report: the last question offers no «Bỏ qua».
        assert question(replies).startswith("Câu 13/13 · ")
        assert "(không bắt buộc)" not in question(replies)
        assert not [b for b in inline_buttons(replies.last) if b[0] == "Bỏ qua"]
        replies = await bot.send_document(LAN, "bao-cao-quy-1.pdf", mime_type="application/pdf")
        review = replies.text.splitlines()
        assert review[0] == "Xem lại báo cáo · Báo cáo quý I/2022"
        assert len([line for line in review if re.match(r"\d+\. ", line)]) == 13
        assert review[-2:] == ["12. Khó khăn, vướng mắc và đề xuất: — (bỏ qua)",
                               "13. Văn bản báo cáo có chữ ký: 📎 bao-cao-quy-1.pdf"]
        await bot.tap(LAN, "Gửi báo cáo")
        replies = await bot.tap(LAN, "Xác nhận gửi")
        assert "🟢 Đúng hạn." in replies.text
        submission = await bot.one(Submission)
        assert submission.state == SubmissionState.submitted
        stored = await answers(bot, submission.id)
        assert stored["so_diem_phat_sinh"] == 2 and stored["nguoi_duoc_ho_tro"] == 2
        assert "co_so_vi_pham" not in stored
        assert stored["kho_khan"] == "skipped"
        assert stored["van_ban"]["file_name"] == "bao-cao-quy-1.pdf"


# ----------------------------------------------------------------------------- more bugs


async def test_a_long_answer_still_reaches_the_review(sqlite_url: str) -> None:
    async with BotHarness(sqlite_url) as bot:
        await bot.join(LAN, "p-cat-linh", first_name="Lan")
        await open_report(bot, LAN)
        await play(bot, LAN, *VALID[:12], "Báo cáo chi tiết: " + "a" * 3980)
        replies = await bot.send_document(LAN, "bao-cao.pdf")
        assert replies.texts[0].startswith("Xem lại báo cáo")
        assert ("✅ Gửi báo cáo", f"s:{(await draft(bot)).id}") in replies.buttons


async def test_nothing_to_report_carries_no_figures(sqlite_url: str) -> None:
    async with BotHarness(sqlite_url) as bot:
        await bot.join(LAN, "p-cat-linh", first_name="Lan")
        await open_report(bot, LAN)
        await play(bot, LAN, "10", "8")
        await bot.tap(LAN, "Không phát sinh")  # still on the intro message
        replies = await bot.tap(LAN, "Xác nhận")
        assert "Ghi nhận: trong kỳ không phát sinh." in replies.text
        submission = await bot.one(Submission)
        assert submission.no_report
        figures = [a for a in await bot.rows(Answer, Answer.submission_id == submission.id)
                   if a.value_number is not None]
        assert figures == []
