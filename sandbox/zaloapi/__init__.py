"""A local stand-in for the Zalo Bot Platform HTTP API (docs/zalo-bot-api.md).

The stand-in lets a Zalo adapter run end to end without Zalo: the adapter talks HTTP to it
exactly as to ``https://bot-api.zaloplatforms.com`` (``ZALO_API_ROOT`` = the server's
``url``), while tests (and the browser sandbox) play the users and inspect what the bot did.

Layers:

* :class:`ZaloApiState` - the in-memory core (users, private chats, transcripts, the queue
  of pending updates, the webhook, fault injection, the call log). No HTTP server;
  :meth:`ZaloApiState.call` implements the methods and returns the ``result`` or raises
  :class:`ZaloApiError`. One mixin per concern (see :mod:`sandbox.zaloapi.state`).
* :func:`create_app` - an aiohttp app serving ``/bot{token}/{method}``.
* :class:`ZaloStandInServer` - starts/stops that app on a local port.

Behaviour follows the documented platform where a client could notice: the ``{ok, result}``
/ ``{ok: false, error_code, description}`` envelope; getUpdates returning **one** update
object (not a list) and 408 when idle; string ids (20 hex) and millisecond dates; the
2000-character limit on text and captions (counted in UTF-16 units, the stricter reading);
HTTPS webhooks with an 8-256 character secret sent back in ``X-Bot-Api-Secret-Token``;
case-sensitive method names; sendChatAction answering ``{"ok": true}`` without a result.
Where the sources disagree the stand-in emits both forms (``photo`` and ``photo_url``) or
lets the test choose (the HTTP status of errors, the code for a blocked user).
"""

from sandbox.zaloapi.errors import ERROR_MEANINGS, JSON, ZaloApiError
from sandbox.zaloapi.http_api import create_app
from sandbox.zaloapi.messages import NO_RESULT
from sandbox.zaloapi.records import (
    CHAT_ACTIONS,
    EVENT_IMAGE,
    EVENT_STICKER,
    EVENT_TEXT,
    EVENT_UNSUPPORTED,
    MAX_SECRET_LENGTH,
    MAX_TEXT_LENGTH,
    MIN_SECRET_LENGTH,
    Injection,
    StoredMessage,
    ZaloChat,
    ZaloUser,
    utf16_len,
)
from sandbox.zaloapi.responses import STATE_KEY
from sandbox.zaloapi.server import ZaloStandInServer
from sandbox.zaloapi.state import ZaloApiState
from sandbox.zaloapi.webhook import SECRET_HEADER

__all__ = [
    "CHAT_ACTIONS",
    "ERROR_MEANINGS",
    "EVENT_IMAGE",
    "EVENT_STICKER",
    "EVENT_TEXT",
    "EVENT_UNSUPPORTED",
    "JSON",
    "MAX_SECRET_LENGTH",
    "MAX_TEXT_LENGTH",
    "MIN_SECRET_LENGTH",
    "NO_RESULT",
    "SECRET_HEADER",
    "STATE_KEY",
    "Injection",
    "StoredMessage",
    "ZaloApiError",
    "ZaloApiState",
    "ZaloChat",
    "ZaloStandInServer",
    "ZaloUser",
    "create_app",
    "utf16_len",
]
