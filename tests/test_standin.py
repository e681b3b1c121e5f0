"""Tests of the Bot API stand-in (sandbox.botapi), its control client and FakeRequest.

Each test drives real PTB code against the stand-in, so a stand-in that returned JSON PTB
cannot parse, lost an edit, or mis-mapped an error would fail here.
"""

from __future__ import annotations

import asyncio
import datetime as dtm
import struct
import warnings
import zlib
from collections.abc import AsyncIterator, Callable

import pytest
from telegram import (
    Bot,
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    ReplyParameters,
    Update,
)
from telegram.error import (
    BadRequest,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
)
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from sandbox.botapi import BotApiError, BotApiState, StandInServer, parse_html
from sandbox.client import StandInClient
from tests.support.fake_request import FakeRequest, make_bot_request

# PTB itself reads RetryAfter.retry_after in its __init__ and warns about the int->timedelta
# change; that is PTB's business, not this module's.
pytestmark = pytest.mark.filterwarnings("ignore:.*retry_after.*:DeprecationWarning")

TOKEN = "123456:TEST-token"
USER = 42


def tiny_png(width: int = 3, height: int = 2) -> bytes:
    """A valid PNG (the stand-in rejects photos that are not images, like Telegram)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    raw = b"".join(b"\x00" + b"\x00\x00\x00" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


async def eventually(condition: Callable[[], bool], deadline: float = 2.0) -> None:
    """Poll an in-process condition until it holds (never a fixed sleep)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    while not condition():
        assert loop.time() < end, "condition not reached in time"
        await asyncio.sleep(0.01)


def retry_seconds(exc: RetryAfter) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PTB warns about int vs timedelta here
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, dtm.timedelta) else float(value)


# ----- handlers shared by the Application tests ----------------------------------------


async def on_start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    code = context.args[0] if context.args else "-"
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Báo cáo", callback_data="report")]])
    await update.effective_message.reply_text(
        f"Xin chào <b>{update.effective_user.first_name}</b>, mã {code}",
        parse_mode="HTML",
        reply_markup=keyboard,
    )


