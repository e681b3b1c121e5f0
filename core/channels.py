"""The two channels a person can be reached on, and how their ids share one column.

Telegram's private chat and user ids are positive integers. Zalo's are opaque strings; each
gets a *local id*: a negative 64-bit integer derived from the string, in a range no Telegram
id uses (Telegram's negative ids are groups, about -10^13; Zalo's local ids are below
-2^61). So `member.chat_id`, the outbox and every query that takes a chat id work unchanged,
and the chat id alone says which channel a message goes to. The string is kept beside it
(the `zalo_chat` table) for sending.
"""

from __future__ import annotations

import hashlib
from typing import Literal

Channel = Literal["telegram", "zalo"]
TELEGRAM: Channel = "telegram"
ZALO: Channel = "zalo"
CHANNELS: tuple[Channel, ...] = (TELEGRAM, ZALO)

ZALO_LOW = -(2 ** 62)
ZALO_HIGH = ZALO_LOW + 2 ** 56  # exclusive


def _local(kind: str, value: str) -> int:
    digest = hashlib.sha256(f"{kind}:{value}".encode()).digest()
    return ZALO_LOW + int.from_bytes(digest[:7], "big")


def zalo_local_id(zalo_id: str) -> int:
    """The local id of a Zalo user or chat (in private chats they are the same)."""
    return _local("id", zalo_id)


def zalo_message_id(message_id: str) -> int:
    """A local id for a Zalo message id (a string): the update id it is deduplicated by."""
    return _local("message", message_id)


def channel_of(local_id: int) -> Channel:
    """Which channel a chat or user id belongs to."""
    return ZALO if ZALO_LOW <= local_id < ZALO_HIGH else TELEGRAM


def is_zalo(local_id: int) -> bool:
    return channel_of(local_id) == ZALO
