"""Issue 16: the Telegram bot's requests over aiohttp (bot/aiohttp_request.py), against the
local stand-in over real HTTP.

* A text with buttons, a document upload (a Vietnamese file name) and its download arrive as
  with PTB's own HTTPXRequest.
* Telegram's errors come back as PTB's: 429 → RetryAfter with its retry_after, 5xx →
  NetworkError; a timeout → TimedOut; a refused connection → NetworkError, without the
  token; the connection pool's size holds.
* The application factory uses it for the bot's calls, and keeps its own request for
  getUpdates; the outbox sender sends through it, with the same parameters as
  `Bot.send_message`, and without a warning.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sqlite3
import warnings
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from sqlalchemy.dialects import sqlite
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, InputFile
from telegram.error import NetworkError, RetryAfter, TimedOut
from telegram.request import RequestData
from telegram.request._requestparameter import RequestParameter

from bot.aiohttp_request import AiohttpRequest
from bot.app import build_application
from bot.updates import SkipMalformedUpdates
from core.settings import Settings
from sandbox.botapi import BotApiError, BotApiState, Injection, StandInServer
from scheduler import sender as sender_module
from tests.test_sender import Clock, outbox, queue, sender_for

pytestmark = pytest.mark.filterwarnings("ignore:.*retry_after.*:DeprecationWarning")

TOKEN = "123456:TEST-aiohttp"
USER = 4242
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
async def server() -> AsyncIterator[StandInServer]:
    srv = StandInServer(BotApiState())
    await srv.start()
    srv.state.add_user(USER, first_name="Lan", language_code="vi")
    try:
        yield srv
    finally:
        await srv.stop()


def slow(server: StandInServer, seconds: float, times: int = 1) -> None:
    """The next `times` sendMessage calls are answered (successfully) `seconds` late."""
    server.state.injections.append(
        Injection(method="sendMessage", error=None, delay=seconds, times=times))


def bot_for(server: StandInServer, request: AiohttpRequest | None = None) -> Bot:
    return Bot(TOKEN, request=request or AiohttpRequest(), **server.bot_kwargs)


async def test_a_text_with_buttons_arrives_as_sent(server: StandInServer) -> None:
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("Báo cáo ngay", callback_data="r:1")]])
    async with bot_for(server) as bot:
        message = await bot.send_message(USER, "<b>Nhắc hạn</b>: Đơn vị «A &amp; B» 😀",
                                         parse_mode="HTML", reply_markup=markup)
    assert message.text == "Nhắc hạn: Đơn vị «A & B» 😀"
    [stored] = server.state.bot_messages(USER)
    assert stored["text"] == "Nhắc hạn: Đơn vị «A & B» 😀"
    [call] = server.state.calls("sendMessage")
    # A JSON body: the keyboard arrives as an object, the chat id as a number.
    assert call["params"]["reply_markup"] == {
        "inline_keyboard": [[{"text": "Báo cáo ngay", "callback_data": "r:1"}]]}
    assert call["params"]["parse_mode"] == "HTML" and call["params"]["chat_id"] == USER


async def test_the_body_is_json_as_the_bot_api_takes_it() -> None:
    seen: list[tuple[str, bytes]] = []

    async def endpoint(request: web.Request) -> web.Response:
        seen.append((request.content_type, await request.read()))
        return web.json_response({"ok": True, "result": True})

    app = web.Application()
    app.router.add_post("/bot{token}/{method}", endpoint)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    request = AiohttpRequest()
    try:
        await request.initialize()
        await request.post(f"http://127.0.0.1:{port}/bot{TOKEN}/sendMessage", RequestData([
            RequestParameter.from_input("chat_id", USER),
            RequestParameter.from_input("text", "Đã nhận báo cáo"),
            RequestParameter.from_input("reply_markup", InlineKeyboardMarkup(
                [[InlineKeyboardButton("Xem", callback_data="v:1")]])),
        ]))
    finally:
        await request.shutdown()
        await runner.cleanup()
    [(content_type, body)] = seen
    assert content_type == "application/json"
    assert json.loads(body) == {"chat_id": USER, "text": "Đã nhận báo cáo", "reply_markup": {
        "inline_keyboard": [[{"text": "Xem", "callback_data": "v:1"}]]}}


async def test_a_document_is_uploaded_and_downloaded(server: StandInServer) -> None:
    payload = "Báo cáo quý I;Số buổi\nPhường Cát Linh;3\n".encode() * 200
    async with bot_for(server) as bot:
        message = await bot.send_document(
            USER, InputFile(payload, filename="Báo cáo quý I.csv"), caption="<b>Quý I</b>",
            parse_mode="HTML")
        assert message.document is not None and message.caption == "Quý I"
        assert message.document.file_name == "Báo cáo quý I.csv"
        assert message.document.file_size == len(payload)
        file = await bot.get_file(message.document.file_id)
        assert bytes(await file.download_as_bytearray()) == payload


async def test_telegram_errors_come_back_as_ptb_errors(server: StandInServer) -> None:
    server.state.inject("sendMessage", error=BotApiError.too_many_requests(17))
    server.state.inject("sendMessage", error=BotApiError.server_error(502))
    async with bot_for(server) as bot:
        with pytest.raises(RetryAfter) as limited:
            await bot.send_message(USER, "a")
        wait = limited.value.retry_after
        assert (wait if isinstance(wait, int) else wait.total_seconds()) == 17
        with pytest.raises(NetworkError, match="Bad Gateway"):
            await bot.send_message(USER, "b")
        await bot.send_message(USER, "c")
    assert [m["text"] for m in server.state.bot_messages(USER)] == ["c"]


async def test_a_slow_answer_is_a_timeout(server: StandInServer) -> None:
    slow(server, 2.0)
    async with bot_for(server, AiohttpRequest(read_timeout=0.2)) as bot:
        with pytest.raises(TimedOut):
            await bot.send_message(USER, "chậm")
        # A timeout per call overrides the request's own.
        slow(server, 0.4)
        await bot.send_message(USER, "đủ giờ", read_timeout=5)


async def test_a_refused_connection_is_a_network_error_without_the_token() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    bot = Bot(TOKEN, base_url=f"http://127.0.0.1:{port}/bot", request=AiohttpRequest())
    request = bot.request
    await request.initialize()
    try:
        with pytest.raises(NetworkError) as refused:
            await bot.send_message(USER, "a")
    finally:
        await request.shutdown()
    assert not isinstance(refused.value, TimedOut)
    assert "aiohttp." in str(refused.value) and TOKEN not in str(refused.value)


async def test_the_pool_holds_at_most_its_size_of_connections(server: StandInServer) -> None:
    slow(server, 0.3, times=2)
    async with bot_for(server, AiohttpRequest(connection_pool_size=1)) as bot:
        await asyncio.gather(bot.send_message(USER, "một"), bot.send_message(USER, "hai"))
    first, second = server.state.calls("sendMessage")
    # One connection: the second request could only leave once the first was answered.
    assert second["time"] - first["time"] >= 0.25


async def test_shut_down_it_refuses_until_initialized_again(server: StandInServer) -> None:
    request = AiohttpRequest()
    bot = bot_for(server, request)
    async with bot:
        await bot.send_message(USER, "một")
    with pytest.raises(NetworkError, match="not initialized"):  # (PTB wraps the RuntimeError)
        await bot.send_message(USER, "hai")
    async with bot:  # initialize opens a new session
        await bot.send_message(USER, "ba")
    assert [m["text"] for m in server.state.bot_messages(USER)] == ["một", "ba"]


def test_proxies_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    request = AiohttpRequest()
    assert request._proxy("https://api.telegram.org/bot1:x/sendMessage") == \
        "http://proxy.example:3128"
    assert request._proxy("http://127.0.0.1:8081/bot1:x/sendMessage") is None


# ----------------------------------------------------------------------------- the bot


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_application_sends_through_aiohttp_and_polls_with_its_own_request(
        settings: Settings) -> None:
    app = build_application(settings, run_jobs=False)
    assert isinstance(app.bot.request, AiohttpRequest)
    updates = app.bot._request[0]  # (PTB keeps getUpdates' request first)
    assert isinstance(updates, SkipMalformedUpdates)
    assert isinstance(updates.inner, AiohttpRequest) and updates.inner is not app.bot.request


@sqlite_only
async def test_the_sender_sends_what_send_message_would_without_a_warning(
        sessionmaker, server: StandInServer) -> None:
    buttons = [[{"text": "Báo cáo ngay", "data": "r:7"},
                {"text": "Không phát sinh", "data": "n:7"}]]
    await queue(sessionmaker, USER, "<b>Nhắc hạn</b> «A &amp; B»", key="w1", buttons=buttons)
    async with bot_for(server) as bot:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            sender = sender_for(bot, sessionmaker, Clock(), rate=0, per_chat=0)
            assert await sender.drain(10) == 1
        assert not [w for w in caught if "do_api_request" in str(w.message)]
        markup = InlineKeyboardMarkup([[InlineKeyboardButton(b["text"], callback_data=b["data"])
                                        for b in buttons[0]]])
        await bot.send_message(USER, "<b>Nhắc hạn</b> «A &amp; B»", parse_mode="HTML",
                               reply_markup=markup)
    by_sender, by_bot = server.state.calls("sendMessage")
    assert by_sender["params"] == by_bot["params"]
    [row] = (await outbox(sessionmaker)).values()
    first = server.state.bot_messages(USER)[0]
    assert row.telegram_message_id == first["message_id"]


def test_on_sqlite_a_claim_finds_a_chats_earlier_messages_through_the_chat_index() -> None:
    """Without it SQLite walked every due message for each candidate (the claim's cost grew
    with the outbox)."""
    from sqlalchemy import create_engine

    from db.models import Base

    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    claim = sender_module._claim_statements(False)[0].compile(dialect=sqlite.dialect())
    with engine.connect() as connection:
        raw = connection.connection.driver_connection
        assert isinstance(raw, sqlite3.Connection)
        plan = [row[3] for row in raw.execute(
            "EXPLAIN QUERY PLAN " + str(claim), [None] * len(claim.positiontup or []))]
    earlier = [step for step in plan if "earlier" in step]
    assert earlier and all("ix_outbox_chat_id_status" in step for step in earlier), plan
