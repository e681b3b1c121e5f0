"""End to end: an official fills in the Đống Đa ward monthly form in the real bot process.

The bot runs as `python -m bot run` against the in-process Bot API stand-in over HTTP; the
official is played through the stand-in's control API. Nothing sleeps: every step waits for
the bot's answer with a deadline.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from sandbox.client import StandInClient
from tests.conftest import PLANS
from tests.support.botproc import running_bot
from tests.support.chat import button, buttons, is_review, question_at

PLAN = PLANS / "dongda-2022.yaml"
AGENCY = "p-cat-linh"
FAKE_NOW = "2022-03-05T08:00:00+07:00"
ICT = dt.timezone(dt.timedelta(hours=7))
OFFICIAL = 880_001
USER = {"first_name": "Lan", "last_name": "Nguyễn", "language_code": "vi"}
# The process is played quickly; the flood guard (20 updates / 10 s) would throttle the test.
BOT_ENV = {"BOT_FAKE_NOW": FAKE_NOW, "FLOOD_LIMIT": "1000"}

JSON = dict[str, Any]
Predicate = Callable[[JSON], bool]


def _ward_form() -> dict[str, str]:
    """Field code → label of the ward form `phuong`, read from the plan file itself."""
    plan = yaml.safe_load(PLAN.read_text(encoding="utf-8"))
    form = next(f for f in plan["forms"] if f["code"] == "phuong")
    return {f["code"]: f["label"] for f in form["fields"]}


LABELS = _ward_form()
CODES = list(LABELS)


# ----------------------------------------------------------------------------- database


@dataclass
class Seeded:
    url: str
    path: Path
    code: str  # a reporter invite for P. Cát Linh


@pytest.fixture
async def seeded(dongda_template: Path, tmp_path: Path) -> Seeded:
    from db.invites import create_invite, find_agency
    from db.models import Role
    from db.session import make_engine, make_sessionmaker

    path = tmp_path / "bot.sqlite3"
    shutil.copy(dongda_template, path)
    url = f"sqlite+aiosqlite:///{path}"
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            agency = await find_agency(session, AGENCY, "dongda-2022")
            created = await create_invite(
                session, agency, Role.reporter, dt.timedelta(days=7), actor_label="e2e",
                now=dt.datetime.fromisoformat(FAKE_NOW),
            )
    finally:
        await engine.dispose()
    return Seeded(url, path, created.code)


def db_rows(path: Path, sql: str, *args: Any) -> list[sqlite3.Row]:
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def submissions_of(path: Path) -> list[sqlite3.Row]:
    return db_rows(
        path,
        """SELECT s.*, o.period_key, sc.code AS schedule_code, a.code AS agency_code
             FROM submission s JOIN obligation o ON o.id = s.obligation_id
             JOIN schedule sc ON sc.id = o.schedule_id JOIN agency a ON a.id = o.agency_id""",
    )


def answers_of(path: Path, submission_id: int) -> dict[str, tuple[Any, bool]]:
    import json

    rows = db_rows(path, "SELECT field_code, CAST(value AS TEXT) AS value, skipped FROM answer "
                   "WHERE submission_id = ?",
                   submission_id)
    return {r["field_code"]: (json.loads(r["value"]), bool(r["skipped"])) for r in rows}


# ----------------------------------------------------------------------------- the official


def question_of(msg: JSON) -> tuple[int, int, str] | None:
    return question_at(msg, LABELS)


def is_question(msg: JSON) -> bool:
    return question_of(msg) is not None


class Official:
    """One Telegram user talking to the bot; every action waits for the bot's reply."""

    def __init__(self, client: StandInClient, user_id: int = OFFICIAL) -> None:
        self.client = client
        self.user_id = user_id
        self.last_update_id = 0

    async def last_message_id(self) -> int:
        return max((m["message_id"] for m in await self.client.messages(self.user_id)),
                   default=0)

    async def say(self, text: str, until: Predicate = is_question) -> JSON:
        sent = await self.client.send_text(self.user_id, text, **USER)
        self.last_update_id = sent["update"]["update_id"]
        return await self.client.wait_for_message(self.user_id, until,
                                                  after_message_id=sent["message_id"])

    async def press(self, msg: JSON, data: str, until: Predicate = is_question) -> JSON:
        after = await self.last_message_id()
        pressed = await self.client.press(self.user_id, msg["message_id"], data)
        self.last_update_id = pressed["update"]["update_id"]
        reply = await self.client.wait_for_message(self.user_id, until, after_message_id=after)
        answer = await self.client.callback(pressed["callback_query_id"])
        assert answer, "every button press is answered (the spinner stops)"
        return reply

    async def sticker(self) -> JSON:
        sent = await self.client.send_sticker(self.user_id, "😅")
        self.last_update_id = sent["update"]["update_id"]
        return await self.client.wait_for_message(self.user_id, is_question,
                                                  after_message_id=sent["message_id"])

    async def document(self, name: str, content: bytes, mime: str) -> tuple[JSON, str]:
        sent = await self.client.send_document(self.user_id, name, content, mime, **USER)
        self.last_update_id = sent["update"]["update_id"]
        reply = await self.client.wait_for_message(
            self.user_id, lambda m: is_question(m) or is_review(m),
            after_message_id=sent["message_id"])
        return reply, sent["file_id"]

    async def join(self, code: str) -> JSON:
        reply = await self.say(f"/start {code}", until=lambda m: "Chào mừng" in m["text"])
        assert "UBND phường Cát Linh" in reply["text"], reply["text"]
        assert "Báo cáo cần nộp" in reply["text"]
        return reply

    async def open_march_report(self) -> tuple[JSON, JSON]:
        """«Báo cáo cần nộp» → the monthly report of 03/2022. Returns (intro, question)."""
        listing = await self.say("Báo cáo cần nộp", until=lambda m: bool(buttons(m)))
        assert "Báo cáo cần nộp — P. Cát Linh" in listing["text"], listing["text"]
        data = button(listing, lambda t: "Báo cáo tháng" in t and "tháng 03/2022" in t)
        question = await self.press(listing, data)
        intro = await self.client.wait_for_message(
            self.user_id, lambda m: "Hạn nộp" in m["text"], after_message_id=listing["message_id"])
        return intro, question


