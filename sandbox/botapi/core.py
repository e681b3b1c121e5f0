"""The state core: the bot's identity, users, their private chats and the messages in them.

:class:`StateCore` is the base every concern of :class:`~sandbox.botapi.BotApiState` builds
on; the composed class sets the attributes declared here (see ``state.py``).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

from sandbox.botapi.errors import JSON, BotApiError
from sandbox.botapi.params import as_int
from sandbox.botapi.records import USER_FIELDS, ChatState, StoredMessage, UserRecord

TOKEN_RE = re.compile(r"^(\d+):[A-Za-z0-9_-]+$")


class StateCore:
    """Identity, users, chats and stored messages: what every concern reads and writes."""

    bot_username: str
    bot_first_name: str
    token: str | None
    clock: Callable[[], float]
    _last_token: str  # for updates created before/outside any call

    def _reset_core(self) -> None:
        self.users: dict[int, UserRecord] = {}
        self.chats: dict[int, ChatState] = {}

    def now(self) -> int:
        return int(self.clock())

    def bot_user(self, token: str) -> JSON:
        """The bot's User object; its id is the token prefix, as with real tokens."""
        match = TOKEN_RE.match(token)
        bot_id = int(match.group(1)) if match else 0
        return {
            "id": bot_id,
            "is_bot": True,
            "first_name": self.bot_first_name,
            "username": self.bot_username,
        }

    # ----- users and their chats ----------------------------------------------------------

    def add_user(self, user_id: int, **fields: Any) -> UserRecord:
        """Create or update a user (and their private chat) without sending anything."""
        return self._ensure_user(user_id, **fields)

    def _ensure_user(self, user_id: int, **fields: Any) -> UserRecord:
        user_id = int(user_id)
        user = self.users.get(user_id)
        if user is None:
            user = UserRecord(id=user_id, first_name=fields.get("first_name") or f"User{user_id}")
            self.users[user_id] = user
            self.chats[user_id] = ChatState(id=user_id)
        for key in USER_FIELDS:
            if fields.get(key) is not None:
                setattr(user, key, fields[key])
        unknown = set(fields) - set(USER_FIELDS)
        if unknown:
            raise ValueError(f"unknown user fields: {sorted(unknown)}")
        return user

    def _chat(self, chat_id: Any) -> ChatState:
        cid = as_int(chat_id)
        if cid is None or cid not in self.chats:
            if chat_id is None or chat_id == "":
                raise BotApiError.bad_request("chat_id is empty")
            raise BotApiError.chat_not_found()
        return self.chats[cid]

    def _writable_chat(self, chat_id: Any) -> ChatState:
        chat = self._chat(chat_id)
        if self.users[chat.id].blocked:
            raise BotApiError.blocked()
        return chat

    def _message(self, chat: ChatState, message_id: Any, missing: str) -> StoredMessage:
        mid = as_int(message_id)
        if mid is None:
            raise BotApiError.bad_request("message identifier is not specified")
        msg = chat.messages.get(mid)
        if msg is None:
            raise BotApiError.bad_request(missing)
        return msg

    def _store_message(
        self,
        chat: ChatState,
        *,
        sender: JSON,
        from_bot: bool,
        content: JSON,
        reply_markup: JSON | None = None,
        parse_mode: str | None = None,
        source_text: str | None = None,
    ) -> StoredMessage:
        mid = chat.next_message_id
        chat.next_message_id += 1
        user = self.users[chat.id]
        data: JSON = {
            "message_id": mid,
            "from": sender,
            "chat": user.chat_json(),
            "date": self.now(),
        }
        data.update({k: v for k, v in content.items() if v is not None})
        if reply_markup and "inline_keyboard" in reply_markup:
            data["reply_markup"] = reply_markup
        msg = StoredMessage(
            chat_id=chat.id,
            message_id=mid,
            from_bot=from_bot,
            data=data,
            reply_markup=reply_markup,
            parse_mode=parse_mode,
            source_text=source_text,
        )
        chat.messages[mid] = msg
        if from_bot and reply_markup is not None:
            if "keyboard" in reply_markup:
                chat.reply_keyboard = reply_markup
            elif reply_markup.get("remove_keyboard"):
                chat.reply_keyboard = None
        return msg

    # ----- inspection helpers (tests, sandbox) ----------------------------------------------

    def chat_messages(self, chat_id: int) -> list[JSON]:
        """All messages of the chat (user's and bot's), oldest first, edits applied."""
        chat = self.chats.get(int(chat_id))
        if chat is None:
            return []
        return [m.transcript() for m in chat.messages.values()]

    def bot_messages(self, chat_id: int) -> list[JSON]:
        return [m for m in self.chat_messages(chat_id) if m["from_bot"]]

    def last_bot_message(self, chat_id: int) -> JSON | None:
        messages = self.bot_messages(chat_id)
        return messages[-1] if messages else None

    def _reply_copy(self, chat: ChatState, message_id: Any) -> JSON:
        msg = self._message(chat, message_id, "message to be replied not found")
        data = copy.deepcopy(msg.data)
        data.pop("reply_to_message", None)
        return data

    # ----- Bot API methods of the bot and its chats ----------------------------------------
    # Each _m_<Name>(bot, params) implements Bot API method <Name>.

    def _m_getMe(self, bot: JSON, p: JSON) -> JSON:
        return bot | {
            "can_join_groups": False,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def _m_logOut(self, bot: JSON, p: JSON) -> bool:
        return True

    def _m_close(self, bot: JSON, p: JSON) -> bool:
        return True

    def _m_getChat(self, bot: JSON, p: JSON) -> JSON:
        chat = self._chat(p.get("chat_id"))
        return self.users[chat.id].chat_json() | {
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }
