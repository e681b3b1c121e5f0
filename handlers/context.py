"""What every handler needs for one update: a session, the member, language, clock.

A handler is `async def f(t: Turn) -> None` entered with `@with_turn`: one transaction per
update, replies sent after the commit, the member's roles asked of the Turn.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Literal, cast, overload

from sqlalchemy import Table, bindparam, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    ReplyKeyboardMarkup,
    Update,
)
from telegram.error import TelegramError
from telegram.ext import ApplicationHandlerStop

from core.channels import TELEGRAM, ZALO, Channel, channel_of, is_zalo
from core.choices import Choices, Menu
from core.clock import Clock
from core.i18n import N_, Gettext, pick_language, translator
from core.settings import Settings
from core.textlimits import clip_html, split_html
from db.drafts import member_and_draft
from db.models import Member, MemberRole, ProcessedUpdate, Role
from db.session import dialect_of, immediate, rows_changed, writer_lock
from handlers.common import Context, sessions
from handlers.errors import DuplicateUpdate, tolerate
from handlers.screens import stranger_welcome
from scheduler.sender import post_message

STALE_BUTTON = N_("This button is no longer valid. Open «Reports due» for the current list.")
STALE_CHOICE = N_("That choice is no longer valid. Choose «Reports due» for the current list, "
                  "or send «menu».")
COMMITTEE_ONLY = N_("Sorry, only the committee's chairs and standing office can use this.")
ADMINS_ONLY = N_("Sorry, only admins can use this.")
FORM_ROLES = frozenset({Role.reporter, Role.head})
COMMITTEE_ROLES = frozenset({Role.chair, Role.standing_office, Role.admin})

__all__ = ["DuplicateUpdate", "Turn", "turn", "with_turn"]


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
    _zalo_lists: list[tuple[object, Choices, bool]] = field(default_factory=list)

    @property
    def tz(self) -> Any:
        return self.settings.tz

    @property
    def bound(self) -> bool:
        """A member who may use the agency features."""
        return self.member is not None and self.member.active and (
            self.member.agency_id is not None or Role.admin in self.member.role_set
        )

    @property
    def may_report(self) -> bool:
        """A reporter or head of an agency: may fill in its reports."""
        m = self.member
        return bool(m and m.active and m.agency_id is not None and m.role_set & FORM_ROLES)

    @property
    def oversees(self) -> bool:
        """A chair, the standing office or an admin of a committee: its committee tools."""
        m = self.member
        return bool(m and m.active and m.committee_id and m.role_set & COMMITTEE_ROLES)

    @property
    def is_admin(self) -> bool:
        m = self.member
        return bool(m and m.active and Role.admin in m.role_set)

    @property
    def data(self) -> str:
        """The pressed button's callback data ("" for a message)."""
        query = self.update.callback_query
        return (query.data or "") if query is not None else ""

    @property
    def channel(self) -> Channel:
        """The channel of this update (for this adapter's rendering, not for features)."""
        chat = self.update.effective_chat
        return channel_of(chat.id) if chat is not None else TELEGRAM

    def stale(self) -> None:
        """The one answer to a button that no longer means anything (or never did)."""
        self.send(self._(STALE_CHOICE if self.channel == ZALO else STALE_BUTTON))

    def edit_markup(self, markup: InlineKeyboardMarkup | None) -> None:
        """Replace the pressed message's buttons (None removes them) after the commit; an
        old, deleted or unchanged message is fine."""
        query = self.update.callback_query
        if query is None or query.message is None:
            return

        async def edit() -> None:
            await tolerate(query.edit_message_reply_markup(reply_markup=markup))

        self.later(edit)

    def mark_answered(self, answer_html: str) -> None:
        """Show under the pressed question what was chosen («✔ Có») and remove its
        buttons, after the commit; falls back to removing the buttons alone when the
        message cannot be edited (too old, too long, or unchanged)."""
        query = self.update.callback_query
        message = query.message if query is not None else None
        if query is None or not isinstance(message, Message) or not message.text:
            self.edit_markup(None)
            return
        text = clip_html(message.text_html + "\n\n" + answer_html)

        async def edit() -> None:
            try:
                await query.edit_message_text(text, parse_mode="HTML", reply_markup=None)
            except TelegramError:
                await tolerate(query.edit_message_reply_markup(reply_markup=None))

        self.later(edit)

    def send(self, text: str, choices: Choices | None = None, menu: Menu | None = None,
             typed: bool = False, **kwargs: Any) -> None:
        """Say `text`, with `choices` under it (rows of Choice: buttons on Telegram) or the
        main `menu` (Menu: the reply keyboard on Telegram). Features say what to show; how
        is this adapter's (telegram_markup). `typed`: the message also waits for typed text
        (a number, a date, a comment), as does any while a typed input is pending; on Zalo
        its choices are then lettered, so that a typed number stays an answer."""
        kwargs.setdefault("parse_mode", "HTML")
        chat = self.update.effective_chat
        if chat is None:  # nowhere to answer (the chat guard drops these before any feature)
            return
        if channel_of(chat.id) == ZALO:
            self._send_zalo(chat, text, choices, menu, typed, kwargs)
            return
        if choices is not None:
            kwargs["reply_markup"] = telegram_markup(choices)
        elif menu is not None:
            kwargs["reply_markup"] = reply_keyboard(menu)
        # The last guard against Telegram's limit: a screen built too long goes out in
        # several valid messages, its buttons under the last one, instead of a 400.
        pieces = split_html(text) if kwargs["parse_mode"] == "HTML" else [text]
        markup = kwargs.pop("reply_markup", None)
        for n, piece in enumerate(pieces, 1):
            extra = {**kwargs, "reply_markup": markup} if (
                n == len(pieces) and markup is not None) else kwargs
            self.outgoing.append(functools.partial(send_message, chat, piece, extra))

    def _send_zalo(self, chat: Any, text: str, choices: Choices | None, menu: Menu | None,
                   typed: bool, kwargs: dict[str, Any]) -> None:
        """Zalo answers a list by typing, against the last list it showed: the choices of
        all of a turn's messages go under its last message that has any (a report's
        «No activity» stays choosable under its first question), and the main menu only
        when nothing else is offered («menu» shows it again)."""
        typed = typed or bool(self.member is not None and self.member.pending_action)
        token = object()
        if choices:
            self._zalo_lists.append((token, choices, typed))

        async def send() -> None:
            extra = dict(kwargs)
            if choices and self._zalo_lists[-1][0] is token:
                merged = [row for _, rows, _ in self._zalo_lists for row in rows]
                extra["reply_markup"] = telegram_markup(merged)
                if any(t for _, _, t in self._zalo_lists):
                    extra["zalo_typed"] = True
            elif menu is not None and not self._zalo_lists:
                extra["reply_markup"] = reply_keyboard(menu)
            await send_message(chat, text, extra)

        self.outgoing.append(send)

    def edit_choices(self, choices: Choices | None) -> None:
        """Replace the pressed message's choices (None removes them)."""
        self.edit_markup(telegram_markup(choices) if choices else None)

    def edit(self, text: str, choices: Choices | None = None) -> None:
        """Replace the pressed message (a page turned): its text and choices, after the
        commit; a message that cannot be edited gets the new screen as a new message."""
        query = self.update.callback_query
        if query is None or query.message is None:
            self.send(text, choices=choices)
            return
        markup = telegram_markup(choices) if choices else None

        async def edit() -> None:
            await tolerate(query.edit_message_text(text, parse_mode="HTML",
                                                   reply_markup=markup))

        self.later(edit)

    def send_file(self, content: bytes, filename: str, caption: str | None = None) -> None:
        """A file the person downloads (a workbook, a CSV)."""
        chat = self.update.effective_chat
        if chat is not None:
            self.later(lambda: chat.send_document(content, filename=filename, caption=caption,
                                                  parse_mode="HTML"))

    def send_attachment(self, stored: str, name: str | None, mime: str | None) -> None:
        """A file a person sent (stored by the channel's own reference), shown back: a
        picture as a picture, anything else as a file; one line saying so if the channel
        no longer has it."""
        chat = self.update.effective_chat
        if chat is None:
            return
        missing = self._("The attachment {name} could not be shown.").format(name=name or "")

        async def send() -> None:
            try:
                if mime and mime.startswith("image/"):
                    await chat.send_photo(stored, caption=name)
                else:
                    await chat.send_document(stored, caption=name)
            except TelegramError:
                await chat.send_message(missing)

        self.later(send)

    def send_picture(self, content: bytes, caption: str | None = None,
                     choices: Choices | None = None) -> None:
        """A picture (a chart), with choices under it."""
        chat = self.update.effective_chat
        if chat is not None:
            markup = telegram_markup(choices) if choices else None
            self.later(lambda: chat.send_photo(content, caption=caption, parse_mode="HTML",
                                               reply_markup=markup))

    def later(self, action: Callable[[], Awaitable[Any]]) -> None:
        self.outgoing.append(action)

    def answer_callback(self, text: str | None = None, alert: bool = False) -> None:
        query = self.update.callback_query
        if query is not None:
            answer = functools.partial(query.answer, text, show_alert=alert)
            answer.answers_query = True  # type: ignore[attr-defined]
            self.outgoing.append(answer)

    async def answer_now(self) -> None:
        """Answer the pressed button before slow work (a document, a workbook, a chart), so
        the spinner on the person's phone stops at once, not when the file is ready."""
        query = self.update.callback_query
        queued = [a for a in self.outgoing if getattr(a, "answers_query", False)]
        if query is None or not queued:
            return
        self.outgoing = [a for a in self.outgoing if a not in queued]
        with contextlib.suppress(TelegramError):
            await queued[0]()


