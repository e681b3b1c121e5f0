"""The sandbox's Zalo persona (docs/channels.md, step 6) through the sandbox's JSON API.

One sandbox with both channels (the Telegram and Zalo stand-ins, both applications on one
engine, the page server) is started for the module, with the hooks ``bot/cli.py`` hands in.
The Zalo persona joined by sending her invite code alone; she reads the bot's choices as
numbered lines and answers by typing. Nothing sleeps: every wait polls the API with a deadline.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio

from bot.app import build_application, on_shutdown, on_startup, on_stop
from bot.zalo.runner import ZaloPoller
from core.channels import ZALO
from sandbox.hooks import BotHooks
from sandbox.runner import PERSONAS, ZALO_PERSONA, Sandbox, start_sandbox
from tests.test_sandbox import JSON, PDF, Api, has, text_of, tiny_png

# As bot/cli.py builds them: the Zalo application on the Telegram one's engine, no sweep.
ZALO_HOOKS = BotHooks(
    build_application=build_application, on_startup=on_startup, on_stop=on_stop,
    on_shutdown=on_shutdown,
    build_zalo_application=lambda settings, engine: build_application(
        settings, channel=ZALO, engine=engine, sweeps=False),
    zalo_poller=ZaloPoller,
)
KEY = ZALO_PERSONA.key
LINE = re.compile(r"^\s*([0-9]+|[a-z])\. (.+)$", re.M)

module_loop = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def sandbox(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Sandbox]:
    path = tmp_path_factory.mktemp("sandbox-zalo") / "sandbox.sqlite3"
    running = await start_sandbox(ZALO_HOOKS, port=0,
                                  database_url=f"sqlite+aiosqlite:///{path}")
    try:
        # What the first sweep sent is delivered before anyone types: a list that arrives
        # after a question would take its place as the one a number answers.
        await running.wait_outbox_idle()
        yield running
    finally:
        await running.stop()


@pytest_asyncio.fixture(loop_scope="module")
async def http(sandbox: Sandbox) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession(base_url=sandbox.url) as session:
        yield Api(session)


def listed(message: JSON) -> dict[str, str]:
    """The numbered (or lettered) lines of a Zalo message: label -> mark."""
    return {label.strip(): mark for mark, label in LINE.findall(text_of(message))}


def mark_of(message: JSON, label_part: str) -> str:
    for label, mark in listed(message).items():
        if label_part in label:
            return mark
    raise AssertionError(f"no line with {label_part!r} in {text_of(message)!r}")


@module_loop
async def test_the_zalo_persona_joined_with_her_code_and_sees_a_numbered_menu(
        http: Api, sandbox: Sandbox) -> None:
    data = await http.get("/api/personas")
    keys = [p["key"] for p in data["personas"]]
    # After the Telegram reporters; everyone else as before.
    assert keys == ["ward", "police", KEY, "office", "chair", "admin", "newcomer"]
    zalo = next(p for p in data["personas"] if p["key"] == KEY)
    assert zalo["channel"] == "zalo" and zalo["agency_label"] == "UBND phường Văn Chương"
    assert {p["channel"] for p in data["personas"] if p["key"] != KEY} == {"telegram"}

    body = await http.get(f"/api/personas/{KEY}/messages")
    assert body["channel"] == "zalo" and body["reply_keyboard"] is None
    messages = body["messages"]
    # The code alone, as the invite message tells a Zalo user (no /start, no deep link).
    assert not messages[0]["from_bot"]
    assert re.fullmatch(r"[\w-]{16,64}", text_of(messages[0])), messages[0]
    welcome = messages[1]
    assert welcome["from_bot"] and welcome["id"] == 2
    assert "Chào mừng Hoàng Thị Thu" in text_of(welcome)
    assert "UBND phường Văn Chương" in text_of(welcome)
    assert welcome["day"] == "Thứ Hai, 07/03/2022" and welcome["time"] == "08:00"
    # The menu is a numbered list in the text: no buttons, no keyboard, no markup.
    assert listed(welcome)["Báo cáo cần nộp"] == "1", text_of(welcome)
    assert all(m["buttons"] == [] for m in messages)
    assert "<b>" not in welcome["html"]


@module_loop
async def test_typing_one_opens_the_reports_list(http: Api, sandbox: Sandbox) -> None:
    await sandbox.wait_outbox_idle()
    # The first sweep's reminder came after the welcome: its list is the one a number
    # answers now (Zalo has no buttons tied to a message). «menu» shows the menu again.
    menu = await http.say(KEY, "menu", "")
    assert listed(menu).get("Báo cáo cần nộp") == "1", text_of(menu)
    reports = await http.say(KEY, "1", "Báo cáo cần nộp — P. Văn Chương")
    text = text_of(reports)
    assert "Báo cáo tháng 03/2022" in text and "Hạn nộp" in text
    march = mark_of(reports, "Báo cáo tháng 03/2022")
    intro = await http.say(KEY, march, "Báo cáo tháng 03/2022")
    question = await http.wait_bot(KEY, has("Câu 1/"), after=intro["id"] - 1)
    # A question that waits for typed text letters its choices, so «12» stays an answer.
    assert set(listed(question).values()) <= set("abcdefgh"), text_of(question)
    assert "Hủy" in listed(question)
    answered = await http.say(KEY, "12", "Câu 2/")
    assert "⚠️" not in text_of(answered)
    cancelled = await http.say(KEY, mark_of(answered, "Hủy"), "")
    assert cancelled["from_bot"]


@module_loop
async def test_buttons_files_and_pictures_on_zalo(http: Api, sandbox: Sandbox) -> None:
    refused = await http.post(f"/api/personas/{KEY}/press",
                              {"message_id": 2, "data": "m:todo"}, status=400)
    assert "Zalo không có nút bấm" in refused["error"]
    too_long = await http.post(f"/api/personas/{KEY}/text", {"text": "x" * 2001}, status=400)
    assert "2000" in too_long["error"]

    # A picture reaches the bot as a URL the sandbox serves, and shows in the chat.
    form = aiohttp.FormData()
    form.add_field("file", tiny_png(), filename="anh.png", content_type="image/png")
    sent = await http.post(f"/api/personas/{KEY}/upload", data=form)
    assert sent["kind"] == "photo" and sent["url"].startswith(sandbox.url)
    shown = (await http.messages(KEY))[sent["message_id"] - 1]
    assert not shown["from_bot"] and shown["image"]["local"]
    async with http.session.get(shown["image"]["url"]) as resp:
        assert resp.status == 200 and resp.content_type == "image/png"
        assert await resp.read() == tiny_png()
    await http.wait_bot(KEY, lambda m: True, after=sent["message_id"])  # the bot answers
    # Zalo gives the bot no files: a PDF is withheld, and the chat says so.
    form = aiohttp.FormData()
    form.add_field("file", PDF, filename="bien-ban.pdf", content_type="application/pdf")
    sent = await http.post(f"/api/personas/{KEY}/upload", data=form)
    assert sent["kind"] == "withheld"
    shown = (await http.messages(KEY))[sent["message_id"] - 1]
    assert shown["withheld"]["name"] == "bien-ban.pdf"
    await http.wait_bot(KEY, lambda m: True, after=sent["message_id"])
    await http.get("/api/zalo-images/nope", status=404)


@module_loop
async def test_a_sweep_after_the_deadline_reaches_her_on_zalo(
        http: Api, sandbox: Sandbox) -> None:
    await sandbox.wait_outbox_idle()
    before = {p.key: await http.last_id(p.key) for p in sandbox.personas}
    moved = await http.post("/api/clock/set", {"at": "14/03 08:00"})
    assert moved["clock"]["label"] == "Thứ Hai, 14/03/2022 08:00"
    overdue = await http.wait_bot(KEY, has("Báo cáo quá hạn"), after=before[KEY])
    assert "tháng 03/2022" in text_of(overdue), text_of(overdue)
    # Sent by the Zalo application's own sender, on the sandbox's clock.
    assert re.search(r"1[2-4]/03/2022$", overdue["day"]), overdue["day"]
    assert overdue["buttons"] == [] and "Báo cáo tháng 03/2022" in listed(overdue)
    # The Telegram ward is told the same, with buttons.
    ward = await http.wait_bot("ward", has("Báo cáo quá hạn"), after=before["ward"])
    assert ward["buttons"]
    # The unread badge counts Zalo messages too.
    personas = {p["key"]: p for p in (await http.get("/api/personas"))["personas"]}
    assert personas[KEY]["unread"] > 0
    await http.get(f"/api/personas/{KEY}/messages", params={"read": "1"})
    personas = {p["key"]: p for p in (await http.get("/api/personas"))["personas"]}
    assert personas[KEY]["unread"] == 0
    # A number from the reminder's list opens that report.
    opened = await http.say(KEY, mark_of(overdue, "Báo cáo tháng 03/2022"), "tháng 03/2022")
    assert "⚠️" not in text_of(opened), text_of(opened)


async def test_without_the_zalo_hooks_there_is_no_zalo_persona(tmp_path: Path) -> None:
    hooks = BotHooks(build_application=build_application, on_startup=on_startup,
                     on_stop=on_stop, on_shutdown=on_shutdown)
    assert not hooks.zalo and ZALO_HOOKS.zalo
    running = await start_sandbox(hooks, port=0, initial_sweep=False,
                                  database_url=f"sqlite+aiosqlite:///{tmp_path}/s.db")
    try:
        assert running.personas == PERSONAS and running.zalo_state is None
        async with aiohttp.ClientSession(base_url=running.url) as session:
            async with session.get(f"/api/personas/{KEY}/messages") as resp:
                assert resp.status == 404
    finally:
        await running.stop()


async def test_the_zalo_sandbox_stops_cleanly(tmp_path: Path) -> None:
    running = await start_sandbox(ZALO_HOOKS, port=0, initial_sweep=False,
                                  database_url=f"sqlite+aiosqlite:///{tmp_path}/s.db")
    assert running.zalo_standin is not None and running.zalo_application is not None
    zalo = running.zalo_standin.url
    await running.stop()
    await running.stop()  # twice is harmless
    assert not running.zalo_application.running
    with pytest.raises(aiohttp.ClientConnectionError):
        async with aiohttp.ClientSession() as session:
            await session.get(f"{zalo}/")
