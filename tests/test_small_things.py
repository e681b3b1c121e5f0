"""The small things a first real week exposed (issue 13 §8): titles that do not repeat the
period's word, a question and its answer without «?:», button labels cut at a word with «…»,
the chosen answer shown under the question, file sizes in Vietnamese numbers, receipt numbers
without gaps, and a plan loaded in the middle of its year that does not chase the past."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from core.fields.base import FieldSpec
from core.fields.file import TYPE as FILE
from core.i18n import translator
from core.planfile import load_plan
from core.textlimits import BUTTON_LABEL, button_label
from core.texts import label_value, report_title
from db.models import AuditLog, Obligation, ObligationStatus, Submission
from db.plan_import import import_plan
from tests.support.harness import DONGDA_PLAN, HANOI, BotHarness

SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
LAN, MINH, HOA = 4101, 4102, 4103
_ = translator("vi")


def test_a_schedule_named_after_its_period_does_not_repeat_the_word() -> None:
    assert report_title(_, "Báo cáo tháng", "monthly", "2022-03") == "Báo cáo tháng 03/2022"
    assert report_title(_, "Báo cáo quý", "quarterly", "2022-Q1") == "Báo cáo quý I/2022"
    assert report_title(_, "Báo cáo năm", "yearly", "2022") == "Báo cáo năm 2022"
    # A name that does not end with the period's word keeps both, told apart.
    assert (report_title(_, "Báo cáo kết quả xử lý", "monthly", "2022-03")
            == "Báo cáo kết quả xử lý · tháng 03/2022")
    assert report_title(_, "Báo cáo 6 tháng", "half_year", "2022-H1").startswith(
        "Báo cáo 6 tháng · ")


def test_a_question_and_its_answer_on_one_line() -> None:
    assert label_value("Số vụ việc", "3") == "Số vụ việc: <b>3</b>"
    assert label_value("Có phát hiện vi phạm không?", "Có") == (
        "Có phát hiện vi phạm không? <b>Có</b>")
    assert label_value("Ghi chú:", "—") == "Ghi chú: <b>—</b>"
    assert label_value("a < b", "x") == "a &lt; b: <b>x</b>"


@given(st.text(alphabet=st.sampled_from("abc đêm  xyz·"), min_size=0, max_size=120))
def test_a_button_label_fits_and_never_cuts_a_word(text: str) -> None:
    label = button_label(text)
    assert len(label) <= BUTTON_LABEL
    words = " ".join(text.split())
    if len(words) <= BUTTON_LABEL:
        assert label == words
    else:
        assert label.endswith("…")
        kept = label[:-1]
        assert words.startswith(kept)
        # The cut falls between words, unless the first word alone is too long.
        following = words[len(kept):len(kept) + 1]
        assert following in (" ", "") or " " not in words[:BUTTON_LABEL] or \
            len(kept) >= (BUTTON_LABEL - 1) // 2


def test_two_long_questions_that_start_alike_are_told_apart() -> None:
    first = button_label("3. Số người nghiện ma túy được cai nghiện tại gia đình và cộng đồng")
    second = button_label("4. Số người nghiện ma túy được cai nghiện tại cơ sở bắt buộc")
    assert first != second and first.endswith("…") and second.endswith("…")
    # Cut after a whole word: what is kept is a prefix ending where a word ends.
    whole = "3. Số người nghiện ma túy được cai nghiện tại gia đình và cộng đồng"
    assert whole[len(first) - 1] == " "


def test_file_limits_read_as_vietnamese_numbers() -> None:
    spec = FieldSpec(code="f", label="Văn bản", type="file", settings={"max_mb": 20.0})
    assert "20 MB" in FILE.hint(_, spec) and "20.0" not in FILE.hint(_, spec)
    half = FieldSpec(code="f", label="Văn bản", type="file", settings={"max_mb": 2.5})
    assert "2,5 MB" in FILE.hint(_, half)


def at(day: int, hour: int) -> dt.datetime:
    return dt.datetime(2022, 3, day, hour, 0, tzinfo=HANOI)


WARD_ANSWERS = ["10", "8", "1", "2", "0", "@Không", "0", "@Có", "0", "@Có", "@Bỏ qua",
                "#bao-cao.pdf"]


async def send_march(h: BotHarness, uid: int, agency: str) -> str:
    obligation = await h.obligation(agency, "thang", "2022-03")
    await h.say(uid, "Báo cáo cần nộp")
    await h.press(uid, f"o:{obligation.id}")
    for action in WARD_ANSWERS:
        if action.startswith("@"):
            replies = await h.tap(uid, action[1:])
        elif action.startswith("#"):
            replies = await h.send_document(uid, action[1:], mime_type="application/pdf")
        else:
            replies = await h.say(uid, action)
        assert "⚠️" not in replies.text, (action, replies.text)
    await h.tap(uid, "Gửi báo cáo")
    receipt = await h.tap(uid, "Xác nhận gửi")
    assert "Đã nhận báo cáo" in receipt.text, receipt.text
    found = re.search(r"BC-\d{4}-\d{5}", receipt.text)
    assert found, receipt.text
    return found.group(0)


@SQLITE_ONLY
async def test_the_chosen_answer_stays_under_the_question(database_url: str) -> None:
    async with BotHarness(database_url, plan=DONGDA_PLAN) as h:
        h.set_now(at(7, 9))
        await h.join(LAN, "p-cat-linh", first_name="Lan")
        obligation = await h.obligation("p-cat-linh", "thang", "2022-03")
        await h.say(LAN, "Báo cáo cần nộp")
        await h.press(LAN, f"o:{obligation.id}")
        for action in WARD_ANSWERS[:5]:
            await h.say(LAN, action)
        question = h.last_message(LAN)
        await h.tap(LAN, "Không")
        shown = next(m for m in h.bot_messages(LAN) if m["message_id"] == question["message_id"])
        assert shown["text"].endswith("✔ Không"), shown["text"]
        assert not shown.get("reply_markup", {}).get("inline_keyboard"), shown


@SQLITE_ONLY
async def test_receipt_numbers_have_no_gaps_whatever_drafts_were_begun(
        database_url: str) -> None:
    async with BotHarness(database_url, plan=DONGDA_PLAN) as h:
        h.set_now(at(7, 9))
        await h.join(LAN, "p-cat-linh", first_name="Lan")
        await h.join(MINH, "p-hang-bot", first_name="Minh")
        await h.join(HOA, "p-van-mieu", first_name="Hoa")
        # Drafts begun (and left) take submission ids, never receipt numbers.
        for agency, uid in (("p-van-mieu", HOA), ("p-hang-bot", MINH)):
            january = await h.obligation(agency, "thang", "2022-01")
            await h.say(uid, "Báo cáo cần nộp")
            await h.press(uid, f"o:{january.id}")
            await h.say(uid, "10")
        first = await send_march(h, LAN, "p-cat-linh")
        second = await send_march(h, MINH, "p-hang-bot")
        assert (first, second) == ("BC-2022-00001", "BC-2022-00002")
        async with h.session() as session:
            drafts = (await session.scalars(select(Submission.id))).all()
        assert max(drafts) > 2  # the ids did skip: the numbers did not


@SQLITE_ONLY
async def test_a_plan_loaded_mid_year_does_not_chase_the_past(database_url: str) -> None:
    async with BotHarness(database_url, plan=None) as h:
        async with h.session() as session:
            report = await import_plan(session, load_plan(DONGDA_PLAN), h.settings,
                                       chase_from=dt.date(2022, 3, 1),
                                       now=at(1, 8))
        # January's and February's monthly reports (last day before 1 March) are set aside.
        assert report.not_chased > 0
        january = await h.obligation("p-cat-linh", "thang", "2022-01")
        march = await h.obligation("p-cat-linh", "thang", "2022-03")
        assert january.status == ObligationStatus.waived
        assert march.status == ObligationStatus.open
        waived = await h.rows(Obligation, Obligation.status == ObligationStatus.waived)
        assert len(waived) == report.not_chased
        assert all(o.due_at <= at(1, 0) for o in waived)
        audit = await h.rows(AuditLog, AuditLog.action == "plan.not_chased")
        assert audit and audit[0].details["count"] == report.not_chased
        # Importing again changes nothing more.
        async with h.session() as session:
            again = await import_plan(session, load_plan(DONGDA_PLAN), h.settings,
                                      chase_from=dt.date(2022, 3, 1), now=at(1, 8))
        assert again.not_chased == 0
        # Without the date, the importer counts what it would chase as overdue.
        async with h.session() as session:
            plain = await import_plan(session, load_plan(DONGDA_PLAN), h.settings,
                                      now=at(1, 8))
        assert plain.past_due == 0  # everything before March is set aside already


def test_a_date_answer_without_its_year_is_read_in_the_reports_period() -> None:
    from core.fields.base import Ok, Problem
    from core.fields.date import TYPE as DATE

    march = FieldSpec(code="d", label="Ngày họp", type="date",
                      settings={"period": ["2022-02-15", "2022-03-12"]})
    assert DATE.parse(march, "15/3") == Ok("2022-03-15")
    assert DATE.parse(march, "20/2") == Ok("2022-02-20")
    january = FieldSpec(code="d", label="Ngày họp", type="date",
                        settings={"period": ["2022-01-01", "2022-01-31"]})
    assert DATE.parse(january, "20/12") == Ok("2021-12-20")
    # The hint's example is a day of the period, never a fixed date in the past.
    assert DATE.hint(_, march).endswith("ví dụ 12/03.")
    # With neither bounds nor a period, the year is asked for.
    bare = FieldSpec(code="d", label="Ngày họp", type="date")
    assert isinstance(DATE.parse(bare, "15/3"), Problem)
