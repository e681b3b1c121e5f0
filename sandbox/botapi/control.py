"""The HTTP control API under ``/_control/``: tests and tools play the users and inspect
what the bot did (player actions, chats, the call log, fault injection, stats)."""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from sandbox.botapi.errors import JSON, BotApiError
from sandbox.botapi.params import as_int
from sandbox.botapi.records import USER_FIELDS, InputUpload
from sandbox.botapi.responses import STATE_KEY, json_response
from sandbox.botapi.state import BotApiState


def _control(
    handler: Callable[[web.Request, BotApiState], Awaitable[Any]],
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """Wrap a control handler: JSON result, 400 with the reason for bad player actions."""

    async def wrapped(request: web.Request) -> web.Response:
        try:
            result = await handler(request, request.app[STATE_KEY])
        except BotApiError as exc:
            return json_response({"error": exc.description}, status=exc.code)
        except (ValueError, KeyError, TypeError) as exc:
            return json_response({"error": str(exc)}, status=400)
        return json_response(result)

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


async def _c_text(request: web.Request, state: BotApiState) -> JSON:
    body = await _body(request)
    user = {k: body[k] for k in USER_FIELDS if body.get(k) is not None}
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
    user = {k: fields[k] for k in USER_FIELDS if fields.get(k)}
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


async def _c_wait(request: web.Request, state: BotApiState) -> JSON:
    """Long poll: the bot's first message in the chat after message ``after``, as soon as
    it is sent (``timeout`` seconds at most, default 30; then ``{"message": null}``)."""
    after = as_int(request.query.get("after"), 0) or 0
    timeout = min(float(request.query.get("timeout", 30)), 300.0)
    message = await state.wait_bot_message(int(request.match_info["chat_id"]), after, timeout)
    return {"message": message}


async def _c_chat(request: web.Request, state: BotApiState) -> JSON:
    return state.chat_info(int(request.match_info["chat_id"]))


async def _c_users(request: web.Request, state: BotApiState) -> list[JSON]:
    return [u.to_json() | {"blocked": u.blocked} for u in state.users.values()]


async def _c_calls(request: web.Request, state: BotApiState) -> list[JSON]:
    calls = state.calls(request.query.get("method"))
    after = as_int(request.query.get("after"), 0) or 0
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
        fields = {k: user[k] for k in USER_FIELDS if user.get(k) is not None}
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
    retry_after = as_int(body.get("retry_after"))
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


def add_control_routes(app: web.Application) -> None:
    """Register the ``/_control/`` routes on the stand-in's app."""
    r = app.router
    r.add_post("/_control/users/{user_id}/text", _control(_c_text))
    r.add_post("/_control/users/{user_id}/press", _control(_c_press))
    r.add_post("/_control/users/{user_id}/document", _control(_c_document))
    r.add_post("/_control/users/{user_id}/photo", _control(_c_photo))
    r.add_post("/_control/users/{user_id}/sticker", _control(_c_sticker))
    r.add_get("/_control/users", _control(_c_users))
    r.add_post("/_control/users", _control(_c_add_users))
    r.add_get("/_control/chats/{chat_id}", _control(_c_chat))
    r.add_get("/_control/chats/{chat_id}/messages", _control(_c_messages))
    r.add_get("/_control/chats/{chat_id}/wait", _control(_c_wait))
    r.add_get("/_control/calls", _control(_c_calls))
    r.add_get("/_control/updates", _control(_c_updates))
    r.add_get("/_control/callbacks/{query_id}", _control(_c_callback))
    r.add_get("/_control/commands", _control(_c_commands))
    r.add_get("/_control/stats", _control(_c_stats))
    r.add_post("/_control/reset", _control(_c_reset))
    r.add_post("/_control/block/{user_id}", _control(_c_block))
    r.add_post("/_control/unblock/{user_id}", _control(_c_unblock))
    r.add_post("/_control/inject", _control(_c_inject))
