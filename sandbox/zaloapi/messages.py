"""What the bot sends: sendMessage, sendPhoto, sendSticker, sendChatAction.

Each send needs a known chat (a user who wrote, or one added with ``add_user``) that has not
blocked the bot, and answers ``{message_id, date}``; sendChatAction answers ``{"ok": true}``
with no ``result`` at all, as the docs show.
"""

from __future__ import annotations

from typing import Any

from sandbox.zaloapi.core import StateCore
from sandbox.zaloapi.errors import JSON, ZaloApiError
from sandbox.zaloapi.params import checked_text, is_http_url, optional_str, required_str
from sandbox.zaloapi.records import CHAT_ACTIONS, PARSE_MODES, StoredMessage

# sendChatAction's answer has no result: the HTTP layer leaves the key out.
NO_RESULT: Any = object()


class MessagesMixin(StateCore):
    """The bot's side of the chats."""

    def _sent(self, msg: StoredMessage) -> JSON:
        return {"message_id": msg.message_id, "date": msg.data["date"]}

    def _m_sendMessage(self, bot_id: str, p: JSON) -> JSON:
        chat = self._writable_chat(required_str(p, "chat_id"))
        text = checked_text(required_str(p, "text"), "text")
        data: JSON = {"message_id": self._next_message_id(), "date": self.now_ms(), "text": text}
        # parse_mode / text_styles come from the newer docs only (M4); accepted, not rendered.
        mode = optional_str(p, "parse_mode")
        if mode is not None:
            if mode.lower() not in PARSE_MODES:
                raise ZaloApiError.bad_request(f"parse_mode must be markdown or html, not {mode!r}")
            data["parse_mode"] = mode.lower()
        styles = p.get("text_styles")
        if styles is not None:
            data["text_styles"] = _checked_styles(styles)
        return self._sent(self._store(chat, from_bot=True, kind="text", data=data))

    def _m_sendPhoto(self, bot_id: str, p: JSON) -> JSON:
        chat = self._writable_chat(required_str(p, "chat_id"))
        photo = required_str(p, "photo")  # a URL: multipart upload is not documented
        if not is_http_url(photo, https_only=False):
            raise ZaloApiError.bad_request(f"photo must be an image URL, got {photo[:80]!r}")
        data: JSON = {"message_id": self._next_message_id(), "date": self.now_ms(), "photo": photo}
        caption = optional_str(p, "caption")
        if caption is not None:
            data["caption"] = checked_text(caption, "caption")
        return self._sent(self._store(chat, from_bot=True, kind="photo", data=data))

    def _m_sendSticker(self, bot_id: str, p: JSON) -> JSON:
        chat = self._writable_chat(required_str(p, "chat_id"))
        sticker = required_str(p, "sticker")
        data: JSON = {
            "message_id": self._next_message_id(),
            "date": self.now_ms(),
            "sticker": sticker,
        }
        return self._sent(self._store(chat, from_bot=True, kind="sticker", data=data))

    def _m_sendChatAction(self, bot_id: str, p: JSON) -> Any:
        chat = self._writable_chat(required_str(p, "chat_id"))
        action = required_str(p, "action")
        if action not in CHAT_ACTIONS:
            raise ZaloApiError.bad_request(f"action must be typing or upload_photo, not {action!r}")
        chat.last_action = action
        return NO_RESULT


def _checked_styles(styles: Any) -> list[JSON]:
    """``text_styles``: runs ``{start, len, st: [...]}`` (UTF-16 offsets; not rendered)."""
    if not isinstance(styles, list):
        raise ZaloApiError.bad_request("text_styles must be a list")
    for run in styles:
        if (
            not isinstance(run, dict)
            or not isinstance(run.get("start"), int)
            or not isinstance(run.get("len"), int)
            or not isinstance(run.get("st"), list)
        ):
            raise ZaloApiError.bad_request(f"text_styles run {run!r} needs start, len and st")
    return styles
