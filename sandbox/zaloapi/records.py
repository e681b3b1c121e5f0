"""The records the stand-in keeps (users, chats, messages, faults) and Zalo's limits."""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass, field

from sandbox.zaloapi.errors import JSON, ZaloApiError

# Documented limits (docs/zalo-bot-api.md §2, §5).
MAX_TEXT_LENGTH = 2000  # text and caption; counted in UTF-16 units (the stricter reading)
MIN_SECRET_LENGTH = 8
MAX_SECRET_LENGTH = 256
DEFAULT_POLL_TIMEOUT = 30.0

EVENT_TEXT = "message.text.received"
EVENT_IMAGE = "message.image.received"
EVENT_STICKER = "message.sticker.received"
EVENT_UNSUPPORTED = "message.unsupported.received"

CHAT_ACTIONS = frozenset({"typing", "upload_photo"})
PARSE_MODES = frozenset({"markdown", "html"})


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def opaque_id(kind: str, n: int) -> str:
    """A 20-hex id like Zalo's, deterministic (reproducible runs) but not ordered."""
    return hashlib.sha1(f"{kind}:{n}".encode()).hexdigest()[:20]


@dataclass
class ZaloUser:
    id: str
    display_name: str
    blocked: bool = False

    def to_json(self) -> JSON:
        return {"id": self.id, "display_name": self.display_name, "is_bot": False}

    def chat_json(self) -> JSON:
        # Private chats only: groups are beta / internal testing (docs §5).
        return {"id": self.id, "chat_type": "PRIVATE"}


@dataclass
class StoredMessage:
    """One message of a chat: what the user sent (as in the update) or what the bot sent."""

    message_id: str
    from_bot: bool
    kind: str  # "text" | "image" | "sticker" | "unsupported" | "photo"
    data: JSON
    event_name: str | None = None

    def transcript(self) -> JSON:
        out = copy.deepcopy(self.data)
        out.setdefault("message_id", self.message_id)
        out["from_bot"] = self.from_bot
        out["kind"] = self.kind
        if self.event_name is not None:
            out["event_name"] = self.event_name
        return out


@dataclass
class ZaloChat:
    id: str
    messages: list[StoredMessage] = field(default_factory=list)
    last_action: str | None = None


@dataclass
class Injection:
    """A queued fault: the next ``times`` matching calls fail with ``error``.

    ``times=None`` fails forever; ``method="*"`` matches any method; ``chat_id`` narrows it
    to calls for that chat.
    """

    method: str
    error: ZaloApiError
    chat_id: str | None = None
    times: int | None = 1
    hits: int = 0

    def matches(self, method: str, params: JSON) -> bool:
        if self.times is not None and self.times <= 0:
            return False
        if self.method != "*" and self.method != method:
            return False
        return self.chat_id is None or str(params.get("chat_id")) == self.chat_id
