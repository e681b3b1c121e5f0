"""The sandbox (issue 7) through its JSON API, without a browser.

One sandbox (stand-in + the real bot + the page server, port 0) is started for the module;
the people are played through /api exactly as the page does. Nothing sleeps: every wait
polls the API with a deadline.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import struct
import time
import zlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from bot.app import build_application, on_shutdown, on_startup, on_stop
from sandbox.app import render_text, safe_href
from sandbox.hooks import BotHooks
from sandbox.moments import TZ, parse_moment
from sandbox.runner import PERSONAS, Sandbox, start_sandbox, sweep_points

JSON = dict[str, Any]
# The sandbox is below bot/, so the application comes from here, as bot/cli.py hands it in.
HOOKS = BotHooks(build_application=build_application, on_startup=on_startup,
                 on_stop=on_stop, on_shutdown=on_shutdown)
STATIC = Path(__file__).resolve().parent.parent / "sandbox" / "static"
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"

module_loop = pytest.mark.asyncio(loop_scope="module")


# ----------------------------------------------------------------------------- fixtures


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def sandbox(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Sandbox]:
    path = tmp_path_factory.mktemp("sandbox") / "sandbox.sqlite3"
    running = await start_sandbox(HOOKS, port=0, database_url=f"sqlite+aiosqlite:///{path}")
    try:
        yield running
    finally:
        await running.stop()


@pytest_asyncio.fixture(loop_scope="module")
async def http(sandbox: Sandbox) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession(base_url=sandbox.url) as session:
        yield Api(session)


class Api:
    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session

    async def get(self, path: str, status: int = 200, **kwargs: Any) -> Any:
        async with self.session.get(path, **kwargs) as resp:
            body = await resp.text()
            assert resp.status == status, f"GET {path} -> {resp.status}: {body}"
            return await resp.json() if status == 200 else body

    async def post(self, path: str, json: JSON | None = None, status: int = 200,
                   **kwargs: Any) -> JSON:
        async with self.session.post(path, json=json, **kwargs) as resp:
            body = await resp.json()
            assert resp.status == status, f"POST {path} -> {resp.status}: {body}"
            return body

    async def messages(self, key: str) -> list[JSON]:
        return (await self.get(f"/api/personas/{key}/messages"))["messages"]

    async def last_id(self, key: str) -> int:
        return max((m["id"] for m in await self.messages(key)), default=0)

    async def wait_bot(self, key: str, predicate: Callable[[JSON], bool], after: int = 0,
                       timeout: float = 15.0) -> JSON:  # noqa: ASYNC109
        """The first bot message newer than `after` that satisfies `predicate`."""
        deadline = time.monotonic() + timeout
        while True:
            for message in await self.messages(key):
                if message["from_bot"] and message["id"] > after and predicate(message):
                    return message
            if time.monotonic() > deadline:
                shown = [text_of(m)[:120] for m in await self.messages(key)][-6:]
                raise AssertionError(f"no such bot message for {key} within {timeout}s: {shown}")
            await asyncio.sleep(0.05)

    async def say(self, key: str, text: str, expect: str) -> JSON:
        after = await self.last_id(key)
        await self.post(f"/api/personas/{key}/text", {"text": text})
        return await self.wait_bot(key, has(expect), after)

    async def press(self, key: str, message: JSON, label: str, expect: str) -> JSON:
        after = await self.last_id(key)
        data = button(message, label)
        pressed = await self.post(f"/api/personas/{key}/press",
                                  {"message_id": message["id"], "data": data})
        assert pressed["answered"], "the bot answers every button press"
        return await self.wait_bot(key, has(expect), after)


def tiny_png() -> bytes:
    """A valid 1×1 PNG."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))
    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00")) + chunk(b"IEND", b""))


def text_of(message: JSON) -> str:
    """The rendered HTML as plain text."""
    return re.sub(r"<[^>]+>", "", message.get("html") or "").replace("&lt;", "<").replace(
        "&gt;", ">").replace("&amp;", "&")


def has(part: str) -> Callable[[JSON], bool]:
    return lambda m: part in text_of(m)


