"""A local stand-in for the Telegram Bot API.

The stand-in lets the bot run end to end without Telegram: PTB talks HTTP to it exactly
as it would to api.telegram.org, while tests (and the browser sandbox) play the users
through "player actions" and inspect what the bot did.

Layers:

* :class:`BotApiState` - the pure in-memory core (users, private chats, messages, the
  update queue, commands, files, fault injection). No HTTP; :meth:`BotApiState.call`
  implements the Bot API methods and returns the ``result`` or raises :class:`BotApiError`.
  It is composed of one mixin per concern (see :mod:`sandbox.botapi.state`).
* :func:`create_app` - an aiohttp app serving ``/bot{token}/{method}``,
  ``/file/bot{token}/{path}`` (:mod:`~sandbox.botapi.http_api`) and a JSON control API
  under ``/_control/`` (:mod:`~sandbox.botapi.control`).
* :class:`StandInServer` - starts/stops that app on a local port.

A PTB bot connects with::

    Bot(token, base_url=f"{url}/bot", base_file_url=f"{url}/file/bot")

Run standalone with ``python -m sandbox.botapi --host 127.0.0.1 --port 8081``.

Behaviour follows Telegram where a bot could notice the difference (error texts and HTTP
codes, HTML parse_mode turned into plain text + entities, the 4096-character limit on
what the user sees (after parsing, in UTF-16 code units), editMessageText dropping an
inline keyboard that is not re-sent, 64-byte callback_data limit, update ids that keep
increasing, a newer getUpdates terminating an older one with 409, ...). It is stricter in
one respect: a bare ``&`` in HTML is refused (see :func:`parse_html`). Markdown and
MarkdownV2 texts are stored as given, not parsed.

An optional rate limiter (``BotApiState(rate_limit=30, per_chat_interval=1)``, or
``--rate-limit 30 --per-chat-interval 1``) answers sends over Telegram's limits with 429 and
``retry_after``, as Telegram does; it is off by default.
"""

from sandbox.botapi.errors import JSON, BotApiError
from sandbox.botapi.files import image_size
from sandbox.botapi.html_parse import parse_html
from sandbox.botapi.http_api import create_app
from sandbox.botapi.params import attach_uploads, decode_form_value
from sandbox.botapi.records import (
    MAX_CALLBACK_DATA_BYTES,
    MAX_CAPTION_LENGTH,
    MAX_DOWNLOAD_BYTES,
    MAX_TEXT_LENGTH,
    MAX_UPLOAD_BYTES,
    CallbackQueryRecord,
    ChatState,
    Injection,
    InputUpload,
    StoredFile,
    StoredMessage,
    UserRecord,
)
from sandbox.botapi.responses import STATE_KEY
from sandbox.botapi.server import StandInServer, main
from sandbox.botapi.state import BotApiState

__all__ = [
    "JSON",
    "MAX_CALLBACK_DATA_BYTES",
    "MAX_CAPTION_LENGTH",
    "MAX_DOWNLOAD_BYTES",
    "MAX_TEXT_LENGTH",
    "MAX_UPLOAD_BYTES",
    "STATE_KEY",
    "BotApiError",
    "BotApiState",
    "CallbackQueryRecord",
    "ChatState",
    "Injection",
    "InputUpload",
    "StandInServer",
    "StoredFile",
    "StoredMessage",
    "UserRecord",
    "attach_uploads",
    "create_app",
    "decode_form_value",
    "image_size",
    "main",
    "parse_html",
]
