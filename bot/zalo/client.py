"""A thin async client for the Zalo Bot Platform API (docs/zalo-bot-api.md).

One :meth:`ZaloClient.call` POSTs JSON to ``{api_root}/bot{token}/{method}``, reads the JSON
body whatever the HTTP status (which status comes with ``ok: false`` is undocumented) and
returns ``result`` or raises one :class:`ZaloApiError`. A few typed wrappers sit on top.
:class:`ZaloUpdate` is the one defensive parser of an update (webhook body or getUpdates),
and :func:`verify_secret` checks the webhook's ``X-Bot-Api-Secret-Token``.

The token is part of every URL: nothing here logs or raises the URL, the token or the texts
of messages (errors carry the method, the code and Zalo's short description only).
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

import aiohttp

from core.textlimits import utf16_len

_LOG = logging.getLogger(__name__)

DEFAULT_API_ROOT = "https://bot-api.zaloplatforms.com"
SECRET_HEADER = "X-Bot-Api-Secret-Token"

MAX_TEXT_LENGTH = 2000  # text and caption; counted in UTF-16 units, the stricter reading
MIN_SECRET_LENGTH = 8
MAX_SECRET_LENGTH = 256
POLL_MARGIN = 10.0  # seconds the HTTP timeout of getUpdates exceeds the poll timeout

NETWORK_ERROR = 0  # code of a ZaloApiError raised for a failed connection or bad response
TIMEOUT_ERROR = 408  # code of a ZaloApiError raised when our own HTTP timeout expired
# 408 request timeout (also an idle getUpdates), 429 quota exceeded; 5xx and network errors
# are retryable too (see ZaloApiError.retryable). Zalo's 403 means "Internal server error"
# (sic), and docs/zalo-bot-api.md suggests retrying it, so it is retryable here as well.
RETRYABLE_CODES = frozenset({NETWORK_ERROR, 403, 408, 429})
FATAL_CODES = frozenset({401})  # token expired or invalid: stop and alert
# Codes meaning "the user blocked the bot / the chat is gone". The platform documents none
# yet (docs/zalo-bot-api.md §5, open question 3), so nothing is treated as blocked.
BLOCKED_CODES: frozenset[int] = frozenset()


class ZaloApiError(Exception):
    """A failed call: ``ok: false`` from Zalo, or a network error or timeout.

    ``code`` is Zalo's ``error_code`` (else the HTTP status); :data:`NETWORK_ERROR` (0) for a
    connection error or an unreadable answer, :data:`TIMEOUT_ERROR` (408) when our own HTTP
    timeout expired (then ``network`` is True). The message never contains the URL or token.
    """

    def __init__(self, code: int, description: str, method: str, *, network: bool = False) -> None:
        super().__init__(f"Zalo {method}: {code} {description}")
        self.code = code
        self.description = description
        self.method = method
        self.network = network

    def __repr__(self) -> str:
        return f"ZaloApiError({self.code}, {self.description!r}, method={self.method!r})"

    @property
    def retryable(self) -> bool:
        """Worth retrying later with backoff: 408, 429, 403, 5xx, network errors."""
        return self.network or self.code in RETRYABLE_CODES or 500 <= self.code <= 599

    @property
    def fatal(self) -> bool:
        """The token is refused (401): retrying cannot help; stop and alert."""
        return self.code in FATAL_CODES

    @property
    def blocked_hint(self) -> bool:
        """The user blocked the bot. Always False until Zalo documents a code for it."""
        return not self.network and self.code in BLOCKED_CODES


def _checked_text(value: str, name: str) -> str:
    length = utf16_len(value)
    if not 1 <= length <= MAX_TEXT_LENGTH:
        raise ValueError(
            f"{name} must be 1-{MAX_TEXT_LENGTH} characters (UTF-16 units), got {length}; "
            "splitting is the caller's"
        )
    return value


class ZaloClient:
    """The Zalo Bot API for one bot token. Owns its aiohttp session unless one is given."""

    def __init__(
        self,
        token: str,
        api_root: str = DEFAULT_API_ROOT,
        session: aiohttp.ClientSession | None = None,
        timeout: float = 10.0,
    ) -> None:
        self._token = token
        self.api_root = api_root.rstrip("/")
        self.timeout = timeout
        self._session = session
        self._owns_session = session is None

    def __repr__(self) -> str:  # never the token
        return f"ZaloClient(api_root={self.api_root!r})"

    def _http(self) -> aiohttp.ClientSession:
        # Created lazily: a ClientSession wants a running event loop.
        if self._session is None or (self._owns_session and self._session.closed):
            self._session = aiohttp.ClientSession()
            self._owns_session = True
        return self._session

    async def close(self) -> None:
        """Close the session if this client created it (a given session is the caller's)."""
        if self._owns_session and self._session is not None and not self._session.closed:
            await self._session.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # ----- the one call ---------------------------------------------------------------------

    async def call(
        self,
        method: str,
        payload: dict[str, Any] | None = None,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - per request, into aiohttp's ClientTimeout
    ) -> Any:
        """POST ``payload`` as JSON to ``method``; the ``result`` (None if there is none).

        Raises :class:`ZaloApiError` for ``ok: false`` (whatever the HTTP status), for a
        network error or an unreadable answer (code 0) and for our timeout (code 408).
        """
        url = f"{self.api_root}/bot{self._token}/{method}"
        seconds = self.timeout if timeout is None else timeout
        try:
            async with self._http().post(
                url, json=payload or {}, timeout=aiohttp.ClientTimeout(total=seconds)
            ) as response:
                status = response.status
                try:
                    body = await response.json(content_type=None)
                except ValueError:
                    body = None
        except TimeoutError:
            # `from None`: the chained aiohttp exceptions name the URL, hence the token.
            raise ZaloApiError(
                TIMEOUT_ERROR, f"no answer within {seconds:g} s", method, network=True
            ) from None
        except aiohttp.ClientError as exc:
            raise ZaloApiError(
                NETWORK_ERROR, f"network error ({type(exc).__name__})", method, network=True
            ) from None
        if not isinstance(body, dict):
            code = status if status >= 400 else NETWORK_ERROR
            _LOG.warning("Zalo %s: HTTP %s without a JSON object", method, status)
            raise ZaloApiError(code, f"HTTP {status}, no JSON object in the answer", method)
        if body.get("ok") is True:
            return body.get("result")
        raw_code = body.get("error_code")
        code = raw_code if isinstance(raw_code, int) and not isinstance(raw_code, bool) else status
        if code == 200:  # ok:false with neither an error code nor an error status
            code = NETWORK_ERROR
        description = body.get("description")
        text = description if isinstance(description, str) and description else f"HTTP {status}"
        _LOG.debug("Zalo %s failed: %s %s", method, code, text)
        raise ZaloApiError(code, text, method)

    # ----- typed wrappers -------------------------------------------------------------------

    async def get_me(self) -> dict[str, Any]:
        """``{id, account_name, account_type, can_join_groups}``."""
        return await self.call("getMe")

    async def get_update(self, timeout_s: int = 30) -> ZaloUpdate | None:
        """Long-poll one update (getUpdates returns a single one). None when the poll timed
        out idle (Zalo's 408) or the update carries no message (a bare unsupported event)."""
        try:
            result = await self.call(
                "getUpdates", {"timeout": str(timeout_s)}, timeout=timeout_s + POLL_MARGIN
            )
        except ZaloApiError as exc:
            if exc.code == 408 and not exc.network:
                return None
            raise
        if isinstance(result, list) and len(result) > 1:
            _LOG.warning("Zalo getUpdates returned %d updates; only the first is read", len(result))
        return ZaloUpdate.parse(result)

    async def set_webhook(self, url: str, secret_token: str) -> dict[str, Any]:
        """``{url, updated_at}``. The secret must be 8-256 characters (checked here)."""
        if not MIN_SECRET_LENGTH <= len(secret_token) <= MAX_SECRET_LENGTH:
            raise ValueError(
                f"secret_token must be {MIN_SECRET_LENGTH}-{MAX_SECRET_LENGTH} characters, "
                f"got {len(secret_token)}"
            )
        return await self.call("setWebhook", {"url": url, "secret_token": secret_token})

    async def delete_webhook(self) -> Any:
        """Docs: ``{url: "", updated_at}`` (the prose says True)."""
        return await self.call("deleteWebhook")

    async def get_webhook_info(self) -> dict[str, Any]:
        """``{url, updated_at}``; ``url`` is empty when none is set."""
        return await self.call("getWebhookInfo")

    async def send_message(self, chat_id: str, text: str) -> dict[str, Any]:
        """``{message_id, date}``. ValueError beyond 2000 characters: splitting is the
        caller's (core.textlimits)."""
        _checked_text(text, "text")
        return await self.call("sendMessage", {"chat_id": chat_id, "text": text})

    async def send_photo(
        self, chat_id: str, photo_url: str, caption: str | None = None
    ) -> dict[str, Any]:
        """A photo by URL (uploads are not documented); ``{message_id, date}``."""
        payload: dict[str, Any] = {"chat_id": chat_id, "photo": photo_url}
        if caption is not None:
            payload["caption"] = _checked_text(caption, "caption")
        return await self.call("sendPhoto", payload)

    async def send_chat_action(self, chat_id: str, action: str = "typing") -> None:
        """``typing`` (or ``upload_photo``, "coming soon"); Zalo answers ``{"ok": true}``."""
        await self.call("sendChatAction", {"chat_id": chat_id, "action": action})


# ----- updates ----------------------------------------------------------------------------


def _id(value: Any) -> str | None:
    """Ids are opaque strings; a number is kept as its text, never the other way round."""
    if isinstance(value, str) and value:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _date(value: Any) -> datetime:
    """Zalo dates are epoch milliseconds; a seconds value (< 1e11) is accepted too."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            value = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = value / 1000 if abs(value) >= 1e11 else value
        try:
            return datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, OSError, ValueError):
            pass
    return datetime.now(UTC)  # missing or nonsense: when we saw it


def _unwrap(body: Any) -> Any:
    """The update inside ``{ok, result}`` (or the body itself); a list gives its first."""
    if isinstance(body, dict) and "result" in body and "event_name" not in body:
        if body.get("ok") is False:
            return None
        body = body["result"]
    if isinstance(body, list):
        body = body[0] if body else None
    return body


@dataclass(frozen=True)
class ZaloUpdate:
    """One incoming message (webhook body or getUpdates result), ids as strings."""

    event_name: str
    message_id: str
    chat_id: str
    user_id: str
    display_name: str
    is_bot: bool
    date: datetime  # aware, UTC
    text: str | None = None
    photo_url: str | None = None
    caption: str | None = None

    @classmethod
    def parse(cls, body: Any) -> ZaloUpdate | None:
        """The update in ``body``, or None when there is no usable message (an unsupported
        event may come bare, without ``message``). Never raises on odd input."""
        update = _unwrap(body)
        if not isinstance(update, dict):
            return None
        message = update.get("message")
        if not isinstance(message, dict):
            return None
        sender = message.get("from")
        sender = sender if isinstance(sender, dict) else {}
        chat = message.get("chat")
        chat = chat if isinstance(chat, dict) else {}
        message_id = _id(message.get("message_id"))
        user_id = _id(sender.get("id"))
        chat_id = _id(chat.get("id")) or user_id  # private chats: chat.id == from.id
        if message_id is None or chat_id is None:
            return None
        name = _str(sender.get("display_name")) or _str(sender.get("first_name")) or ""
        return cls(
            event_name=_str(update.get("event_name")) or "",
            message_id=message_id,
            chat_id=chat_id,
            user_id=user_id or chat_id,
            display_name=name,
            is_bot=sender.get("is_bot") is True,
            date=_date(message.get("date")),
            text=_str(message.get("text")),
            photo_url=_str(message.get("photo_url")) or _str(message.get("photo")),
            caption=_str(message.get("caption")),
        )


def verify_secret(header_value: str | None, secret: str) -> bool:
    """Whether a webhook request's ``X-Bot-Api-Secret-Token`` equals our secret (constant
    time; a missing header or an empty secret never passes)."""
    if header_value is None or not secret:
        return False
    return hmac.compare_digest(header_value.encode(), secret.encode())


__all__ = [
    "BLOCKED_CODES",
    "DEFAULT_API_ROOT",
    "MAX_TEXT_LENGTH",
    "SECRET_HEADER",
    "ZaloApiError",
    "ZaloClient",
    "ZaloUpdate",
    "verify_secret",
]