def button(message: JSON, label: str) -> str:
    for row in message["buttons"]:
        for b in row:
            if label in b["text"]:
                return b["data"]
    raise AssertionError(f"no button {label!r}: {message['buttons']}")


# ----------------------------------------------------------------------------- the API


@module_loop
async def test_the_page_and_personas_are_served(http: Api, sandbox: Sandbox) -> None:
    async with http.session.get("/") as resp:
        page = await resp.text()
        assert resp.status == 200
        assert "default-src 'self'" in resp.headers["Content-Security-Policy"]
    assert '<script src="/static/app.js">' in page
    for name in ("app.js", "app.css"):
        async with http.session.get(f"/static/{name}") as resp:
            assert resp.status == 200, name
    # Offline: nothing but the sandbox itself (an SVG namespace is not a request).
    for path in STATIC.iterdir():
        found = re.findall(r"https?://[^\s\"')]+", path.read_text(encoding="utf-8"))
        assert set(found) <= {"http://www.w3.org/2000/svg"}, (path.name, found)

    data = await http.get("/api/personas")
    keys = [p["key"] for p in data["personas"]]
    assert keys == ["ward", "police", "office", "chair", "admin", "newcomer"]
    ward = data["personas"][0]
    assert (ward["user_id"], ward["name"], ward["role"]) == (9001, "Nguyễn Thị Lan", "reporter")
    assert ward["agency"] == "p-cat-linh" and ward["about"] and ward["hint"]
    assert data["clock"]["label"] == "Thứ Hai, 07/03/2022 08:00"
    assert data["bot"]["username"] == sandbox.state.bot_username

    # Everyone but the newcomer joined through /start CODE and was welcomed with their role.
    # In the plan's own words: LĐ-TBXH is where reports are consolidated, not the standing
    # office of the committee.
    roles = {"ward": "vai trò Cán bộ đầu mối báo cáo", "police": "vai trò Cán bộ đầu mối báo cáo",
             "office": "vai trò Phòng LĐ-TBXH quận (nơi tổng hợp báo cáo)",
             "chair": "vai trò Trưởng Ban Chỉ đạo 138 quận", "admin": "quản trị viên"}
    for key, role in roles.items():
        messages = await http.messages(key)
        assert re.fullmatch(r"/start [\w-]{16,64}", text_of(messages[0])), messages[0]
        assert not messages[0]["from_bot"]
        welcome = messages[1]
        assert welcome["from_bot"] and "Chào mừng" in text_of(welcome), welcome
        assert role in text_of(welcome), (key, text_of(welcome))
    assert await http.messages("newcomer") == []
    await http.get("/api/personas/nobody/messages", status=404)


@module_loop
async def test_the_chat_is_rendered_with_the_reply_keyboard_and_an_etag(http: Api) -> None:
    async with http.session.get("/api/personas/office/messages") as resp:
        etag = resp.headers["ETag"]
        body = await resp.json()
    keyboard = [label for row in body["reply_keyboard"] for label in row]
    assert {"Tình hình báo cáo", "Báo cáo chờ tiếp nhận", "Báo cáo cần nộp"} <= set(keyboard)
    welcome = body["messages"][1]
    assert welcome["time"] == "08:00" and welcome["day"] == "Thứ Hai, 07/03/2022"
    assert welcome["html"].count("<b>") == welcome["html"].count("</b>")
    async with http.session.get("/api/personas/office/messages",
                                headers={"If-None-Match": etag}) as resp:
        assert resp.status == 304

    ward = await http.get("/api/personas/ward/messages")
    assert [label for row in ward["reply_keyboard"] for label in row] == [
        "Báo cáo cần nộp", "Báo cáo đã gửi", "Lịch báo cáo", "Trợ giúp", "Ngôn ngữ"]


