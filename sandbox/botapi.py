"""A local stand-in for the Telegram Bot API.

The stand-in lets the bot run end to end without Telegram: PTB talks HTTP to it exactly
as it would to api.telegram.org, while tests (and later the browser sandbox) play the
users through "player actions" and inspect what the bot did.

Layers:

* :class:`BotApiState` - the pure in-memory core (users, private chats, messages, the
  update queue, commands, files, fault injection). No HTTP; :meth:`BotApiState.call`
  implements the Bot API methods and returns the ``result`` or raises :class:`BotApiError`.
* :func:`create_app` - an aiohttp app serving ``/bot{token}/{method}``,
  ``/file/bot{token}/{path}`` and a JSON control API under ``/_control/``.
* :class:`StandInServer` - starts/stops that app on a local port.

A PTB bot connects with::

    Bot(token, base_url=f"{url}/bot", base_file_url=f"{url}/file/bot")

Run standalone with ``python -m sandbox.botapi --host 127.0.0.1 --port 8081``.

Behaviour follows Telegram where a bot could notice the difference (error texts and HTTP
codes, HTML parse_mode turned into plain text + entities, the 4096-character limit on
what the user sees (after parsing, in UTF-16 code units), editMessageText dropping an
inline keyboard that is not re-sent, 64-byte callback_data limit, update ids that keep
increasing, a newer getUpdates terminating an older one with 409, ...). It is stricter in
one respect: a bare ``&`` in HTML is refused (see :func:`parse_html`).

An optional rate limiter (``BotApiState(rate_limit=30, per_chat_interval=1)``, or
``--rate-limit 30 --per-chat-interval 1``) answers sends over Telegram's limits with 429 and
``retry_after``, as Telegram does; it is off by default.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import copy
import inspect
import itertools
import json
import logging
import math
import mimetypes
import re
import struct
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from aiohttp import web

__all__ = [
    "BotApiError",
    "BotApiState",
    "Injection",
    "InputUpload",
    "StandInServer",
    "attach_uploads",
    "create_app",
    "parse_html",
]

_LOG = logging.getLogger(__name__)

JSON = dict[str, Any]

# Telegram's own limits; enforcing them catches bugs that would only show in production.
MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA_BYTES = 64
MAX_UPLOAD_BYTES = 50 * 1024 * 1024
MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024

# Update types Telegram delivers when allowed_updates is empty/unset.
_DEFAULT_EXCLUDED_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})

_TOKEN_RE = re.compile(r"^(\d+):[A-Za-z0-9_-]+$")
_COMMAND_RE = re.compile(r"^/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]+)?")
_BOT_COMMAND_NAME_RE = re.compile(r"^[a-z0-9_]{1,32}$")

# Form-encoded fields that are free text: never JSON-decode them even if they look like JSON.
_FREE_TEXT_FIELDS = frozenset(
    {
        "text",
        "caption",
        "data",
        "description",
        "short_description",
        "name",
        "title",
        "url",
        "secret_token",
        "parse_mode",
        "callback_query_id",
        "file_id",
        "action",
        "language_code",
        "query",
        "emoji",
    }
)


# --------------------------------------------------------------------------------------
# Errors, uploads, small records
# --------------------------------------------------------------------------------------


class BotApiError(Exception):
    """An error response of the Bot API (``ok: false``)."""

    def __init__(
        self,
        code: int,
        description: str,
        retry_after: int | None = None,
        migrate_to_chat_id: int | None = None,
    ) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.retry_after = retry_after
        self.migrate_to_chat_id = migrate_to_chat_id

    @property
    def parameters(self) -> JSON | None:
        params: JSON = {}
        if self.retry_after is not None:
            params["retry_after"] = self.retry_after
        if self.migrate_to_chat_id is not None:
            params["migrate_to_chat_id"] = self.migrate_to_chat_id
        return params or None

    def to_response(self) -> JSON:
        body: JSON = {"ok": False, "error_code": self.code, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body

    def __repr__(self) -> str:
        return f"BotApiError({self.code}, {self.description!r}, retry_after={self.retry_after})"

    # Factories for the faults an outbox sender has to survive.
    @classmethod
    def too_many_requests(cls, retry_after: int = 5) -> BotApiError:
        return cls(429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after)

    @classmethod
    def server_error(cls, code: int = 500) -> BotApiError:
        return cls(code, "Internal Server Error" if code == 500 else "Bad Gateway")

    @classmethod
    def blocked(cls) -> BotApiError:
        return cls(403, "Forbidden: bot was blocked by the user")

    @classmethod
    def chat_not_found(cls) -> BotApiError:
        return cls(400, "Bad Request: chat not found")

    @classmethod
    def bad_request(cls, what: str) -> BotApiError:
        return cls(400, f"Bad Request: {what}")


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


# --------------------------------------------------------------------------------------
# Parameter coercion (HTTP form posts give strings for everything)
# --------------------------------------------------------------------------------------


def _int(value: Any, default: int | None = None) -> int | None:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return int(value)
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _float(value: Any, default: float = 0.0) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def _bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"true", "1", "yes"}
    return bool(value)


def _obj(value: Any) -> Any:
    """Decode a JSON-encoded structured parameter (PTB JSON-encodes them in form posts)."""
    if isinstance(value, str):
        stripped = value.strip()
        if stripped[:1] in "{[" or stripped in {"null", "true", "false"}:
            try:
                return json.loads(stripped)
            except ValueError as exc:
                raise BotApiError.bad_request("can't parse JSON object") from exc
    return value


def decode_form_value(key: str, value: str) -> Any:
    """Decode one form field: JSON objects/arrays become Python, free text stays text."""
    if key in _FREE_TEXT_FIELDS or not isinstance(value, str):
        return value
    stripped = value.strip()
    if stripped[:1] in "{[":
        try:
            return json.loads(stripped)
        except ValueError:
            return value
    return value


def attach_uploads(params: JSON, uploads: dict[str, InputUpload]) -> JSON:
    """Put uploaded parts where the Bot API expects them.

    A part is referenced either by ``attach://<part>`` in a parameter or, as PTB does for a
    single file, by a part named like the parameter itself (``document``, ``photo``).
    """
    remaining = dict(uploads)
    for key, value in list(params.items()):
        if isinstance(value, str) and value.startswith("attach://"):
            part = value[len("attach://") :]
            if part in remaining:
                params[key] = remaining.pop(part)
    for name, upload in remaining.items():
        if name not in params:
            params[name] = upload
    return params


def _json_safe(value: Any) -> Any:
    """A JSON-serialisable copy for the call log (uploads become descriptions)."""
    if isinstance(value, InputUpload):
        return value.describe()
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, bytes):
        return {"bytes": len(value)}
    return value


def _utf16_len(text: str) -> int:
    # Entity offsets are in UTF-16 code units (emoji count twice).
    return len(text.encode("utf-16-le")) // 2


# --------------------------------------------------------------------------------------
# HTML parse_mode
# --------------------------------------------------------------------------------------

_TAG_RE = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[^<>]*?)?)\s*>")
_ATTR_RE = re.compile(r"""([a-zA-Z_-]+)\s*(?:=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?""")
_CHAR_REF_RE = re.compile(r"&(lt|gt|amp|quot|#[0-9]+|#[xX][0-9a-fA-F]+);")
_BARE_REF_RE = re.compile(r"&#?[0-9a-zA-Z]{0,8}")
_SIMPLE_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "code": "code",
    "pre": "pre",
}


def _html_error(source: str, index: int, what: str) -> BotApiError:
    offset = len(source[:index].encode("utf-8"))
    return BotApiError.bad_request(f"can't parse entities: {what} at byte offset {offset}")


def _decode_char_ref(ref: str) -> str | None:
    """The character of a reference; None for a number that is no character."""
    named = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
    if ref in named:
        return named[ref]
    code = int(ref[2:], 16) if ref[1:2] in {"x", "X"} else int(ref[1:])
    if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return None
    return chr(code)


def parse_html(source: str) -> tuple[str, list[JSON]]:
    """Turn Telegram-HTML into ``(plain_text, entities)`` or raise 400 like Telegram.

    Only the tags Telegram supports are accepted; a stray ``<`` or an unbalanced tag is a
    "can't parse entities" error, which is the classic production bug with user data
    (plan names containing ``<`` or ``&``) that a lenient stand-in would hide.

    One deliberate difference: Telegram shows an ``&`` that does not start ``&lt;``,
    ``&gt;``, ``&amp;``, ``&quot;`` or a numeric reference (``&am``, ``a & b``) as typed, and
    decodes ``&amp`` without its ``;``; the stand-in refuses both, because from this bot they
    only come from a message cut inside an escape or from text that was not escaped.
    """
    out: list[str] = []
    pos = 0  # UTF-16 offset in the output
    stack: list[tuple[str, JSON | None, int]] = []
    entities: list[JSON] = []
    i = 0
    while i < len(source):
        ch = source[i]
        if ch == "<":
            match = _TAG_RE.match(source, i)
            if not match:
                raise _html_error(source, i, "Unsupported start tag")
            closing = match.group(1) == "/"
            name = match.group(2).lower()
            attrs = {
                m.group(1).lower(): next((g for g in m.group(2, 3, 4) if g is not None), "")
                for m in _ATTR_RE.finditer(match.group(3) or "")
            }
            if closing:
                if not stack or stack[-1][0] != name:
                    expected = f'"</{stack[-1][0]}>"' if stack else "nothing"
                    raise _html_error(
                        source, i, f'Unmatched end tag, expected {expected}, found "</{name}>"'
                    )
                _, entity, start = stack.pop()
                if entity is not None and pos > start:
                    entity["offset"] = start
                    entity["length"] = pos - start
                    entities.append(entity)
            else:
                stack.append((name, _entity_for_tag(source, i, name, attrs, stack), pos))
            i = match.end()
            continue
        if ch == "&":
            ref = _CHAR_REF_RE.match(source, i)
            decoded = _decode_char_ref(ref.group(1)) if ref else None
            if ref is None or decoded is None:
                # Stricter than Telegram, which shows an unknown or unterminated reference
                # as typed: the bot escapes every «&», so a bare one is a message cut inside
                # an escape («&am») or text that was never escaped.
                bare = _BARE_REF_RE.match(source, i)
                raise _html_error(
                    source, i, f'Character reference "{bare.group(0) if bare else "&"}" is '
                    'not terminated or not supported; "&" must be escaped as "&amp;"'
                )
            out.append(decoded)
            pos += _utf16_len(decoded)
            i = ref.end()
            continue
        out.append(ch)
        pos += _utf16_len(ch)
        i += 1
    if stack:
        tag = stack[-1][0]
        what = "can't parse entities: Can't find end tag corresponding to start tag"
        raise BotApiError.bad_request(f'{what} "{tag}"')
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def _entity_for_tag(
    source: str,
    index: int,
    name: str,
    attrs: dict[str, str],
    stack: list[tuple[str, JSON | None, int]],
) -> JSON | None:
    if name == "a":
        href = attrs.get("href", "")
        match = re.match(r"tg://user\?id=(\d+)$", href)
        if match:
            user = {"id": int(match.group(1)), "is_bot": False, "first_name": ""}
            return {"type": "text_mention", "user": user}
        return {"type": "text_link", "url": href}
    if name == "span":
        if attrs.get("class") != "tg-spoiler":
            raise _html_error(source, index, 'Unsupported start tag "span"')
        return {"type": "spoiler"}
    if name == "blockquote":
        return {"type": "expandable_blockquote" if "expandable" in attrs else "blockquote"}
    if name == "tg-emoji":
        return {"type": "custom_emoji", "custom_emoji_id": attrs.get("emoji-id", "")}
    if name == "code" and stack and stack[-1][0] == "pre":
        # <pre><code class="language-x"> is one pre entity with a language.
        language = attrs.get("class", "")
        parent = stack[-1][1]
        if language.startswith("language-") and parent is not None:
            parent["language"] = language[len("language-") :]
        return None
    if name in _SIMPLE_TAGS:
        return {"type": _SIMPLE_TAGS[name]}
    raise _html_error(source, index, f'Unsupported start tag "{name}"')


# --------------------------------------------------------------------------------------
# Image sniffing (PhotoSize needs width/height; Telegram rejects non-images)
# --------------------------------------------------------------------------------------


def image_size(content: bytes) -> tuple[int, int] | None:
    """(width, height) of a PNG, GIF or JPEG, or None if it is not one of those."""
    if content.startswith(b"\x89PNG\r\n\x1a\n") and len(content) >= 24:
        width, height = struct.unpack(">II", content[16:24])
        return width, height
    if content[:6] in (b"GIF87a", b"GIF89a") and len(content) >= 10:
        width, height = struct.unpack("<HH", content[6:10])
        return width, height
    if content.startswith(b"\xff\xd8"):
        i = 2
        while i + 9 < len(content):
            if content[i] != 0xFF:
                i += 1
                continue
            marker = content[i + 1]
            if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
                i += 2
                continue
            (seg_len,) = struct.unpack(">H", content[i + 2 : i + 4])
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                height, width = struct.unpack(">HH", content[i + 5 : i + 9])
                return width, height
            i += 2 + seg_len
    return None


# --------------------------------------------------------------------------------------
# The core
# --------------------------------------------------------------------------------------


class BotApiState:
    """In-memory Telegram: users, private chats, updates, and the Bot API methods."""

    def __init__(
        self,
        *,
        bot_username: str = "plan_report_bot",
        bot_first_name: str = "Plan Report Bot",
        token: str | None = None,
        clock: Callable[[], float] = time.time,
        callback_query_ttl: float | None = None,
        call_log_size: int = 10_000,
        rate_limit: float | None = None,
        per_chat_interval: float | None = None,
        rate_window: float = 1.0,
        rate_burst: int | None = None,
        rate_clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """
        Args:
            bot_username / bot_first_name: identity returned by getMe.
            token: if set, only this token is accepted (others get 401 like Telegram);
                if None any well-formed token works and the bot id is its prefix.
            clock: source of "now" for message dates; the sandbox swaps in a simulated one.
            callback_query_ttl: seconds after which answerCallbackQuery fails as "too old"
                (Telegram: ~15 s); None disables the check so slow tests don't flake.
            rate_limit: messages per second overall, like Telegram's broadcast limit (30);
                None (the default) sets no limit. At most ``rate_limit * rate_window`` sends
                are accepted in any ``rate_window`` seconds (a sliding window).
            rate_burst: instead of the sliding window, a token bucket of this many messages
                refilled at ``rate_limit`` per second (GCRA): bursts up to ``rate_burst`` are
                let through while the long-run rate stays at ``rate_limit``. Telegram says it
                "may allow short bursts"; the window (the default) is the strict reading.
            per_chat_interval: seconds that must pass between two sends to one chat
                (Telegram: 1); None sets no limit.
            rate_clock: monotonic time source of the rate limiter.

        Sends over a limit fail with 429 and ``parameters.retry_after`` (whole seconds, at
        least 1, as Telegram does) and are counted in :attr:`rate_limited`; they are not
        performed and do not use up the window. Only the ``send*`` methods are limited
        (not ``sendChatAction``).
        """
        self.bot_username = bot_username
        self.bot_first_name = bot_first_name
        self.token = token
        self.clock = clock
        self.callback_query_ttl = callback_query_ttl
        self._call_log_size = call_log_size
        if rate_limit is not None and rate_limit <= 0:
            raise ValueError("rate_limit must be positive (or None for no limit)")
        if per_chat_interval is not None and per_chat_interval < 0:
            raise ValueError("per_chat_interval must not be negative")
        self.rate_limit = rate_limit
        self.per_chat_interval = per_chat_interval
        self.rate_window = rate_window
        if rate_burst is not None and rate_burst < 1:
            raise ValueError("rate_burst must be at least 1")
        self.rate_burst = rate_burst
        self.rate_clock = rate_clock
        # Monotonic across reset(): a running poller's offset must keep matching new updates.
        self._update_ids = itertools.count(100_000)
        self._call_seq = itertools.count(1)
        self._file_seq = itertools.count(1)
        self._waiters: set[asyncio.Future[None]] = set()
        self._poll_generation = 0
        self._closing = False
        self._last_token = "0:unknown"  # for updates created before/outside any call
        self._methods: dict[str, tuple[str, Callable[[JSON, JSON], Any]]] = {}
        for attr in dir(self):
            if attr.startswith("_m_"):
                name = attr[3:]
                # Telegram method names are case-insensitive.
                self._methods[name.lower()] = (name, getattr(self, attr))
        self.reset()

    # ----- bookkeeping -------------------------------------------------------------------

    def reset(self) -> None:
        """Forget all users, chats, updates, files, calls and settings (keeps identity)."""
        self.users: dict[int, UserRecord] = {}
        self.chats: dict[int, ChatState] = {}
        self.files: dict[str, StoredFile] = {}
        self.updates: list[JSON] = []
        self.callback_queries: dict[str, CallbackQueryRecord] = {}
        self.commands: dict[tuple[str, str], list[JSON]] = {}
        self.bot_settings: dict[tuple[str, str], Any] = {}
        self.default_menu_button: JSON = {"type": "commands"}
        self.webhook: JSON = {"url": ""}
        self.allowed_updates: list[str] | None = None
        self.injections: list[Injection] = []
        self.disabled_methods: set[str] = set()
        self.call_log: deque[JSON] = deque(maxlen=self._call_log_size)
        # Rate limiter: times of the accepted sends in the window, last send per chat.
        self._recent_sends: deque[float] = deque()
        self._chat_last_send: dict[int, float] = {}
        self._bucket_tat = float("-inf")  # token bucket: theoretical arrival time (GCRA)
        self.rate_limited = 0  # sends refused with 429 by the rate limiter
        self._notify()

    def now(self) -> int:
        return int(self.clock())

    def bot_user(self, token: str) -> JSON:
        """The bot's User object; its id is the token prefix, as with real tokens."""
        match = _TOKEN_RE.match(token)
        bot_id = int(match.group(1)) if match else 0
        return {
            "id": bot_id,
            "is_bot": True,
            "first_name": self.bot_first_name,
            "username": self.bot_username,
        }

    # ----- fault injection -----------------------------------------------------------------

    def inject(
        self,
        method: str,
        chat_id: int | str | None = None,
        error: BotApiError | None = None,
        times: int | None = 1,
        *,
        delay: float = 0.0,
        apply: bool = False,
    ) -> Injection:
        """Make the next ``times`` calls of ``method`` (``"*"`` = any) fail with ``error``.

        Default error is a 500. Use ``BotApiError.too_many_requests(n)`` for 429s.
        """
        injection = Injection(
            method=method,
            error=error if error is not None else BotApiError.server_error(),
            chat_id=chat_id,
            times=times,
            delay=delay,
            apply=apply,
        )
        self.injections.append(injection)
        return injection

    def disable_method(self, method: str) -> None:
        """Answer ``method`` with 404 as if this Bot API version did not have it."""
        self.disabled_methods.add(method.lower())

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

    def _take_injection(self, method: str, params: JSON) -> Injection | None:
        for injection in self.injections:
            if injection.matches(method, params):
                injection.hits += 1
                if injection.times is not None:
                    injection.times -= 1
                return injection
        return None

    # ----- users, chats, updates -------------------------------------------------------------

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
        for key in ("first_name", "last_name", "username", "language_code"):
            if fields.get(key) is not None:
                setattr(user, key, fields[key])
        unknown = set(fields) - {"first_name", "last_name", "username", "language_code"}
        if unknown:
            raise ValueError(f"unknown user fields: {sorted(unknown)}")
        return user

    def _push_update(self, kind: str, payload: JSON) -> JSON:
        update = {"update_id": next(self._update_ids), kind: payload}
        self.updates.append(update)
        self._notify()
        return copy.deepcopy(update)

    def _push_my_chat_member(self, user: UserRecord, old: str, new: str) -> None:
        bot = self.bot_user(self.token or self._last_token)
        new_member: JSON = {"status": new, "user": bot}
        if new == "kicked":
            new_member["until_date"] = 0
        self._push_update(
            "my_chat_member",
            {
                "chat": user.chat_json(),
                "from": user.to_json(),
                "date": self.now(),
                "old_chat_member": {"status": old, "user": bot}
                | ({"until_date": 0} if old == "kicked" else {}),
                "new_chat_member": new_member,
            },
        )

    def _notify(self) -> None:
        """Wake long-polling getUpdates calls (safe from another thread's loop too)."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        for fut in list(self._waiters):
            if fut.done():
                continue
            loop = fut.get_loop()
            if loop is running:
                fut.set_result(None)
            elif not loop.is_closed():
                loop.call_soon_threadsafe(_resolve, fut)

    async def _wait_for_change(self, seconds: float) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.add(fut)
        try:
            await asyncio.wait({fut}, timeout=seconds)
        finally:
            self._waiters.discard(fut)

    def shutdown(self) -> None:
        """Make pending long polls return now (server stop)."""
        self._closing = True
        self._notify()

    def pending_updates(self) -> list[JSON]:
        return copy.deepcopy(self.updates)

    def _chat(self, chat_id: Any) -> ChatState:
        cid = _int(chat_id)
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
        mid = _int(message_id)
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

    def chat_info(self, chat_id: int) -> JSON:
        chat = self._chat(chat_id)
        user = self.users[chat.id]
        return {
            "id": chat.id,
            "user": user.to_json(),
            "blocked": user.blocked,
            "reply_keyboard": chat.reply_keyboard,
            "menu_button": chat.menu_button or self.default_menu_button,
            "last_action": chat.last_action,
            "commands": self.effective_commands(chat.id),
            "message_count": len(chat.messages),
        }

    def calls(self, method: str | None = None) -> list[JSON]:
        """The call log, oldest first; each entry has seq, method, params, ok, error."""
        entries = list(self.call_log)
        if method:
            entries = [e for e in entries if e["method"].lower() == method.lower()]
        return copy.deepcopy(entries)

    def callback_answer(self, callback_query_id: str) -> JSON | None:
        record = self.callback_queries.get(callback_query_id)
        return copy.deepcopy(record.answer) if record else None

    def file_content(self, file_id: str) -> bytes:
        return self.files[file_id].content

    def get_commands(
        self, scope: JSON | None = None, language_code: str | None = None
    ) -> list[JSON]:
        return copy.deepcopy(self.commands.get((_scope_key(scope), language_code or ""), []))

    def effective_commands(self, user_id: int) -> list[JSON]:
        """The command menu a private-chat user would see (Telegram's scope fallback)."""
        user = self.users.get(int(user_id))
        lang = (user.language_code if user else None) or ""
        scopes = [
            {"type": "chat", "chat_id": int(user_id)},
            {"type": "all_private_chats"},
            {"type": "default"},
        ]
        for scope in scopes:
            for code in dict.fromkeys([lang, ""]):
                found = self.commands.get((_scope_key(scope), code))
                if found:
                    return copy.deepcopy(found)
        return []

    def all_commands(self) -> list[JSON]:
        return [
            {"scope": json.loads(scope), "language_code": lang or None, "commands": cmds}
            for (scope, lang), cmds in self.commands.items()
        ]

    # ----- player actions ----------------------------------------------------------------------

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
                {"type": "bot_command", "offset": 0, "length": _utf16_len(match.group(0))}
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

    def _reply_copy(self, chat: ChatState, message_id: Any) -> JSON:
        msg = self._message(chat, message_id, "message to be replied not found")
        data = copy.deepcopy(msg.data)
        data.pop("reply_to_message", None)
        return data

    # ----- files -----------------------------------------------------------------------------

    def _store_file(self, upload: InputUpload, kind: str) -> StoredFile:
        if len(upload.content) > MAX_UPLOAD_BYTES:
            raise BotApiError(413, "Request Entity Too Large")
        n = next(self._file_seq)
        ext = mimetypes.guess_extension(upload.mime_type or "") or ""
        if upload.filename and "." in upload.filename:
            ext = "." + upload.filename.rsplit(".", 1)[1]
        folder = {"document": "documents", "photo": "photos", "sticker": "stickers"}[kind]
        prefix = {"document": "BQAC", "photo": "AgAC", "sticker": "CAAC"}[kind]
        stored = StoredFile(
            file_id=f"{prefix}{n:06d}{uuid.uuid4().hex[:20]}",
            file_unique_id=f"AQAD{n:06d}",
            content=upload.content,
            file_name=upload.filename,
            mime_type=upload.mime_type,
            file_path=f"{folder}/file_{n}{ext}",
            kind=kind,
        )
        self.files[stored.file_id] = stored
        return stored

    def _resolve_file(self, value: Any, kind: str, what: str) -> StoredFile:
        if isinstance(value, InputUpload):
            if kind == "photo" and image_size(value.content) is None:
                raise BotApiError.bad_request("IMAGE_PROCESS_FAILED")
            return self._store_file(value, kind)
        if isinstance(value, str) and value in self.files:
            return self.files[value]
        if isinstance(value, str) and value.startswith(("http://", "https://")):
            # The stand-in does not fetch URLs; Telegram's wording for a failed fetch.
            raise BotApiError.bad_request(f"failed to get HTTP URL content ({what})")
        if not value:
            raise BotApiError.bad_request(f"there is no {what} in the request")
        raise BotApiError.bad_request("wrong file identifier/HTTP URL specified")

    @staticmethod
    def _document_json(stored: StoredFile) -> JSON:
        data: JSON = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.content),
        }
        if stored.file_name:
            data["file_name"] = stored.file_name
        if stored.mime_type:
            data["mime_type"] = stored.mime_type
        return data

    @staticmethod
    def _photo_json(stored: StoredFile) -> list[JSON]:
        width, height = image_size(stored.content) or (0, 0)
        return [
            {
                "file_id": stored.file_id,
                "file_unique_id": stored.file_unique_id,
                "file_size": len(stored.content),
                "width": width,
                "height": height,
            }
        ]

    # ----- the Bot API ------------------------------------------------------------------------

    async def call(self, token: str, method: str, params: JSON) -> JSON | list[Any] | bool:
        """Run one Bot API method; returns its ``result`` or raises :class:`BotApiError`."""
        bot = self._check_token(token)
        entry = self._method_entry(method)
        name = entry[0] if entry else method
        params = dict(params)
        log: JSON = {
            "seq": next(self._call_seq),
            "method": name,
            "params": _json_safe(params),
            "time": self.clock(),
            "ok": None,
            "error": None,
        }
        self.call_log.append(log)
        try:
            if entry is None or name.lower() in self.disabled_methods:
                raise BotApiError(404, "Not Found: method not found")
            self._admit(name, params)
            injection = self._take_injection(name, params)
            if injection is not None:
                if injection.delay:
                    await asyncio.sleep(injection.delay)
                if not injection.apply and injection.error is not None:
                    raise injection.error
            result = entry[1](bot, params)
            if inspect.isawaitable(result):
                result = await result
            if injection is not None and injection.error is not None:
                raise injection.error
        except BotApiError as exc:
            log["ok"] = False
            log["error"] = exc.to_response()
            raise
        except asyncio.CancelledError:
            # e.g. a long poll whose client went away; don't leave it looking pending.
            log["ok"] = False
            log["error"] = {"description": "cancelled (client disconnected)"}
            raise
        log["ok"] = True
        return copy.deepcopy(result)

    # ----- rate limit -------------------------------------------------------------------------

    @staticmethod
    def is_rate_limited_method(method: str) -> bool:
        name = method.lower()
        return name.startswith("send") and name != "sendchataction"

    def _admit(self, method: str, params: JSON) -> None:
        """Let a send through the rate limiter or raise 429 (nothing is recorded then)."""
        if self.rate_limit is None and self.per_chat_interval is None:
            return
        if not self.is_rate_limited_method(method):
            return
        now = self.rate_clock()
        wait = 0.0
        tat = 0.0
        if self.rate_limit is not None and self.rate_burst is not None:
            interval = 1.0 / self.rate_limit
            tat = max(self._bucket_tat, now)
            wait = max(wait, tat - (self.rate_burst - 1) * interval - now)
        elif self.rate_limit is not None:
            window = self._recent_sends
            while window and window[0] <= now - self.rate_window:
                window.popleft()
            capacity = max(1, int(self.rate_limit * self.rate_window))
            if len(window) >= capacity:
                # The oldest send of a full window leaves it after rate_window seconds.
                wait = max(wait, window[len(window) - capacity] + self.rate_window - now)
        chat = _int(params.get("chat_id"))
        if self.per_chat_interval and chat is not None:
            last = self._chat_last_send.get(chat)
            if last is not None and now - last < self.per_chat_interval:
                wait = max(wait, last + self.per_chat_interval - now)
        if wait > 0:
            self.rate_limited += 1
            raise BotApiError.too_many_requests(max(1, math.ceil(wait)))
        if self.rate_limit is not None and self.rate_burst is not None:
            self._bucket_tat = tat + 1.0 / self.rate_limit
        elif self.rate_limit is not None:
            self._recent_sends.append(now)
        if self.per_chat_interval and chat is not None:
            self._chat_last_send[chat] = now

    def _method_entry(self, method: str) -> tuple[str, Callable[[JSON, JSON], Any]] | None:
        return self._methods.get(method.lower())

    def _check_token(self, token: str) -> JSON:
        if not _TOKEN_RE.match(token or ""):
            raise BotApiError(404, "Not Found")
        if self.token is not None and token != self.token:
            raise BotApiError(401, "Unauthorized")
        self._last_token = token
        return self.bot_user(token)

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

    async def _m_getUpdates(self, bot: JSON, p: JSON) -> list[JSON]:
        if self.webhook.get("url"):
            raise BotApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = _int(p.get("offset"))
        limit = min(max(_int(p.get("limit"), 100) or 100, 1), 100)
        timeout = max(0.0, _float(p.get("timeout"), 0.0))
        if "allowed_updates" in p:
            allowed = _obj(p["allowed_updates"])
            self.allowed_updates = list(allowed) if allowed else None
        if offset is not None:
            # Telegram forgets everything before the offset ("confirmed").
            if offset < 0:
                self.updates = self.updates[offset:]
            else:
                self.updates = [u for u in self.updates if u["update_id"] >= offset]
        # A newer getUpdates terminates an older pending one, as Telegram does.
        self._poll_generation += 1
        generation = self._poll_generation
        self._notify()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if generation != self._poll_generation:
                raise BotApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; "
                    "make sure that only one bot instance is running",
                )
            ready = self._deliverable(limit)
            remaining = deadline - loop.time()
            if ready or remaining <= 0 or self._closing:
                return ready
            await self._wait_for_change(remaining)

    def _deliverable(self, limit: int) -> list[JSON]:
        def allowed(update: JSON) -> bool:
            kind = next(k for k in update if k != "update_id")
            if self.allowed_updates:
                return kind in self.allowed_updates
            return kind not in _DEFAULT_EXCLUDED_UPDATES

        # Loosely honour allowed_updates: updates of other types are dropped.
        self.updates = [u for u in self.updates if allowed(u)]
        return self.updates[:limit]

    def _m_setWebhook(self, bot: JSON, p: JSON) -> bool:
        url = p.get("url") or ""
        if url and not str(url).startswith("https://"):
            raise BotApiError.bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        self.webhook = {
            "url": url,
            "max_connections": _int(p.get("max_connections"), 40),
            "allowed_updates": _obj(p.get("allowed_updates")),
            "secret_token": p.get("secret_token"),
        }
        if _bool(p.get("drop_pending_updates")):
            self.updates = []
        self._notify()
        return True

    def _m_deleteWebhook(self, bot: JSON, p: JSON) -> bool:
        self.webhook = {"url": ""}
        if _bool(p.get("drop_pending_updates")):
            self.updates = []
        return True

    def _m_getWebhookInfo(self, bot: JSON, p: JSON) -> JSON:
        info: JSON = {
            "url": self.webhook.get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": len(self.updates),
        }
        if info["url"]:
            info["max_connections"] = self.webhook.get("max_connections") or 40
            if self.webhook.get("allowed_updates"):
                info["allowed_updates"] = self.webhook["allowed_updates"]
        return info

    def _m_setMyCommands(self, bot: JSON, p: JSON) -> bool:
        commands = _obj(p.get("commands"))
        if not isinstance(commands, list):
            raise BotApiError.bad_request("commands must be an array")
        if len(commands) > 100:
            raise BotApiError.bad_request("too many commands")
        clean = []
        for cmd in commands:
            name = str(cmd.get("command", "")).lstrip("/")
            if not _BOT_COMMAND_NAME_RE.match(name):
                raise BotApiError.bad_request("BOT_COMMAND_INVALID")
            description = str(cmd.get("description", ""))
            if not 1 <= len(description) <= 256:
                raise BotApiError.bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
            clean.append({"command": name, "description": description})
        key = (_scope_key(_obj(p.get("scope"))), p.get("language_code") or "")
        if clean:
            self.commands[key] = clean
        else:
            self.commands.pop(key, None)
        return True

    def _m_getMyCommands(self, bot: JSON, p: JSON) -> list[JSON]:
        return self.get_commands(_obj(p.get("scope")), p.get("language_code"))

    def _m_deleteMyCommands(self, bot: JSON, p: JSON) -> bool:
        self.commands.pop((_scope_key(_obj(p.get("scope"))), p.get("language_code") or ""), None)
        return True

    def _m_setChatMenuButton(self, bot: JSON, p: JSON) -> bool:
        button = _obj(p.get("menu_button")) or {"type": "default"}
        if p.get("chat_id") is not None:
            self._chat(p["chat_id"]).menu_button = button
        else:
            self.default_menu_button = button
        return True

    def _m_getChatMenuButton(self, bot: JSON, p: JSON) -> JSON:
        if p.get("chat_id") is not None:
            return self._chat(p["chat_id"]).menu_button or self.default_menu_button
        return self.default_menu_button

    def _bot_setting(self, key: str, p: JSON, field_name: str) -> bool:
        self.bot_settings[(key, p.get("language_code") or "")] = p.get(field_name) or ""
        return True

    def _m_setMyDescription(self, bot: JSON, p: JSON) -> bool:
        return self._bot_setting("description", p, "description")

    def _m_setMyShortDescription(self, bot: JSON, p: JSON) -> bool:
        return self._bot_setting("short_description", p, "short_description")

    def _m_setMyName(self, bot: JSON, p: JSON) -> bool:
        return self._bot_setting("name", p, "name")

    def _m_getMyDescription(self, bot: JSON, p: JSON) -> JSON:
        key = ("description", p.get("language_code") or "")
        return {"description": self.bot_settings.get(key, "")}

    def _m_getMyShortDescription(self, bot: JSON, p: JSON) -> JSON:
        key = ("short_description", p.get("language_code") or "")
        return {"short_description": self.bot_settings.get(key, "")}

    def _m_getMyName(self, bot: JSON, p: JSON) -> JSON:
        key = ("name", p.get("language_code") or "")
        return {"name": self.bot_settings.get(key) or self.bot_first_name}

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

    def _m_sendChatAction(self, bot: JSON, p: JSON) -> bool:
        chat = self._writable_chat(p.get("chat_id"))
        if not p.get("action"):
            raise BotApiError.bad_request("action is empty")
        chat.last_action = str(p["action"])
        return True

    # -- sending ----------------------------------------------------------------------------

    def _formatted(
        self, text: Any, parse_mode: Any, entities: Any, *, caption: bool = False
    ) -> tuple[str, list[JSON] | None, str | None]:
        """Apply parse_mode like Telegram; returns (plain text, entities, parse_mode)."""
        text = "" if text is None else str(text)
        mode = str(parse_mode) if parse_mode else None
        parsed_entities = _obj(entities) if entities else None
        if mode and mode.lower() == "html":
            text, parsed_entities = parse_html(text)
        # Markdown/MarkdownV2 are stored as given (not parsed) - see module notes.
        # Telegram counts what the user sees (tags and escapes parsed) in UTF-16 code units.
        limit = MAX_CAPTION_LENGTH if caption else MAX_TEXT_LENGTH
        if _utf16_len(text) > limit:
            raise BotApiError.bad_request(
                "message caption is too long" if caption else "message is too long"
            )
        return text, parsed_entities or None, mode

    @staticmethod
    def _markup(value: Any, *, inline_only: bool = False) -> JSON | None:
        markup = _obj(value)
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
        reply = _obj(p.get("reply_parameters"))
        if not reply and p.get("reply_to_message_id") is not None:
            reply = {
                "message_id": p["reply_to_message_id"],
                "allow_sending_without_reply": p.get("allow_sending_without_reply"),
            }
        if not reply:
            return None
        target = chat.messages.get(_int(reply.get("message_id"), -1) or -1)
        if target is None:
            if _bool(reply.get("allow_sending_without_reply")):
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
            "link_preview_options": _obj(p.get("link_preview_options")),
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

    def _m_getFile(self, bot: JSON, p: JSON) -> JSON:
        stored = self.files.get(str(p.get("file_id") or ""))
        if stored is None:
            raise BotApiError.bad_request("invalid file_id")
        if len(stored.content) > MAX_DOWNLOAD_BYTES:
            raise BotApiError.bad_request("file is too big")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.content),
            "file_path": stored.file_path,
        }

    def file_by_path(self, file_path: str) -> StoredFile | None:
        return next((f for f in self.files.values() if f.file_path == file_path), None)

    # -- editing ----------------------------------------------------------------------------

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
            "link_preview_options": _obj(p.get("link_preview_options"))
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
            "show_alert": _bool(p.get("show_alert")),
            "url": p.get("url"),
            "cache_time": _int(p.get("cache_time")),
        }
        return True


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