def expect_question(msg: JSON, code: str, number: int | None = None,
                    total: int | None = None) -> tuple[int, int]:
    found = question_of(msg)
    assert found is not None, f"not a question: {msg.get('text')}"
    k, n, asked = found
    assert asked == code, f"expected the question {code}, got {asked}: {msg['text']}"
    if number is not None:
        assert k == number, msg["text"]
    if total is not None:
        assert n == total, msg["text"]
    return k, n


def expect_rejected(msg: JSON, before: JSON, explanation: str) -> None:
    """A wrong answer: a Vietnamese explanation, then the very same question again."""
    text = msg["text"]
    assert text.startswith("⚠️"), text
    assert explanation in text, text
    assert "Please" not in text and "Question" not in text, f"English leaked: {text}"
    assert question_of(msg) == question_of(before), (
        f"the same question must be asked again: {question_of(before)} → {question_of(msg)}")


def expect_answered(msg: JSON, code: str) -> tuple[int, int]:
    assert not msg["text"].startswith("⚠️"), msg["text"]
    return expect_question(msg, code)


# ----------------------------------------------------------------------------- test 1


async def test_official_fills_the_ward_monthly_form_with_mistakes_and_sends_it(
    seeded: Seeded, tmp_path: Path
) -> None:
    async with running_bot(seeded.url, tmp_path / "bot.log", **BOT_ENV) as bot:
        me = Official(bot.client)
        await me.join(seeded.code)
        intro, q = await me.open_march_report()
        assert "Báo cáo tháng 03/2022" in intro["text"]
        assert "Hạn nộp" in intro["text"] and "11/03/2022" in intro["text"]
        assert "còn 6 ngày" in intro["text"], intro["text"]
        assert "Tiếp tục" not in intro["text"], "a new report starts from the beginning"

        # Q1 co_so_quan_ly: letters, a decimal, a negative number, then a good answer.
        _k, total = expect_question(q, "co_so_quan_ly", 1)
        assert "Quay lại" not in buttons(q), "no «Quay lại» on the first question"
        assert "Hủy" in buttons(q) and "Bỏ qua" not in buttons(q)
        bad = await me.say("mười hai")
        expect_rejected(bad, q, "Vui lòng nhập một số, ví dụ 12 hoặc 1.234.")
        bad = await me.say("2,5")
        expect_rejected(bad, q, "Vui lòng nhập số nguyên, không có phần thập phân.")
        bad = await me.say("-3")
        expect_rejected(bad, q, "Vui lòng nhập giá trị không nhỏ hơn 0.")
        q = await me.say("12")
        expect_answered(q, "co_so_kiem_tra")

        # Q2 co_so_kiem_tra: more inspected than managed → the cross-field check.
        expect_question(q, "co_so_kiem_tra", 2, total)
        bad = await me.say("15")
        expect_rejected(bad, q, "Số cơ sở được kiểm tra không thể lớn hơn số cơ sở đang quản lý.")
        assert f"Vui lòng kiểm tra: câu 1 «{LABELS['co_so_quan_ly']}», câu 2 " \
               f"«{LABELS['co_so_kiem_tra']}»." in bad["text"], bad["text"]
        q = await me.say("10")
        # Inspections > 0 reveal the question on violations: one more question in total.
        _k, total = expect_answered(q, "co_so_vi_pham")
        assert total == 12 and q["text"].count("Câu 3/12") == 1, q["text"]

        # Q3 co_so_vi_pham: violations greater than inspected.
        bad = await me.say("11")
        expect_rejected(bad, q, "Số cơ sở vi phạm không thể lớn hơn số cơ sở được kiểm tra.")
        assert f"câu 2 «{LABELS['co_so_kiem_tra']}», câu 3 «{LABELS['co_so_vi_pham']}»" \
               in bad["text"], bad["text"]
        q = await me.say("3")

        # Q4 buoi_tuyen_truyen: a sticker where a number is expected; thousands separator.
        expect_answered(q, "buoi_tuyen_truyen")
        expect_question(q, "buoi_tuyen_truyen", 4, total)
        bad = await me.sticker()
        expect_rejected(bad, q, "Vui lòng trả lời bằng chữ (hoặc bấm nút).")
        bad = await me.say("bốn buổi")
        expect_rejected(bad, q, "Vui lòng nhập một số")
        q = await me.say("4")

        # Q5 nguoi_xu_phat_hc.
        expect_answered(q, "nguoi_xu_phat_hc")
        q = await me.say("0")

        # Q6 co_diem_phat_sinh (yes/no): an unclear text, then the «Có» button.
        expect_answered(q, "co_diem_phat_sinh")
        assert {"Có", "Không"} <= set(buttons(q)), buttons(q)
        bad = await me.say("có lẽ")
        expect_rejected(bad, q, "Vui lòng trả lời Có hoặc Không.")
        q = await me.press(bad, button(bad, "Có"))
        # «Có» reveals the number of new spots.
        _k, total = expect_answered(q, "so_diem_phat_sinh")
        assert total == 13, q["text"]

        # Q7 so_diem_phat_sinh (min 1).
        bad = await me.say("0")
        expect_rejected(bad, q, "Vui lòng nhập giá trị không nhỏ hơn 1.")
        q = await me.say("2")

        # Q8 so_diem_triet_xoa: «Quay lại» once, see the previous answer, keep it, go on.
        expect_answered(q, "so_diem_triet_xoa")
        expect_question(q, "so_diem_triet_xoa", 8, total)
        back = await me.press(q, button(q, "« Quay lại"))
        expect_question(back, "so_diem_phat_sinh", 7, total)
        assert "Câu trả lời hiện tại: 2" in back["text"], back["text"]
        q = await me.say("2")
        expect_question(q, "so_diem_triet_xoa", 8, total)
        assert "Câu trả lời hiện tại" not in q["text"]
        q = await me.say("1")

        # Q9 duy_tri_mo_hinh: the «Có» button.
        expect_answered(q, "duy_tri_mo_hinh")
        q = await me.press(q, button(q, "Có"))

        # Q10 nguoi_co_nhu_cau → reveals Q11 nguoi_duoc_ho_tro.
        expect_answered(q, "nguoi_co_nhu_cau")
        q = await me.say("2")
        _k, total = expect_answered(q, "nguoi_duoc_ho_tro")
        assert total == 14, q["text"]
        bad = await me.say("3")
        expect_rejected(bad, q, "Số người được hỗ trợ không thể lớn hơn số người có nhu cầu.")
        assert "câu 10" in bad["text"] and "câu 11" in bad["text"], bad["text"]
        q = await me.say("1")

        # Q12 khong_te_nan: the «Không» button.
        expect_answered(q, "khong_te_nan")
        q = await me.press(q, button(q, "Không"))

        # Q13 kho_khan (optional long text): «Bỏ qua».
        expect_answered(q, "kho_khan")
        assert "(không bắt buộc)" in q["text"] and "Bỏ qua" in buttons(q)
        q = await me.press(q, button(q, "Bỏ qua"))

        # Q14 van_ban (the signed report, required in Đống Đa): no «Bỏ qua»; a wrong type
        # first, then the signed PDF.
        assert "Bỏ qua" not in buttons(q), buttons(q)
        expect_question(q, "van_ban", 14, 14)
        bad, _file = await me.document("ghi-chu.txt", b"notes", "text/plain")
        expect_rejected(bad, q, "Loại tệp này không được chấp nhận.")
        review, pdf_file_id = await me.document(
            "bao-cao-thang-3.pdf", b"%PDF-1.4 signed report", "application/pdf")

        # The review lists every answer; change Q1 with its ✏️ button.
        assert is_review(review), review["text"]
        text = review["text"]
        assert f"1. {LABELS['co_so_quan_ly']}: 12" in text, text
        assert f"7. {LABELS['so_diem_phat_sinh']}: 2" in text
        assert f"13. {LABELS['kho_khan']}: — (bỏ qua)" in text, text
        assert f"14. {LABELS['van_ban']}: 📎 bao-cao-thang-3.pdf" in text, text
        assert {f"✏️ {n}" for n in range(1, 15)} <= set(buttons(review)), buttons(review)
        edit = await me.press(review, button(review, "✏️ 1"))
        expect_question(edit, "co_so_quan_ly", 1, 14)
        assert "Câu trả lời hiện tại: 12" in edit["text"], edit["text"]
        assert "Xem lại" in buttons(edit)
        bad = await me.say("9")  # fewer managed than the 10 inspected: the check again
        expect_rejected(bad, edit,
                        "Số cơ sở được kiểm tra không thể lớn hơn số cơ sở đang quản lý.")
        review = await me.say("1.020", until=is_review)
        assert f"1. {LABELS['co_so_quan_ly']}: 1.020" in review["text"], review["text"]

        # Send, confirm, receipt.
        confirm = await me.press(review, button(review, "✅ Gửi báo cáo"),
                                 until=lambda m: "ngay bây giờ?" in m["text"])
        assert "Báo cáo tháng 03/2022" in confirm["text"]
        receipt = await me.press(confirm, button(confirm, "✅ Xác nhận gửi"),
                                 until=lambda m: "Đã nhận báo cáo" in m["text"])
        assert re.search(r"BC-2022-\d{5}", receipt["text"]), receipt["text"]
        assert "Đúng hạn" in receipt["text"], receipt["text"]
        assert "Lan Nguyễn" in receipt["text"], receipt["text"]
        assert "Quá hạn" not in receipt["text"]
        assert "Traceback" not in bot.log(), bot.log()

    # The database holds the submitted report.
    [sub] = submissions_of(seeded.path)
    assert (sub["schedule_code"], sub["period_key"], sub["agency_code"]) == (
        "thang", "2022-03", AGENCY)
    assert sub["state"] == "submitted" and sub["late_days"] == 0 and not sub["no_report"]
    assert sub["receipt_no"] in receipt["text"]
    assert sub["version"] == 1 and sub["submitted_at"] is not None
    [member] = db_rows(seeded.path, "SELECT * FROM member WHERE telegram_user_id = ?", OFFICIAL)
    assert sub["submitted_by_member_id"] == member["id"]
    [obligation] = db_rows(seeded.path, "SELECT status FROM obligation WHERE id = ?",
                           sub["obligation_id"])
    assert obligation["status"] == "submitted"
    answers = answers_of(seeded.path, sub["id"])
    assert answers == {
        "co_so_quan_ly": (1020, False),
        "co_so_kiem_tra": (10, False),
        "co_so_vi_pham": (3, False),
        "buoi_tuyen_truyen": (4, False),
        "nguoi_xu_phat_hc": (0, False),
        "co_diem_phat_sinh": (True, False),
        "so_diem_phat_sinh": (2, False),
        "so_diem_triet_xoa": (1, False),
        "duy_tri_mo_hinh": (True, False),
        "nguoi_co_nhu_cau": (2, False),
        "nguoi_duoc_ho_tro": (1, False),
        "khong_te_nan": (False, False),
        "kho_khan": (None, True),
        "van_ban": ({"file_name": "bao-cao-thang-3.pdf", "mime_type": "application/pdf",
                     "size": len(b"%PDF-1.4 signed report")}, False),
    }
    [attachment] = db_rows(seeded.path, "SELECT * FROM attachment WHERE submission_id = ?",
                           sub["id"])
    assert attachment["telegram_file_id"] == pdf_file_id
    assert attachment["field_code"] == "van_ban" and attachment["mime_type"] == "application/pdf"