@module_loop
async def test_the_ward_official_opens_the_march_report_and_answers(http: Api) -> None:
    listing = await http.say("ward", "Báo cáo cần nộp", "Báo cáo cần nộp — P. Cát Linh")
    assert "<b>Báo cáo cần nộp</b>" in listing["html"]
    question = await http.press("ward", listing, "tháng 03/2022", "Câu 1/")
    intro = (await http.messages("ward"))[-2]
    assert "Hạn nộp" in text_of(intro) and "11/03/2022" in text_of(intro), text_of(intro)
    assert re.match(r"<b>Câu 1/\d+</b>", question["html"]), question["html"]
    assert {b["text"] for row in question["buttons"] for b in row} == {"Hủy"}

    wrong = await http.say("ward", "mười hai", "Câu 1/")
    assert text_of(wrong).startswith("⚠️") and "Vui lòng nhập một số" in text_of(wrong)
    second = await http.say("ward", "12", "Câu 2/")
    assert "Quay lại" in {b["text"].strip("« ") for row in second["buttons"] for b in row}
    # A button press: back to question 1, which shows the saved answer.
    back = await http.press("ward", second, "Quay lại", "Câu 1/")
    assert "12" in text_of(back)


@module_loop
async def test_a_file_is_uploaded_and_downloaded(http: Api, sandbox: Sandbox) -> None:
    form = aiohttp.FormData()
    form.add_field("file", PDF, filename="bien-ban.pdf", content_type="application/pdf")
    sent = await http.post("/api/personas/police/upload", data=form)
    assert sent["kind"] == "document"
    message = next(m for m in await http.messages("police") if m["id"] == sent["message_id"])
    assert message["document"]["name"] == "bien-ban.pdf"
    assert message["document"]["size"] == len(PDF)
    async with http.session.get(f"/api/files/{message['document']['file_id']}",
                                params={"download": "1"}) as resp:
        assert resp.status == 200
        assert await resp.read() == PDF
        assert resp.headers["Content-Disposition"].startswith("attachment;")
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
    await http.wait_bot("police", lambda m: True, after=sent["message_id"])  # the bot answers
    # A PNG goes as a photo, shown inline.
    form = aiohttp.FormData()
    form.add_field("file", tiny_png(), filename="hien-truong.png", content_type="image/png")
    sent = await http.post("/api/personas/police/upload", data=form)
    assert sent["kind"] == "photo"
    message = next(m for m in await http.messages("police") if m["id"] == sent["message_id"])
    async with http.session.get(f"/api/files/{message['photo']['file_id']}") as resp:
        assert resp.status == 200 and resp.content_type == "image/png"
        assert resp.headers["Content-Disposition"].startswith("inline;")
        assert await resp.read() == tiny_png()
    await http.get("/api/files/nope", status=404)
    await http.post("/api/personas/police/text", {"text": "  "}, status=400)


@module_loop
async def test_moving_the_clock_sweeps_and_reminders_arrive(http: Api, sandbox: Sandbox) -> None:
    before = {p.key: await http.last_id(p.key) for p in PERSONAS}
    refused = await http.post("/api/clock/set", {"at": "01/03 08:00"}, status=400)
    assert "lùi" in refused["error"]
    unreadable = await http.post("/api/clock/set", {"at": "hôm qua"}, status=400)
    assert "12/03 08:00" in unreadable["error"]

    moved = await http.post("/api/clock/advance", {"hours": 1})
    assert moved["clock"]["short"] == "07/03 09:00"
    assert moved["sweep"]["sweeps"] == 1

    moved = await http.post("/api/clock/set", {"at": "09/03 08:00"})
    assert moved["clock"]["label"] == "Thứ Tư, 09/03/2022 08:00"
    assert moved["sweep"]["sweeps"] == 2  # 08/03 08:00 on the way, then 09/03 08:00
    assert moved["sweep"]["written"] > 0
    assert (await http.get("/api/clock"))["iso"].startswith("2022-03-09T08:00")
    # Three days before the deadline (Friday 11/03: «trước ngày 13», and the 12th is a
    # Saturday) the ward is reminded, on 08/03, by the bot's own sender.
    reminder = await http.wait_bot("ward", has("Nhắc hạn nộp báo cáo"), after=before["ward"])
    assert "<b>Nhắc hạn nộp báo cáo</b>" in reminder["html"]
    assert "tháng 03/2022" in text_of(reminder) and "còn 3 ngày" in text_of(reminder)
    assert reminder["day"] == "Thứ Ba, 08/03/2022"
    assert any("tháng 03/2022" in b["text"] for row in reminder["buttons"] for b in row)
    # The unread badge: the police officer has news too.
    personas = {p["key"]: p for p in (await http.get("/api/personas"))["personas"]}
    assert personas["police"]["unread"] > 0
    await http.get("/api/personas/police/messages", params={"read": "1"})
    personas = {p["key"]: p for p in (await http.get("/api/personas"))["personas"]}
    assert personas["police"]["unread"] == 0


