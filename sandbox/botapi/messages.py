"""Messages and edits: what the bot sends, edits and deletes (text checked as Telegram
checks it: HTML parsed, lengths and keyboards validated), and its callback answers."""

from __future__ import annotations

import copy
from typing import Any

from sandbox.botapi.errors import JSON, BotApiError
from sandbox.botapi.files import FilesMixin
from sandbox.botapi.html_parse import parse_html, utf16_len
from sandbox.botapi.params import as_bool, as_int, as_obj
from sandbox.botapi.records import (
    MAX_CALLBACK_DATA_BYTES,
    MAX_CAPTION_LENGTH,
    MAX_TEXT_LENGTH,
    CallbackQueryRecord,
    ChatState,
    StoredMessage,
)


class MessagesMixin(FilesMixin):
    """sendMessage/sendDocument/sendPhoto, the edit methods, deleteMessage, chat actions and
    answerCallbackQuery."""

    callback_query_ttl: float | None

    def _reset_messages(self) -> None:
        # Pressed buttons (see PlayersMixin.user_presses) waiting for the bot's answer.
        self.callback_queries: dict[str, CallbackQueryRecord] = {}

    def callback_answer(self, callback_query_id: str) -> JSON | None:
        record = self.callback_queries.get(callback_query_id)
        return copy.deepcopy(record.answer) if record else None

    # ----- sending ------------------------------------------------------------------------

    def _formatted(
        self, text: Any, parse_mode: Any, entities: Any, *, caption: bool = False
    ) -> tuple[str, list[JSON] | None, str | None]:
        """Apply parse_mode like Telegram; returns (plain text, entities, parse_mode)."""
        text = "" if text is None else str(text)
        mode = str(parse_mode) if parse_mode else None
        parsed_entities = as_obj(entities) if entities else None
        if mode and mode.lower() == "html":
            text, parsed_entities = parse_html(text)
        # Markdown/MarkdownV2 are stored as given (not parsed) - see the package notes.
        # Telegram counts what the user sees (tags and escapes parsed) in UTF-16 code units.
        limit = MAX_CAPTION_LENGTH if caption else MAX_TEXT_LENGTH
        if utf16_len(text) > limit:
            raise BotApiError.bad_request(
                "message caption is too long" if caption else "message is too long"
            )
        return text, parsed_entities or None, mode

    @staticmethod
    def _markup(value: Any, *, inline_only: bool = False) -> JSON | None:
        markup = as_obj(value)
        if not markup:
            return None
        if not isinstance(markup, dict):
            raise BotApiError.bad_request("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in markup:
            for row in markup["inline_keyboard"]:
                for button in row:
                    if not button.get("text"):
                        raise BotApiError.bad_request(
                            "text buttons are unallowed in the inline keyboard"
                        )
                    actions = set(button) - {"text", "style", "icon_custom_emoji_id"}
                    if not actions:
                        raise BotApiError.bad_request(
                            "text buttons are unallowed in the inline keyboard"
                        )
                    data = button.get("callback_data")
                    if (
                        data is not None
                        and not 1 <= len(str(data).encode()) <= MAX_CALLBACK_DATA_BYTES
                    ):
                        raise BotApiError.bad_request("BUTTON_DATA_INVALID")
        elif inline_only:
            raise BotApiError.bad_request("inline keyboard expected")
        elif not ({"keyboard", "remove_keyboard", "force_reply"} & set(markup)):
            raise BotApiError.bad_request("can't parse reply keyboard markup JSON object")
        return markup

    def _reply_to(self, chat: ChatState, p: JSON) -> JSON | None:
        reply = as_obj(p.get("reply_parameters"))
        if not reply and p.get("reply_to_message_id") is not None:
            reply = {
                "message_id": p["reply_to_message_id"],
                "allow_sending_without_reply": p.get("allow_sending_without_reply"),
            }
        if not reply:
            return None
        target = chat.messages.get(as_int(reply.get("message_id"), -1) or -1)
        if target is None:
            if as_bool(reply.get("allow_sending_without_reply")):
                return None
            raise BotApiError.bad_request("message to be replied not found")
        return self._reply_copy(chat, target.message_id)

    def _m_sendMessage(self, bot: JSON, p: JSON) -> JSON:
        chat = self._writable_chat(p.get("chat_id"))
        if p.get("text") in (None, ""):
            raise BotApiError.bad_request("message text is empty")
        text, entities, mode = self._formatted(
            p.get("text"), p.get("parse_mode"), p.get("entities")
        )
        if not text.strip():
            raise BotApiError.bad_request("message text is empty")
        markup = self._markup(p.get("reply_markup"))
        content: JSON = {
            "text": text,
            "entities": entities,
            "link_preview_options": as_obj(p.get("link_preview_options")),
            "reply_to_message": self._reply_to(chat, p),
        }
        msg = self._store_message(
            chat,
            sender=bot,
            from_bot=True,
            content=content,
            reply_markup=markup,
            parse_mode=mode,
            source_text=str(p["text"]),
        )
        return msg.data

    def _send_file(self, bot: JSON, p: JSON, kind: str) -> JSON:
        chat = self._writable_chat(p.get("chat_id"))
        stored = self._resolve_file(p.get(kind), kind, kind)
        caption, entities, mode = (None, None, None)
        if p.get("caption"):
            caption, entities, mode = self._formatted(
                p.get("caption"), p.get("parse_mode"), p.get("caption_entities"), caption=True
            )
        media = self._document_json(stored) if kind == "document" else self._photo_json(stored)
        content: JSON = {
            kind: media,
            "caption": caption or None,
            "caption_entities": entities,
            "reply_to_message": self._reply_to(chat, p),
        }
        msg = self._store_message(
            chat,
            sender=bot,
            from_bot=True,
            content=content,
            reply_markup=self._markup(p.get("reply_markup")),
            parse_mode=mode,
            source_text=p.get("caption"),
        )
        return msg.data

    def _m_sendDocument(self, bot: JSON, p: JSON) -> JSON:
        return self._send_file(bot, p, "document")

    def _m_sendPhoto(self, bot: JSON, p: JSON) -> JSON:
        return self._send_file(bot, p, "photo")

    def _m_sendChatAction(self, bot: JSON, p: JSON) -> bool:
        chat = self._writable_chat(p.get("chat_id"))
        if not p.get("action"):
            raise BotApiError.bad_request("action is empty")
        chat.last_action = str(p["action"])
        return True

    # ----- editing ------------------------------------------------------------------------

    def _editable(self, p: JSON) -> StoredMessage:
        if p.get("inline_message_id"):
            raise BotApiError.bad_request("inline messages are not supported by the stand-in")
        chat = self._writable_chat(p.get("chat_id"))
        msg = self._message(chat, p.get("message_id"), "message to edit not found")
        if not msg.from_bot:
            raise BotApiError.bad_request("message can't be edited")
        return msg

    def _apply_edit(
        self, msg: StoredMessage, changes: JSON, markup: JSON | None, **meta: Any
    ) -> JSON:
        before = {k: msg.data.get(k) for k in changes} | {
            "reply_markup": msg.data.get("reply_markup")
        }
        after = dict(changes) | {"reply_markup": markup}
        if before == after:
            raise BotApiError.bad_request(
                "message is not modified: specified new message content and reply markup are "
                "exactly the same as a current content and reply markup of the message"
            )
        msg.history.append(
            copy.deepcopy(before) | {"edit_date": msg.data.get("edit_date", msg.data["date"])}
        )
        for key, value in after.items():
            if value is None:
                msg.data.pop(key, None)
            else:
                msg.data[key] = value
        msg.reply_markup = markup
        for key, value in meta.items():
            setattr(msg, key, value)
        msg.data["edit_date"] = self.now()
        msg.edited = True
        return msg.data

    def _m_editMessageText(self, bot: JSON, p: JSON) -> JSON:
        msg = self._editable(p)
        if "text" not in msg.data:
            raise BotApiError.bad_request("there is no text in the message to edit")
        if p.get("text") in (None, ""):
            raise BotApiError.bad_request("message text is empty")
        text, entities, mode = self._formatted(
            p.get("text"), p.get("parse_mode"), p.get("entities")
        )
        # Not re-sending reply_markup removes the inline keyboard, exactly like Telegram.
        markup = self._markup(p.get("reply_markup"), inline_only=True)
        changes = {
            "text": text,
            "entities": entities,
            "link_preview_options": as_obj(p.get("link_preview_options"))
            or msg.data.get("link_preview_options"),
        }
        return self._apply_edit(msg, changes, markup, parse_mode=mode, source_text=str(p["text"]))

    def _m_editMessageCaption(self, bot: JSON, p: JSON) -> JSON:
        msg = self._editable(p)
        if "text" in msg.data:
            raise BotApiError.bad_request("there is no caption in the message to edit")
        caption, entities, mode = self._formatted(
            p.get("caption"), p.get("parse_mode"), p.get("caption_entities"), caption=True
        )
        markup = self._markup(p.get("reply_markup"), inline_only=True)
        changes = {"caption": caption or None, "caption_entities": entities}
        return self._apply_edit(msg, changes, markup, parse_mode=mode, source_text=p.get("caption"))

    def _m_editMessageReplyMarkup(self, bot: JSON, p: JSON) -> JSON:
        msg = self._editable(p)
        markup = self._markup(p.get("reply_markup"), inline_only=True)
        return self._apply_edit(msg, {}, markup)

    def _m_deleteMessage(self, bot: JSON, p: JSON) -> bool:
        chat = self._writable_chat(p.get("chat_id"))
        msg = self._message(chat, p.get("message_id"), "message to delete not found")
        del chat.messages[msg.message_id]
        return True

    def _m_answerCallbackQuery(self, bot: JSON, p: JSON) -> bool:
        record = self.callback_queries.get(str(p.get("callback_query_id") or ""))
        too_old = (
            record is not None
            and self.callback_query_ttl is not None
            and self.clock() - record.created > self.callback_query_ttl
        )
        if record is None or record.answered or too_old:
            raise BotApiError.bad_request(
                "query is too old and response timeout expired or query ID is invalid"
            )
        record.answered = True
        record.answer = {
            "text": p.get("text"),
            "show_alert": as_bool(p.get("show_alert")),
            "url": p.get("url"),
            "cache_time": as_int(p.get("cache_time")),
        }
        return True
