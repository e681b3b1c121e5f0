"""Tests of the Zalo Bot API client (bot.zalo.client) against the stand-in, over real HTTP.

Only the idle long poll waits (1 s); nothing sleeps.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from bot.zalo.client import (
    BLOCKED_CODES,
    ZaloApiError,
    ZaloClient,
    ZaloUpdate,
    verify_secret,
)
from sandbox.zaloapi import (
    EVENT_IMAGE,
    EVENT_TEXT,
    EVENT_UNSUPPORTED,
    ZaloApiState,
    ZaloStandInServer,
)
from tests.support.zalo import SECRET, TOKEN, USER


@pytest.fixture
async def client(zalo_server: ZaloStandInServer) -> AsyncIterator[ZaloClient]:
    async with ZaloClient(TOKEN, api_root=zalo_server.api_root + "/") as zalo:
        yield zalo


def _no_secrets(exc: ZaloApiError) -> None:
    """What an error carries never names the URL or the token."""
    for text in (str(exc), repr(exc), exc.description):
        assert TOKEN not in text and "/bot" not in text
    assert exc.__cause__ is None  # no chained aiohttp error (those name the URL)
    assert exc.__context__ is None or exc.__suppress_context__


# ----- identity, errors ---------------------------------------------------------------------


async def test_get_me(zalo_server: ZaloStandInServer, client: ZaloClient) -> None:
    me = await client.get_me()
    assert me["id"] == "1234567890" and me["account_name"] == "bot.PlanReport"
    assert client.api_root == zalo_server.api_root  # the fixture's trailing "/" is stripped
    assert TOKEN not in repr(client)


async def test_bad_token_is_fatal(zalo_server: ZaloStandInServer) -> None:
    async with ZaloClient("1234567890:wrong", api_root=zalo_server.api_root) as zalo:
        with pytest.raises(ZaloApiError) as info:
            await zalo.get_me()
    exc = info.value
    assert (exc.code, exc.method, exc.description) == (401, "getMe", "Unauthorized")
    assert exc.fatal and not exc.retryable and not exc.blocked_hint
    _no_secrets(exc)


async def test_errors_are_read_from_the_body_under_http_200() -> None:
    state = ZaloApiState(token=TOKEN, errors_as_http_status=False)
    async with ZaloStandInServer(state) as srv, ZaloClient(TOKEN, srv.api_root) as zalo:
        with pytest.raises(ZaloApiError) as info:
            await zalo.send_message("nobody", "hi")
    assert (info.value.code, info.value.method) == (400, "sendMessage")
    assert not info.value.retryable and not info.value.fatal


async def test_queued_quota_error_is_retryable(
    zalo_server: ZaloStandInServer, client: ZaloClient
) -> None:
    zalo_server.state.add_user(USER)
    zalo_server.state.fail_next(1, 429, method="sendMessage")
    with pytest.raises(ZaloApiError) as info:
        await client.send_message(USER, "try 1")
    assert (info.value.code, info.value.description) == (429, "Quota exceeded")
    assert info.value.retryable and not info.value.fatal
    await client.send_message(USER, "try 2")
    assert [m["text"] for m in zalo_server.state.bot_messages(USER)] == ["try 2"]


async def test_blocked_user_is_not_guessed(
    zalo_server: ZaloStandInServer, client: ZaloClient
) -> None:
    zalo_server.state.user_sends_text(USER, "hi")
    zalo_server.state.block(USER)
    with pytest.raises(ZaloApiError) as info:
        await client.send_message(USER, "reminder")
    assert info.value.code == 400 and not info.value.blocked_hint
    assert BLOCKED_CODES == frozenset()


async def test_network_error_and_own_timeout_are_retryable(
    zalo_server: ZaloStandInServer, client: ZaloClient
) -> None:
    # Our HTTP timeout expires while the stand-in still holds the long poll.
    with pytest.raises(ZaloApiError) as info:
        await client.call("getUpdates", {"timeout": "5"}, timeout=0.2)
    assert (info.value.code, info.value.network, info.value.retryable) == (408, True, True)
    _no_secrets(info.value)

    root = zalo_server.api_root
    await zalo_server.stop()  # nothing listens on that port any more
    async with ZaloClient(TOKEN, api_root=root, timeout=2) as zalo:
        with pytest.raises(ZaloApiError) as info:
            await zalo.get_me()
    assert (info.value.code, info.value.network, info.value.retryable) == (0, True, True)
    _no_secrets(info.value)


# ----- updates by polling -------------------------------------------------------------------


async def test_text_arrives_through_get_update(
    zalo_server: ZaloStandInServer, client: ZaloClient
) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    zalo_server.state.user_sends_text(USER, "Xin chào", display_name="Ted")
    update = await client.get_update(timeout_s=1)
    assert update is not None
    assert update.event_name == EVENT_TEXT
    assert (update.chat_id, update.user_id) == (USER, USER)
    assert isinstance(update.message_id, str) and len(update.message_id) == 20
    assert (update.display_name, update.is_bot, update.text) == ("Ted", False, "Xin chào")
    assert update.photo_url is None and update.caption is None
    assert update.date.tzinfo is not None and update.date.utcoffset() is not None
    assert before <= update.date <= datetime.now(UTC)
    assert zalo_server.state.calls("getUpdates")[-1]["params"] == {"timeout": "1"}


async def test_image_arrives_with_its_url(
    zalo_server: ZaloStandInServer, client: ZaloClient
) -> None:
    zalo_server.state.user_sends_image(USER, "https://example.com/a.jpg", caption="ảnh")
    update = await client.get_update(timeout_s=1)
    assert update is not None and update.event_name == EVENT_IMAGE
    assert (update.photo_url, update.caption, update.text) == (
        "https://example.com/a.jpg",
        "ảnh",
        None,
    )


async def test_idle_poll_returns_none(client: ZaloClient) -> None:
    started = time.monotonic()
    assert await client.get_update(timeout_s=1) is None
    assert time.monotonic() - started < 3


# ----- sending ------------------------------------------------------------------------------


async def test_send_message_appears_in_the_transcript(
    zalo_server: ZaloStandInServer, client: ZaloClient
) -> None:
    zalo_server.state.user_sends_text(USER, "/start")
    sent = await client.send_message(USER, "Chào bạn!")
    assert set(sent) == {"message_id", "date"}
    transcript = zalo_server.state.chat_messages(USER)
    assert [(m["from_bot"], m.get("text")) for m in transcript] == [
        (False, "/start"),
        (True, "Chào bạn!"),
    ]
    assert transcript[1]["message_id"] == sent["message_id"]

    await client.send_chat_action(USER)  # {"ok": true} without a result
    assert zalo_server.state.last_action(USER) == "typing"
    await client.send_photo(USER, "https://example.com/p.png", caption="biểu đồ")
    photo = zalo_server.state.last_bot_message(USER)
    assert photo is not None and photo["kind"] == "photo"
    assert (photo["photo"], photo["caption"]) == ("https://example.com/p.png", "biểu đồ")


async def test_too_long_text_is_refused_without_a_call(
    zalo_server: ZaloStandInServer, client: ZaloClient
) -> None:
    zalo_server.state.add_user(USER)
    with pytest.raises(ValueError):
        await client.send_message(USER, "a" * 2001)
    with pytest.raises(ValueError):
        await client.send_message(USER, "")
    with pytest.raises(ValueError):
        await client.send_message(USER, "😀" * 1001)  # 2002 UTF-16 units, as Zalo may count
    with pytest.raises(ValueError):
        await client.send_photo(USER, "https://example.com/p.png", caption="b" * 2001)
    assert zalo_server.state.calls() == []
    await client.send_message(USER, "a" * 2000)
    assert len(zalo_server.state.bot_messages(USER)) == 1


# ----- webhook ------------------------------------------------------------------------------


async def test_webhook_set_info_delete(zalo_server: ZaloStandInServer, client: ZaloClient) -> None:
    hook = "https://bot.example.org/zalo"
    assert (await client.get_webhook_info())["url"] == ""
    for bad in ("1234567", "x" * 257):
        with pytest.raises(ValueError):
            await client.set_webhook(hook, bad)
    assert zalo_server.state.calls("setWebhook") == []
    info = await client.set_webhook(hook, SECRET)
    assert info["url"] == hook and info["updated_at"] > 10**12
    assert (await client.get_webhook_info())["url"] == hook
    assert zalo_server.state.webhook_config()["secret_token"] == SECRET
    with pytest.raises(ZaloApiError) as error:
        await client.get_update(timeout_s=1)  # polling and webhook exclude each other
    assert error.value.code == 400
    assert (await client.delete_webhook())["url"] == ""
    assert (await client.get_webhook_info())["url"] == ""


def test_verify_secret() -> None:
    assert verify_secret(SECRET, SECRET)
    assert not verify_secret("s3cret-tokem", SECRET)
    assert not verify_secret(None, SECRET)
    assert not verify_secret("", "")
    assert not verify_secret("", SECRET)
    assert verify_secret("bí-mật-123", "bí-mật-123")  # non-ASCII does not raise


# ----- the parser ---------------------------------------------------------------------------

DOC_MESSAGE = {
    "from": {"id": "6ede9afa66b88fe6d6a9", "display_name": "Ted", "is_bot": False},
    "chat": {"id": "6ede9afa66b88fe6d6a9", "chat_type": "PRIVATE"},
    "text": "Xin chào",
    "message_id": "2d758cb5e222177a4e35",
    "date": 1750316131602,
}
DOC_UPDATE = {"event_name": "message.text.received", "message": DOC_MESSAGE}


def test_parse_the_documented_webhook_body() -> None:
    update = ZaloUpdate.parse({"ok": True, "result": DOC_UPDATE})
    assert update == ZaloUpdate(
        event_name="message.text.received",
        message_id="2d758cb5e222177a4e35",
        chat_id="6ede9afa66b88fe6d6a9",
        user_id="6ede9afa66b88fe6d6a9",
        display_name="Ted",
        is_bot=False,
        date=datetime(2025, 6, 19, 6, 55, 31, 602000, tzinfo=UTC),
        text="Xin chào",
    )


def test_parse_shapes() -> None:
    expected = ZaloUpdate.parse(DOC_UPDATE)  # no wrapper
    assert expected is not None and expected.message_id == "2d758cb5e222177a4e35"
    assert ZaloUpdate.parse({"ok": True, "result": [DOC_UPDATE]}) == expected  # a list
    assert ZaloUpdate.parse([DOC_UPDATE]) == expected
    # M2's getUpdates sample: `first_name` instead of `display_name`.
    first_name = {**DOC_MESSAGE, "from": {"id": "6ede9afa66b88fe6d6a9", "first_name": "Ted"}}
    parsed = ZaloUpdate.parse({"ok": True, "result": {**DOC_UPDATE, "message": first_name}})
    assert parsed is not None and parsed.display_name == "Ted" and parsed.is_bot is False


def test_parse_photo_under_either_name() -> None:
    for key in ("photo", "photo_url"):
        message = {k: v for k, v in DOC_MESSAGE.items() if k != "text"}
        message |= {key: "https://e.com/a.jpg", "caption": "ảnh"}
        update = ZaloUpdate.parse({"event_name": "message.image.received", "message": message})
        assert update is not None
        assert (update.photo_url, update.caption, update.text) == (
            "https://e.com/a.jpg",
            "ảnh",
            None,
        )


def test_parse_ids_stay_strings() -> None:
    message = {**DOC_MESSAGE, "from": {"id": 123, "display_name": "X", "is_bot": True}}
    message |= {"chat": {"id": 123}, "message_id": 456}
    update = ZaloUpdate.parse({"event_name": "message.text.received", "message": message})
    assert update is not None
    assert (update.chat_id, update.user_id, update.message_id, update.is_bot) == (
        "123",
        "123",
        "456",
        True,
    )


def test_parse_what_has_no_message() -> None:
    assert ZaloUpdate.parse({"ok": True, "result": {"event_name": EVENT_UNSUPPORTED}}) is None
    assert ZaloUpdate.parse({"event_name": EVENT_UNSUPPORTED}) is None
    for junk in (None, "", [], {}, {"ok": False, "error_code": 408}, {"ok": True}, 42, [None]):
        assert ZaloUpdate.parse(junk) is None
    assert ZaloUpdate.parse({"event_name": "x", "message": {"text": "no ids"}}) is None


async def test_bare_unsupported_event_polls_as_none(
    zalo_server: ZaloStandInServer, client: ZaloClient
) -> None:
    zalo_server.state.user_sends_unsupported(USER, bare=True)
    assert await client.get_update(timeout_s=1) is None
    assert zalo_server.state.pending_updates() == []
    zalo_server.state.user_sends_unsupported(USER)  # with a message: it parses, without text
    update = await client.get_update(timeout_s=1)
    assert update is not None and update.event_name == EVENT_UNSUPPORTED and update.text is None