# ----------------------------------------------------------------------------- test 2


async def _confirmed(bot: Any, update_id: int) -> None:
    """Wait until the bot has confirmed `update_id` (a later getUpdates offset), so a kill
    cannot make the stand-in deliver it again."""
    await bot.client.wait_for_call(
        "getUpdates", lambda c: int(c["params"].get("offset") or 0) > update_id, timeout=15)


async def test_bot_killed_in_the_middle_of_a_form_resumes_from_the_database(
    seeded: Seeded, tmp_path: Path
) -> None:
    async with running_bot(seeded.url, tmp_path / "bot-1.log", **BOT_ENV) as bot:
        state = bot.state
        me = Official(bot.client)
        await me.join(seeded.code)
        _intro, q = await me.open_march_report()
        expect_question(q, "co_so_quan_ly", 1)
        q = await me.say("12")
        q = await me.say("10")
        q = await me.say("0")
        expect_question(q, "buoi_tuyen_truyen", 4, 12)
        await _confirmed(bot, me.last_update_id)
        bot.process.kill()  # SIGKILL: no shutdown hook runs
        await bot.process.wait()
        assert bot.process.returncode == -9
    [draft] = submissions_of(seeded.path)
    assert draft["state"] == "draft" and draft["current_field"] == "buoi_tuyen_truyen"

    # The official answers while the bot is down: Telegram keeps the message.
    before = max(c["seq"] for c in state.calls())
    sent = state.user_sends_text(OFFICIAL, "1.234", **USER)

    async with running_bot(seeded.url, tmp_path / "bot-2.log", state=state, **BOT_ENV) as bot:
        me = Official(bot.client)
        # running_bot sees the first process's getUpdates in the shared call log: wait for
        # the new process's own first poll.
        await bot.client.wait_for_call("getUpdates", timeout=30, after=before)
        q = await bot.client.wait_for_message(OFFICIAL, is_question,
                                              after_message_id=sent["message"]["message_id"])
        # Accepted as the answer to the same question (Q4), so Q5 comes next.
        expect_answered(q, "nguoi_xu_phat_hc")
        expect_question(q, "nguoi_xu_phat_hc", 5, 12)
        q = await me.say("7")
        expect_question(q, "co_diem_phat_sinh", 6, 12)
        await _confirmed(bot, me.last_update_id)
        assert "Traceback" not in bot.log(), bot.log()
        bot.process.kill()
        await bot.process.wait()

    # A second restart; this time the official reopens the report from the menu.
    async with running_bot(seeded.url, tmp_path / "bot-3.log", state=state, **BOT_ENV) as bot:
        me = Official(bot.client)
        intro, q = await me.open_march_report()
        assert "Tiếp tục từ chỗ đã dừng" in intro["text"], intro["text"]
        expect_question(q, "co_diem_phat_sinh", 6, 12)
        q = await me.press(q, button(q, "Không"))
        expect_answered(q, "so_diem_triet_xoa")
        expect_question(q, "so_diem_triet_xoa", 7, 12)
        q = await me.say("0")
        q = await me.press(q, button(q, "Có"))  # duy_tri_mo_hinh
        q = await me.say("0")  # nguoi_co_nhu_cau: nobody, so Q nguoi_duoc_ho_tro stays hidden
        expect_answered(q, "khong_te_nan")
        q = await me.press(q, button(q, "Có"))
        expect_answered(q, "kho_khan")
        q = await me.say("Thiếu kinh phí cho Đội kiểm tra liên ngành.")
        expect_answered(q, "van_ban")
        review, _file_id = await me.document(
            "bao-cao-thang-3.pdf", b"%PDF-1.4 signed report", "application/pdf")
        assert is_review(review), review["text"]
        text = review["text"]
        for line in (f"1. {LABELS['co_so_quan_ly']}: 12", f"2. {LABELS['co_so_kiem_tra']}: 10",
                     f"3. {LABELS['co_so_vi_pham']}: 0",
                     f"4. {LABELS['buoi_tuyen_truyen']}: 1.234",
                     f"5. {LABELS['nguoi_xu_phat_hc']}: 7"):
            assert line in text, text
        confirm = await me.press(review, button(review, "✅ Gửi báo cáo"),
                                 until=lambda m: "ngay bây giờ?" in m["text"])
        receipt = await me.press(confirm, button(confirm, "✅ Xác nhận gửi"),
                                 until=lambda m: "Đã nhận báo cáo" in m["text"])
        assert "BC-" in receipt["text"] and "Đúng hạn" in receipt["text"], receipt["text"]
        assert "Traceback" not in bot.log(), bot.log()

    [sub] = submissions_of(seeded.path)
    assert sub["state"] == "submitted" and sub["late_days"] == 0
    answers = answers_of(seeded.path, sub["id"])
    assert {k: v for k, v in answers.items() if k != "van_ban"} == {
        "co_so_quan_ly": (12, False),
        "co_so_kiem_tra": (10, False),
        "co_so_vi_pham": (0, False),
        "buoi_tuyen_truyen": (1234, False),
        "nguoi_xu_phat_hc": (7, False),
        "co_diem_phat_sinh": (False, False),
        "so_diem_triet_xoa": (0, False),
        "duy_tri_mo_hinh": (True, False),
        "nguoi_co_nhu_cau": (0, False),
        "khong_te_nan": (True, False),
        "kho_khan": ("Thiếu kinh phí cho Đội kiểm tra liên ngành.", False),
    }
    assert answers["van_ban"][0]["file_name"] == "bao-cao-thang-3.pdf", answers["van_ban"]



