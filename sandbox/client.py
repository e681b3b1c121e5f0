"""Async client for the stand-in's ``/_control/`` API (tests and scripts play users with it).

Example::

    async with StandInClient(server.url) as tg:
        await tg.send_text(42, "/start ABC", first_name="Lan", language_code="vi")
        reply = await tg.wait_for_message(42, lambda m: "Xin chào" in m["text"])
        await tg.press(42, reply["message_id"], "menu:report")
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import aiohttp

__all__ = ["StandInClient", "format_transcript"]

JSON = dict[str, Any]
MessagePredicate = Callable[[JSON], bool]

_POLL_INTERVAL = 0.05


class StandInClient:
    """Talks to a running stand-in (:class:`sandbox.botapi.StandInServer`) over HTTP."""

    def __init__(self, base_url: str, session: aiohttp.ClientSession | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._session = session
        self._owns_session = session is None

    async def __aenter__(self) -> StandInClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None and self._owns_session:
            await self._session.close()
        self._session = None

    def _http(self) -> aiohttp.ClientSession:
        # Created lazily so the client can be constructed outside a running loop.
        if self._session is None:
            self._session = aiohttp.ClientSession()
            self._owns_session = True
        return self._session

    async def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        url = f"{self.base_url}/_control{path}"
        async with self._http().request(method, url, **kwargs) as resp:
            body = await resp.text()
            if resp.status >= 400:
                raise AssertionError(f"{method} {path} -> {resp.status}: {body}")
            return json.loads(body)

    # ----- player actions ---------------------------------------------------------------

    async def send_text(self, user_id: int, text: str, **user: Any) -> JSON:
        """The user sends ``text``; ``user`` may set first_name, language_code, ...

        Returns ``{"update": ..., "message_id": ...}``.
        """
        return await self._request("POST", f"/users/{user_id}/text", json={"text": text, **user})

    async def press(self, user_id: int, message_id: int, data: str, *, strict: bool = True) -> JSON:
        """The user presses the inline button with ``data`` on ``message_id``.

        Returns ``{"update": ..., "callback_query_id": ...}``.
        """
        body = {"message_id": message_id, "data": data, "strict": strict}
        return await self._request("POST", f"/users/{user_id}/press", json=body)

    async def send_document(
        self,
        user_id: int,
        filename: str,
        content: bytes,
        mime_type: str = "application/octet-stream",
        caption: str | None = None,
        **user: Any,
    ) -> JSON:
        """The user uploads a file (multipart). Returns update, message_id, file_id."""
        form = aiohttp.FormData()
        form.add_field("document", content, filename=filename, content_type=mime_type)
        if caption:
            form.add_field("caption", caption)
        for key, value in user.items():
            form.add_field(key, str(value))
        return await self._request("POST", f"/users/{user_id}/document", data=form)

    async def send_photo(self, user_id: int, content: bytes, caption: str | None = None) -> JSON:
        form = aiohttp.FormData()
        form.add_field("photo", content, filename="photo.jpg", content_type="image/jpeg")
        if caption:
            form.add_field("caption", caption)
        return await self._request("POST", f"/users/{user_id}/photo", data=form)

    async def send_sticker(self, user_id: int, emoji: str = "👍") -> JSON:
        return await self._request("POST", f"/users/{user_id}/sticker", json={"emoji": emoji})

    # ----- inspection -------------------------------------------------------------------

    async def messages(self, chat_id: int) -> list[JSON]:
        """All messages of the chat, oldest first, edits applied (``from_bot``, ``edited``)."""
        return await self._request("GET", f"/chats/{chat_id}/messages")

    async def chat(self, chat_id: int) -> JSON:
        return await self._request("GET", f"/chats/{chat_id}")

    async def calls(self, method: str | None = None, after: int = 0) -> list[JSON]:
        """Logged Bot API calls (seq, method, params, ok, error), oldest first."""
        query = {"after": str(after)} | ({"method": method} if method else {})
        return await self._request("GET", "/calls", params=query)

    async def commands(self) -> list[JSON]:
        return await self._request("GET", "/commands")

    async def callback(self, callback_query_id: str) -> JSON:
        """Whether and how the bot answered a callback query."""
        return await self._request("GET", f"/callbacks/{callback_query_id}")

    async def updates(self) -> list[JSON]:
        """Updates not yet confirmed by the bot."""
        return await self._request("GET", "/updates")

    # ----- setup / faults ---------------------------------------------------------------

    async def reset(self) -> None:
        await self._request("POST", "/reset")

    async def block(self, user_id: int) -> None:
        await self._request("POST", f"/block/{user_id}")

    async def unblock(self, user_id: int) -> None:
        await self._request("POST", f"/unblock/{user_id}")

    async def inject(
        self,
        method: str,
        error_code: int = 500,
        *,
        chat_id: int | None = None,
        retry_after: int | None = None,
        description: str | None = None,
        times: int | None = 1,
        delay: float = 0.0,
        apply: bool = False,
    ) -> JSON:
        body = {
            "method": method,
            "error_code": error_code,
            "chat_id": chat_id,
            "retry_after": retry_after,
            "description": description,
            "times": times,
            "delay": delay,
            "apply": apply,
        }
        return await self._request("POST", "/inject", json=body)

    # ----- waiting (poll with a deadline, never a fixed sleep) --------------------------

    async def wait_for_message(
        self,
        chat_id: int,
        predicate: MessagePredicate | None = None,
        timeout: float = 15.0,  # noqa: ASYNC109 - the deadline is the point of this helper
        after_message_id: int = 0,
        *,
        from_bot: bool = True,
    ) -> JSON:
        """First message (by default from the bot) newer than ``after_message_id`` that
        satisfies ``predicate``. Edits count: the predicate sees the current version.

        Raises AssertionError with the chat transcript if none shows up in time.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        messages: list[JSON] = []
        while True:
            messages = await self.messages(chat_id)
            for msg in messages:
                if msg["message_id"] <= after_message_id or msg["from_bot"] != from_bot:
                    continue
                if predicate is None or predicate(msg):
                    return msg
            if loop.time() >= deadline:
                break
            await asyncio.sleep(_POLL_INTERVAL)
        raise AssertionError(
            f"no matching message in chat {chat_id} within {timeout}s "
            f"(after message {after_message_id}). Transcript:\n{format_transcript(messages)}"
        )

    async def wait_for_call(
        self,
        method: str,
        predicate: Callable[[JSON], bool] | None = None,
        timeout: float = 15.0,  # noqa: ASYNC109 - the deadline is the point of this helper
        after: int = 0,
    ) -> JSON:
        """First logged call of ``method`` with seq > ``after`` matching ``predicate``
        (which sees ``{"seq", "method", "params", "ok", "error"}``)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        calls: list[JSON] = []
        while True:
            calls = await self.calls(method, after=after)
            match = next((c for c in calls if predicate is None or predicate(c)), None)
            if match is not None:
                return match
            if loop.time() >= deadline:
                break
            await asyncio.sleep(_POLL_INTERVAL)
        seen = "\n".join(f"  #{c['seq']} {c['params']}" for c in calls[-10:]) or "  (none)"
        raise AssertionError(f"no matching {method} call within {timeout}s. Last calls:\n{seen}")


def format_transcript(messages: list[JSON]) -> str:
    """A readable chat log for assertion messages."""
    lines = []
    for msg in messages:
        who = "bot " if msg.get("from_bot") else "user"
        body = msg.get("text") or msg.get("caption") or ""
        if "document" in msg:
            body = f"[document {msg['document'].get('file_name')}] {body}"
        elif "photo" in msg:
            body = f"[photo] {body}"
        elif "sticker" in msg:
            body = f"[sticker {msg['sticker'].get('emoji', '')}]"
        markup = msg.get("reply_markup") or {}
        buttons = [
            f"[{b.get('text')}|{b.get('callback_data') or b.get('url')}]"
            for row in markup.get("inline_keyboard", [])
            for b in row
        ]
        edited = " (edited)" if msg.get("edited") else ""
        line = f"  #{msg['message_id']} {who}{edited}: {body}"
        if buttons:
            line += "  " + " ".join(buttons)
        lines.append(line)
    return "\n".join(lines) or "  (empty chat)"