def _scope_key(scope: Any) -> str:
    scope = scope or {"type": "default"}
    if isinstance(scope, dict) and "chat_id" in scope:
        scope = scope | {"chat_id": _int(scope["chat_id"], scope["chat_id"])}
    return json.dumps(scope, sort_keys=True)


# --------------------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------------------

STATE_KEY = web.AppKey("state", BotApiState)
_dumps = partial(json.dumps, ensure_ascii=False)


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=_dumps)


async def _read_bot_params(request: web.Request) -> JSON:
    """Parameters of a Bot API request from query, JSON, urlencoded or multipart bodies."""
    params: JSON = {k: decode_form_value(k, v) for k, v in request.query.items()}
    uploads: dict[str, InputUpload] = {}
    if request.can_read_body:
        if request.content_type == "application/json":
            body = await request.json()
            if not isinstance(body, dict):
                raise BotApiError.bad_request("request body must be a JSON object")
            params.update(body)
        else:
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    uploads[key] = InputUpload(
                        filename=value.filename or key,
                        content=value.file.read(),
                        mime_type=value.content_type,
                    )
                else:
                    params[key] = decode_form_value(key, str(value))
    return attach_uploads(params, uploads)


async def _bot_endpoint(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    try:
        params = await _read_bot_params(request)
        result = await state.call(request.match_info["token"], request.match_info["method"], params)
    except BotApiError as exc:
        return _json(exc.to_response(), status=exc.code)
    except Exception as exc:  # the stand-in itself broke: answer like a Telegram 500
        _LOG.exception("stand-in failed on %s", request.path)
        return _json(
            {"ok": False, "error_code": 500, "description": f"Internal Server Error: {exc!r}"},
            status=500,
        )
    return _json({"ok": True, "result": result})


async def _file_endpoint(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    try:
        state._check_token(request.match_info["token"])
    except BotApiError as exc:
        return _json(exc.to_response(), status=exc.code)
    stored = state.file_by_path(request.match_info["file_path"])
    if stored is None:
        return _json({"ok": False, "error_code": 404, "description": "Not Found"}, status=404)
    return web.Response(
        body=stored.content, content_type=stored.mime_type or "application/octet-stream"
    )


# ----- control API -----------------------------------------------------------------------------


def _control(
    handler: Callable[[web.Request, BotApiState], Awaitable[Any]],
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """Wrap a control handler: JSON result, 400 with the reason for bad player actions."""

    async def wrapped(request: web.Request) -> web.Response:
        try:
            result = await handler(request, request.app[STATE_KEY])
        except BotApiError as exc:
            return _json({"error": exc.description}, status=exc.code)
        except (ValueError, KeyError, TypeError) as exc:
            return _json({"error": str(exc)}, status=400)
        return _json(result)

    return wrapped


async def _body(request: web.Request) -> JSON:
    if not request.can_read_body:
        return {}
    if request.content_type == "application/json":
        body = await request.json()
        return body if isinstance(body, dict) else {}
    return dict(await request.post())


def _uid(request: web.Request) -> int:
    return int(request.match_info["user_id"])


_USER_FIELDS = ("first_name", "last_name", "username", "language_code")


async def _c_text(request: web.Request, state: BotApiState) -> JSON:
    body = await _body(request)
    user = {k: body[k] for k in _USER_FIELDS if body.get(k) is not None}
    update = state.user_sends_text(
        _uid(request), body["text"], reply_to_message_id=body.get("reply_to_message_id"), **user
    )
    return {"update": update, "message_id": update["message"]["message_id"]}


async def _c_press(request: web.Request, state: BotApiState) -> JSON:
    body = await _body(request)
    update = state.user_presses(
        _uid(request), int(body["message_id"]), str(body["data"]), strict=body.get("strict", True)
    )
    return {"update": update, "callback_query_id": update["callback_query"]["id"]}


async def _upload_from_request(request: web.Request) -> tuple[InputUpload, JSON]:
    """A file sent to the control API: multipart field ``document``/``file`` or JSON base64."""
    if request.content_type == "multipart/form-data":
        form = await request.post()
        fields = {k: str(v) for k, v in form.items() if not isinstance(v, web.FileField)}
        part = next((v for v in form.values() if isinstance(v, web.FileField)), None)
        if part is None:
            raise ValueError("multipart body has no file part")
        upload = InputUpload(part.filename or "file", part.file.read(), part.content_type)
        return upload, fields
    body = await _body(request)
    content = base64.b64decode(body.get("content_base64", ""))
    return InputUpload(body.get("filename", "file"), content, body.get("mime_type")), body


async def _c_document(request: web.Request, state: BotApiState) -> JSON:
    upload, fields = await _upload_from_request(request)
    user = {k: fields[k] for k in _USER_FIELDS if fields.get(k)}
    update = state.user_sends_document(
        _uid(request),
        fields.get("filename") or upload.filename,
        upload.content,
        fields.get("mime_type") or upload.mime_type,
        caption=fields.get("caption") or None,
        **user,
    )
    message = update["message"]
    return {
        "update": update,
        "message_id": message["message_id"],
        "file_id": message["document"]["file_id"],
    }


async def _c_photo(request: web.Request, state: BotApiState) -> JSON:
    upload, fields = await _upload_from_request(request)
    update = state.user_sends_photo(
        _uid(request), upload.content, caption=fields.get("caption") or None
    )
    return {"update": update, "message_id": update["message"]["message_id"]}


async def _c_sticker(request: web.Request, state: BotApiState) -> JSON:
    body = await _body(request)
    update = state.user_sends_sticker(_uid(request), emoji=body.get("emoji") or "👍")
    return {"update": update, "message_id": update["message"]["message_id"]}


async def _c_messages(request: web.Request, state: BotApiState) -> list[JSON]:
    return state.chat_messages(int(request.match_info["chat_id"]))


async def _c_chat(request: web.Request, state: BotApiState) -> JSON:
    return state.chat_info(int(request.match_info["chat_id"]))


async def _c_users(request: web.Request, state: BotApiState) -> list[JSON]:
    return [u.to_json() | {"blocked": u.blocked} for u in state.users.values()]


async def _c_calls(request: web.Request, state: BotApiState) -> list[JSON]:
    calls = state.calls(request.query.get("method"))
    after = _int(request.query.get("after"), 0) or 0
    return [c for c in calls if c["seq"] > after]


async def _c_reset(request: web.Request, state: BotApiState) -> JSON:
    state.reset()
    return {"ok": True}


async def _c_block(request: web.Request, state: BotApiState) -> JSON:
    state.block(_uid(request))
    return {"ok": True}


async def _c_unblock(request: web.Request, state: BotApiState) -> JSON:
    state.unblock(_uid(request))
    return {"ok": True}


async def _c_commands(request: web.Request, state: BotApiState) -> list[JSON]:
    return state.all_commands()


async def _c_updates(request: web.Request, state: BotApiState) -> list[JSON]:
    return state.pending_updates()


async def _c_callback(request: web.Request, state: BotApiState) -> JSON:
    record = state.callback_queries.get(request.match_info["query_id"])
    if record is None:
        raise KeyError(f"unknown callback query {request.match_info['query_id']}")
    return {
        "id": record.id,
        "data": record.data,
        "answered": record.answered,
        "answer": record.answer,
    }


async def _c_add_users(request: web.Request, state: BotApiState) -> JSON:
    """Create users (and their private chats) without sending anything: ``{"users": [{"id":
    1, "first_name": "Lan", ...}, ...]}``, like :meth:`BotApiState.add_user`."""
    body = await _body(request)
    users = body.get("users")
    if not isinstance(users, list):
        raise ValueError("users must be a list of objects with an id")
    for user in users:
        fields = {k: user[k] for k in _USER_FIELDS if user.get(k) is not None}
        state.add_user(int(user["id"]), **fields)
    return {"ok": True, "users": len(users)}


async def _c_stats(request: web.Request, state: BotApiState) -> JSON:
    return {
        "rate_limit": state.rate_limit,
        "per_chat_interval": state.per_chat_interval,
        "rate_burst": state.rate_burst,
        "rate_limited": state.rate_limited,
    }


async def _c_inject(request: web.Request, state: BotApiState) -> JSON:
    body = await _body(request)
    code = int(body.get("error_code", 500))
    retry_after = _int(body.get("retry_after"))
    if code == 429 and retry_after is None:
        retry_after = 5
    description = body.get("description") or {
        429: f"Too Many Requests: retry after {retry_after}",
        403: "Forbidden: bot was blocked by the user",
        500: "Internal Server Error",
        502: "Bad Gateway",
    }.get(code, f"Error {code}")
    injection = state.inject(
        body["method"],
        chat_id=body.get("chat_id"),
        error=BotApiError(code, description, retry_after=retry_after),
        times=body.get("times", 1),
        delay=float(body.get("delay", 0.0)),
        apply=bool(body.get("apply", False)),
    )
    return {"ok": True, "method": injection.method, "times": injection.times}


def create_app(state: BotApiState | None = None) -> web.Application:
    """The aiohttp app: Bot API, file downloads and the ``/_control/`` API."""
    app = web.Application(client_max_size=MAX_UPLOAD_BYTES + 1024 * 1024)
    app[STATE_KEY] = state if state is not None else BotApiState()
    r = app.router
    r.add_route("*", "/bot{token}/{method}", _bot_endpoint)
    r.add_get("/file/bot{token}/{file_path:.+}", _file_endpoint)
    r.add_post("/_control/users/{user_id}/text", _control(_c_text))
    r.add_post("/_control/users/{user_id}/press", _control(_c_press))
    r.add_post("/_control/users/{user_id}/document", _control(_c_document))
    r.add_post("/_control/users/{user_id}/photo", _control(_c_photo))
    r.add_post("/_control/users/{user_id}/sticker", _control(_c_sticker))
    r.add_get("/_control/users", _control(_c_users))
    r.add_post("/_control/users", _control(_c_add_users))
    r.add_get("/_control/chats/{chat_id}", _control(_c_chat))
    r.add_get("/_control/chats/{chat_id}/messages", _control(_c_messages))
    r.add_get("/_control/calls", _control(_c_calls))
    r.add_get("/_control/updates", _control(_c_updates))
    r.add_get("/_control/callbacks/{query_id}", _control(_c_callback))
    r.add_get("/_control/commands", _control(_c_commands))
    r.add_get("/_control/stats", _control(_c_stats))
    r.add_post("/_control/reset", _control(_c_reset))
    r.add_post("/_control/block/{user_id}", _control(_c_block))
    r.add_post("/_control/unblock/{user_id}", _control(_c_unblock))
    r.add_post("/_control/inject", _control(_c_inject))
    return app


class StandInServer:
    """Runs :func:`create_app` on a local port (``port=0`` picks a free one)."""

    def __init__(self, state: BotApiState | None = None) -> None:
        self.state = state if state is not None else BotApiState()
        self._runner: web.AppRunner | None = None
        self.host = "127.0.0.1"
        self.port = 0

    @property
    def url(self) -> str:
        if self._runner is None:
            raise RuntimeError("server not started")
        return f"http://{self.host}:{self.port}"

    @property
    def bot_kwargs(self) -> JSON:
        """Keyword arguments for ``telegram.Bot`` / ``ApplicationBuilder`` URLs."""
        return {"base_url": f"{self.url}/bot", "base_file_url": f"{self.url}/file/bot"}

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        self.state._closing = False
        # handler_cancellation: a client dropping a long poll must not leave a waiter behind.
        self._runner = web.AppRunner(
            create_app(self.state), handler_cancellation=True, shutdown_timeout=1.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        self.host = host
        self.port = int(self._runner.addresses[0][1])
        return self.port

    async def stop(self) -> None:
        if self._runner is None:
            return
        self.state.shutdown()  # let pending long polls answer [] instead of hanging shutdown
        await self._runner.cleanup()
        self._runner = None

    async def __aenter__(self) -> StandInServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


async def _serve_forever(args: argparse.Namespace) -> None:
    state = BotApiState(
        bot_username=args.bot_username,
        token=args.token,
        rate_limit=args.rate_limit,
        per_chat_interval=args.per_chat_interval,
        rate_burst=args.rate_burst,
        call_log_size=args.call_log_size,
    )
    server = StandInServer(state)
    await server.start(args.host, args.port)
    print(f"Telegram Bot API stand-in listening on {server.url}", flush=True)
    print(f"  Bot(token, base_url='{server.url}/bot', base_file_url='{server.url}/file/bot')")
    print(f"  control API: {server.url}/_control/", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await server.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Local Telegram Bot API stand-in")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--token", default=None, help="accept only this token")
    parser.add_argument("--bot-username", default="plan_report_bot")
    parser.add_argument(
        "--rate-limit",
        type=float,
        default=None,
        metavar="PER_SECOND",
        help="answer sends over this many messages per second with 429 (Telegram: 30)",
    )
    parser.add_argument(
        "--rate-burst",
        type=int,
        default=None,
        metavar="N",
        help="with --rate-limit: a token bucket of N messages instead of the strict 1 s window",
    )
    parser.add_argument(
        "--per-chat-interval",
        type=float,
        default=None,
        metavar="SECONDS",
        help="answer a second send to one chat within this many seconds with 429 (Telegram: 1)",
    )
    parser.add_argument(
        "--call-log-size",
        type=int,
        default=10_000,
        metavar="N",
        help="keep the last N Bot API calls for /_control/calls (default 10000)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    try:
        asyncio.run(_serve_forever(args))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
