"""The records the stand-in keeps: users, chats, messages, files, callback queries, faults,
and the limits Telegram puts on them."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from sandbox.botapi.errors import JSON, BotApiError

# Telegram's own limits; enforcing them catches bugs that would only show in production.
MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA_BYTES = 64
MAX_UPLOAD_BYTES = 50 * 1024 * 1024
MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024

USER_FIELDS = ("first_name", "last_name", "username", "language_code")


@dataclass
class InputUpload:
    """A file uploaded with a request (multipart part or PTB ``InputFile``)."""

    filename: str
    content: bytes
    mime_type: str | None = None

    def describe(self) -> JSON:
        return {"upload": self.filename, "size": len(self.content), "mime_type": self.mime_type}


@dataclass
class Injection:
    """A queued fault: the next ``times`` matching calls fail with ``error``.

    ``times=None`` fails forever. ``delay`` sleeps before answering (to provoke client
    timeouts). ``apply=True`` performs the call before failing, i.e. the message *was*
    sent but the bot sees an error - the case that tests outbox idempotency.
    """

    method: str
    error: BotApiError | None
    chat_id: int | str | None = None
    times: int | None = 1
    delay: float = 0.0
    apply: bool = False
    hits: int = 0

    def matches(self, method: str, params: JSON) -> bool:
        if self.times is not None and self.times <= 0:
            return False
        if self.method.lower() != method.lower() and self.method != "*":
            return False
        return self.chat_id is None or str(params.get("chat_id")) == str(self.chat_id)


@dataclass
class UserRecord:
    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None
    blocked: bool = False

    def to_json(self) -> JSON:
        data: JSON = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        for key in ("last_name", "username", "language_code"):
            value = getattr(self, key)
            if value:
                data[key] = value
        return data

    def chat_json(self) -> JSON:
        data: JSON = {"id": self.id, "type": "private", "first_name": self.first_name}
        if self.last_name:
            data["last_name"] = self.last_name
        if self.username:
            data["username"] = self.username
        return data


@dataclass
class StoredMessage:
    """One message of a chat. ``data`` is exactly what the Bot API returns for it."""

    chat_id: int
    message_id: int
    from_bot: bool
    data: JSON
    # Full markup as sent (reply keyboards too; Bot API messages only carry inline ones).
    reply_markup: JSON | None = None
    parse_mode: str | None = None
    source_text: str | None = None
    edited: bool = False
    history: list[JSON] = field(default_factory=list)

    def transcript(self) -> JSON:
        """The message as the sandbox shows it: API JSON plus stand-in bookkeeping."""
        out = copy.deepcopy(self.data)
        out["from_bot"] = self.from_bot
        out["edited"] = self.edited
        out["edit_history"] = copy.deepcopy(self.history)
        out["parse_mode"] = self.parse_mode
        out["source_text"] = self.source_text
        if self.reply_markup is not None:
            out["reply_markup"] = copy.deepcopy(self.reply_markup)
        return out


@dataclass
class ChatState:
    id: int
    messages: dict[int, StoredMessage] = field(default_factory=dict)
    next_message_id: int = 1
    reply_keyboard: JSON | None = None
    menu_button: JSON | None = None
    last_action: str | None = None


@dataclass
class StoredFile:
    file_id: str
    file_unique_id: str
    content: bytes
    file_name: str | None
    mime_type: str | None
    file_path: str
    kind: str  # "document" | "photo" | "sticker"


@dataclass
class CallbackQueryRecord:
    id: str
    user_id: int
    chat_id: int
    message_id: int
    data: str
    created: float
    answered: bool = False
    answer: JSON | None = None
