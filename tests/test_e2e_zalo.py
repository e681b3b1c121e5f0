"""End to end on Zalo: the real `python -m bot run` serves Telegram and Zalo at once, against
the two in-process stand-ins over HTTP.

An official of P. Cát Linh joins on Zalo by sending the invite code alone, opens the March
report from the numbered main menu, answers every question by typing (numbers for number
questions, «co»/«khong» for yes/no, letters for the navigation of typed questions), sends a
photo of the signed report, and gets the receipt. Halfway through, the bot is restarted:
the form resumes at the same question and the chat's last list still answers to its numbers.
Nothing sleeps: every step waits for the bot's message with a deadline.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import shutil
import socket
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from db.file_links import create_link
from db.session import make_engine, make_sessionmaker
from sandbox.zaloapi import ZaloApiState, ZaloStandInServer
from tests.conftest import PLANS
from tests.support.botproc import running_bot
from tests.support.zalochat import ZaloPerson, listed, mark_of, text_of
from tests.test_e2e_forms import db_rows

PLAN = PLANS / "dongda-2022.yaml"
FAKE_NOW = "2022-03-05T08:00:00+07:00"
ZALO_TOKEN = "1234567890:e2e-ZALO_token"
LAN = "7f3a9c0e1b2d4a5f6e70"  # a Zalo user id (opaque string)
SIGNED = "https://photo.zalo.example/signed-report-march.jpg"
JSON = dict[str, Any]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


PORT = free_port()


def zalo_env(server: ZaloStandInServer) -> dict[str, str]:
    return {"BOT_FAKE_NOW": FAKE_NOW, "FLOOD_LIMIT": "1000", "ZALO_BOT_TOKEN": ZALO_TOKEN,
            "ZALO_API_URL": server.api_root, "SWEEP_INTERVAL_SECONDS": "0",
            "PUBLIC_URL": f"http://127.0.0.1:{PORT}", "PORT": str(PORT), "HOST": "127.0.0.1"}


async def fetch(url: str, timeout: float = 10.0) -> tuple[int, bytes]:  # noqa: ASYNC109
    """GET, retried until the server listens (it starts with the bot)."""
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        while True:
            try:
                async with http.get(url) as response:
                    return response.status, await response.read()
            except aiohttp.ClientConnectionError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.05)


@pytest.fixture
async def seeded(dongda_template: Path, tmp_path: Path) -> tuple[Path, str]:
    from db.invites import create_invite, find_agency
    from db.models import Role
    from db.session import make_engine, make_sessionmaker

    path = tmp_path / "bot.sqlite3"
    shutil.copy(dongda_template, path)
    engine = make_engine(f"sqlite+aiosqlite:///{path}")
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            agency = await find_agency(session, "p-cat-linh", "dongda-2022")
            created = await create_invite(session, agency, Role.reporter, dt.timedelta(days=7),
                                          actor_label="e2e",
                                          now=dt.datetime.fromisoformat(FAKE_NOW))
    finally:
        await engine.dispose()
    return path, created.code


def question(number: int) -> Any:
    return lambda m: f"Câu {number}/" in text_of(m)


def has(*parts: str) -> Any:
    return lambda m: all(p in text_of(m) for p in parts)


async def test_zalo_official_fills_the_form_to_a_receipt_across_a_restart(
        seeded: tuple[Path, str], tmp_path: Path) -> None:
    path, code = seeded
    url = f"sqlite+aiosqlite:///{path}"
    state = ZaloApiState(token=ZALO_TOKEN)
    async with ZaloStandInServer(state) as zalo:
        lan = ZaloPerson(state, LAN, "Lan Nguyễn")
        async with running_bot(url, tmp_path / "bot1.log", **zalo_env(zalo)) as bot:
            # Joining: the code alone; the welcome ends with the main menu as a numbered list.
            welcome = await lan.say(code, has("Chào mừng"))
            assert "UBND phường Cát Linh" in text_of(welcome)
            assert listed(welcome)["Báo cáo cần nộp"] == "1", text_of(welcome)
            assert "<b>" not in text_of(welcome) and "Bấm" not in text_of(welcome)

            due = await lan.choose(welcome, "Báo cáo cần nộp", has("Báo cáo cần nộp —"))
            q1 = await lan.choose(due, "tháng 03/2022", question(1))
            # A number question: its choices are lettered, so «12» is the answer.
            assert listed(q1) == {"Không phát sinh": "a", "Hủy": "b"}, text_of(q1)
            bad = await lan.say("mười hai", has("⚠️"))
            assert "Vui lòng nhập một số" in text_of(bad) and "Câu 1/" in text_of(bad)
            await lan.say("12", question(2))
            await lan.say("10", question(3))
            await lan.say("3", question(4))
            await lan.say("4", question(5))
            q6 = await lan.say("0", question(6))  # «0» is an answer, not the menu
            assert listed(q6)["Có"] == "1" and listed(q6)["Không"] == "2", text_of(q6)
            # A number that is not in the list is refused, and nothing is recorded.
            refused = await lan.say("7", has("không có trong danh sách"))
            assert "từ 1 đến 4" in text_of(refused), text_of(refused)

        # The bot restarts between a question and its answer.
        [draft] = db_rows(path, "SELECT current_field FROM submission WHERE state = 'draft'")
        assert draft["current_field"] == "co_diem_phat_sinh"
        async with running_bot(url, tmp_path / "bot2.log", **zalo_env(zalo)) as bot:
            await lan.say("có", question(7))  # the label, read against the stored list
            await lan.say("2", question(8))
            q9 = await lan.say("1", question(9))
            await lan.choose(q9, "Có", question(10))
            await lan.say("2", question(11))
            q12 = await lan.say("1", question(12))
            q13 = await lan.say("khong", question(13))  # without diacritics
            assert q12 != q13
            q14 = await lan.choose(q13, "Bỏ qua", question(14))
            assert "Hủy" in listed(q14), text_of(q14)
            review = await lan.photo(SIGNED, has("Xem lại báo cáo"))
            assert "📎 photo.jpg" in text_of(review), text_of(review)
            confirm = await lan.choose(review, "Gửi báo cáo", has("ngay bây giờ?"))
            receipt = await lan.choose(confirm, "Xác nhận gửi", has("Đã nhận báo cáo"))
            assert re.search(r"BC-2022-\d{5}", text_of(receipt)), text_of(receipt)
            # With PUBLIC_URL, `run` serves the file links Zalo users get.
            engine = make_engine(url)
            async with make_sessionmaker(engine)() as session, session.begin():
                token = await create_link(session, b"a;b\n1;2\n", "so-lieu.csv", "text/csv",
                                          dt.datetime.now(dt.UTC), dt.timedelta(hours=1))
            await engine.dispose()
            assert await fetch(f"http://127.0.0.1:{PORT}/f/{token}") == (200, b"a;b\n1;2\n")
            assert (await fetch(f"http://127.0.0.1:{PORT}/f/nope"))[0] == 404
            assert "Traceback" not in bot.log(), bot.log()

    [sub] = db_rows(path, "SELECT * FROM submission")
    assert sub["state"] == "submitted" and sub["receipt_no"] in text_of(receipt)
    [member] = db_rows(path, "SELECT * FROM member")
    assert member["telegram_user_id"] is None and member["zalo_user_id"] < 0
    assert sub["submitted_by_member_id"] == member["id"]
    answers = {r["field_code"]: r["value"] for r in db_rows(
        path, "SELECT field_code, CAST(value AS TEXT) AS value FROM answer "
        "WHERE submission_id = ?", sub["id"])}
    assert answers["co_so_quan_ly"] == "12" and answers["co_diem_phat_sinh"] == "true"
    assert answers["khong_te_nan"] == "false"
    [attachment] = db_rows(path, "SELECT * FROM attachment WHERE submission_id = ?", sub["id"])
    assert attachment["telegram_file_id"] == SIGNED
    # Zalo was only ever sent what it accepts: plain text within 2000 characters.
    for message in state.bot_messages(LAN):
        assert len(text_of(message)) <= 2000 and "</" not in text_of(message)
    assert mark_of(receipt, "Báo cáo cần nộp") if listed(receipt) else True
