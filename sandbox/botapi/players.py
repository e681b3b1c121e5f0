"""Player actions: what users do to the bot (type, press a button, send a file, block it),
each stored in the chat and queued as the update Telegram would deliver."""

from __future__ import annotations

import copy
import mimetypes
import re
import uuid
from typing import Any

from sandbox.botapi.errors import JSON
from sandbox.botapi.html_parse import utf16_len
from sandbox.botapi.messages import MessagesMixin
from sandbox.botapi.records import CallbackQueryRecord, InputUpload, UserRecord
from sandbox.botapi.updates import UpdatesMixin

_COMMAND_RE = re.compile(r"^/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]+)?")


class PlayersMixin(UpdatesMixin, MessagesMixin):
    """The users' side of the chats (tests and the sandbox page play them)."""

    def block(self, user_id: int, *, notify: bool = True) -> None:
        """The user blocks the bot: sends to them fail with 403.

        Like Telegram, the bot gets a ``my_chat_member`` update (member -> kicked).
        """
        user = self._ensure_user(user_id)
        if not user.blocked and notify:
            self._push_my_chat_member(user, "member", "kicked")
        user.blocked = True

    def unblock(self, user_id: int, *, notify: bool = True) -> None:
        user = self._ensure_user(user_id)
        if user.blocked and notify:
            self._push_my_chat_member(user, "kicked", "member")
        user.blocked = False

    def user_sends_text(
        self, user_id: int, text: str, *, reply_to_message_id: int | None = None, **user_fields: Any
    ) -> JSON:
        """The user types ``text``; returns the ``message`` update.

        A leading ``/command`` (incl. ``/start CODE`` deep links) gets a bot_command entity,
        which is what PTB's CommandHandler matches on.
        """
        if not text:
            raise ValueError("text must not be empty")
        user = self._user_acts(user_id, **user_fields)
        chat = self.chats[user.id]
        content: JSON = {"text": text}
        match = _COMMAND_RE.match(text)
        if match:
            content["entities"] = [
                {"type": "bot_command", "offset": 0, "length": utf16_len(match.group(0))}
            ]
        if reply_to_message_id is not None:
            content["reply_to_message"] = self._reply_copy(chat, reply_to_message_id)
        msg = self._store_message(chat, sender=user.to_json(), from_bot=False, content=content)
        return self._push_update("message", copy.deepcopy(msg.data))

    def user_presses(
        self, user_id: int, message_id: int, data: str, *, strict: bool = True
    ) -> JSON:
        """The user presses an inline button; returns the ``callback_query`` update.

        With ``strict`` the button must exist on the (current version of the) message, as a
        real client can only press what is shown.
        """
        user = self._user_acts(user_id)
        chat = self.chats[user.id]
        msg = chat.messages.get(int(message_id))
        if msg is None or not msg.from_bot:
            raise ValueError(f"no bot message {message_id} in chat {user.id}")
        if strict:
            buttons = msg.data.get("reply_markup", {}).get("inline_keyboard", [])
            datas = {b.get("callback_data") for row in buttons for b in row}
            if data not in datas:
                raise ValueError(
                    f"message {message_id} has no button with callback_data {data!r}; "
                    f"buttons: {sorted(d for d in datas if d)}"
                )
        query_id = str(uuid.uuid4().int >> 64)
        self.callback_queries[query_id] = CallbackQueryRecord(
            id=query_id,
            user_id=user.id,
            chat_id=chat.id,
            message_id=msg.message_id,
            data=data,
            created=self.clock(),
        )
        payload = {
            "id": query_id,
            "from": user.to_json(),
            "message": copy.deepcopy(msg.data),
            "chat_instance": str((chat.id * 1_000_003 + 7) % 10**18),  # stable per chat
            "data": data,
        }
        return self._push_update("callback_query", payload)

    def user_sends_document(
        self,
        user_id: int,
        filename: str,
        content: bytes,
        mime_type: str | None = None,
        caption: str | None = None,
        **user_fields: Any,
    ) -> JSON:
        """The user sends a file; returns the ``message`` update (document has a file_id)."""
        user = self._user_acts(user_id, **user_fields)
        mime = mime_type or mimetypes.guess_type(filename)[0] or "application/octet-stream"
        stored = self._store_file(InputUpload(filename, bytes(content), mime), "document")
        content_json: JSON = {"document": self._document_json(stored), "caption": caption}
        msg = self._store_message(
            self.chats[user.id], sender=user.to_json(), from_bot=False, content=content_json
        )
        return self._push_update("message", copy.deepcopy(msg.data))

    def user_sends_photo(
        self, user_id: int, content: bytes, caption: str | None = None, **user_fields: Any
    ) -> JSON:
        user = self._user_acts(user_id, **user_fields)
        stored = self._store_file(InputUpload("photo.jpg", bytes(content), "image/jpeg"), "photo")
        content_json: JSON = {"photo": self._photo_json(stored), "caption": caption}
        msg = self._store_message(
            self.chats[user.id], sender=user.to_json(), from_bot=False, content=content_json
        )
        return self._push_update("message", copy.deepcopy(msg.data))

    def user_sends_sticker(self, user_id: int, emoji: str = "👍", **user_fields: Any) -> JSON:
        user = self._user_acts(user_id, **user_fields)
        stored = self._store_file(
            InputUpload("sticker.webp", b"RIFF\0\0\0\0WEBP", "image/webp"), "sticker"
        )
        sticker = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": emoji,
            "file_size": len(stored.content),
        }
        msg = self._store_message(
            self.chats[user.id], sender=user.to_json(), from_bot=False, content={"sticker": sticker}
        )
        return self._push_update("message", copy.deepcopy(msg.data))

    def _user_acts(self, user_id: int, **user_fields: Any) -> UserRecord:
        user = self._ensure_user(user_id, **user_fields)
        if user.blocked:
            # Writing to the bot again means the user restarted (unblocked) it.
            self.unblock(user.id)
        return user
