"""Zalo, as the engine sees it: a Bot API "transport" that says in Zalo what the features said.

The features, the Turn and the outbox sender speak python-telegram-bot (`bot.send_message(…,
reply_markup=…)`, `query.edit_message_text`, `chat.send_document`). For the Zalo application,
PTB's HTTP layer is this class: each Bot API call becomes what Zalo can do, and its answer
comes back in the Bot API's shape, so nothing above it knows the difference.

- Text: HTML becomes plain text (Zalo shows no markup), in pieces of at most 2000 units.
- Buttons and the reply keyboard become a numbered list under the text (lettered when the
  message waits for typed text, `zalo_typed`); the list is stored on the chat's row, and a
  typed reply is read against it (bot/zalo/inbound.py).
- Edits: Zalo cannot edit, so an edit that only adds the answer under a question («✔ Có»)
  sends nothing; any other edit is sent as a new message.
- Files: a picture goes by sendPhoto, a document as an expiring link served by the web process
  (`PUBLIC_URL`, db/file_links.py); a file the person sent on Zalo is a URL already.
- Errors: Zalo's answers map to what PTB raises for Telegram's — 429 as RetryAfter (Zalo gives
  no time: a backoff is used), 5xx, 403 (Zalo's "internal error"), 408 and network errors as
  NetworkError, the blocked codes (`ZALO_BLOCKED_CODES`; Zalo documents none) as Forbidden,
  the rest as BadRequest — so the outbox's retry, backoff and blocked-member rules apply.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram.request import BaseRequest, RequestData

from bot.zalo.client import MAX_TEXT_LENGTH, ZaloApiError, ZaloClient
from core.channels import zalo_local_id, zalo_message_id
from core.choices import Choice, not_yet_shown, render_marked, shown_label
from core.i18n import N_, translator
from core.settings import Settings
from core.textlimits import split_html, utf16_len, visible_text
from db.file_links import create_link
from db.zalo_chats import choices_of, set_choices, zalo_id_of

log = logging.getLogger(__name__)

FILE_LINK = N_("📎 {name}: {url}\n(The link works for {hours} hours.)")
NO_FILE_LINK = N_("📎 {name} cannot be sent on Zalo. Please ask the standing office for it.")
FROM_THE_MENU = N_("(To open one, finish the current step or send «menu».)")
CONVERSATION_SECONDS = 30 * 60  # a list answered within this is a conversation going on
RETRY_AFTER_SECONDS = 5  # Zalo's 429 says no time: wait this long before any next send

_TRUE = {"ok": True, "result": True}


# Screens say «tap» for Telegram's buttons; on Zalo a person chooses from a list. The
# catalogue's few phrasings, in order (longest first).
ZALO_WORDING = (
    ("Vui lòng dùng các nút trong menu.", "Vui lòng chọn một mục trong menu."),
    ("Please use the menu buttons.", "Please choose from the menu."),
    ("Gửi tệp dưới dạng tài liệu (hoặc ảnh).", "Gửi ảnh chụp văn bản."),
    ("bấm nút dưới đây để", "chọn trong danh sách dưới đây để"),
    ("Bấm nút dưới đây để", "Chọn trong danh sách dưới đây để"),
    ("Vui lòng bấm nút để chọn một trong", "Vui lòng chọn một trong"),
    ("(hoặc bấm nút)", "(hoặc chọn trong danh sách)"),
    ("Bấm chọn", "Chọn"), ("bấm chọn", "chọn"),
    ("Bấm vào", "Chọn"), ("bấm vào", "chọn"),
    ("Bấm ", "Chọn "), ("bấm ", "chọn "),
    ("Tap the button below to", "Choose below to"), ("Tap ", "Choose "), ("tap ", "choose "),
    ("press the button", "choose"),
)


def zalo_wording(text: str) -> str:
    for telegram, zalo in ZALO_WORDING:
        text = text.replace(telegram, zalo)
    return text


def plain(text: str, parse_mode: str | None) -> str:
    """What Zalo shows of a Bot API text: HTML's visible text, in Zalo's words."""
    return zalo_wording(visible_text(text) if (parse_mode or "").upper() == "HTML" else text)


def pieces_of(text: str, limit: int = MAX_TEXT_LENGTH) -> list[str]:
    """Plain text in pieces within Zalo's limit, cut between lines where it can."""
    if utf16_len(text) <= limit:
        return [text] if text.strip() else []
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return [visible_text(piece) for piece in split_html(escaped, limit)]


