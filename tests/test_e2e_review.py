"""End to end (issue 5, §4): a ward's report is returned with a comment on one question, the
ward fixes only that question and sends it again, the standing office accepts version 2, the
status shows it accepted and the export's totals are the sums of the answers.

The real `python -m bot run` process talks to the in-process Bot API stand-in over HTTP; both
officials are played through the stand-in's control API. The notifications to the ward (the
return, the acceptance) go through the outbox and the bot's own sender
(SWEEP_INTERVAL_SECONDS=0: no periodic sweep, the sender still runs). Nothing sleeps: every
step waits for the bot's answer with a deadline.

The plan is the mini plan (`tests/data/mini-plan.yaml`): P. Cát Linh answers the ward form
`phuong` for the monthly report of 03/2022 (due «trước ngày 13»).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import re
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from db.models import Submission, SubmissionState
from sandbox.client import StandInClient
from tests.conftest import MINI_PLAN
from tests.support.botproc import running_bot
from tests.support.chat import button, buttons
from tests.support.harness import BotHarness

FAKE_NOW = "2022-03-05T08:00:00+07:00"
WARD, OFFICE = 880_101, 880_102
WARD_USER = {"first_name": "Lan", "language_code": "vi"}
OFFICE_USER = {"first_name": "Mai", "language_code": "vi"}
BOT_ENV = {"BOT_FAKE_NOW": FAKE_NOW, "FLOOD_LIMIT": "1000", "SWEEP_INTERVAL_SECONDS": "0",
           "SEND_PER_CHAT_SECONDS": "0.1"}
COMMENT = "Số cơ sở đã kiểm tra chưa khớp biên bản, đề nghị kiểm tra lại"

JSON = dict[str, Any]
Predicate = Callable[[JSON], bool]


# ----------------------------------------------------------------------------- database


def db_rows(path: Path, sql: str, *args: Any) -> list[sqlite3.Row]:
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def answers(path: Path, submission_id: int) -> dict[str, Any]:
    import json

    rows = db_rows(path, "SELECT field_code, CAST(value AS TEXT) AS value FROM answer "
                   "WHERE submission_id = ? AND NOT skipped", submission_id)
    return {r["field_code"]: json.loads(r["value"]) for r in rows}


@pytest.fixture
def seeded(sqlite_template: Path, tmp_path: Path) -> tuple[str, Path, str, str]:
    """A migrated SQLite copy with the mini plan, and invites for the ward and the office."""
    from core.planfile import load_plan
    from core.settings import Settings
    from db.invites import create_invite, find_agency
    from db.models import Role
    from db.plan_import import import_plan
    from db.session import make_engine, make_sessionmaker

    path = tmp_path / "bot.sqlite3"
    shutil.copy(sqlite_template, path)
    url = f"sqlite+aiosqlite:///{path}"
    now = dt.datetime.fromisoformat(FAKE_NOW)

    async def load() -> tuple[str, str]:
        settings = Settings(_env_file=None, database_url=url, bot_token="123456:TEST")
        engine = make_engine(url)
        try:
            async with make_sessionmaker(engine)() as session, session.begin():
                await import_plan(session, load_plan(MINI_PLAN), settings)
            async with make_sessionmaker(engine)() as session, session.begin():
                ward = await create_invite(session, await find_agency(session, "p-cat-linh", None),
                                           Role.reporter, dt.timedelta(days=7), now=now)
                office = await create_invite(session, await find_agency(session, "ldtbxh", None),
                                             Role.standing_office, dt.timedelta(days=7), now=now)
                return ward.code, office.code
        finally:
            await engine.dispose()

    ward_code, office_code = asyncio.run(load())
    return url, path, ward_code, office_code


# ----------------------------------------------------------------------------- the people


def has(*parts: str) -> Predicate:
    return lambda m: all(p in (m.get("text") or m.get("caption") or "") for p in parts)


def question(msg: JSON) -> bool:
    return bool(re.search(r"Câu \d+/\d+", msg.get("text") or ""))


class Person:
    """One Telegram user; every action waits for the bot's reply."""

    def __init__(self, client: StandInClient, user_id: int, user: JSON) -> None:
        self.client, self.user_id, self.user = client, user_id, user

    async def last_id(self) -> int:
        return max((m["message_id"] for m in await self.client.messages(self.user_id)),
                   default=0)

    async def say(self, text: str, until: Predicate) -> JSON:
        sent = await self.client.send_text(self.user_id, text, **self.user)
        return await self.client.wait_for_message(self.user_id, until,
                                                  after_message_id=sent["message_id"])

    async def press(self, msg: JSON, data: str, until: Predicate | None) -> JSON:
        """Press a button; wait for the reply (or, with `until=None`, for the answer only:
        a toggle edits the keyboard in place). Every press must be answered."""
        after = await self.last_id()
        pressed = await self.client.press(self.user_id, msg["message_id"], data)
        reply = msg
        if until is not None:
            reply = await self.client.wait_for_message(self.user_id, until,
                                                       after_message_id=after)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while not await self.client.callback(pressed["callback_query_id"]):
            assert loop.time() < deadline, f"the press of {data!r} was never answered"
            await asyncio.sleep(0.05)
        return reply

    async def tap(self, msg: JSON, label: str, until: Predicate | None = question) -> JSON:
        return await self.press(msg, button(msg, label), until)

    async def join(self, code: str) -> None:
        welcome = await self.say(f"/start {code}", has("✅"))
        assert "Chào mừng" in welcome["text"], welcome["text"]


