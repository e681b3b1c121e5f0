"""Player actions: what users do (send text, an image, a sticker, something unsupported),
each stored in the chat and handed to the bot as the update Zalo would deliver."""

from __future__ import annotations

import copy

from sandbox.zaloapi.errors import JSON
from sandbox.zaloapi.messages import MessagesMixin
from sandbox.zaloapi.records import (
    EVENT_IMAGE,
    EVENT_STICKER,
    EVENT_TEXT,
    EVENT_UNSUPPORTED,
    ZaloUser,
)
from sandbox.zaloapi.webhook import WebhookMixin

DEFAULT_STICKER = "bfe5c9d0a09b49c510aa"
DEFAULT_STICKER_URL = "https://zalo-api.zadn.vn/api/emoticon/sticker/webpc?eid=46991"


class PlayersMixin(WebhookMixin, MessagesMixin):
    """The users' side of the chats (tests and the sandbox play them)."""

    def user_sends_text(self, user_id: str, text: str, *, display_name: str | None = None) -> JSON:
        """The user types ``text``; returns the update (``message.text.received``)."""
        if not text:
            raise ValueError("text must not be empty")
        return self._user_message(user_id, EVENT_TEXT, "text", {"text": text}, display_name)

    def user_sends_image(
        self,
        user_id: str,
        url: str,
        caption: str | None = None,
        *,
        display_name: str | None = None,
    ) -> JSON:
        """The user sends a photo; the update carries its URL as ``photo_url`` (the SDK's
        name) and ``photo`` (the docs' name), since the sources disagree."""
        content: JSON = {"photo_url": url, "photo": url}
        if caption:
            content["caption"] = caption
        return self._user_message(user_id, EVENT_IMAGE, "image", content, display_name)

    def user_sends_sticker(
        self,
        user_id: str,
        sticker: str = DEFAULT_STICKER,
        url: str = DEFAULT_STICKER_URL,
        *,
        display_name: str | None = None,
    ) -> JSON:
        content: JSON = {"sticker": sticker, "url": url}
        return self._user_message(user_id, EVENT_STICKER, "sticker", content, display_name)

    def user_sends_unsupported(
        self, user_id: str, *, bare: bool = False, display_name: str | None = None
    ) -> JSON:
        """Content Zalo withholds (files, contact cards, "special" senders).

        With ``bare`` the update has no ``message`` at all, as some do arrive.
        """
        if bare:
            user = self._user_acts(user_id, display_name)
            self._store(
                self.chats[user.id],
                from_bot=False,
                kind="unsupported",
                data={},
                event=EVENT_UNSUPPORTED,
            )
            return self._push_update({"event_name": EVENT_UNSUPPORTED})
        return self._user_message(user_id, EVENT_UNSUPPORTED, "unsupported", {}, display_name)

    def _user_message(
        self, user_id: str, event: str, kind: str, content: JSON, display_name: str | None
    ) -> JSON:
        user = self._user_acts(user_id, display_name)
        message: JSON = {
            "from": user.to_json(),
            "chat": user.chat_json(),
            "message_id": self._next_message_id(),
            "date": self.now_ms(),
        } | content
        self._store(
            self.chats[user.id], from_bot=False, kind=kind, data=copy.deepcopy(message), event=event
        )
        return self._push_update({"event_name": event, "message": message})

    def _user_acts(self, user_id: str, display_name: str | None) -> ZaloUser:
        user = self.add_user(user_id, display_name)
        user.blocked = False  # writing to the bot again means they unblocked it
        return user
