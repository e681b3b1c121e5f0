"""A Zalo message becomes the update the features already handle.

- Text is a text message; «/cmd …» a command; «menu» (or «0» when no typed answer is
  awaited) the main menu (/start); an invite code sent alone by a stranger is «/start CODE».
- A reply that names a choice of the chat's last list (a number, a letter, a label) is the
  press of that choice: a callback query with the choice's data for buttons, the label as
  text for the main menu. A number the list does not have is refused politely, as a stale
  button is; a label several choices share asks which number.
- A photo is a photo (its URL is its file id); a sticker or anything else is a sticker, which
  the fallback answers.
Ids: the chat's local id (core.channels) stands for user and chat; the update id is the
message id's, so a message Zalo delivers twice is handled once (processed_update).
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.zalo.client import ZaloUpdate
from core.channels import zalo_message_id
from core.choices import Ambiguous, Choice, OutOfRange, Picked, match_marked, reply_number
from core.fields.parsing import fold
from core.i18n import N_
from db.invites import CODE_RE
from db.models import Member
from db.zalo_chats import choices_of, remember_chat

log = logging.getLogger(__name__)

NOT_IN_LIST = N_("There is no choice {number} in the last list. Please answer with a number "
                 "from 1 to {count}, or send «menu».")
NO_LIST = N_("That list is no longer current. Send «menu» to see the choices again.")
WHICH_ONE = N_("Several choices have that name: please answer with its number ({numbers}).")
MENU_WORDS = frozenset({"menu", "/menu", "trang chu", "bat dau"})
MAX_TEXT = 4096  # longer texts are cut like Telegram's


def _fold(text: str) -> str:
    return fold(text).strip()


class Translated:
    """What an incoming message is: an update for the features, or the adapter's own reply
    (a msgid and its arguments) when it names no valid choice."""

    def __init__(self, update: dict[str, Any] | None = None, reply: str | None = None,
                 **args: Any) -> None:
        self.update, self.reply, self.args = update, reply, args


async def translate(sessions: async_sessionmaker[AsyncSession],
                    zu: ZaloUpdate) -> tuple[int, Translated]:
    """The chat's local id and what the message means."""
    async with sessions() as session, session.begin():
        local = await remember_chat(session, zu.chat_id)
        listed = await choices_of(session, local)
        stranger = await session.scalar(
            select(Member.id).where(Member.zalo_user_id == local)) is None
    return local, read(zu, local, listed, stranger)


def _base(zu: ZaloUpdate, local: int) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    user = {"id": local, "is_bot": False, "first_name": zu.display_name or "Zalo",
            "language_code": "vi"}
    chat = {"id": local, "type": "private", "first_name": zu.display_name or "Zalo"}
    message = {"message_id": zalo_message_id(zu.message_id),
               "date": int(zu.date.timestamp()), "chat": chat, "from": user}
    return user, chat, message


def _text_message(message: dict[str, Any], text: str) -> dict[str, Any]:
    message = {**message, "text": text[:MAX_TEXT]}
    if text.startswith("/"):
        command = text.split(maxsplit=1)[0]
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
    return message


def read(zu: ZaloUpdate, local: int, listed: dict[str, Any] | None,
         stranger: bool) -> Translated:
    user, chat, message = _base(zu, local)
    update_id = zalo_message_id(zu.message_id)
    if zu.photo_url:
        unique = hashlib.sha256(zu.photo_url.encode()).hexdigest()[:16]
        message["photo"] = [{"file_id": zu.photo_url, "file_unique_id": unique,
                             "width": 1280, "height": 1280}]
        if zu.caption:
            message["caption"] = zu.caption
        return Translated({"update_id": update_id, "message": message})
    text = (zu.text or "").strip()
    if zu.text is None or not text:
        message["sticker"] = {"file_id": f"zalo-{zu.event_name or 'other'}",
                              "file_unique_id": "zalo-other", "type": "regular",
                              "width": 1, "height": 1, "is_animated": False,
                              "is_video": False}
        return Translated({"update_id": update_id, "message": message})
    typed = bool(listed and listed.get("typed"))
    folded = _fold(text)
    if folded in MENU_WORDS or (folded == "0" and not typed):
        return Translated({"update_id": update_id, "message": _text_message(message,
                                                                             "/start")})
    if text.startswith("/"):
        return Translated({"update_id": update_id, "message": _text_message(message, text)})
    if stranger and CODE_RE.fullmatch(text):
        return Translated({"update_id": update_id,
                           "message": _text_message(message, f"/start {text}")})
    items = [Choice(str(label), str(data)) for label, data in (listed or {}).get("items", [])]
    if not items:
        if reply_number(text) is not None and not stranger and listed is None and len(text) < 4:
            return Translated(reply=NO_LIST)
        return Translated({"update_id": update_id, "message": _text_message(message, text)})
    found = match_marked(text, items, lettered=typed)
    if isinstance(found, Picked):
        assert listed is not None
        if listed.get("kind") == "menu":
            return Translated({"update_id": update_id,
                               "message": _text_message(message, found.choice.label)})
        query = {"id": f"{local}:{zu.message_id}", "from": user, "chat_instance": str(local),
                 "data": found.choice.data,
                 "message": {"message_id": listed.get("message_id") or 0,
                             "date": int(zu.date.timestamp()), "chat": chat,
                             "text": listed.get("text") or "…"}}
        return Translated({"update_id": update_id, "callback_query": query})
    if isinstance(found, OutOfRange):
        return Translated(reply=NOT_IN_LIST, number=found.number, count=found.count)
    if isinstance(found, Ambiguous):
        return Translated(reply=WHICH_ONE, numbers=", ".join(map(str, found.numbers)))
    return Translated({"update_id": update_id, "message": _text_message(message, text)})