async def send(person: Person, review: JSON) -> JSON:
    confirm = await person.tap(review, "✅ Gửi báo cáo", has("ngay bây giờ?"))
    return await person.tap(confirm, "✅ Xác nhận gửi", has("Đã nhận báo cáo"))


# ----------------------------------------------------------------------------- the test


async def test_a_returned_ward_report_is_fixed_resent_and_accepted(
        seeded: tuple[str, Path, str, str], tmp_path: Path) -> None:
    url, path, ward_code, office_code = seeded
    async with running_bot(url, tmp_path / "bot.log", **BOT_ENV) as bot:
        ward = Person(bot.client, WARD, WARD_USER)
        office = Person(bot.client, OFFICE, OFFICE_USER)
        await ward.join(ward_code)
        await office.join(office_code)

        # The ward answers the March report and sends it (version 1).
        due = await ward.say("Báo cáo cần nộp", lambda m: bool(buttons(m)))
        q = await ward.tap(due, next(t for t in buttons(due) if "tháng 03/2022" in t
                                     and "Báo cáo tháng" in t))
        assert "Số cơ sở đang quản lý" in q["text"], q["text"]
        q = await ward.say("10", question)
        q = await ward.say("8", question)
        q = await ward.tap(q, "Không")  # no violation: the next question is skipped
        q = await ward.tap(q, "Bỏ qua")  # ty_le
        q = await ward.tap(q, "Bỏ qua")  # kinh_phi
        await ward.tap(q, "⬜ Hội nghị", until=None)
        q = await ward.tap(q, "✔️ Xong")
        q = await ward.tap(q, "Tốt")
        q = await ward.tap(q, "Bỏ qua")  # ngay_hop
        q = await ward.tap(q, "Có")  # khong_te_nan
        q = await ward.tap(q, "Bỏ qua")  # kho_khan
        review = await ward.tap(q, "Bỏ qua", until=has("Xem lại báo cáo"))  # van_ban
        receipt = await send(ward, review)
        assert "🟢 Đúng hạn" in receipt["text"], receipt["text"]
        [v1] = db_rows(path, "SELECT * FROM submission")

        # The standing office opens it and returns it, naming question 2.
        queue = await office.say("Báo cáo chờ tiếp nhận", lambda m: bool(buttons(m)))
        assert "P. Cát Linh — Báo cáo tháng 03/2022" in queue["text"], queue["text"]
        opened = await office.press(queue, f"rv:{v1['id']}", has("Số biên nhận"))
        assert "2. Số cơ sở đã kiểm tra: 8" in opened["text"], opened["text"]
        asking = await office.tap(opened, "↩️ Trả lại để bổ sung", has("Trả lại báo cáo"))
        await office.press(asking, f"rf:{v1['id']}:1", until=None)
        ticked = await bot.client.wait_for_message(
            OFFICE, lambda m: "☑️ 2. Số cơ sở đã kiểm tra" in buttons(m),
            after_message_id=asking["message_id"] - 1)
        assert ticked["message_id"] == asking["message_id"]  # edited in place
        done = await office.say(COMMENT, has("Đã trả lại báo cáo cho P. Cát Linh"))
        assert "Đơn vị đã được thông báo" in done["text"]

        # The bot's sender tells the ward, with the comment and a button to the form.
        notice = await bot.client.wait_for_message(WARD, has("Báo cáo được trả lại để bổ sung"),
                                                   after_message_id=receipt["message_id"])
        assert f"Ý kiến: «{COMMENT}»" in notice["text"], notice["text"]
        assert "Các câu cần sửa: 2. Số cơ sở đã kiểm tra" in notice["text"]
        q = await ward.tap(notice, "✏️ Mở báo cáo")
        assert "Câu 2/" in q["text"] and "Số cơ sở đã kiểm tra" in q["text"], q["text"]
        assert "Câu trả lời hiện tại: 8" in q["text"]
        intro = await bot.client.wait_for_message(WARD, has("Đây là lần gửi thứ 2"),
                                                  after_message_id=notice["message_id"])
        assert f"Báo cáo được trả lại với ý kiến: «{COMMENT}»" in intro["text"]
        review = await ward.say("9", has("Xem lại báo cáo"))  # only that question
        assert "1. Số cơ sở đang quản lý: 10" in review["text"]
        assert "2. Số cơ sở đã kiểm tra: 9" in review["text"], review["text"]
        receipt2 = await send(ward, review)
        assert "Lần gửi thứ 2" in receipt2["text"], receipt2["text"]
        v2 = db_rows(path, "SELECT * FROM submission WHERE version = 2")[0]

        # The standing office sees version 2 with the history and accepts it.
        queue = await office.say("Báo cáo chờ tiếp nhận", lambda m: bool(buttons(m)))
        assert "tháng 03/2022 v2" in queue["text"], queue["text"]
        opened = await office.press(queue, f"rv:{v2['id']}", has("Số biên nhận"))
        assert f"Lần gửi thứ 1 đã được trả lại với ý kiến: «{COMMENT}»" in opened["text"], \
            opened["text"]
        accepted = await office.tap(opened, "✅ Tiếp nhận", has("Đã tiếp nhận: P. Cát Linh"))
        told = await bot.client.wait_for_message(WARD, has("Báo cáo đã được tiếp nhận"),
                                                 after_message_id=receipt2["message_id"])
        assert "tháng 03/2022" in told["text"]

        # The status shows the report accepted.
        status = await office.say("Tình hình báo cáo", has("Tình hình nộp báo cáo"))
        march = await office.tap(status, "Kỳ sau »", has("tháng 03/2022", "Phải nộp"))
        text = march["text"]
        assert "Phải nộp: 5" in text and "Đã nộp: 1 (đúng hạn 1, quá hạn 0)" in text, text
        assert "Đã tiếp nhận: 1 · chờ tiếp nhận: 0 · đã trả lại: 0" in text
        assert "• P. Cát Linh" not in text

        # The export opens with openpyxl and its totals are the sums of the answers.
        exported = await office.tap(march, "📊 Xuất Excel", lambda m: bool(m.get("document")))
        content = bot.state.file_content(exported["document"]["file_id"])
        book = load_workbook(io.BytesIO(content))
        sheet = [tuple(r) for r in
                 book["Báo cáo của UBND phường"].iter_rows(values_only=True)]
        rows, totals = sheet[1:-1], sheet[-1]
        cat_linh = next(r for r in rows if r[0] == "UBND phường Cát Linh")
        assert cat_linh[1:4] == ("Đã tiếp nhận", 10, 9), cat_linh
        assert totals[0] == "Tổng cộng"
        for column in (2, 3):  # C: co_so_quan_ly, D: co_so_kiem_tra
            letter = "CD"[column - 2]
            assert totals[column] == f"=SUM({letter}2:{letter}{1 + len(rows)})"
            assert sum(r[column] or 0 for r in rows) == (10, 9)[column - 2]
        state = [tuple(r) for r in book["Tình hình nộp"].iter_rows(values_only=True)]
        cat_linh = next(r for r in state if r[0] == "UBND phường Cát Linh")
        assert (cat_linh[4], cat_linh[5], cat_linh[6]) == ("Có", 2, "Đã tiếp nhận")
        assert accepted
        assert "Traceback" not in bot.log(), bot.log()

    # The database keeps both versions.
    v1 = db_rows(path, "SELECT * FROM submission WHERE version = 1")[0]
    v2 = db_rows(path, "SELECT * FROM submission WHERE version = 2")[0]
    assert (v1["state"], v2["state"]) == ("superseded", "accepted")
    assert v1["review_comment"] == COMMENT and v1["review_fields"] == '["co_so_kiem_tra"]'
    first, second = answers(path, v1["id"]), answers(path, v2["id"])
    assert first["co_so_kiem_tra"] == 8 and second["co_so_kiem_tra"] == 9
    assert {k: v for k, v in first.items() if k != "co_so_kiem_tra"} == {
        k: v for k, v in second.items() if k != "co_so_kiem_tra"}
    [obligation] = db_rows(path, "SELECT status FROM obligation WHERE id = ?",
                           v1["obligation_id"])
    assert obligation["status"] == "accepted"
    actions = [r["action"] for r in db_rows(path, "SELECT action FROM audit_log ORDER BY id")]
    assert actions.count("submission.submit") == 2
    assert "submission.return" in actions and "submission.accept" in actions
    sent = db_rows(path, "SELECT kind, status FROM outbox")
    assert {(r["kind"], r["status"]) for r in sent} == {("returned", "sent"), ("accepted", "sent")}


