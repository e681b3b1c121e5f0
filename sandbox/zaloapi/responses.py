"""What the HTTP modules share: the app key of the state and the JSON response."""

from __future__ import annotations

import json
from functools import partial
from typing import Any

from aiohttp import web

from sandbox.zaloapi.state import ZaloApiState

STATE_KEY = web.AppKey("zalo_state", ZaloApiState)
_dumps = partial(json.dumps, ensure_ascii=False)


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=_dumps)