async def send_message(chat: Any, text: str, params: dict[str, Any]) -> None:
    """sendMessage of `text` with `params` in `chat`, without a telegram.Message built from
    the answer: a turn's replies are not read back (scheduler.sender.post_message)."""
    await post_message(chat.get_bot(), {"chat_id": chat.id, "text": text, **params})


def telegram_markup(choices: Choices | None) -> InlineKeyboardMarkup | None:
    """Choices as Telegram buttons: one row of buttons per row of choices."""
    if not choices:
        return None
    return InlineKeyboardMarkup([[InlineKeyboardButton(c.label, callback_data=c.data)
                                  for c in row] for row in choices if row])


def reply_keyboard(menu: Menu) -> ReplyKeyboardMarkup:
    """The main menu as Telegram's persistent reply keyboard."""
    return ReplyKeyboardMarkup([list(row) for row in menu.rows], resize_keyboard=True,
                               is_persistent=True)


def clock_of(context: Context) -> Clock:
    return context.application.bot_data["clock"]


async def begin_turn(update: Update, context: Context, session: AsyncSession) -> Turn:
    settings: Settings = context.application.bot_data["settings"]
    user = update.effective_user
    chat = update.effective_chat
    member = None
    if user is not None:
        member = await load_member(session, user.id, chat.id if chat is not None else None)
        if member is not None and chat is not None and member.active:
            follow_channel(member, chat.id)
    locale = pick_language(member.language if member else None,
                           user.language_code if user else None)
    t = Turn(
        update=update, context=context, session=session, member=member, locale=locale,
        _=translator(locale), now=clock_of(context).now(), settings=settings,
    )
    if user is not None and user.id in settings.bot_admins and (
            member is None or Role.admin not in member.role_set):
        await ensure_admin(t)  # BOT_ADMINS are admins from their first message
    return t


