"""The Bot API over HTTP: ``/bot{token}/{method}`` and ``/file/bot{token}/{path}`` as
api.telegram.org serves them, plus the control API, in one aiohttp app."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from sandbox.botapi.control import add_control_routes
from sandbox.botapi.errors import JSON, BotApiError
from sandbox.botapi.params import attach_uploads, decode_form_value
from sandbox.botapi.records import MAX_UPLOAD_BYTES, InputUpload
from sandbox.botapi.responses import STATE_KEY, json_response
from sandbox.botapi.state import BotApiState

_LOG = logging.getLogger(__name__)


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
        if state.response_delay:
            await asyncio.sleep(state.response_delay)
        return json_response(exc.to_response(), status=exc.code)
    except Exception as exc:  # the stand-in itself broke: answer like a Telegram 500
        _LOG.exception("stand-in failed on %s", request.path)
        return json_response(
            {"ok": False, "error_code": 500, "description": f"Internal Server Error: {exc!r}"},
            status=500,
        )
    if state.response_delay:
        await asyncio.sleep(state.response_delay)  # the way back of a slow network
    return json_response({"ok": True, "result": result})


async def _file_endpoint(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    try:
        state._check_token(request.match_info["token"])
    except BotApiError as exc:
        return json_response(exc.to_response(), status=exc.code)
    stored = state.file_by_path(request.match_info["file_path"])
    if stored is None:
        not_found = {"ok": False, "error_code": 404, "description": "Not Found"}
        return json_response(not_found, status=404)
    return web.Response(
        body=stored.content, content_type=stored.mime_type or "application/octet-stream"
    )


def create_app(state: BotApiState | None = None) -> web.Application:
    """The aiohttp app: Bot API, file downloads and the ``/_control/`` API."""
    app = web.Application(client_max_size=MAX_UPLOAD_BYTES + 1024 * 1024)
    app[STATE_KEY] = state if state is not None else BotApiState()
    r = app.router
    r.add_route("*", "/bot{token}/{method}", _bot_endpoint)
    r.add_get("/file/bot{token}/{file_path:.+}", _file_endpoint)
    add_control_routes(app)
    return app
