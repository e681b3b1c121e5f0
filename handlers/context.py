"""What every handler needs for one update: a session, the member, language, clock."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Update

from core.clock import Clock
from core.i18n import Gettext, pick_language, translator
from core.settings import Settings
from core.textlimits import split_html
from db.models import Member, ProcessedUpdate, Role
from handlers.common import Context, sessions


@dataclass
class Turn:
    """One update being handled."""

    update: Update
    context: Context
    session: AsyncSession
    member: Member | None
    locale: str
    _: Gettext
    now: dt.datetime
    settings: Settings
    # Replies are sent after the transaction commits: no database lock is held while a slow
    # phone connection answers, and nothing is announced that was not saved.
    outgoing: list[Callable[[], Awaitable[Any]]] = field(default_factory=list)

    @property
    def tz(self) -> Any:
        return self.settings.tz

    @property
    def bound(self) -> bool:
        """A member who may use the agency features."""
        return self.member is not None and self.member.active and (
            self.member.agency_id is not None or Role.admin in self.member.role_set
        )

    def send(self, text: str, **kwargs: Any) -> None:
        kwargs.setdefault("parse_mode", "HTML")
        chat = self.update.effective_chat
        if chat is None:  # nowhere to answer (the chat guard drops these before any feature)
            return
        # The last guard against Telegram's limit: a screen built too long goes out in
        # several valid messages, its buttons under the last one, instead of a 400.
        pieces = split_html(text) if kwargs["parse_mode"] == "HTML" else [text]
        markup = kwargs.pop("reply_markup", None)
        for n, piece in enumerate(pieces, 1):
            extra = {**kwargs, "reply_markup": markup} if (
                n == len(pieces) and markup is not None) else kwargs
            self.outgoing.append(
                lambda piece=piece, extra=extra: chat.send_message(piece, **extra))

    def later(self, action: Callable[[], Awaitable[Any]]) -> None:
        self.outgoing.append(action)

    def answer_callback(self, text: str | None = None, alert: bool = False) -> None:
        query = self.update.callback_query
        if query is not None:
            self.outgoing.append(lambda: query.answer(text, show_alert=alert))


def clock_of(context: Context) -> Clock:
    return context.application.bot_data["clock"]


async def begin_turn(update: Update, context: Context, session: AsyncSession) -> Turn:
    settings: Settings = context.application.bot_data["settings"]
    user = update.effective_user
    chat = update.effective_chat
    if chat is not None and session.bind.dialect.name == "postgresql":
        # One chat's turns one at a time across instances (webhooks behind a load balancer):
        # the second waits, then reads what the first wrote.
        await session.execute(text("select pg_advisory_xact_lock(hashtextextended(:key, 0))"),
                              {"key": f"chat:{chat.id}"})
    member = None
    if user is not None:
        member = await session.scalar(select(Member).where(Member.telegram_user_id == user.id))
    locale = pick_language(member.language if member else None,
                           user.language_code if user else None)
    t = Turn(
        update=update, context=context, session=session, member=member, locale=locale,
        _=translator(locale), now=clock_of(context).now(), settings=settings,
    )
    if user is not None and user.id in settings.bot_admins and (
            member is None or Role.admin not in member.role_set):
        from handlers.onboarding import ensure_admin

        await ensure_admin(t)  # BOT_ADMINS are admins from their first message
    return t


class DuplicateUpdate(Exception):
    """This update was handled before (Telegram delivered it again): do nothing."""


async def first_delivery(session: AsyncSession, update: Update, now: dt.datetime) -> bool:
    """Record the update id in this transaction; False when it was already recorded."""
    dialect_insert = pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert
    result = await session.execute(
        dialect_insert(ProcessedUpdate).values(update_id=update.update_id, at=now)
        .on_conflict_do_nothing(index_elements=[ProcessedUpdate.update_id])
    )
    return bool(result.rowcount)


class turn:
    """A transaction around one update: commit when the handler returns normally."""

    def __init__(self, update: Update, context: Context) -> None:
        self.update, self.context = update, context

    async def __aenter__(self) -> Turn:
        self._session = sessions(self.context)()
        await self._session.__aenter__()
        self._tx = self._session.begin()
        await self._tx.__aenter__()
        self._turn = await begin_turn(self.update, self.context, self._session)
        if not await first_delivery(self._session, self.update, self._turn.now):
            await self._tx.rollback()
            await self._session.close()
            raise DuplicateUpdate(self.update.update_id)
        return self._turn

    async def __aexit__(self, *exc: Any) -> None:
        try:
            await self._tx.__aexit__(*exc)
        finally:
            await self._session.__aexit__(*exc)
        if exc[0] is None:
            for action in self._turn.outgoing:
                await action()