async def on_press(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    await query.answer("Đã nhận")
    await query.edit_message_text(f"Bạn chọn: {query.data}")


async def on_document(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    doc = update.effective_message.document
    data = await (await doc.get_file()).download_as_bytearray()
    await update.effective_message.reply_text(f"Nhận {doc.file_name}: {len(data)} bytes")


def add_handlers(app: Application) -> None:
    app.add_handler(CommandHandler("start", on_start))
    app.add_handler(CallbackQueryHandler(on_press))
    app.add_handler(MessageHandler(filters.Document.ALL, on_document))


# ----- fixtures -------------------------------------------------------------------------


@pytest.fixture
async def server() -> AsyncIterator[StandInServer]:
    srv = StandInServer(BotApiState())
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()


@pytest.fixture
async def bot(server: StandInServer) -> AsyncIterator[Bot]:
    async with Bot(
        TOKEN, base_url=f"{server.url}/bot", base_file_url=f"{server.url}/file/bot"
    ) as the_bot:
        yield the_bot


@pytest.fixture
async def client(server: StandInServer) -> AsyncIterator[StandInClient]:
    async with StandInClient(server.url) as the_client:
        yield the_client


# ----- FakeRequest: unit-level handler tests without HTTP -------------------------------


async def test_fake_request_application_runs_handlers() -> None:
    state = BotApiState()
    app = (
        ApplicationBuilder()
        .token(TOKEN)
        .request(FakeRequest(state))
        .get_updates_request(make_bot_request(state))
        .build()
    )
    add_handlers(app)
    await app.initialize()  # getMe through the fake transport
    try:
        assert app.bot.username == "plan_report_bot"
        assert app.bot.id == 123456

        update = Update.de_json(
            state.user_sends_text(USER, "/start ABC", first_name="Lan"), app.bot
        )
        await app.process_update(update)
        user_msg, reply = state.chat_messages(USER)
        assert user_msg["text"] == "/start ABC" and not user_msg["from_bot"]
        assert reply["from_bot"] and reply["from"]["is_bot"]
        # HTML was parsed like Telegram does: plain text plus a bold entity on the name.
        assert reply["text"] == "Xin chào Lan, mã ABC"
        assert reply["entities"] == [{"type": "bold", "offset": 9, "length": 3}]
        assert reply["message_id"] > user_msg["message_id"]

        press = state.user_presses(USER, reply["message_id"], "report")
        await app.process_update(Update.de_json(press, app.bot))
        edited = state.chat_messages(USER)[1]
        assert edited["text"] == "Bạn chọn: report" and edited["edited"]
        assert "reply_markup" not in edited  # not re-sent -> removed, as on Telegram
        assert edited["edit_history"][0]["text"] == "Xin chào Lan, mã ABC"
        answer = state.callback_answer(press["callback_query"]["id"])
        assert answer is not None and answer["text"] == "Đã nhận"

        # Downloads go through the same fake transport (getFile + file URL).
        upload = state.user_sends_document(USER, "ke_hoach.xlsx", b"PK\x03\x04data")
        await app.process_update(Update.de_json(upload, app.bot))
        assert state.last_bot_message(USER)["text"] == "Nhận ke_hoach.xlsx: 8 bytes"
    finally:
        await app.shutdown()


async def test_fake_request_surfaces_faults_as_ptb_errors() -> None:
    state = BotApiState()
    state.add_user(USER)
    bot = Bot(TOKEN, request=FakeRequest(state), get_updates_request=FakeRequest(state))
    async with bot:
        state.inject("sendMessage", chat_id=USER, error=BotApiError.too_many_requests(3))
        with pytest.raises(RetryAfter) as info:
            await bot.send_message(USER, "x")
        assert retry_seconds(info.value) == 3
        await bot.send_message(USER, "x")  # only one injected failure
        with pytest.raises(BadRequest, match=r"(?i)chat not found"):
            await bot.send_message(999, "x")


# ----- HTTP: a real PTB Bot against StandInServer ----------------------------------------


async def test_send_edit_and_not_modified(bot: Bot, server: StandInServer) -> None:
    state = server.state
    state.user_sends_text(USER, "hi", first_name="Minh")
    keyboard = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("Có", callback_data="yes"),
                InlineKeyboardButton("Không", callback_data="no"),
            ]
        ]
    )
    sent = await bot.send_message(
        USER,
        "Kế hoạch <i>2025</i> &amp; báo cáo",
        parse_mode="HTML",
        reply_markup=keyboard,
        reply_parameters=ReplyParameters(message_id=1),
    )
    assert sent.text == "Kế hoạch 2025 & báo cáo"
    assert sent.reply_markup == keyboard
    assert sent.reply_to_message.text == "hi"
    assert sent.chat.id == USER and sent.from_user.is_bot

    edited = await bot.edit_message_text(
        "Đã cập nhật", chat_id=USER, message_id=sent.message_id, reply_markup=keyboard
    )
    assert edited.edit_date is not None
    stored = state.chat_messages(USER)[-1]
    assert stored["message_id"] == sent.message_id  # edited in place, no new message
    assert stored["text"] == "Đã cập nhật" and stored["edited"]
    assert stored["reply_markup"]["inline_keyboard"][0][1]["callback_data"] == "no"
    assert len(state.chat_messages(USER)) == 2

    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await bot.edit_message_text(
            "Đã cập nhật", chat_id=USER, message_id=sent.message_id, reply_markup=keyboard
        )
    await bot.edit_message_reply_markup(chat_id=USER, message_id=sent.message_id)
    assert "reply_markup" not in state.chat_messages(USER)[-1]

    assert await bot.delete_message(USER, sent.message_id)
    with pytest.raises(BadRequest, match=r"(?i)message to delete not found"):
        await bot.delete_message(USER, sent.message_id)


async def test_telegram_validation_rules(bot: Bot, server: StandInServer) -> None:
    server.state.add_user(USER)
    with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
        await bot.send_message(USER, "Chỉ tiêu < 5%", parse_mode="HTML")
    with pytest.raises(BadRequest, match=r"(?i)BUTTON_DATA_INVALID"):
        too_long = "đ" * 40  # 80 bytes in UTF-8: Vietnamese text hits the 64-byte limit early
        await bot.send_message(
            USER,
            "x",
            reply_markup=InlineKeyboardMarkup(
                [[InlineKeyboardButton("b", callback_data=too_long)]]
            ),
        )
    with pytest.raises(BadRequest, match=r"(?i)message is too long"):
        await bot.send_message(USER, "a" * 4097)
    # Reply keyboards are kept for the chat but are not part of the returned Message.
    reply_kb = ReplyKeyboardMarkup([[KeyboardButton("Gửi báo cáo")]], one_time_keyboard=True)
    msg = await bot.send_message(USER, "Chọn", reply_markup=reply_kb)
    assert msg.reply_markup is None
    assert server.state.chat_info(USER)["reply_keyboard"]["keyboard"][0][0]["text"] == "Gửi báo cáo"
    await bot.send_message(USER, "Xong", reply_markup=ReplyKeyboardRemove())
    assert server.state.chat_info(USER)["reply_keyboard"] is None
    await bot.send_chat_action(USER, "typing")
    assert server.state.chat_info(USER)["last_action"] == "typing"