def choices_in(markup: Any) -> tuple[str, list[Choice]] | None:
    """The choices of a Bot API reply_markup (a dict): ("buttons", callback choices) or
    ("menu", reply keyboard labels, each choice's data its label); None for none."""
    if not isinstance(markup, dict):
        return None
    if "inline_keyboard" in markup:
        flat = [Choice(str(b.get("text", "")), str(b.get("callback_data") or b.get("url") or ""))
                for row in markup["inline_keyboard"] for b in row if isinstance(b, dict)]
        return ("buttons", flat) if flat else None
    if "keyboard" in markup:
        labels = [b.get("text", "") if isinstance(b, dict) else str(b)
                  for row in markup["keyboard"] for b in row]
        return ("menu", [Choice(label, label) for label in labels if label]) or None
    return None


class ZaloRequest(BaseRequest):
    """PTB's request layer for the Zalo application (see the module's docstring)."""

    def __init__(self, client: ZaloClient, sessions: async_sessionmaker[AsyncSession],
                 settings: Settings, now: Callable[[], dt.datetime]) -> None:
        self.client = client
        self.sessions = sessions
        self.settings = settings
        self.now = now
        self._ = translator(settings.default_locale)
        self.bot_zalo_id: str | None = None
        self._ids: dict[int, str] = {}

    @property
    def read_timeout(self) -> float | None:
        return None

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        await self.client.close()

    async def do_request(self, url: str, method: str, request_data: RequestData | None = None,
                         read_timeout: Any = None, write_timeout: Any = None,
                         connect_timeout: Any = None, pool_timeout: Any = None,
                         ) -> tuple[int, bytes]:
        api_method = url.rsplit("/", 1)[-1]
        params: dict[str, Any] = dict(request_data.parameters) if request_data else {}
        files = request_data.multipart_data if request_data and request_data.contains_files \
            else {}
        try:
            body = await self.dispatch(api_method, params, files)
        except ZaloApiError as exc:
            return self._error(exc)
        return 200, json.dumps(body).encode()

    # ------------------------------------------------------------------ errors

    def _error(self, exc: ZaloApiError) -> tuple[int, bytes]:
        log.warning("Zalo %s failed: %s", exc.method, exc.code)
        body: dict[str, Any] = {"ok": False, "description": exc.description}
        if exc.code in self.settings.zalo_blocked_codes and not exc.network:
            status = 403
        elif exc.code == 429:
            status = 429
            body["parameters"] = {"retry_after": RETRY_AFTER_SECONDS}
        elif exc.code == 401:
            status = 401
        elif exc.network or exc.retryable:
            status = 502
        else:
            status = 400
        body["error_code"] = status
        return status, json.dumps(body).encode()

    @staticmethod
    def _bad(description: str) -> dict[str, Any]:
        raise ZaloApiError(400, description, "adapter")

    # ------------------------------------------------------------------ dispatch

    async def dispatch(self, method: str, p: dict[str, Any],
                       files: dict[str, Any]) -> dict[str, Any]:
        if method == "getMe":
            me = await self.client.get_me()
            self.bot_zalo_id = str(me.get("id", ""))
            name = str(me.get("account_name") or me.get("display_name") or "Zalo")
            return {"ok": True, "result": {
                "id": zalo_local_id(self.bot_zalo_id), "is_bot": True, "first_name": name,
                "username": name.replace(" ", "_")}}
        if method == "sendMessage":
            return await self.send_text(p["chat_id"], plain(p.get("text", ""),
                                                            p.get("parse_mode")),
                                        p.get("reply_markup"), bool(p.get("zalo_typed")),
                                        unprompted=bool(p.get("zalo_unprompted")))
        if method in ("editMessageText", "editMessageCaption"):
            return await self.edit(p, plain(p.get("text") or p.get("caption") or "",
                                            p.get("parse_mode")))
        if method == "editMessageReplyMarkup":
            return await self.edit_markup(p)
        if method == "answerCallbackQuery":
            # The query's id starts with its chat (inbound.py): a toast is said as a message.
            chat = str(p.get("callback_query_id", "")).split(":", 1)[0]
            if p.get("text") and chat.lstrip("-").isdigit():
                await self.send_text(int(chat), str(p["text"]), None, False)
            return _TRUE
        if method in ("sendDocument", "sendPhoto"):
            return await self.send_file(method, p, files)
        if method == "sendChatAction":
            if p.get("action") == "typing":
                await self.client.send_chat_action(await self.zalo_id(p["chat_id"]))
            return _TRUE
        if method == "getFile":
            file_id = str(p.get("file_id", ""))
            return {"ok": True, "result": {
                "file_id": file_id, "file_path": file_id,
                "file_unique_id": hashlib.sha256(file_id.encode()).hexdigest()[:16]}}
        if method in ("setMyCommands", "deleteMyCommands", "deleteMessage", "setWebhook",
                      "deleteWebhook", "setChatMenuButton", "close", "logOut"):
            return _TRUE
        if method == "getWebhookInfo":
            return {"ok": True, "result": {"url": "", "has_custom_certificate": False,
                                           "pending_update_count": 0}}
        if method == "getUpdates":
            return {"ok": True, "result": []}  # updates come through inbound.py
        return self._bad(f"{method} is not available on Zalo")

    async def zalo_id(self, local_id: Any) -> str:
        local = int(local_id)
        known = self._ids.get(local)
        if known is None:
            async with self.sessions() as session:
                known = await zalo_id_of(session, local)
            if known is None:
                raise ZaloApiError(400, "chat not found", "adapter")
            self._ids[local] = known
        return known

    def _message(self, local: int, sent: dict[str, Any] | None, text: str) -> dict[str, Any]:
        raw = str((sent or {}).get("message_id") or f"local-{time.time_ns()}")
        return {"ok": True, "result": {
            "message_id": zalo_message_id(raw), "date": int(time.time()),
            "chat": {"id": local, "type": "private"}, "text": text}}

    # ------------------------------------------------------------------ text and lists

    async def send_text(self, chat_id: Any, text: str, markup: Any, typed: bool,
                        unprompted: bool = False) -> dict[str, Any]:
        local = int(chat_id)
        zid = await self.zalo_id(local)
        found = choices_in(markup)
        if found is not None and unprompted and await self._in_conversation(local):
            # A reminder arriving while the person answers a question must not turn their
            # next «2» into a press of its list: its choices are shown as lines to reach
            # from the menu, and the list being answered stays.
            lines = "\n".join(f"• {shown_label(c.label)}" for c in found[1])
            text = f"{text.rstrip()}\n\n{lines}\n{self._(FROM_THE_MENU)}"
            found = None
        pieces = pieces_of(text)
        listing: list[Choice] = []
        if found is not None:
            kind, flat = found
            lettered = typed and kind == "buttons"
            listed, listing = render_marked("", flat, lettered=lettered)
            listed = not_yet_shown(text, listed)
            last = pieces[-1] if pieces else ""
            if listed:
                joined = f"{last}\n\n{listed}" if last else listed
                if utf16_len(joined) <= MAX_TEXT_LENGTH:
                    pieces[-1:] = [joined]
                else:
                    pieces.append(listed)
        sent: dict[str, Any] | None = None
        for piece in pieces:
            sent = await self.client.send_message(zid, piece)
        answer = self._message(local, sent, text)
        if found is not None:
            await self._remember(local, {
                "items": [[c.label, c.data] for c in listing], "kind": found[0],
                "typed": typed and found[0] == "buttons", "at": time.time(),
                "unprompted": unprompted,
                "message_id": answer["result"]["message_id"], "text": text})
        return answer

    async def _in_conversation(self, local: int) -> bool:
        """Whether the chat's last list is one a person is answering now: a conversation's
        list (not the menu's) sent less than CONVERSATION_SECONDS ago."""
        async with self.sessions() as session:
            listed = await choices_of(session, local)
        return bool(listed and listed.get("kind") == "buttons" and not listed.get("unprompted")
                    and time.time() - float(listed.get("at") or 0) < CONVERSATION_SECONDS)

    async def _remember(self, local: int, value: dict[str, Any] | None) -> None:
        async with self.sessions() as session, session.begin():
            await set_choices(session, local, value)

    async def edit(self, p: dict[str, Any], text: str) -> dict[str, Any]:
        local = int(p["chat_id"])
        markup = p.get("reply_markup")
        async with self.sessions() as session:
            listed = await choices_of(session, local)
        this_list = bool(listed and listed.get("message_id") == p.get("message_id"))
        if choices_in(markup) is None:
            old = (listed or {}).get("text", "") if this_list else ""
            if this_list:
                await self._remember(local, None)  # its choices are gone
            if old and text.startswith(old.rstrip()):
                # Only the answer was added under the question: the person just typed it.
                return self._message(local, None, text)
        return await self.send_text(local, text, markup, bool((listed or {}).get("typed"))
                                    if this_list else False)

    async def edit_markup(self, p: dict[str, Any]) -> dict[str, Any]:
        local = int(p["chat_id"])
        async with self.sessions() as session:
            listed = await choices_of(session, local)
        this_list = bool(listed and listed.get("message_id") == p.get("message_id"))
        if choices_in(p.get("reply_markup")) is None:
            if this_list:
                await self._remember(local, None)
            return self._message(local, None, "")
        text = (listed or {}).get("text", "") if this_list else ""
        return await self.send_text(local, text, p.get("reply_markup"),
                                    bool(this_list and (listed or {}).get("typed")))

    # ------------------------------------------------------------------ files

    async def send_file(self, method: str, p: dict[str, Any],
                        files: dict[str, Any]) -> dict[str, Any]:
        field = "photo" if method == "sendPhoto" else "document"
        local = int(p["chat_id"])
        zid = await self.zalo_id(local)
        caption = plain(p.get("caption") or "", p.get("parse_mode"))
        value = p.get(field)
        url: str | None = None
        name = ""
        if field in files:
            filename, content, mime = files[field]
            if not isinstance(content, bytes):
                content = content.read()
            name = filename or field
            url = await self._link(content, name, mime or "application/octet-stream")
        elif isinstance(value, str) and value.startswith(("http://", "https://")):
            url, name = value, caption or value.rsplit("/", 1)[-1]
        else:
            self._bad("a Telegram file cannot be shown on Zalo")
        if field == "photo" and url is not None:
            sent = await self.client.send_photo(zid, url, pieces_of(caption)[0]
                                                if caption.strip() else None)
            if choices_in(p.get("reply_markup")) is not None:
                return await self.send_text(local, "", p.get("reply_markup"), False)
            return self._message(local, sent, caption)
        if url is None:
            text = self._(NO_FILE_LINK).format(name=name)
        else:
            text = self._(FILE_LINK).format(name=name, url=url,
                                            hours=self.settings.file_link_hours)
        return await self.send_text(local, f"{caption}\n\n{text}" if caption else text,
                                    p.get("reply_markup"), False)

    async def _link(self, content: bytes, name: str, mime: str) -> str | None:
        base = self.settings.public_url
        if not base:
            return None
        async with self.sessions() as session, session.begin():
            token = await create_link(session, content, name, mime, self.now(),
                                      dt.timedelta(hours=self.settings.file_link_hours))
        return f"{base.rstrip('/')}/f/{token}"