# ----------------------------------------------------------------------------- pure parts


def test_bot_html_is_rendered_safely() -> None:
    # «Câu 1/2» in bold, then an <i> and a link; Bot API offsets are UTF-16 (🔔 counts 2).
    text = "🔔 Câu 1/2 <script>alert(1)</script> & xem https://example.org/a?b=1&c=2."
    entities = [
        {"type": "bold", "offset": 3, "length": 7},
        {"type": "italic", "offset": 11, "length": 8},
        {"type": "text_link", "offset": 0, "length": 2, "url": "javascript:alert(1)"},
    ]
    html = render_text(text, entities)
    assert html.startswith("🔔 <b>Câu 1/2</b> <i>&lt;script&gt;</i>alert(1)&lt;/script&gt; &amp;")
    assert "javascript" not in html
    assert ('<a href="https://example.org/a?b=1&amp;c=2" target="_blank" '
            'rel="noopener noreferrer">https://example.org/a?b=1&amp;c=2</a>.') in html
    # Nested and overlapping entities still give well-formed HTML.
    nested = render_text("abcdef", [{"type": "bold", "offset": 0, "length": 4},
                                    {"type": "italic", "offset": 2, "length": 4}])
    assert nested == "<b>ab<i>cd</i></b><i>ef</i>"
    code = render_text("a <b> c", [{"type": "code", "offset": 2, "length": 3}])
    assert code == "a <code>&lt;b&gt;</code> c"
    assert safe_href("https://t.me/x?start=ABC") and not safe_href("data:text/html,x")
    assert render_text(None) == ""


def test_clock_input_is_read_the_vietnamese_way() -> None:
    now = dt.datetime(2022, 3, 7, 8, 0, tzinfo=TZ)
    assert parse_moment("12/03 08:00", now) == dt.datetime(2022, 3, 12, 8, 0, tzinfo=TZ)
    assert parse_moment("21/3 8h30", now) == dt.datetime(2022, 3, 21, 8, 30, tzinfo=TZ)
    assert parse_moment("13/12/2022", now) == dt.datetime(2022, 12, 13, 8, 0, tzinfo=TZ)
    assert parse_moment("2022-03-14T09:00:00+07:00", now).hour == 9
    with pytest.raises(ValueError, match="12/03 08:00"):
        parse_moment("32/03 08:00", now)
    start = dt.datetime(2022, 3, 7, 9, 0, tzinfo=TZ)
    points = sweep_points(start, dt.datetime(2022, 3, 10, 15, 0, tzinfo=TZ))
    assert [p.strftime("%d %H") for p in points] == ["08 08", "09 08", "10 08", "10 15"]
    assert sweep_points(start, start) == [start]


async def test_the_sandbox_stops_cleanly(tmp_path: Path) -> None:
    running = await start_sandbox(HOOKS, port=0,
                                  database_url=f"sqlite+aiosqlite:///{tmp_path}/s.db",
                                  initial_sweep=False)
    url, standin = running.url, running.standin.url
    async with aiohttp.ClientSession() as session, session.get(f"{url}/api/clock") as resp:
        assert resp.status == 200
    await running.stop()
    await running.stop()  # twice is harmless
    assert not running.application.running
    for address in (url, standin):
        with pytest.raises(aiohttp.ClientConnectionError):
            async with aiohttp.ClientSession() as session:
                await session.get(f"{address}/")
