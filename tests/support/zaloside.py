"""The Zalo side of a BotHarness: the production Zalo Application on the harness's database,
talking to the in-process Zalo stand-in over HTTP; a Zalo user's message is delivered and
handled to completion, and the bot messages it produced come back.

    async with BotHarness(url) as h, ZaloSide(h) as z:
        replies = await z.say(USER, code)         # Zalo messages the bot sent in answer
"""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr
from telegram.ext import Application

from bot.app import build_application
from bot.zalo.client import ZaloUpdate
from bot.zalo.runner import deliver
from core.channels import ZALO, zalo_local_id
from handlers.errors import DuplicateUpdate
from sandbox.zaloapi import ZaloApiState, ZaloStandInServer
from tests.support.harness import BotHarness

TOKEN = "1234567890:harness-ZALO"
JSON = dict[str, Any]


def text_of(message: JSON) -> str:
    return str(message.get("text") or message.get("caption") or "")


class ZaloReplies(list[JSON]):
    @property
    def text(self) -> str:
        return "\n".join(text_of(m) for m in self)


class ZaloSide:
    def __init__(self, harness: BotHarness, **settings: Any) -> None:
        self.h = harness
        self.state = ZaloApiState(token=TOKEN)
        self.server = ZaloStandInServer(self.state)
        self.extra = settings
        self.app: Application[Any, Any, Any, Any, Any, Any] | None = None
        self.errors: list[BaseException] = []

    async def __aenter__(self) -> ZaloSide:
        await self.server.start()
        settings = self.h.settings.model_copy(update={
            "zalo_bot_token": SecretStr(TOKEN), "zalo_api_url": self.server.api_root,
            **self.extra})
        app = build_application(settings, channel=ZALO, run_jobs=False,
                                engine=self.h.application.bot_data["engine"])
        app.bot_data["clock"] = self.h.clock  # one clock for both channels
        app.add_error_handler(self._record)
        await app.initialize()
        self.app = app
        return self

    async def _record(self, update: object, context: Any) -> None:
        if not isinstance(context.error, DuplicateUpdate):  # (answered by design: nothing)
            self.errors.append(context.error)

    async def __aexit__(self, *exc: object) -> None:
        if self.app is not None:
            await self.app.shutdown()  # (the engine is the harness's)
        await self.server.stop()

    @property
    def application(self) -> Application[Any, Any, Any, Any, Any, Any]:
        assert self.app is not None
        return self.app

    @staticmethod
    def local(user: str) -> int:
        return zalo_local_id(user)

    def messages(self, user: str) -> list[JSON]:
        return self.state.bot_messages(user)

    async def feed(self, user: str, update: JSON, *, allow_errors: bool = False,
                   ) -> ZaloReplies:
        before = len(self.messages(user))
        errors = len(self.errors)
        parsed = ZaloUpdate.parse(update)
        assert parsed is not None, update
        await deliver(self.application, parsed)
        if not allow_errors and len(self.errors) > errors:
            raise AssertionError(f"a handler raised {self.errors[errors]!r}")
        return ZaloReplies(self.messages(user)[before:])

    async def say(self, user: str, text: str, **kw: Any) -> ZaloReplies:
        return await self.feed(user, self.state.user_sends_text(user, text,
                                                                display_name="Lan"), **kw)

    async def photo(self, user: str, url: str) -> ZaloReplies:
        return await self.feed(user, self.state.user_sends_image(user, url))

    async def sticker(self, user: str) -> ZaloReplies:
        return await self.feed(user, self.state.user_sends_sticker(user))