async def load_member(session: AsyncSession, user_id: int, chat_id: int | None
                      ) -> Member | None:
    """The member behind an update, with their roles and agency, and the draft they are
    answering, in one query (db.drafts.member_and_draft).

    One person's turns go one at a time across instances (webhooks behind a load balancer):
    the second waits, then reads what the first wrote. On PostgreSQL the member's row is
    locked by the same query that reads it (FOR UPDATE; a no-op on SQLite, whose single
    writer already orders turns); someone with no row yet (a stranger joining) is ordered
    by an advisory lock on the chat, then read again."""
    postgres = dialect_of(session) == "postgresql"
    identity = identity_column(user_id).key
    member = await member_and_draft(session, identity, user_id, lock=postgres)
    if member is None and postgres and chat_id is not None:
        await session.execute(text("select pg_advisory_xact_lock(hashtextextended(:key, 0))"),
                              {"key": f"chat:{chat_id}"})
        member = await member_and_draft(session, identity, user_id, lock=postgres)
    return member


def identity_column(user_id: int) -> Any:
    """The member column that holds this channel's user id."""
    return Member.zalo_user_id if is_zalo(user_id) else Member.telegram_user_id


def identity(user_id: int) -> dict[str, int]:
    """A new member's identity on this update's channel."""
    return {"zalo_user_id" if is_zalo(user_id) else "telegram_user_id": user_id}


def follow_channel(member: Member, chat_id: int) -> None:
    """Unprompted messages go to the channel the member chose, else to the one used last."""
    chosen = member.preferred_channel
    if chosen in (None, channel_of(chat_id)) and member.chat_id != chat_id:
        member.chat_id = chat_id