# ----------------------------------------------------------------------------- product bugs


async def test_check_message_numbers_match_the_question_numbers_shown(
    seeded: Seeded, tmp_path: Path
) -> None:
    async with running_bot(seeded.url, tmp_path / "bot.log", **BOT_ENV) as bot:
        me = Official(bot.client)
        await me.join(seeded.code)
        _intro, q = await me.open_march_report()
        q = await me.say("12")  # co_so_quan_ly
        q = await me.say("0")  # co_so_kiem_tra = 0 hides co_so_vi_pham
        expect_answered(q, "buoi_tuyen_truyen")
        q = await me.say("1")
        q = await me.say("0")  # nguoi_xu_phat_hc
        q = await me.press(q, button(q, "Không"))  # co_diem_phat_sinh: hides so_diem_phat_sinh
        q = await me.say("0")  # so_diem_triet_xoa
        q = await me.press(q, button(q, "Có"))  # duy_tri_mo_hinh
        need, _total = expect_answered(q, "nguoi_co_nhu_cau")
        q = await me.say("1")
        helped, _total = expect_answered(q, "nguoi_duoc_ho_tro")
        assert (need, helped) == (8, 9), q["text"]  # as the official sees them
        bad = await me.say("2")
        expect_rejected(bad, q, "Số người được hỗ trợ không thể lớn hơn số người có nhu cầu.")
        # The message must name the questions by the numbers the official was shown
        # (and that the review's ✏️ buttons use); the bot says «câu 10», «câu 11».
        assert f"câu {need} «{LABELS['nguoi_co_nhu_cau']}», câu {helped} " \
               f"«{LABELS['nguoi_duoc_ho_tro']}»" in bad["text"], bad["text"]