async def test_press_arrives_through_long_poll(
    bot: Bot, server: StandInServer, client: StandInClient
) -> None:
    await client.send_text(USER, "/menu")
    first = await bot.get_updates(timeout=0)
    assert [u.message.text for u in first] == ["/menu"]
    assert first[0].message.entities[0].type == "bot_command"
    offset = first[-1].update_id + 1

    sent = await bot.send_message(
        USER,
        "Chọn",
        reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("A", callback_data="a")]]),
    )
    last_seq = server.state.calls()[-1]["seq"]
    poll = asyncio.create_task(bot.get_updates(offset=offset, timeout=5))
    # Press only once the long poll is parked on the server, so the wake-up path is tested.
    await client.wait_for_call("getUpdates", lambda c: c["ok"] is None, timeout=3, after=last_seq)
    pressed = await client.press(USER, sent.message_id, "a")
    updates = await asyncio.wait_for(poll, timeout=3)
    assert len(updates) == 1
    query = updates[0].callback_query
    assert query.data == "a" and query.from_user.id == USER
    assert query.message.message_id == sent.message_id
    assert query.id == pressed["callback_query_id"]

    assert await bot.answer_callback_query(query.id, text="OK", show_alert=True)
    answer = await client.callback(query.id)
    assert answer["answered"] and answer["answer"] == {
        "text": "OK",
        "show_alert": True,
        "url": None,
        "cache_time": None,
    }
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await bot.answer_callback_query(query.id)
    # Confirming with the next offset empties the queue.
    assert await bot.get_updates(offset=updates[-1].update_id + 1, timeout=0) == ()
    assert await client.updates() == []


async def test_document_upload_get_file_and_download(
    bot: Bot, server: StandInServer, client: StandInClient
) -> None:
    server.state.add_user(USER)
    payload = "Báo cáo quý I\n".encode() * 100
    msg = await bot.send_document(
        USER, InputFile(payload, filename="bao_cao.txt"), caption="<b>Quý I</b>", parse_mode="HTML"
    )
    assert msg.document.file_name == "bao_cao.txt"
    assert msg.document.file_size == len(payload)
    assert msg.caption == "Quý I" and msg.caption_entities[0].type == "bold"
    tg_file = await bot.get_file(msg.document.file_id)
    assert tg_file.file_path.startswith(f"{server.url}/file/bot{TOKEN}/")
    assert bytes(await tg_file.download_as_bytearray()) == payload

    photo = await bot.send_photo(USER, tiny_png(3, 2))
    assert (photo.photo[-1].width, photo.photo[-1].height) == (3, 2)
    with pytest.raises(BadRequest, match=r"(?i)IMAGE_PROCESS_FAILED"):
        await bot.send_photo(USER, b"not an image")

    # A user's upload can be fetched by the bot too.
    sent = await client.send_document(USER, "ke_hoach.csv", b"a;b\n1;2\n", "text/csv", caption="KH")
    user_file = await bot.get_file(sent["file_id"])
    assert bytes(await user_file.download_as_bytearray()) == b"a;b\n1;2\n"
    with pytest.raises(BadRequest, match=r"(?i)invalid file_id"):
        await bot.get_file("nope")