async def ensure_admin(t: Turn) -> None:
    """Users listed in BOT_ADMINS are admins from their first message."""
    user = t.update.effective_user
    if user is None or user.id not in t.settings.bot_admins:
        return
    if t.member is None:
        t.member = Member(**identity(user.id), full_name=user.full_name,
                          username=user.username, telegram_language=user.language_code,
                          chat_id=user.id)
        t.session.add(t.member)
        await t.session.flush()
        await t.session.refresh(t.member, ["roles"])
    if Role.admin not in t.member.role_set:
        t.member.roles.append(MemberRole(role=Role.admin))
        await t.session.flush()


async def first_delivery(session: AsyncSession, update: Update, now: dt.datetime) -> bool:
    """Record the update id in this transaction; False when it was already recorded."""
    result = await session.execute(_record_update(dialect_of(session)),
                                   {"update_id": update.update_id, "at": now})
    return bool(rows_changed(result))


@functools.cache
def _record_update(dialect: str) -> Any:
    """INSERT … ON CONFLICT DO NOTHING of an update's id, built once per dialect (building
    it cost more than running it); run with the id and the time as parameters."""
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    table = cast(Table, ProcessedUpdate.__table__)  # Core: its result has a rowcount
    return (insert(table).values(update_id=bindparam("update_id"), at=bindparam("at"))
            .on_conflict_do_nothing(index_elements=[table.c.update_id]))


class turn:
    """A transaction around one update: commit when the handler returns normally.

    On SQLite the turns of this process take the database one at a time, in arrival order
    (`db.session.writer_lock`): twenty people answering at once queue here instead of
    spinning in SQLite's busy timeout. The lock is released at the commit, before the
    replies go out."""

    def __init__(self, update: Update, context: Context) -> None:
        self.update, self.context = update, context

    async def __aenter__(self) -> Turn:
        maker = sessions(self.context)
        self._lock = writer_lock(maker)
        await self._lock.__aenter__()
        try:
            self._session = maker()
            await self._session.__aenter__()
            self._tx = self._session.begin()
            await self._tx.__aenter__()
            await immediate(self._session)  # every turn writes (first_delivery)
            self._turn = await begin_turn(self.update, self.context, self._session)
            if not await first_delivery(self._session, self.update, self._turn.now):
                await self._tx.rollback()
                await self._session.close()
                raise DuplicateUpdate(self.update.update_id)
        except BaseException:
            await self._lock.__aexit__(None, None, None)
            raise
        return self._turn

    async def __aexit__(self, *exc: Any) -> None:
        try:
            try:
                await self._tx.__aexit__(*exc)
            finally:
                await self._session.__aexit__(*exc)
        finally:
            await self._lock.__aexit__(None, None, None)
        if exc[0] is None:
            for action in self._turn.outgoing:
                await action()


Handler = Callable[[Turn], Awaitable[None]]
Callback = Callable[[Update, Context], Coroutine[Any, Any, None]]
Role_ = Literal["committee", "admin"] | None


@overload
def with_turn(handler: Handler, *, members_only: bool = ..., role: Role_ = ...) -> Callback: ...


@overload
def with_turn(handler: None = ..., *, members_only: bool = ...,
              role: Role_ = ...) -> Callable[[Handler], Callback]: ...


def with_turn(
    handler: Handler | None = None, *, members_only: bool = True, role: Role_ = None,
) -> Callback | Callable[[Handler], Callback]:
    """Make `async def f(t: Turn)` a PTB callback: one turn around it, a pressed button
    answered (once, first), strangers welcomed when `members_only`, the `role` checked.
    A handled update goes no further (the fallback group would answer it a second time)."""
    def wrap(inner: Handler) -> Callback:
        @functools.wraps(inner)
        async def callback(update: Update, context: Context) -> None:
            try:
                async with turn(update, context) as t:
                    t.answer_callback()
                    if members_only and not t.bound:
                        t.send(stranger_welcome(t._))
                    elif role == "committee" and not t.oversees:
                        t.send(t._(COMMITTEE_ONLY))
                    elif role == "admin" and not t.is_admin:
                        t.send(t._(ADMINS_ONLY))
                    else:
                        await inner(t)
            except Exception as exc:  # reported to every error handler here,
                # so that a failed update also ends in this group (PTB would go on with the
                # fallback group after its error handlers)
                await context.application.process_error(update, exc)
            raise ApplicationHandlerStop
        return callback
    return wrap(handler) if handler is not None else wrap
