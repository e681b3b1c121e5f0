"""What both HTTP modules share: the app key of the state and the JSON response."""

from __future__ import annotations

import json
from functools import partial
from typing import Any

from aiohttp import web

from sandbox.botapi.state import BotApiState

STATE_KEY = web.AppKey("state", BotApiState)
_dumps = partial(json.dumps, ensure_ascii=False)


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=_dumps)