async def test_commands_menu_and_webhook(
    bot: Bot, server: StandInServer, client: StandInClient
) -> None:
    vi = [BotCommand("start", "Bắt đầu"), BotCommand("report", "Gửi báo cáo")]
    assert await bot.set_my_commands(vi, language_code="vi")
    assert await bot.set_my_commands([BotCommand("start", "Start")])
    assert [c.command for c in await bot.get_my_commands(language_code="vi")] == ["start", "report"]
    assert [c.description for c in await bot.get_my_commands()] == ["Start"]
    stored = await client.commands()
    assert {(c["language_code"], len(c["commands"])) for c in stored} == {("vi", 2), (None, 1)}
    server.state.add_user(USER, language_code="vi")
    assert server.state.effective_commands(USER)[1]["command"] == "report"
    with pytest.raises(BadRequest, match=r"(?i)BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand("Bad-Name", "x")])
    assert await bot.delete_my_commands(language_code="vi")
    assert await bot.get_my_commands(language_code="vi") == ()

    assert await bot.set_chat_menu_button()
    info = await bot.get_webhook_info()
    assert info.url == "" and info.pending_update_count == 0
    assert await bot.set_webhook("https://example.org/hook")
    assert (await bot.get_webhook_info()).url == "https://example.org/hook"
    with pytest.raises(Exception, match="webhook is active"):
        await bot.get_updates(timeout=0)
    assert await bot.delete_webhook()
    assert await bot.get_updates(timeout=0) == ()


async def test_missing_method_is_detectable(bot: Bot, server: StandInServer) -> None:
    # Like Telegram: unknown methods answer 404. PTB turns that into EndPointNotFound for
    # do_api_request, and into InvalidToken for its built-in methods (PTB's 404 mapping).
    with pytest.raises(EndPointNotFound):
        await bot.do_api_request("sendTelepathy", api_kwargs={"chat_id": USER})
    server.state.disable_method("setMyCommands")
    with pytest.raises(InvalidToken):
        await bot.set_my_commands([BotCommand("start", "Start")])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PTB suggests bot.set_my_commands instead
        with pytest.raises(EndPointNotFound):
            await bot.do_api_request("setMyCommands", api_kwargs={"commands": []})
    assert [c["method"] for c in server.state.calls()][-3:] == [
        "sendTelepathy",
        "setMyCommands",
        "setMyCommands",
    ]


async def test_injected_faults_and_blocked_user(bot: Bot, server: StandInServer) -> None:
    state = server.state
    state.add_user(USER)
    state.inject("sendMessage", chat_id=USER, error=BotApiError.too_many_requests(17))
    with pytest.raises(RetryAfter) as info:
        await bot.send_message(USER, "a")
    assert retry_seconds(info.value) == 17

    state.inject("sendMessage", error=BotApiError.server_error(), times=2)
    for _ in range(2):
        with pytest.raises(NetworkError, match="Internal Server Error"):
            await bot.send_message(USER, "a")
    # apply=True: Telegram delivered the message but the bot still saw an error.
    state.inject("sendMessage", error=BotApiError(502, "Bad Gateway"), apply=True)
    with pytest.raises(NetworkError):
        await bot.send_message(USER, "delivered anyway")
    assert [m["text"] for m in state.bot_messages(USER)] == ["delivered anyway"]
    await bot.send_message(USER, "ok")

    state.block(USER)
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(USER, "a")
    updates = await bot.get_updates(timeout=0)
    member = updates[-1].my_chat_member
    assert member.new_chat_member.status == "kicked" and member.from_user.id == USER
    state.user_sends_text(USER, "/start")  # writing again unblocks, as on Telegram
    await bot.send_message(USER, "welcome back")

    failed = [c for c in state.calls("sendMessage") if not c["ok"]]
    assert [c["error"]["error_code"] for c in failed] == [429, 500, 500, 502, 403]
    assert failed[0]["error"]["parameters"] == {"retry_after": 17}


async def test_newer_get_updates_terminates_older() -> None:
    state = BotApiState()
    first = asyncio.create_task(state.call(TOKEN, "getUpdates", {"timeout": 5}))
    await eventually(lambda: bool(state._waiters))  # the first poll is parked
    second = await state.call(TOKEN, "getUpdates", {"timeout": 0})
    assert second == []
    with pytest.raises(BotApiError, match="terminated by other getUpdates"):
        await asyncio.wait_for(first, timeout=2)


# ----- a whole PTB Application polling the HTTP stand-in ---------------------------------


async def test_application_polling_end_to_end(server: StandInServer, client: StandInClient) -> None:
    app = (
        ApplicationBuilder()
        .token(TOKEN)
        .base_url(f"{server.url}/bot")
        .base_file_url(f"{server.url}/file/bot")
        .build()
    )
    add_handlers(app)
    async with app:
        await app.updater.start_polling(poll_interval=0, timeout=2)
        await app.start()
        try:
            await client.send_text(USER, "/start QR-77", first_name="Hoa", language_code="vi")
            greeting = await client.wait_for_message(
                USER, lambda m: "QR-77" in m["text"], timeout=5
            )
            assert greeting["text"] == "Xin chào Hoa, mã QR-77"
            await client.press(USER, greeting["message_id"], "report")
            edited = await client.wait_for_message(USER, lambda m: m["edited"], timeout=5)
            assert edited["message_id"] == greeting["message_id"]
            assert edited["text"] == "Bạn chọn: report"
            await client.wait_for_call("answerCallbackQuery", lambda c: c["ok"], timeout=5)

            await client.send_document(USER, "kh.xlsx", b"12345", "application/vnd.ms-excel")
            reply = await client.wait_for_message(
                USER,
                lambda m: m["text"].startswith("Nhận"),
                after_message_id=greeting["message_id"],
                timeout=5,
            )
            assert reply["text"] == "Nhận kh.xlsx: 5 bytes"
        finally:
            await app.updater.stop()
            await app.stop()


# ----- control API ------------------------------------------------------------------------


async def test_control_api(server: StandInServer, client: StandInClient, bot: Bot) -> None:
    out = await client.send_text(USER, "/start", first_name="An", username="an_vn")
    assert out["message_id"] == 1
    await client.send_sticker(USER)
    messages = await client.messages(USER)
    assert [bool(m.get("sticker")) for m in messages] == [False, True]
    assert messages[0]["from"]["username"] == "an_vn"

    with pytest.raises(AssertionError, match=r"#1 user: /start"):
        await client.wait_for_message(USER, timeout=0.2)  # the bot said nothing

    await bot.send_message(USER, "Chào An")
    call = await client.wait_for_call(
        "sendMessage", lambda c: c["params"]["text"] == "Chào An", timeout=2
    )
    assert call["ok"] and call["params"]["chat_id"] in (USER, str(USER))

    with pytest.raises(AssertionError, match="no button"):
        await client.press(USER, 3, "missing")

    await client.inject("sendMessage", 429, retry_after=2)
    with pytest.raises(RetryAfter):
        await bot.send_message(USER, "x")
    await client.block(USER)
    with pytest.raises(Forbidden):
        await bot.send_message(USER, "x")
    await client.unblock(USER)
    assert (await client.chat(USER))["blocked"] is False

    await client.reset()
    assert await client.messages(USER) == []
    assert await client.calls() == []


def test_parse_html_offsets_are_utf16() -> None:
    text, entities = parse_html('😀 <b>Tiến độ</b> <a href="https://x.vn">link</a> &lt;3')
    assert text == "😀 Tiến độ link <3"
    # The emoji is two UTF-16 code units, so "Tiến độ" starts at 3.
    assert entities == [
        {"type": "bold", "offset": 3, "length": 7},
        {"type": "text_link", "url": "https://x.vn", "offset": 11, "length": 4},
    ]
    with pytest.raises(BotApiError, match="Unmatched end tag"):
        parse_html("<b>x</i>")


# ----- the limits that matter for the bot's long messages (issue 10) ----------------------


@pytest.mark.parametrize("broken", [
    "<b>unclosed",  # a cut inside bold: the end tag is in the next message
    "closed</b> too early",  # … and that next message
    "<b>x</i></b>",
    "<b>Tr&am",  # a cut inside an escaped «&»
    "Tr&amp",  # no semicolon
    "a &am b",
    "a & b",  # an unescaped «&» (stricter than Telegram, which shows it as is)
    "số &#12",
    "<b",
    "x <blink>y</blink>",
])
def test_parse_html_refuses_broken_tags_and_entities(broken: str) -> None:
    with pytest.raises(BotApiError, match=r"^Bad Request: can't parse entities: ") as caught:
        parse_html(broken)
    assert caught.value.code == 400


@pytest.mark.parametrize("fine", ["&lt;b&gt; &amp; &quot; &#38; &#x26;", "a > b", "<b></b>x"])
def test_parse_html_accepts_escaped_text(fine: str) -> None:
    parse_html(fine)


async def test_length_is_counted_after_parsing_in_utf16_units() -> None:
    state = BotApiState()
    state.add_user(USER)

    async def send(text: str, **params: str) -> None:
        await state.call(TOKEN, "sendMessage", {"chat_id": USER, "text": text, **params})

    # The tags and the escapes do not count; what the user sees does.
    await send("<b>" + "&amp;" * 4096 + "</b>", parse_mode="HTML")
    await send("😀" * 2048)  # 4096 UTF-16 code units
    for too_long, params in [("a" * 4097, {}),
                             ("<i>" + "&lt;" * 4097 + "</i>", {"parse_mode": "HTML"}),
                             ("😀" * 2049, {}), ("đ" * 4000 + "😀" * 49, {})]:
        with pytest.raises(BotApiError, match=r"^Bad Request: message is too long$") as caught:
            await send(too_long, **params)
        assert caught.value.code == 400
    with pytest.raises(BotApiError, match="message caption is too long"):
        await state.call(TOKEN, "sendPhoto", {"chat_id": USER, "photo": tiny_png_upload(),
                                              "caption": "😀" * 513})


def tiny_png_upload() -> object:
    from sandbox.botapi import InputUpload

    return InputUpload("a.png", tiny_png(), "image/png")
