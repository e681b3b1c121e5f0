"""The Bot API over HTTP: ``/bot{token}/{method}`` as bot-api.zaloplatforms.com serves it
(GET or POST; query string, JSON, urlencoded or multipart parameters)."""

from __future__ import annotations

import json
import logging

from aiohttp import web

from sandbox.zaloapi.errors import JSON, ZaloApiError
from sandbox.zaloapi.messages import NO_RESULT
from sandbox.zaloapi.responses import STATE_KEY, json_response
from sandbox.zaloapi.state import ZaloApiState

_LOG = logging.getLogger(__name__)


async def _read_params(request: web.Request) -> JSON:
    params: JSON = dict(request.query)
    if not request.can_read_body:
        return params
    if request.content_type == "application/json":
        try:
            body = json.loads(await request.text() or "{}")
        except ValueError as exc:
            raise ZaloApiError.bad_request("body is not valid JSON") from exc
        if not isinstance(body, dict):
            raise ZaloApiError.bad_request("body must be a JSON object")
        params.update(body)
        return params
    form = await request.post()
    for key, value in form.items():
        if isinstance(value, web.FileField):
            raise ZaloApiError.bad_request(f"file upload in {key!r}: Zalo takes URLs, not files")
        params[key] = str(value)
    return params


def _error_response(state: ZaloApiState, exc: ZaloApiError) -> web.Response:
    status = exc.code if state.errors_as_http_status else 200
    return json_response(exc.to_response(), status=status)


async def _bot_endpoint(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    try:
        params = await _read_params(request)
        result = await state.call(request.match_info["token"], request.match_info["method"], params)
    except ZaloApiError as exc:
        return _error_response(state, exc)
    except Exception:  # the stand-in itself broke; Zalo's table has no 5xx, so 500 is loud
        _LOG.exception("Zalo stand-in failed on %s", request.match_info.get("method"))
        return json_response(
            {"ok": False, "error_code": 500, "description": "stand-in error"}, status=500
        )
    if result is NO_RESULT:
        return json_response({"ok": True})
    return json_response({"ok": True, "result": result})


async def _not_a_method(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    return _error_response(state, ZaloApiError.bad_request(f"wrong path {request.path!r}"))


def create_app(state: ZaloApiState | None = None) -> web.Application:
    """The aiohttp app: the Bot API."""
    app = web.Application()
    app[STATE_KEY] = state if state is not None else ZaloApiState()
    r = app.router
    r.add_route("GET", "/bot{token}/{method}", _bot_endpoint)
    r.add_route("POST", "/bot{token}/{method}", _bot_endpoint)
    r.add_route("*", "/{tail:.*}", _not_a_method)
    return app
