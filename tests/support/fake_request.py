"""A PTB transport that talks to an in-memory :class:`~sandbox.botapi.BotApiState`.

Unit-level handler tests use it to run a real PTB ``Application`` without HTTP::

    from telegram import Update
    from telegram.ext import ApplicationBuilder, CommandHandler

    from sandbox.botapi import BotApiState
    from tests.support.fake_request import FakeRequest

    state = BotApiState()
    app = (
        ApplicationBuilder()
        .token("123456:TEST")
        .request(FakeRequest(state))
        .get_updates_request(FakeRequest(state))
        .build()
    )
    app.add_handler(CommandHandler("start", start))
    await app.initialize()            # calls getMe on the stand-in
    update = Update.de_json(state.user_sends_text(42, "/start ABC"), app.bot)
    await app.process_update(update)  # runs the handlers to completion
    state.chat_messages(42)           # the user's and the bot's messages, edits applied
    await app.shutdown()

(``make_bot_request(state)`` is shorthand for ``FakeRequest(state)``.) Feeding updates
with ``process_update`` keeps them in the state's pending queue too; that is harmless
because nothing polls. Faults work as over HTTP: ``state.inject(...)``/``state.block(...)``
surface as the same ``telegram.error`` exceptions.
"""

from __future__ import annotations

import json
from typing import IO, Any
from urllib.parse import unquote, urlsplit

from telegram.request import BaseRequest, RequestData

from sandbox.botapi import BotApiError, BotApiState, InputUpload, attach_uploads

__all__ = ["FakeRequest", "make_bot_request"]


class FakeRequest(BaseRequest):
    """``telegram.request.BaseRequest`` answering from a ``BotApiState`` (no network).

    URLs are interpreted like the real Bot API: ``.../bot<token>/<method>`` calls a
    method and ``.../file/bot<token>/<file_path>`` downloads a file, so the default
    ``https://api.telegram.org`` base URLs work unchanged.
    """

    __slots__ = ("state",)

    def __init__(self, state: BotApiState) -> None:
        self.state = state

    @property
    def read_timeout(self) -> float | None:
        # No network: PTB adds getUpdates' long-poll timeout to this, None means "no extra".
        return None

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        segments = [unquote(s) for s in urlsplit(url).path.split("/") if s]
        if "file" in segments[:-1] and method == "GET":
            return self._download(segments)
        if len(segments) < 2 or not segments[-2].startswith("bot"):
            return 404, _error_body(BotApiError(404, "Not Found"))
        token, api_method = segments[-2][len("bot") :], segments[-1]
        params, uploads = _params_from(request_data)
        try:
            result = await self.state.call(token, api_method, attach_uploads(params, uploads))
        except BotApiError as exc:
            return exc.code, _error_body(exc)
        return 200, json.dumps({"ok": True, "result": result}).encode()

    def _download(self, segments: list[str]) -> tuple[int, bytes]:
        # .../file/bot<token>/<folder>/<name>: everything after the token is the file_path.
        index = next(i for i, s in enumerate(segments) if s.startswith("bot") and i > 0)
        stored = self.state.file_by_path("/".join(segments[index + 1 :]))
        if stored is None:
            return 404, _error_body(BotApiError(404, "Not Found"))
        return 200, stored.content


def make_bot_request(state: BotApiState) -> FakeRequest:
    """A :class:`FakeRequest` for ``ApplicationBuilder().request(...)`` (see module doc)."""
    return FakeRequest(state)


def _params_from(request_data: RequestData | None) -> tuple[dict[str, Any], dict[str, InputUpload]]:
    """PTB's already-decoded parameters plus its multipart files as uploads."""
    if request_data is None:
        return {}, {}
    params = dict(request_data.parameters)
    uploads: dict[str, InputUpload] = {}
    for name, (filename, content, mime_type) in request_data.multipart_data.items():
        uploads[name] = InputUpload(filename or name, _read(content), mime_type)
    return params, uploads


def _read(content: bytes | IO[bytes]) -> bytes:
    if isinstance(content, bytes | bytearray):
        return bytes(content)
    data = content.read()
    return data.encode() if isinstance(data, str) else bytes(data)


def _error_body(exc: BotApiError) -> bytes:
    return json.dumps(exc.to_response()).encode()
