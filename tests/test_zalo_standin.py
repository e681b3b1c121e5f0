"""Tests of the Zalo Bot Platform stand-in (sandbox.zaloapi), over real HTTP.

Every test talks to the stand-in with an aiohttp ClientSession, as a Zalo adapter would, so
a wrong envelope, status or update shape fails here. Only the idle long poll waits (1 s).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from sandbox.zaloapi import (
    EVENT_IMAGE,
    EVENT_TEXT,
    EVENT_UNSUPPORTED,
    SECRET_HEADER,
    ZaloApiError,
    ZaloApiState,
    ZaloStandInServer,
)
from tests.support.zalo import SECRET, TOKEN, USER


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def call(
    http: aiohttp.ClientSession,
    zalo_server: ZaloStandInServer,
    method: str,
    token: str = TOKEN,
    **params: Any,
) -> tuple[int, dict[str, Any]]:
    """POST a JSON body like the real adapter; returns (HTTP status, decoded body)."""
    async with http.post(f"{zalo_server.url}/bot{token}/{method}", json=params) as response:
        return response.status, await response.json()


class Receiver:
    """A webhook endpoint: records what the stand-in POSTs."""

    def __init__(self) -> None:
        self.requests: list[tuple[str | None, dict[str, Any]]] = []
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def _hook(self, request: web.Request) -> web.Response:
        self.requests.append((request.headers.get(SECRET_HEADER), await request.json()))
        return web.json_response({"message": "Success"})

    async def __aenter__(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/zalo/hook", self._hook)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}/zalo/hook"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.runner is not None
        await self.runner.cleanup()


# ----- identity and the envelope ------------------------------------------------------------


async def test_get_me(zalo_server: ZaloStandInServer, http: aiohttp.ClientSession) -> None:
    status, body = await call(http, zalo_server, "getMe")
    assert status == 200
    assert body == {
        "ok": True,
        "result": {
            "id": "1234567890",
            "account_name": "bot.PlanReport",
            "account_type": "BASIC",
            "can_join_groups": False,
        },
    }


async def test_bad_token_is_401(
    zalo_server: ZaloStandInServer, http: aiohttp.ClientSession
) -> None:
    for token in ("1234567890:wrong", "not-a-token"):
        status, body = await call(http, zalo_server, "getMe", token=token)
        assert status == 401
        assert body == {"ok": False, "error_code": 401, "description": "Unauthorized"}
    assert zalo_server.state.calls("getMe")[-1]["error_code"] == 401


async def test_method_names_are_case_sensitive(
    zalo_server: ZaloStandInServer, http: aiohttp.ClientSession
) -> None:
    status, body = await call(http, zalo_server, "getme")
    assert (status, body["ok"], body["error_code"]) == (400, False, 400)


async def test_errors_can_come_with_http_200(http: aiohttp.ClientSession) -> None:
    async with ZaloStandInServer(ZaloApiState(errors_as_http_status=False)) as srv:
        status, body = await call(http, srv, "sendMessage", chat_id="nobody", text="hi")
    assert status == 200
    assert body == {"ok": False, "error_code": 400, "description": "Bad request"}


# ----- updates by polling -------------------------------------------------------------------


async def test_text_arrives_through_get_updates(
    zalo_server: ZaloStandInServer, http: aiohttp.ClientSession
) -> None:
    before_ms = int(time.time() * 1000)
    zalo_server.state.user_sends_text(USER, "Xin chào", display_name="Ted")
    status, body = await call(http, zalo_server, "getUpdates", timeout="1")
    assert status == 200 and body["ok"] is True
    update = body["result"]  # one update object, not a list
    assert update["event_name"] == EVENT_TEXT
    message = update["message"]
    assert message["text"] == "Xin chào"
    assert message["from"] == {"id": USER, "display_name": "Ted", "is_bot": False}
    assert message["chat"] == {"id": USER, "chat_type": "PRIVATE"}
    assert isinstance(message["message_id"], str) and len(message["message_id"]) == 20
    assert before_ms <= message["date"] <= int(time.time() * 1000)  # milliseconds
    assert zalo_server.state.pending_updates() == []


async def test_long_poll_wakes_when_a_user_writes(
    zalo_server: ZaloStandInServer, http: aiohttp.ClientSession
) -> None:
    poll = asyncio.create_task(call(http, zalo_server, "getUpdates", timeout="5"))
    # Yield until the poll is parked on the server's Event (no timed sleep involved).
    while not zalo_server.state.waiting_polls:  # noqa: ASYNC110
        await asyncio.sleep(0)
    zalo_server.state.user_sends_image(USER, "https://example.com/a.jpg", caption="ảnh")
    status, body = await asyncio.wait_for(poll, 2)
    assert status == 200
    message = body["result"]["message"]
    assert body["result"]["event_name"] == EVENT_IMAGE
    assert message["photo_url"] == message["photo"] == "https://example.com/a.jpg"
    assert message["caption"] == "ảnh"


async def test_empty_long_poll_is_408(
    zalo_server: ZaloStandInServer, http: aiohttp.ClientSession
) -> None:
    started = time.monotonic()
    status, body = await call(http, zalo_server, "getUpdates", timeout="1")
    waited = time.monotonic() - started
    assert status == 408
    assert body == {"ok": False, "error_code": 408, "description": "Request timeout"}
    assert 0.9 <= waited < 3


async def test_unsupported_update_may_lack_a_message(
    zalo_server: ZaloStandInServer, http: aiohttp.ClientSession
) -> None:
    zalo_server.state.user_sends_unsupported(USER, bare=True)
    _, body = await call(http, zalo_server, "getUpdates", timeout=1)  # a number is accepted too
    assert body["result"] == {"event_name": EVENT_UNSUPPORTED}


# ----- sending ------------------------------------------------------------------------------


async def test_send_message_appears_in_the_transcript(
    zalo_server: ZaloStandInServer, http: aiohttp.ClientSession
) -> None:
    zalo_server.state.user_sends_text(USER, "/start")
    status, body = await call(http, zalo_server, "sendMessage", chat_id=USER, text="Chào bạn!")
    assert status == 200
    assert set(body["result"]) == {"message_id", "date"}
    transcript = zalo_server.state.chat_messages(USER)
    assert [(m["from_bot"], m.get("text")) for m in transcript] == [
        (False, "/start"),
        (True, "Chào bạn!"),
    ]
    assert transcript[1]["message_id"] == body["result"]["message_id"]

    status, body = await call(http, zalo_server, "sendChatAction", chat_id=USER, action="typing")
    assert (status, body) == (200, {"ok": True})  # no result at all, as documented
    status, _ = await call(
        http, zalo_server, "sendPhoto", chat_id=USER, photo="https://example.com/p.png", caption="x"
    )
    assert status == 200
    status, _ = await call(http, zalo_server, "sendSticker", chat_id=USER, sticker="abc")
    assert status == 200
    kinds = [m["kind"] for m in zalo_server.state.bot_messages(USER)]
    assert kinds == ["text", "photo", "sticker"]


async def test_text_over_2000_characters_is_refused(
    zalo_server: ZaloStandInServer, http: aiohttp.ClientSession
) -> None:
    zalo_server.state.add_user(USER)
    status, body = await call(http, zalo_server, "sendMessage", chat_id=USER, text="a" * 2001)
    assert (status, body["error_code"]) == (400, 400)
    status, _ = await call(http, zalo_server, "sendMessage", chat_id=USER, text="a" * 2000)
    assert status == 200
    status, _ = await call(http, zalo_server, "sendMessage", chat_id=USER, text="")
    assert status == 400
    status, _ = await call(
        http,
        zalo_server,
        "sendPhoto",
        chat_id=USER,
        photo="https://e.com/p.png",
        caption="b" * 2001,
    )
    assert status == 400
    assert len(zalo_server.state.bot_messages(USER)) == 1
    assert "2001" in zalo_server.state.calls("sendMessage")[0]["reason"]


async def test_chat_ids_are_strings_of_known_chats(
    zalo_server: ZaloStandInServer, http: aiohttp.ClientSession
) -> None:
    status, _ = await call(http, zalo_server, "sendMessage", chat_id="unknown", text="hi")
    assert status == 400
    zalo_server.state.add_user("12345")
    status, _ = await call(http, zalo_server, "sendMessage", chat_id=12345, text="hi")
    assert status == 400  # a number: the adapter int()-ed an opaque id


async def test_blocked_user(zalo_server: ZaloStandInServer, http: aiohttp.ClientSession) -> None:
    zalo_server.state.user_sends_text(USER, "hi")
    zalo_server.state.block(USER)
    status, body = await call(http, zalo_server, "sendMessage", chat_id=USER, text="reminder")
    assert (status, body["ok"], body["error_code"]) == (400, False, 400)
    assert zalo_server.state.calls("sendMessage")[-1]["reason"] == f"user {USER!r} blocked the bot"
    assert zalo_server.state.bot_messages(USER) == []
    # The code is undocumented; a test can pick another reading.
    zalo_server.state.blocked_error = ZaloApiError(403)
    status, body = await call(http, zalo_server, "sendMessage", chat_id=USER, text="reminder")
    assert (status, body["description"]) == (403, "Internal server error")


async def test_next_calls_fail_with_a_given_code(
    zalo_server: ZaloStandInServer, http: aiohttp.ClientSession
) -> None:
    zalo_server.state.add_user(USER)
    zalo_server.state.fail_next(2, 429, method="sendMessage")
    results = [
        (await call(http, zalo_server, "sendMessage", chat_id=USER, text=f"try {i}"))[0]
        for i in range(3)
    ]
    assert results == [429, 429, 200]
    assert [m["text"] for m in zalo_server.state.bot_messages(USER)] == ["try 2"]


# ----- webhook ------------------------------------------------------------------------------


async def test_set_webhook_validation(http: aiohttp.ClientSession) -> None:
    async with ZaloStandInServer(ZaloApiState()) as srv:  # the real rule: HTTPS only
        hook = "https://bot.example.org/zalo"
        status, _ = await call(http, srv, "setWebhook", url="http://x.org/h", secret_token=SECRET)
        assert status == 400
        assert (await call(http, srv, "setWebhook", url=hook))[0] == 400  # secret required
        for bad in ("1234567", "x" * 257):
            assert (await call(http, srv, "setWebhook", url=hook, secret_token=bad))[0] == 400
        assert (await call(http, srv, "getWebhookInfo"))[1]["result"]["url"] == ""
        status, body = await call(http, srv, "setWebhook", url=hook, secret_token="x" * 256)
        assert status == 200
        assert body["result"]["url"] == hook and body["result"]["updated_at"] > 10**12
        assert (await call(http, srv, "getWebhookInfo"))[1]["result"]["url"] == hook
        status, body = await call(http, srv, "getUpdates", timeout="1")
        assert status == 400  # polling and webhook exclude each other
        status, body = await call(http, srv, "deleteWebhook")
        assert (status, body["result"]["url"]) == (200, "")


async def test_webhook_delivery_with_the_secret_header(
    zalo_server: ZaloStandInServer, http: aiohttp.ClientSession
) -> None:
    async with Receiver() as receiver:
        status, _ = await call(
            http, zalo_server, "setWebhook", url=receiver.url, secret_token=SECRET
        )
        assert status == 200
        update = zalo_server.state.user_sends_text(USER, "qua webhook")
        deliveries = await zalo_server.state.flush_webhooks()
        assert receiver.requests == [(SECRET, {"ok": True, "result": update})]
        assert deliveries[0]["status"] == 200

        zalo_server.state.duplicate_deliveries = True
        zalo_server.state.user_sends_sticker(USER)
        await zalo_server.state.flush_webhooks()
        ids = [body["result"]["message"]["message_id"] for _, body in receiver.requests[1:]]
        assert len(ids) == 2 and ids[0] == ids[1]