async def test_two_answers_delivered_together_go_to_successive_questions(
    seeded: Seeded, tmp_path: Path
) -> None:
    async with running_bot(seeded.url, tmp_path / "bot.log", **BOT_ENV) as bot:
        me = Official(bot.client)
        await me.join(seeded.code)
        _intro, q = await me.open_march_report()
        expect_question(q, "co_so_quan_ly", 1)
        # A phone that was offline sends both queued messages at once: Telegram delivers them
        # in one getUpdates batch.
        bot.state.user_sends_text(OFFICIAL, "12", **USER)
        second = bot.state.user_sends_text(OFFICIAL, "10", **USER)
        last_sent = second["message"]["message_id"]
        first_reply = await bot.client.wait_for_message(OFFICIAL, after_message_id=last_sent)
        second_reply = await bot.client.wait_for_message(
            OFFICIAL, after_message_id=first_reply["message_id"])
        replies = [first_reply["text"], second_reply["text"]]
        assert not any("Xin lỗi" in r for r in replies), replies
        expect_answered(first_reply, "co_so_kiem_tra")
        expect_answered(second_reply, "co_so_vi_pham")
    [sub] = submissions_of(seeded.path)
    answers = answers_of(seeded.path, sub["id"])
    assert answers == {"co_so_quan_ly": (12, False), "co_so_kiem_tra": (10, False)}, answers
