"""The Zalo Bot API stand-in for tests (sandbox.zaloapi), started on a free port."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from sandbox.zaloapi import ZaloApiState, ZaloStandInServer

TOKEN = "1234567890:test-SECRET_token"
USER = "6ede9afa66b88fe6d6a9"
SECRET = "s3cret-token"


@pytest.fixture
async def zalo_server() -> AsyncIterator[ZaloStandInServer]:
    async with ZaloStandInServer(ZaloApiState(token=TOKEN, allow_http_webhook=True)) as srv:
        yield srv
