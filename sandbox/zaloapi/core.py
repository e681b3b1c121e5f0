"""The state core: the bot's identity, users, their private chats and stored messages.

:class:`StateCore` is the base every concern of :class:`~sandbox.zaloapi.ZaloApiState`
builds on; the composed class sets the attributes declared here (see ``state.py``).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable

from sandbox.zaloapi.errors import JSON, ZaloApiError
from sandbox.zaloapi.records import StoredMessage, ZaloChat, ZaloUser, opaque_id

# "<numeric bot id>:<secret>" (docs §1).
TOKEN_RE = re.compile(r"^(\d+):[A-Za-z0-9_-]+$")


class StateCore:
    """Identity, users, chats and stored messages: what every concern reads and writes."""

    account_name: str
    account_type: str
    token: str | None
    clock: Callable[[], float]
    blocked_error: ZaloApiError
    unknown_chat_error: ZaloApiError

    def _reset_core(self) -> None:
        self.users: dict[str, ZaloUser] = {}
        self.chats: dict[str, ZaloChat] = {}
        self._message_seq = itertools.count(1)

    def now_ms(self) -> int:
        """Zalo dates are epoch milliseconds."""
        return int(self.clock() * 1000)

    def _next_message_id(self) -> str:
        return opaque_id("message", next(self._message_seq))

    # ----- users and their chats ----------------------------------------------------------

    def add_user(self, user_id: str, display_name: str | None = None) -> ZaloUser:
        """Create (or rename) a user and their private chat without sending anything."""
        if not isinstance(user_id, str) or not user_id:
            raise TypeError("Zalo user ids are non-empty strings")
        user = self.users.get(user_id)
        if user is None:
            user = ZaloUser(id=user_id, display_name=display_name or f"User {user_id}")
            self.users[user_id] = user
            self.chats[user_id] = ZaloChat(id=user_id)  # private chat: chat.id == from.id
        elif display_name:
            user.display_name = display_name
        return user

    def block(self, user_id: str) -> None:
        """The user blocks the bot: sends to them fail with :attr:`blocked_error`.

        Zalo documents no event for this, so none is queued.
        """
        self.add_user(user_id).blocked = True

    def unblock(self, user_id: str) -> None:
        self.add_user(user_id).blocked = False

    def _chat(self, chat_id: str) -> ZaloChat:
        chat = self.chats.get(chat_id)
        if chat is None:
            raise ZaloApiError(
                self.unknown_chat_error.code,
                self.unknown_chat_error.description,
                reason=f"unknown chat_id {chat_id!r}",
            )
        return chat

    def _writable_chat(self, chat_id: str) -> ZaloChat:
        chat = self._chat(chat_id)
        if self.users[chat.id].blocked:
            raise ZaloApiError(
                self.blocked_error.code,
                self.blocked_error.description,
                reason=f"user {chat.id!r} blocked the bot",
            )
        return chat

    # ----- inspection helpers (tests, sandbox) ----------------------------------------------

    def chat_messages(self, user_id: str) -> list[JSON]:
        """The transcript of the private chat: user and bot messages, oldest first.

        User messages are the update's ``message`` (``event_name`` added); bot messages are
        ``{message_id, date, text | photo + caption | sticker, ...}``. Every entry has
        ``from_bot`` and ``kind``.
        """
        chat = self.chats.get(user_id)
        return [m.transcript() for m in chat.messages] if chat else []

    def bot_messages(self, user_id: str) -> list[JSON]:
        return [m for m in self.chat_messages(user_id) if m["from_bot"]]

    def last_bot_message(self, user_id: str) -> JSON | None:
        messages = self.bot_messages(user_id)
        return messages[-1] if messages else None

    def last_action(self, user_id: str) -> str | None:
        chat = self.chats.get(user_id)
        return chat.last_action if chat else None

    def _store(
        self, chat: ZaloChat, *, from_bot: bool, kind: str, data: JSON, event: str | None = None
    ) -> StoredMessage:
        msg = StoredMessage(
            message_id=data.get("message_id") or self._next_message_id(),
            from_bot=from_bot,
            kind=kind,
            data=data,
            event_name=event,
        )
        chat.messages.append(msg)
        return msg

    # ----- methods of the bot itself -------------------------------------------------------
    # Each _m_<name>(bot_id, params) implements the method <name> (case-sensitive).

    def _m_getMe(self, bot_id: str, p: JSON) -> JSON:
        # The docs' sample (M1, M2); OC's `name`/`avatar` shape is deliberately not offered.
        return {
            "id": bot_id,
            "account_name": self.account_name,
            "account_type": self.account_type,
            "can_join_groups": False,
        }
