"""Drive the real bot like a user would: updates in, messages out, rows in the database.

`BotHarness` builds the production ``Application`` (``bot.app.build_application``) on a
migrated database, with :class:`~tests.support.fake_request.FakeRequest` instead of HTTP, so
every Bot API call lands in an in-memory :class:`~sandbox.botapi.BotApiState`::

    async with BotHarness(database_url) as h:           # imports the mini plan by default
        code = await h.invite("p-cat-linh")
        await h.say(42, f"/start {code}", first_name="Lan")
        replies = await h.say(42, "Báo cáo cần nộp")
        assert "tháng 03/2022" in replies.text
        await h.press(42, replies.buttons[0][1])           # (text, callback_data)
        member = await h.member(42)

Every ``say``/``press``/``send_*`` returns the bot messages that update produced
(:class:`Replies`), fails the test if a handler raised (the bot's error handler would only
apologise to the user), and ``press`` also checks that the button press was answered.
``rebuild()`` shuts the Application down and builds a new one on the same database, which is
what a restart of the bot process does to the handlers.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import Update
from telegram.ext import Application

from bot.app import build_application
from core.clock import Clock
from core.planfile import load_plan
from core.settings import Settings
from db.invites import create_invite, find_agency, revoke_invite
from db.models import Agency, Member, Obligation, Role, Schedule
from db.plan_import import import_plan
from sandbox.botapi import BotApiState
from tests.conftest import _pg_admin, _pg_url, postgres_reachable
from tests.support.fake_request import FakeRequest

ROOT = Path(__file__).resolve().parents[2]
MINI_PLAN = ROOT / "tests" / "data" / "mini-plan.yaml"
DONGDA_PLAN = ROOT / "plans" / "dongda-2022.yaml"
HANOI = dt.timezone(dt.timedelta(hours=7))
DEFAULT_NOW = dt.datetime(2022, 3, 5, 8, 0, tzinfo=HANOI)
TOKEN = "123456:TEST"
# A few bytes that look like the files officials send.
PDF_BYTES = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
JPEG_BYTES = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 32 + b"\xff\xd9"


class Replies(list[dict[str, Any]]):
    """The bot messages one update produced (Bot API JSON plus the stand-in's bookkeeping)."""

    @property
    def texts(self) -> list[str]:
        return [m.get("text") or m.get("caption") or "" for m in self]

    @property
    def text(self) -> str:
        return "\n".join(self.texts)

    @property
    def last(self) -> dict[str, Any]:
        assert self, "the bot did not answer"
        return self[-1]

    @property
    def buttons(self) -> list[tuple[str, str]]:
        """(text, callback_data) of every inline button in these messages, in order."""
        return [b for m in self for b in inline_buttons(m)]


def inline_buttons(message: dict[str, Any]) -> list[tuple[str, str]]:
    markup = message.get("reply_markup") or {}
    return [
        (b.get("text", ""), b.get("callback_data", ""))
        for row in markup.get("inline_keyboard", [])
        for b in row
    ]


def reply_keyboard(message: dict[str, Any]) -> list[str]:
    """The labels of a reply keyboard (the main menu) sent with a message."""
    markup = message.get("reply_markup") or {}
    return [
        b if isinstance(b, str) else b.get("text", "")
        for row in markup.get("keyboard", [])
        for b in row
    ]


class BotHarness:
    """The production Application on a real database, played through the fake Bot API."""

    def __init__(
        self,
        database_url: str,
        *,
        plan: Path | str | None = MINI_PLAN,
        fake_now: dt.datetime = DEFAULT_NOW,
        bot_admins: Iterable[int] = (),
        flood_limit: int = 10_000,
        flood_window: float = 10.0,
        **settings: Any,
    ) -> None:
        self.database_url = database_url
        self.plan = Path(plan) if plan is not None else None
        self.fake_now = fake_now
        self._settings_fields: dict[str, Any] = {
            "bot_admins": frozenset(bot_admins),
            "flood_limit": flood_limit,
            "flood_window": flood_window,
            **settings,
        }
        self.state = BotApiState()
        self.app: Application[Any, Any, Any, Any, Any, Any] | None = None
        self.errors: list[BaseException] = []
        self.builds = 0

    # ----------------------------------------------------------------- lifecycle

    @property
    def settings(self) -> Settings:
        return Settings(
            _env_file=None,  # type: ignore[call-arg]
            database_url=self.database_url,
            bot_token=TOKEN,
            fake_now=self.fake_now,
            **self._settings_fields,
        )

    async def __aenter__(self) -> BotHarness:
        await self.start()
        if self.plan is not None:
            await self.import_plan(self.plan)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        # (Form specs are cached per database engine: a rebuilt bot, with its new engine,
        # resumes from the database alone.)
        app = build_application(self.settings, request=FakeRequest(self.state))
        app.add_error_handler(self._record_error)
        await app.initialize()
        if app.post_init is not None:
            await app.post_init(app)  # setMyCommands; run_polling would call it
        self.app = app
        self.builds += 1

    async def stop(self) -> None:
        if self.app is None:
            return
        app, self.app = self.app, None
        if app.post_stop is not None:
            await app.post_stop(app)  # stops the outbox sender, releases the sweeper's lock
        await app.shutdown()
        if app.post_shutdown is not None:
            await app.post_shutdown(app)  # disposes the engine

    async def rebuild(self, **settings: Any) -> None:
        """A restart: a new Application (and engine) on the same database and chats. The
        bot's clock continues from where it was unless `fake_now` is given."""
        self.fake_now = settings.pop("fake_now", None) or self.now
        self._settings_fields.update(settings)
        await self.stop()
        await self.start()

    async def _record_error(self, update: object, context: Any) -> None:
        self.errors.append(context.error)

    @property
    def application(self) -> Application[Any, Any, Any, Any, Any, Any]:
        assert self.app is not None, "the harness is not started"
        return self.app

    @property
    def clock(self) -> Clock:
        return self.application.bot_data["clock"]

    @property
    def now(self) -> dt.datetime:
        return self.clock.now()

    def set_now(self, moment: dt.datetime) -> None:
        self.fake_now = moment
        self.clock.set(moment)

    # ----------------------------------------------------------------- database

    @property
    def sessionmaker(self) -> async_sessionmaker[AsyncSession]:
        return self.application.bot_data["db"]

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session in a transaction that commits on leaving (for setting up and tampering)."""
        async with self.sessionmaker() as session, session.begin():
            yield session

    async def rows(self, model: Any, *where: Any, order_by: Any = None) -> list[Any]:
        query = select(model).where(*where)
        query = query.order_by(order_by if order_by is not None else model.id)
        async with self.sessionmaker() as session:
            return list((await session.scalars(query)).all())

    async def one(self, model: Any, *where: Any) -> Any:
        found = await self.rows(model, *where)
        assert len(found) == 1, f"expected one {model.__name__}, found {len(found)}"
        return found[0]

    async def count(self, model: Any, *where: Any) -> int:
        return len(await self.rows(model, *where))

    async def import_plan(self, path: Path | str) -> Any:
        async with self.session() as session:
            return await import_plan(session, load_plan(Path(path)), self.settings)

    async def agency(self, code: str, plan: str | None = None) -> Agency:
        async with self.sessionmaker() as session:
            return await find_agency(session, code, plan)

    async def member(self, user_id: int) -> Member | None:
        async with self.sessionmaker() as session:
            return await session.scalar(
                select(Member).where(Member.telegram_user_id == user_id)
            )

    async def obligation(self, agency: str, schedule: str, period_key: str,
                         plan: str | None = None) -> Obligation:
        found = await self.agency(agency, plan)
        async with self.sessionmaker() as session:
            obligation = await session.scalar(
                select(Obligation)
                .join(Schedule, Schedule.id == Obligation.schedule_id)
                .where(Obligation.agency_id == found.id, Schedule.code == schedule,
                       Obligation.period_key == period_key)
            )
        assert obligation is not None, f"no obligation {agency}/{schedule}/{period_key}"
        return obligation

    async def invite(
        self,
        agency: str,
        role: Role | str = Role.reporter,
        *,
        lifetime: dt.timedelta = dt.timedelta(days=7),
        created_at: dt.datetime | None = None,
        plan: str | None = None,
    ) -> str:
        """Create an invite the way the CLI does; returns the code (only a hash is stored)."""
        async with self.session() as session:
            found = await find_agency(session, agency, plan)
            created = await create_invite(session, found, Role(role), lifetime,
                                          actor_label="test", now=created_at or self.now)
            return created.code

    async def revoke(self, code: str) -> None:
        async with self.session() as session:
            await revoke_invite(session, code, actor_label="test", now=self.now)

    async def join(self, user_id: int, agency: str, role: Role | str = Role.reporter,
                   **user_fields: Any) -> Replies:
        """Invite and bind a member through /start CODE, like opening the invite link."""
        user_fields.setdefault("first_name", f"User{user_id}")
        code = await self.invite(agency, role)
        replies = await self.say(user_id, f"/start {code}", **user_fields)
        assert "✅" in replies.text, replies.text
        return replies

    # ----------------------------------------------------------------- the user's side

    async def feed(self, user_id: int, update_json: dict[str, Any], *,
                   allow_errors: bool = False) -> Replies:
        """Process one update to completion; return the bot messages it produced."""
        seen = max((m["message_id"] for m in self.state.chat_messages(user_id)
                    if m["from_bot"]), default=0)
        errors_before = len(self.errors)
        update = Update.de_json(update_json, self.application.bot)
        await self.application.process_update(update)
        new_errors = self.errors[errors_before:]
        if new_errors and not allow_errors:
            raise AssertionError(
                f"a handler raised {new_errors[0]!r} for {update_json!r}"
            ) from new_errors[0]
        return Replies(m for m in self.state.chat_messages(user_id)
                       if m["from_bot"] and m["message_id"] > seen)

    async def say(self, user_id: int, text: str, *, allow_errors: bool = False,
                  **user_fields: Any) -> Replies:
        return await self.feed(user_id, self.state.user_sends_text(user_id, text, **user_fields),
                               allow_errors=allow_errors)

    def message_with(self, user_id: int, data: str) -> dict[str, Any]:
        """The newest bot message that currently shows a button with `data`."""
        for message in reversed(self.bot_messages(user_id)):
            if any(d == data for _t, d in inline_buttons(message)):
                return message
        shown = [b for m in self.bot_messages(user_id)[-3:] for b in inline_buttons(m)]
        raise LookupError(f"no button {data!r} on screen; the last buttons are {shown}")

    async def press(self, user_id: int, data: str, *, allow_errors: bool = False) -> Replies:
        """Press the newest button that carries `data` (it must be on screen)."""
        message = self.message_with(user_id, data)
        return await self.press_raw(user_id, message["message_id"], data, strict=True,
                                    allow_errors=allow_errors)

    async def tap(self, user_id: int, label: str, *, allow_errors: bool = False) -> Replies:
        """Press the newest button whose text contains `label` (e.g. «Bỏ qua»)."""
        for message in reversed(self.bot_messages(user_id)):
            for text, data in inline_buttons(message):
                if label in text:
                    return await self.press_raw(user_id, message["message_id"], data,
                                                strict=True, allow_errors=allow_errors)
        shown = [b for m in self.bot_messages(user_id)[-3:] for b in inline_buttons(m)]
        raise LookupError(f"no button labelled {label!r}; the last buttons are {shown}")

    async def press_raw(self, user_id: int, message_id: int, data: str, *,
                        strict: bool = False, allow_errors: bool = False,
                        check_answered: bool = True) -> Replies:
        """Send a callback query for `data` on `message_id`, whether or not such a button is
        shown (old messages, tampered data)."""
        update_json = self.state.user_presses(user_id, message_id, data, strict=strict)
        replies = await self.feed(user_id, update_json, allow_errors=allow_errors)
        if check_answered:
            query_id = update_json["callback_query"]["id"]
            assert self.state.callback_answer(query_id) is not None, (
                f"the press of {data!r} was never answered (the button keeps spinning)"
            )
        return replies

    async def send_document(self, user_id: int, filename: str, content: bytes = PDF_BYTES,
                            mime_type: str | None = None, *, file_size: int | None = None,
                            allow_errors: bool = False, **user_fields: Any) -> Replies:
        """Send a file. `file_size` overrides the size Telegram reports (no need to upload
        megabytes to test a limit)."""
        update_json = self.state.user_sends_document(user_id, filename, content, mime_type,
                                                     **user_fields)
        if file_size is not None:
            update_json["message"]["document"]["file_size"] = file_size
        return await self.feed(user_id, update_json, allow_errors=allow_errors)

    async def send_photo(self, user_id: int, content: bytes = JPEG_BYTES, *,
                         allow_errors: bool = False, **user_fields: Any) -> Replies:
        return await self.feed(user_id, self.state.user_sends_photo(user_id, content,
                                                                    **user_fields),
                               allow_errors=allow_errors)

    async def send_sticker(self, user_id: int, emoji: str = "👍", *,
                           allow_errors: bool = False, **user_fields: Any) -> Replies:
        return await self.feed(user_id, self.state.user_sends_sticker(user_id, emoji,
                                                                      **user_fields),
                               allow_errors=allow_errors)

    # ----------------------------------------------------------------- what the user sees

    def bot_messages(self, user_id: int) -> list[dict[str, Any]]:
        return self.state.bot_messages(user_id)

    def bot_texts(self, user_id: int) -> list[str]:
        return [m.get("text") or m.get("caption") or "" for m in self.bot_messages(user_id)]

    def last_message(self, user_id: int) -> dict[str, Any]:
        messages = self.bot_messages(user_id)
        assert messages, f"the bot never wrote to {user_id}"
        return messages[-1]

    def last_text(self, user_id: int) -> str:
        return self.bot_texts(user_id)[-1]

    def last_buttons(self, user_id: int) -> list[tuple[str, str]]:
        """(text, callback_data) of the newest bot message that has inline buttons."""
        for message in reversed(self.bot_messages(user_id)):
            buttons = inline_buttons(message)
            if buttons:
                return buttons
        return []

    def reply_keyboard(self, user_id: int) -> list[str]:
        """The persistent reply keyboard (main menu) the user currently sees."""
        chat = self.state.chats.get(user_id)
        return reply_keyboard({"reply_markup": chat.reply_keyboard}) if chat else []


# ----------------------------------------------------------------------------- PostgreSQL


def postgres_template() -> Iterator[str]:
    """A migrated PostgreSQL database to copy (for a module- or session-scoped fixture).

    ``CREATE DATABASE … TEMPLATE`` takes a fraction of the time the migrations take, and the
    copy is the same fresh, migrated database that ``conftest.postgres_url`` gives."""
    if not postgres_reachable():
        pytest.skip("PostgreSQL is not reachable at 127.0.0.1:5432")
    from db.migrate import upgrade

    name = f"tpl_{uuid.uuid4().hex[:12]}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    try:
        upgrade(_pg_url(name))
        yield name
    finally:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def postgres_copy(template: str) -> Iterator[str]:
    """A fresh database copied from `template`, dropped afterwards; yields its URL."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    try:
        yield _pg_url(name)
    finally:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