# ----------------------------------------------------------------------------- forged buttons


STALE = "Nút này không còn hiệu lực. Mở «Báo cáo cần nộp» để xem danh sách hiện tại."
SECRET = "Chưa gửi: kế hoạch kiểm tra đột xuất tụ điểm số 7"


async def test_a_forged_button_does_not_open_an_unsent_draft(sqlite_url: str) -> None:
    """Issue 10: «rv:{draft}» showed the standing office an agency's unsent draft. A draft
    is told what a stale button is told (so are «accept» and «return» on it); once sent,
    the same report opens. Played through the in-process harness (no subprocess)."""
    police, office = 880_201, 880_202
    async with BotHarness(sqlite_url) as bot:
        await bot.join(police, "ca", first_name="Hùng")
        await bot.join(office, "ldtbxh", "standing_office", first_name="Mai")
        march = await bot.obligation("ca", "thang", "2022-03")
        await bot.say(police, "Báo cáo cần nộp")
        await bot.press(police, f"o:{march.id}")
        await bot.say(police, "17")
        review = await bot.say(police, SECRET)
        assert SECRET in review.text, review.text  # the draft is at its review, not sent
        draft = await bot.one(Submission)
        assert draft.state == SubmissionState.draft

        screen = bot.last_message(office)["message_id"]
        for data in (f"rv:{draft.id}", f"ac:{draft.id}", f"rt:{draft.id}"):
            replies = await bot.press_raw(office, screen, data)
            assert replies.texts == [STALE], (data, replies.texts)
            assert not replies.buttons
        assert (await bot.one(Submission)).state == SubmissionState.draft
        queue = await bot.say(office, "Báo cáo chờ tiếp nhận")
        assert f"rv:{draft.id}" not in [data for _label, data in queue.buttons]

        await bot.tap(police, "Gửi báo cáo")
        await bot.tap(police, "Xác nhận gửi")
        opened = await bot.press_raw(office, screen, f"rv:{draft.id}")
        assert f"2. Ghi chú: {SECRET}" in opened.text, opened.text
        assert ("✅ Tiếp nhận", f"ac:{draft.id}") in opened.buttons
