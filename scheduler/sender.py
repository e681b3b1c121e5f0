"""The outbox sender: claim, send, mark — paced under Telegram's limits, with any number of
instances on one database.

Crash safety. Each message goes through three steps:
1. *claim*: pending → sending, with claimed_at, claimed_by and a fresh random claim_token,
   committed before anything is sent. A row is claimed only when it can be sent at once: the
   worker first takes its place under the rate (free now, or in at most `claim_ahead`,
   0.1 s: the claim's round trip overlaps that wait), then claims, then sends. No claim is
   held while waiting for the rate, a chat's interval or a 429 pause: a pause that begins
   in those 0.1 s gives the row back unsent. The workers that want a row at the same time
   are served by one statement (`UPDATE … RETURNING`, at most one row per chat).
2. *send*: the Bot API call, made only if the claim still holds (a claim older than a
   quarter of `claim_timeout`, the only kind another sender could have recovered, is
   re-read right before the call).
3. *mark*: sending → sent with Telegram's message id (or back to pending / failed / blocked),
   fenced by the claim: `WHERE id = … AND claim_token = … AND status = 'sending'`. When no
   row matches, the claim was lost (another sender recovered the row): nothing more is done
   with it — its new owner sends it. The sends marked sent at the same time share one
   statement, and the claims and marks asked for while a transaction runs share the next
   one (group commit, `_writer`): under load a message costs a fraction of a transaction.
   A worker still waits for its own mark before it takes another message.
`recover` (at start and every `recover_every` seconds) returns rows claimed more than
`claim_timeout` ago to pending: a crash before 2 loses nothing. A claim is held only for the
time of one send (milliseconds; the heartbeat renews claimed_at of a send that takes longer
than a quarter of `claim_timeout`), so only the claims of a sender that died are recovered.
The one window in which a message can go out twice is a crash between 2 and 3: the messages
in flight in the instance that crashed (at most `concurrency`, one per worker), each sent once
more after recovery. Everything that was marked is never sent again. (A read timeout after
Telegram accepted a message is the other, unavoidable, source of a repeat: the send is
retried.)

Pacing, overall across instances (Telegram counts per bot token):
* Rate: each instance holds a *share* of `rate` (messages per second) in `sender_lease`,
  renewed every `lease_every` seconds and valid for `lease_ttl`; the shares of the live
  leases never add up to more than `rate`. The instances that have messages to send split
  the rate evenly; an instance with nothing to send gives its share back. A share is raised
  only after the database has it, and lowered in the database only once the instance's
  recent sends fit under the lower figure, so no second sees more than `rate` arrivals from
  all instances together. Within its share an instance paces itself (`Pacer`): a send
  starts only while fewer than `share` sends are in flight or arrived (by a bound on their
  arrival worked out from their start and answer times) within the last second, and 1/share
  s after the previous one. One database transaction per instance and renewal, none per
  message.
* Per chat: a message is claimed only while no other message of its chat is being sent and
  none was answered (`done_at`, on the database's clock) less than `per_chat` seconds ago,
  whichever instance sent it. The claim is atomic per chat: one statement under SQLite's
  write lock; on PostgreSQL an advisory lock on the chat, taken before the conditional
  update, so of two instances claiming messages of one chat the second sees the first's.
Telegram's paid broadcasts (`paid_broadcast`, PAID_BROADCAST=1) pass `allow_paid_broadcast`
and may be given a rate up to 1,000/s; `rate=0` sends unpaced.
429 `RetryAfter` pauses all sending for the time Telegram asks, in every instance (the pause
is passed on with the lease), and re-queues the row; network errors, timeouts and 5xx retry
with exponential backoff up to `max_attempts`; 403 marks the member inactive (the standing
office's next digest says so).

Channels: each channel (Telegram, Zalo) has its own sender, bot and rate; a sender claims only
the rows of its channel (the chat id says which, core.channels) and shares its rate only
with the same channel's senders in other instances (lease owners are prefixed).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import datetime as dt
import functools
import logging
import math
import os
import secrets
import socket
import time
import warnings
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import (
    CursorResult,
    Double,
    bindparam,
    case,
    delete,
    exists,
    extract,
    func,
    select,
    text,
    update,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement, UnaryExpression
from sqlalchemy.sql.operators import custom_op
from telegram import Bot
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.warnings import PTBUserWarning

from core.channels import TELEGRAM, ZALO_HIGH, ZALO_LOW, Channel
from db.audit import record
from db.models import Member, OutboxMessage, OutboxStatus, SenderLease

log = logging.getLogger(__name__)

LEASE_LOCK_KEY = 138_2022_002  # PostgreSQL advisory lock: one lease renewal at a time
CHAT_LOCK_SPACE = 138_2022  # (space, chat) advisory locks: one claim per chat at a time
SEND_MESSAGE = "sendMessage"
# A lease that was not renewed still counts this long after it expired: the sends its owner
# made just before fall in the same one-second windows as the next owner's first ones.
LEASE_GRACE = 2.0


@dataclass
class SenderConfig:
    rate: float = 30.0  # messages per second, overall: all instances together
    per_chat: float = 1.0  # seconds between two messages to one chat, overall
    concurrency: int = 8
    max_attempts: int = 8
    backoff_base: float = 2.0
    backoff_max: float = 600.0
    claim_timeout: float = 120.0
    recover_every: float = 30.0
    idle_poll: float = 0.5
    lease_every: float = 0.5  # seconds between two renewals of this instance's rate share
    lease_ttl: float = 5.0  # a share not renewed for this long goes back to the others
    # A worker may take its place under the rate this long before the place frees, to claim
    # its message meanwhile (the claim's database round trip then costs no sending time).
    claim_ahead: float = 0.1
    # Of the fastest round trip, at most this many seconds were the way to Telegram; round
    # trips vary by less than that beyond what they took (see `Pacer`).
    jitter: float = 0.01
    # Telegram's paid broadcasts (`allow_paid_broadcast`): up to 1,000 messages/s, each
    # one over the free 30/s paid in Stars (PAID_BROADCAST, core.settings).
    paid_broadcast: bool = False
    channel: Channel = TELEGRAM  # the rows this sender claims (core.channels)


class Place:
    """One send's place under the rate: taken by `Pacer.take`, from `at` (monotonic)."""

    __slots__ = ("at", "start")

    def __init__(self, at: float) -> None:
        self.at = at  # the send may start from this time
        self.start: float | None = None  # when it did (`Pacer.begin`)


class Pacer:
    """At most `cap` messages in any one-second window, as Telegram counts them (arrivals).

    A send takes a place before it starts and keeps it until one second after a bound on
    its arrival at Telegram, known when the answer comes back at `c`: the arrival lies
    between the start and `c`, and the answer's way back (Telegram's own delay, then the
    network's) takes about as long as in the fastest recent round trip, `rtt_min`, less
    the part of that round trip that was the way there, which is at most `jitter`. So the
    bound is `c - max(0, rtt_min - jitter)`:
    * on a fast network (`rtt_min` within `jitter`) it is `c` itself: no second can see
      more than `cap` arrivals, whatever the stalls;
    * over a network with latency the sends are paced on their *start* times: a place is
      not held for the answer's way back, only for what a round trip took beyond the
      fastest one (a stall on either way: then the place is held longer, as it must be).
    A new send waits for a free place (fewer than `cap` in flight or within a second of
    their bound) and starts at least 1/`cap` s after the previous one: a burst would queue
    at Telegram, and its last request arrive late. `pause` (a 429) holds everything.

    `cap` is `rate` on its own; the sender sets it to its instance's share of the overall
    rate, valid until `valid_until` (monotonic): past it nothing starts until it is renewed.
    A place may be taken a little ahead of the time it frees (`take(ahead)`), so that the
    sender claims its message meanwhile; the send itself waits for that time. A place taken
    and not used (nothing to send after all) goes back with `cancel`."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic,
                 jitter: float = 0.01) -> None:
        self.rate = max(1, int(rate)) if rate > 0 else 0
        self.cap = self.rate
        self.valid_until = math.inf
        self.clock = clock
        self.jitter = jitter
        self.flying: set[Place] = set()  # taken, not answered yet
        self.done: list[float] = []  # arrival bounds within the last second, ascending
        self.rtts: deque[float] = deque(maxlen=64)  # the last round trips, seconds
        self.last_at = -math.inf  # the start time of the last place taken
        self.paused_until = 0.0
        self.closed = False
        self.changed = asyncio.Condition()
        self._anonymous: deque[Place] = deque()  # `acquire`/`release` without a place

    @property
    def in_flight(self) -> int:
        return len(self.flying)

    def _prune(self, now: float) -> None:
        old = bisect.bisect_right(self.done, now - 1.0)
        if old:
            del self.done[:old]

    def footprint(self) -> int:
        """Sends that can still land in a one-second window that includes now."""
        self._prune(self.clock())
        return len(self.flying) + len(self.done)

    async def take(self, ahead: float = 0.0) -> Place | None:
        """Take a place. Its `at` is the (monotonic) time from which its send may start:
        now, or at most `ahead` seconds later, when an older send leaves the window (the
        caller gets ready meanwhile and waits for it); None when the pacer was closed (the
        sender stops)."""
        async with self.changed:
            for _ in range(1_000_000):  # bounded; each turn waits for time or a change
                if self.closed:
                    return None
                now = self.clock()
                self._prune(now)
                if self.paused_until > now:
                    delay = self.paused_until - now
                elif not self.rate:
                    return Place(now)  # no limit: nothing to count
                elif self.cap <= 0 or now >= self.valid_until:
                    delay = 1.0  # no share (yet): `set_share` wakes us
                else:
                    # Sends start at least 1/cap apart: a burst would queue at Telegram (or
                    # the stand-in) and its last request would arrive late.
                    start = max(now, self.last_at + 1.0 / self.cap)
                    taken = len(self.flying) + len(self.done)
                    if taken >= self.cap:
                        # The place frees when that send's second is over (the older ones
                        # too), or sends in flight must be answered first.
                        oldest = taken - self.cap
                        if oldest < len(self.done):
                            start = max(start, self.done[oldest] + 1.0)
                        else:
                            start = math.inf
                    if start - now <= ahead and start < self.valid_until:
                        self.last_at = start
                        return self._taken(start)
                    # (an answer wakes us: `release`)
                    delay = start - now - ahead if start < math.inf else 1.0
                try:
                    await asyncio.wait_for(self.changed.wait(), max(delay, 0.001))
                except TimeoutError:
                    pass
        return None

    def _taken(self, at: float) -> Place:
        place = Place(at)
        self.flying.add(place)
        return place

    def begin(self, place: Place) -> None:
        """The send starts now."""
        place.start = self.clock()

    async def release(self, place: Place | None = None) -> None:
        """The send was answered: its place counts until a second after its arrival bound."""
        async with self.changed:
            if place is None:
                place = self._anonymous.popleft()
            now = self.clock()
            if place in self.flying:
                self.flying.discard(place)
                start = place.start if place.start is not None else now
                self.rtts.append(now - start)
                way_back = max(0.0, min(self.rtts) - self.jitter)
                bisect.insort(self.done, max(start, now - way_back))
            self.changed.notify_all()

    async def cancel(self, place: Place | None = None) -> None:
        """Give back a place that was not used: nothing was sent."""
        async with self.changed:
            if place is None:
                place = self._anonymous.popleft()
            self.flying.discard(place)
            self.changed.notify_all()

    async def acquire(self, ahead: float = 0.0) -> float | None:
        """`take` for a caller that keeps no place: the send starts at the returned time;
        `release()` / `cancel()` without a place give back the oldest."""
        place = await self.take(ahead)
        if place is None:
            return None
        place.start = place.at
        self._anonymous.append(place)
        return place.at

    async def set_share(self, cap: int, valid_until: float) -> None:
        async with self.changed:
            self.cap = cap
            self.valid_until = valid_until
            self.changed.notify_all()

    async def close(self) -> None:
        async with self.changed:
            self.closed = True
            self.changed.notify_all()

    def pause(self, seconds: float) -> None:
        self.paused_until = max(self.paused_until, self.clock() + seconds)


async def sleep_until(clock: Callable[[], float], at: float) -> None:
    """Sleep until `clock()` reaches `at`, reading it again after each sleep: uvloop
    (EVENT_LOOP) wakes a sleep up to a millisecond early, and a send a millisecond early is
    a 31st arrival in Telegram's second."""
    # (An Event would not do: this waits for a time, which only a clock says.)
    while (left := at - clock()) > 0:  # noqa: ASYNC110
        await asyncio.sleep(left)


def _markup(payload: dict[str, Any]) -> dict[str, Any] | None:
    """The payload's buttons as the Bot API's reply_markup (what InlineKeyboardMarkup's
    to_dict gives, without building the objects for each message)."""
    rows = payload.get("buttons") or []
    if not rows:
        return None
    return {"inline_keyboard": [[{"text": b["text"], "callback_data": b["data"]} for b in row]
                                for row in rows]}


def _send_params(row: OutboxMessage, payload: dict[str, Any], paid: bool,
                 channel: Channel) -> dict[str, Any]:
    """sendMessage's parameters for a row (None and False left out, as PTB does)."""
    params: dict[str, Any] = {"chat_id": row.chat_id, "text": payload.get("text", "")}
    if payload.get("parse_mode"):
        params["parse_mode"] = payload["parse_mode"]
    markup = _markup(payload)
    if markup is not None:
        params["reply_markup"] = markup
    if paid:  # Telegram's paid broadcasts (Stars): up to 1,000 messages/s.
        params["allow_paid_broadcast"] = True
    if channel != TELEGRAM:
        # Zalo's adapter keeps the list a person is answering (bot/zalo/request.py)
        params["zalo_unprompted"] = True
    return params


def _is_postgresql(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _db_seconds(pg: bool) -> ColumnElement[float]:
    """Now, in seconds since the epoch, on the database's clock (the same for every
    instance, whatever their own clocks or the bot's simulated one say)."""
    if pg:
        return sql_cast(extract("epoch", func.clock_timestamp()), Double)
    return (func.julianday("now") - 2440587.5) * 86400.0


def _upsert(pg: bool, table: Any) -> Any:
    return (postgresql.insert if pg else sqlite.insert)(table)


def _rowcount(result: Any) -> int:
    return cast(CursorResult[Any], result).rowcount or 0


_OTHER = aliased(OutboxMessage, name="other")
_PICK = aliased(OutboxMessage, name="pick")


def _of_channel(channel: Channel, row: Any = OutboxMessage) -> ColumnElement[bool]:
    """The rows whose chat is on `channel`."""
    zalo = row.chat_id.between(ZALO_LOW, ZALO_HIGH - 1)
    return cast(ColumnElement[bool], ~zalo if channel == TELEGRAM else zalo)


def _lease_of(channel: Channel) -> ColumnElement[bool]:
    """The lease rows of `channel`'s senders (a Telegram owner has no prefix)."""
    zalo = SenderLease.owner.startswith("zalo:")
    return ~zalo if channel == TELEGRAM else zalo


def _claimable(pg: bool, row: Any = OutboxMessage,
               channel: Channel = TELEGRAM) -> ColumnElement[bool]:
    """Due (`:now`, the bot's clock), of the sender's channel, and its chat free: no message
    of the chat being sent, none answered less than `:per_chat` seconds ago (by any
    instance, the database's clock)."""
    chat_busy = exists().where(
        _OTHER.chat_id == row.chat_id,
        (_OTHER.status == OutboxStatus.sending)
        | (_OTHER.done_at > _db_seconds(pg) - bindparam("per_chat", type_=Double)),
    )
    return cast(ColumnElement[bool], (row.status == OutboxStatus.pending)
                & (row.next_attempt_at <= bindparam("now")) & _of_channel(channel, row)
                & ~chat_busy)


_CLAIMED: dict[str, Any] = {
    "status": OutboxStatus.sending, "claimed_at": bindparam("now"),
    "claimed_by": bindparam("name"), "claim_token": bindparam("token"),
    "attempts": OutboxMessage.attempts + 1,
}
_EARLIER = aliased(OutboxMessage, name="earlier")


def _no_index(column: Any) -> ColumnElement[Any]:
    """`+column`: SQLite's documented way to keep a term off the indexes."""
    return UnaryExpression(column, operator=custom_op("+"), type_=column.type)


def _first_of_chat(row: Any, pg: bool) -> ColumnElement[bool]:
    """No due message of the same chat comes before this one: a batch of claims takes at
    most one message per chat (the claims of one statement do not see each other), and a
    chat's messages go out in order."""
    # Without ANALYZE statistics SQLite would look for them through the (status,
    # next_attempt_at) index, i.e. through every due message of every chat for each
    # candidate: a claim's cost grew with the outbox (0.5 ms of CPU a row with 2,000 due,
    # 20× that of the (chat_id, status) index it then uses).
    status = _EARLIER.status if pg else _no_index(_EARLIER.status)
    return ~exists().where(
        _EARLIER.chat_id == row.chat_id, status == OutboxStatus.pending,
        _EARLIER.next_attempt_at <= bindparam("now"),
        (_EARLIER.next_attempt_at < row.next_attempt_at)
        | ((_EARLIER.next_attempt_at == row.next_attempt_at) & (_EARLIER.id < row.id)),
    )


@functools.cache
def _claim_statements(pg: bool, channel: Channel = TELEGRAM) -> tuple[Any, ...]:
    """The claim's statements for up to `:n` rows, built once (building them costs more than
    running them)."""
    if not pg:
        # One statement: SQLite runs it under its write lock (the IN list is chosen once,
        # before any row is updated).
        first = (select(_PICK.id)
                 .where(_claimable(False, _PICK, channel), _first_of_chat(_PICK, False))
                 .order_by(_PICK.next_attempt_at, _PICK.id).limit(bindparam("n")))
        return (update(OutboxMessage).where(OutboxMessage.id.in_(first)).values(**_CLAIMED)
                .returning(OutboxMessage).execution_options(synchronize_session=False),)
    pick = (select(OutboxMessage.id, OutboxMessage.chat_id)
            .where(_claimable(True, channel=channel), _first_of_chat(OutboxMessage, True))
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id).limit(bindparam("n"))
            .with_for_update(skip_locked=True, of=OutboxMessage))
    # The chats' locks, in ascending order in every instance (no deadlock between two).
    lock = text("SELECT count(pg_advisory_xact_lock(:space, k)) "
                "FROM unnest(CAST(:chat_keys AS integer[])) AS t(k)").bindparams(
                    space=CHAT_LOCK_SPACE)
    take = (update(OutboxMessage)
            .where(OutboxMessage.id.in_(bindparam("row_ids", expanding=True)),
                   _claimable(True))
            .values(**_CLAIMED).returning(OutboxMessage)
            .execution_options(synchronize_session=False))
    return pick, lock, take


_STILL_CLAIMED = select(OutboxMessage.claim_token).where(
    OutboxMessage.id == bindparam("row_id"), OutboxMessage.status == OutboxStatus.sending)


def _quiet_send_message_warning() -> None:
    """`do_api_request` for a method PTB has warns "Please use 'Bot.sendMessage'":
    `post_message` does so on purpose. Set at each use (idempotent), so that it holds also
    where warnings filters are reset after imports (pytest)."""
    warnings.filterwarnings("ignore", message=r"Please use 'Bot\.sendMessage'",
                            category=PTBUserWarning, module=__name__)


async def post_message(bot: Bot, params: dict[str, Any]) -> dict[str, Any]:
    """sendMessage with `params` as the Bot API takes them (TelegramObjects such as a
    keyboard are converted, None left out); the answer as JSON. Bot.send_message would
    build a telegram.Message from the answer (0.4 ms of CPU, a third of a send's), which
    neither the sender (only its message_id) nor a turn's replies read."""
    _quiet_send_message_warning()
    return cast(dict[str, Any], await bot.do_api_request(SEND_MESSAGE, api_kwargs=params))


class OutboxSender:
    def __init__(
        self,
        bot: Bot,
        sessions: async_sessionmaker[AsyncSession],
        now: Callable[[], dt.datetime],
        config: SenderConfig | None = None,
        name: str | None = None,
    ) -> None:
        self.bot = bot
        self.sessions = sessions
        self.now = now
        self.config = config or SenderConfig()
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        # The lease is this object's, even if two senders were given the same name.
        prefix = "" if self.config.channel == TELEGRAM else f"{self.config.channel}:"
        self.lease_owner = f"{prefix}{self.name[:70 - len(prefix)]}/{secrets.token_hex(3)}"
        self.pacer = Pacer(self.config.rate, jitter=self.config.jitter)
        self.shared = self.pacer.rate > 0  # an unlimited rate needs no lease
        if self.shared:
            self.pacer.cap = 0  # nothing until the database grants a share
        self.share = 0  # what this instance's lease row says
        bind = self.sessions.kw.get("bind")
        self.sqlite = getattr(getattr(bind, "dialect", None), "name", "") == "sqlite"
        self.sqlite_writes = asyncio.Lock()
        self.wake = asyncio.Event()
        self.lease_poke = asyncio.Event()
        self.stopping = asyncio.Event()
        self.in_flight = 0
        self.tasks: list[asyncio.Task[None]] = []
        self.sent = 0
        self.worked = False  # a claim found a row since the last renewal
        self.pause_to_share = 0.0  # monotonic end of a 429 pause the others must hear about
        self.claims: dict[int, tuple[str, float]] = {}  # row id -> (claim token, monotonic)
        # Group commit (`_writer`): what the workers wait for, as (item, future).
        self.claim_requests: list[tuple[None, asyncio.Future[OutboxMessage | None]]] = []
        self.mark_requests: list[tuple[tuple[OutboxMessage, int], asyncio.Future[bool]]] = []
        self.writes_due = asyncio.Event()
        self.writer: asyncio.Task[None] | None = None
        self.next_recover = now() + dt.timedelta(seconds=self.config.recover_every)

    @contextlib.asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncSession]:
        """A write transaction. On SQLite this sender's writes take turns: they would
        otherwise meet at SQLite's file lock, whose busy handler sleeps in steps of up to
        100 ms, and a claim would often wait that long for a mark."""
        turn = self.sqlite_writes if self.sqlite else contextlib.nullcontext()
        async with turn, self.sessions() as session, session.begin():
            yield session

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self.stopping.clear()
        self.pacer.closed = False
        self.tasks = [asyncio.create_task(self._worker(i), name=f"outbox-sender-{i}")
                      for i in range(self.config.concurrency)]
        self.tasks.append(asyncio.create_task(self._lease_loop(), name="outbox-sender-lease"))
        self.writer = asyncio.create_task(self._writer(), name="outbox-sender-writer")

    async def stop(self, grace: float = 15.0) -> None:
        """Let sends in flight finish, then stop (graceful shutdown)."""
        self.stopping.set()
        self.wake.set()
        self.lease_poke.set()
        await self.pacer.close()  # workers waiting for a place stop waiting
        if self.tasks:
            _done, pending = await asyncio.wait(self.tasks, timeout=grace)
            for task in pending:
                task.cancel()
        self.tasks = []
        if self.writer is not None:  # the workers are done: nothing more to write
            self.writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.writer
            self.writer = None
        if self.shared and (self.share or self.pacer.cap):
            try:
                await self._give_back()
            except Exception:
                log.exception("outbox rate lease: could not give the share back")

    def notify(self) -> None:
        """New rows were written: look now rather than at the next poll."""
        self.wake.set()
        self.lease_poke.set()

    # ------------------------------------------------------------------ the shared rate

    async def renew_lease(self, wants: bool) -> int:
        """Renew this instance's share of the overall rate; returns the share now usable."""
        total = self.pacer.rate
        ttl = self.config.lease_ttl
        started = time.monotonic()
        pause_to_share = self.pause_to_share
        raise_to: int | None = None
        async with self._write() as session:
            pg = _is_postgresql(session)
            if pg:  # one renewal at a time; SQLite serialises writers by itself
                await session.execute(select(func.pg_advisory_xact_lock(LEASE_LOCK_KEY)))
            # The first statement writes: on SQLite it takes the write lock, so that what is
            # read next cannot change before this transaction commits.
            stmt = _upsert(pg, SenderLease).values(
                owner=self.lease_owner, share=self.share, wants=total if wants else 0,
                expires_at=_db_seconds(pg) + ttl, paused_until=0.0,
            )
            stmt = stmt.on_conflict_do_update(
                index_elements=[SenderLease.owner],
                set_={"wants": stmt.excluded.wants, "expires_at": stmt.excluded.expires_at},
            ).returning(SenderLease.expires_at)
            db_now = float((await session.execute(stmt)).scalar_one()) - ttl
            others = (await session.execute(
                select(SenderLease.owner, SenderLease.share, SenderLease.wants,
                       SenderLease.paused_until)
                .where(SenderLease.owner != self.lease_owner, _lease_of(self.config.channel),
                       SenderLease.expires_at > db_now - LEASE_GRACE)
            )).all()
            reserved = sum(o.share for o in others)
            wanting = sorted([o.owner for o in others if o.wants > 0]
                             + ([self.lease_owner] if wants else []))
            target = 0
            if wants:
                base, extra = divmod(total, len(wanting))
                target = base + (1 if wanting.index(self.lease_owner) < extra else 0)
            new_cap = max(0, min(target, total - reserved))
            if new_cap < self.pacer.cap:
                await self.pacer.set_share(new_cap, self.pacer.valid_until)  # now
            elif new_cap > self.pacer.cap:
                raise_to = new_cap  # once the database has it
            published = max(new_cap, self.pacer.footprint())
            values: dict[str, Any] = {"share": published}
            pause_left = pause_to_share - time.monotonic()
            if pause_left > 0:
                values["paused_until"] = db_now + pause_left
            await session.execute(update(SenderLease)
                                  .where(SenderLease.owner == self.lease_owner).values(**values))
            await session.execute(delete(SenderLease)
                                  .where(SenderLease.expires_at < db_now - 3600))
        self.share = published
        if self.pause_to_share == pause_to_share:  # (not a newer 429 meanwhile)
            self.pause_to_share = 0.0
        # Another instance was told to wait (429): so is this one, it is the same bot.
        paused = max((o.paused_until for o in others), default=0.0) - db_now
        if paused > 0:
            self.pacer.pause(paused)
        await self.pacer.set_share(raise_to if raise_to is not None else self.pacer.cap,
                                   started + ttl)
        return self.pacer.cap

    async def _give_back(self) -> None:
        """On stop: nothing more will be sent; the share goes back once the last sends are a
        second old."""
        await self.pacer.set_share(0, 0.0)
        footprint = self.pacer.footprint()
        async with self._write() as session:
            pg = _is_postgresql(session)
            await session.execute(
                update(SenderLease).where(SenderLease.owner == self.lease_owner)
                .values(share=footprint, wants=0,
                        expires_at=_db_seconds(pg) + (1.0 if footprint else -LEASE_GRACE))
            )
        self.share = 0

    async def _work_due(self) -> bool:
        async with self.sessions() as session:
            found = await session.scalar(
                select(OutboxMessage.id).where(OutboxMessage.status == OutboxStatus.pending,
                                               OutboxMessage.next_attempt_at <= self.now(),
                                               _of_channel(self.config.channel))
                .limit(1))
        return found is not None

    async def _heartbeat(self) -> None:
        """A send that takes long (a slow network, a stalled database) keeps its claim: its
        claimed_at moves on, so no other sender's recovery takes it meanwhile."""
        old = time.monotonic() - self.config.claim_timeout / 4
        held = [(row_id, token) for row_id, (token, at) in list(self.claims.items()) if at < old]
        if not held:
            return
        now = self.now()
        async with self._write() as session:
            for row_id, token in held:
                await session.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.id == row_id, OutboxMessage.claim_token == token,
                           OutboxMessage.status == OutboxStatus.sending)
                    .values(claimed_at=now))
        for row_id, token in held:
            if row_id in self.claims:
                self.claims[row_id] = (token, time.monotonic())

    async def _lease_loop(self) -> None:
        """Recovery, the claims' heartbeat and the rate share, whatever the workers wait on."""
        while not self.stopping.is_set():
            wants = False
            try:
                if self.now() >= self.next_recover:
                    self.next_recover = self.now() + dt.timedelta(
                        seconds=self.config.recover_every)
                    await self.recover()  # claims left by a process that died meanwhile
                await self._heartbeat()
                wants = self.in_flight > 0 or self.worked or await self._work_due()
                self.worked = False
                if self.shared and (wants or self.share or self.pacer.cap
                                    or self.pause_to_share):
                    await self.renew_lease(wants)
            except Exception:
                log.exception("outbox sender: recovery or rate lease failed")
            busy = wants or self.share > 0
            wait = self.config.lease_every if busy else self.config.idle_poll
            try:
                await asyncio.wait_for(self.lease_poke.wait(), wait)
            except TimeoutError:
                pass
            self.lease_poke.clear()

    # ------------------------------------------------------------------ claiming

    async def recover(self) -> int:
        """Rows claimed by a process that died go back to pending."""
        cutoff = self.now() - dt.timedelta(seconds=self.config.claim_timeout)
        async with self._write() as session:
            result = await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.status == OutboxStatus.sending,
                       OutboxMessage.claimed_at < cutoff)
                .values(status=OutboxStatus.pending, claimed_at=None, claimed_by=None,
                        claim_token=None)
            )
            return _rowcount(result)

    async def claim(self) -> OutboxMessage | None:
        """Claim the next message that can be sent now (due, and its chat free)."""
        rows = await self.claim_many(1)
        return rows[0] if rows else None

    async def claim_many(self, n: int) -> list[OutboxMessage]:
        """Claim up to `n` messages that can be sent now, at most one per chat, in one
        transaction."""
        async with self._write() as session:
            return await self._claim_rows(session, n)

    async def _claim_rows(self, session: AsyncSession, n: int) -> list[OutboxMessage]:
        params = {"now": self.now(), "per_chat": self.config.per_chat, "name": self.name,
                  "token": secrets.token_hex(16), "n": n}
        if not _is_postgresql(session):
            rows = list((await session.scalars(
                _claim_statements(False, self.config.channel)[0], params)).all())
        else:
            # Several senders (instances) share the table without waiting on each other,
            # except for a chat both would serve: its lock makes the second wait for the
            # first to commit, then see its claim.
            pick, lock, take = _claim_statements(True, self.config.channel)
            candidates = (await session.execute(pick, params)).all()
            if not candidates:
                return []
            keys = sorted({c.chat_id % 2_147_483_647 for c in candidates})
            await session.execute(lock, {"chat_keys": keys})
            rows = list((await session.scalars(
                take, {**params, "row_ids": [c.id for c in candidates]})).all())
        for row in rows:
            session.expunge(row)
        rows.sort(key=lambda r: (r.next_attempt_at, r.id))  # (RETURNING has no order)
        return rows

    async def claim_holds(self, row: OutboxMessage) -> bool:
        """Whether the row is still claimed by this claim (not recovered by another sender)."""
        async with self.sessions() as session:
            token = await session.scalar(_STILL_CLAIMED, {"row_id": row.id})
        return token is not None and token == row.claim_token

    # ------------------------------------------------------------------ batched writes

    async def _writer(self) -> None:
        """Group commit: the claims the workers ask for and the sends they mark as sent
        while a transaction runs go together into the next one, a statement each. Under
        load a message then costs a fraction of a transaction; a worker still waits for its
        own mark before it takes another message, so a crash can repeat at most one message
        per worker, as before."""
        while True:
            await self.writes_due.wait()
            self.writes_due.clear()
            claims, self.claim_requests = self.claim_requests, []
            marks, self.mark_requests = self.mark_requests, []
            if not claims and not marks:
                continue
            rows: list[OutboxMessage] = []
            mine: set[int] = set()
            try:
                async with self._write() as session:
                    if marks:
                        mine = await self._mark_sent(session, [m[0] for m in marks])
                    if claims:
                        rows = await self._claim_rows(session, len(claims))
            except Exception as exc:
                if marks and claims:  # the marks matter more: try them alone
                    self.mark_requests = marks + self.mark_requests
                    self.writes_due.set()
                    marks = []
                futures: list[asyncio.Future[Any]] = [f for _, f in marks]
                futures += [f for _, f in claims]
                for future in futures:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (row, _message_id), done in marks:
                if not done.done():
                    done.set_result(row.id in mine)
            for i, (_item, wanted) in enumerate(claims):
                got = rows[i] if i < len(rows) else None
                if not wanted.done():
                    wanted.set_result(got)
                elif got is not None:  # (its worker stopped waiting): give it back
                    try:
                        await self._unclaim(got)
                    except Exception:  # recovery returns it after claim_timeout
                        log.exception("outbox=%s: could not give the claim back", got.id)

    async def _mark_sent(self, session: AsyncSession,
                         sent: list[tuple[OutboxMessage, int]]) -> set[int]:
        """Mark these rows sent with their Telegram message ids, fenced by their claims, in
        one statement; returns the ids still claimed (marked)."""
        pg = _is_postgresql(session)
        ids = [row.id for row, _ in sent]
        done_at = _db_seconds(pg)
        result = await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(ids), OutboxMessage.status == OutboxStatus.sending,
                   OutboxMessage.claim_token == case(
                       {row.id: row.claim_token for row, _ in sent}, value=OutboxMessage.id))
            .values(status=OutboxStatus.sent, last_error=None, sent_at=self.now(),
                    done_at=done_at, telegram_message_id=case(
                        {row.id: message_id for row, message_id in sent},
                        value=OutboxMessage.id))
            .returning(OutboxMessage.id).execution_options(synchronize_session=False))
        mine = set(result.scalars().all())
        lost = [i for i in ids if i not in mine]
        if lost:  # the request was made: the chat's interval counts from now in any case
            await session.execute(update(OutboxMessage).where(OutboxMessage.id.in_(lost))
                                  .values(done_at=done_at)
                                  .execution_options(synchronize_session=False))
        return mine

    async def _through_writer(self, queue: list[Any], item: Any) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        queue.append((item, future))
        self.writes_due.set()
        return await future

    # ------------------------------------------------------------------ sending

    async def _worker(self, index: int) -> None:
        while not self.stopping.is_set():
            # A place under the rate first, then a claim: a claimed row is sent at once and
            # never waits (for a 429 pause, the rate) while another sender could recover it.
            place = await self.pacer.take(self.config.claim_ahead)
            if place is None:
                break
            if self.stopping.is_set():
                await self.pacer.cancel(place)
                break
            try:
                row = await self._through_writer(self.claim_requests, None)
            except Exception:
                await self.pacer.cancel(place)
                log.exception("outbox claim failed")
                await asyncio.sleep(self.config.idle_poll)
                continue
            if row is None:
                await self.pacer.cancel(place)
                if self.stopping.is_set():
                    break  # (clearing `wake` now would lose the stop's wake-up)
                self.wake.clear()
                # Only the first worker polls an idle outbox; the others sleep until it (or
                # a sweep) finds work, so an idle bot does not query the database 16×/s.
                wait = self.config.idle_poll if index == 0 else self.config.idle_poll * 20
                try:
                    await asyncio.wait_for(self.wake.wait(), wait)
                except TimeoutError:
                    pass
                continue
            self.wake.set()  # there may be more: let the other workers look too
            self.worked = True
            self.claims[row.id] = (row.claim_token or "", time.monotonic())
            self.in_flight += 1
            try:
                await self.deliver(row, place)
            finally:
                self.in_flight -= 1
                self.claims.pop(row.id, None)

    async def deliver(self, row: OutboxMessage, place: Place | None = None) -> None:
        """Send a claimed row and record the outcome. The caller holds a pacer place from
        `place.at` (monotonic; at most `claim_ahead` seconds away): it is given back when
        Telegram has answered, before the outcome is written, or unused if nothing was
        sent. Without a place the send is not paced."""
        if place is None:  # (unpaced: a place the pacer does not count)
            place = Place(self.pacer.clock())
        try:
            # The claim was just made: no other sender recovers it before `claim_timeout`.
            # Only a claim that has waited (a stalled process) is read again before the send.
            _token, claimed = self.claims.get(row.id, ("", -math.inf))
            holds = (time.monotonic() - claimed < self.config.claim_timeout / 4
                     or await self.claim_holds(row))
            if holds:
                await sleep_until(self.pacer.clock, place.at)
        except BaseException:
            await self.pacer.cancel(place)
            raise
        if not holds:
            await self.pacer.cancel(place)
            log.warning("outbox=%s chat=%s: the claim was lost before the send (another "
                        "sender recovered the row); not sent", row.id, row.chat_id)
            return
        if self.pacer.paused_until > self.pacer.clock():
            # A 429 (here or in another instance) came while this send got ready: the claim
            # is not held through the pause; the row goes back to the queue, unsent.
            await self.pacer.cancel(place)
            await self._unclaim(row)
            return
        params = _send_params(row, row.payload or {}, self.config.paid_broadcast,
                              self.config.channel)
        started = time.monotonic()
        self.pacer.begin(place)
        try:
            try:
                result = await post_message(self.bot, params)
            finally:
                await self.pacer.release(place)  # before the outcome is written
        except RetryAfter as exc:
            wait = exc.retry_after
            seconds = wait.total_seconds() if isinstance(wait, dt.timedelta) else float(wait)
            self.pacer.pause(seconds)
            self.pause_to_share = max(self.pause_to_share, time.monotonic() + seconds)
            self.lease_poke.set()  # tell the other instances now
            await self._requeue(row, seconds, f"429 retry after {seconds}s", count=False)
        except Forbidden as exc:
            await self._blocked(row, str(exc))
        except BadRequest as exc:
            await self._finish(row, OutboxStatus.failed, error=f"400 {exc}")
        except (NetworkError, TimeoutError) as exc:  # includes TimedOut and 5xx
            if row.attempts >= self.config.max_attempts:
                await self._finish(row, OutboxStatus.failed, error=f"gave up: {exc}")
            else:
                delay = min(self.config.backoff_max, self.config.backoff_base ** row.attempts)
                await self._requeue(row, delay, f"{type(exc).__name__}: {exc}")
        except TelegramError as exc:
            await self._finish(row, OutboxStatus.failed, error=f"{type(exc).__name__}: {exc}")
        else:
            if await self._finish(row, OutboxStatus.sent, message_id=int(result["message_id"])):
                self.sent += 1
            log.info("sent outbox=%s kind=%s chat=%s latency_ms=%d", row.id, row.kind,
                     row.chat_id, (time.monotonic() - started) * 1000)

    def _mine(self, row: OutboxMessage) -> ColumnElement[bool]:
        """The row as this sender claimed it: every update after the claim is fenced by it."""
        return ((OutboxMessage.id == row.id) & (OutboxMessage.claim_token == row.claim_token)
                & (OutboxMessage.status == OutboxStatus.sending))

    async def _answered(self, session: AsyncSession, row: OutboxMessage,
                        values: dict[str, Any]) -> bool:
        """Record the outcome of a send, fenced by the claim; stamp `done_at` (the chat's
        interval counts from it) in any case: the request was made."""
        values["done_at"] = _db_seconds(_is_postgresql(session))
        result = await session.execute(
            update(OutboxMessage).where(self._mine(row)).values(**values))
        if _rowcount(result) == 1:
            return True
        await session.execute(update(OutboxMessage).where(OutboxMessage.id == row.id)
                              .values(done_at=values["done_at"]))
        return False

    def _lost(self, row: OutboxMessage, what: str) -> None:
        log.warning("outbox=%s chat=%s: the claim was lost (another sender recovered the row) "
                    "before it was %s; left to its new owner", row.id, row.chat_id, what)

    async def _finish(self, row: OutboxMessage, status: OutboxStatus, message_id: int | None = None,
                      error: str | None = None) -> bool:
        if status == OutboxStatus.sent and message_id is not None and self.writer is not None:
            mine = bool(await self._through_writer(self.mark_requests, (row, message_id)))
        elif status == OutboxStatus.sent and message_id is not None:
            async with self._write() as session:
                mine = row.id in await self._mark_sent(session, [(row, message_id)])
        else:
            async with self._write() as session:
                values: dict[str, Any] = {"status": status, "last_error": error}
                if status == OutboxStatus.sent:
                    values.update(sent_at=self.now(), telegram_message_id=message_id)
                mine = await self._answered(session, row, values)
        if not mine:
            self._lost(row, f"marked {status.value}")
            return False
        if error:
            log.warning("outbox=%s chat=%s %s", row.id, row.chat_id, status.value)
        return True

    async def _requeue(self, row: OutboxMessage, delay: float, error: str,
                       count: bool = True) -> None:
        async with self._write() as session:
            values: dict[str, Any] = {
                "status": OutboxStatus.pending,
                "next_attempt_at": self.now() + dt.timedelta(seconds=delay),
                "claimed_at": None, "claimed_by": None, "claim_token": None,
                "last_error": error,
            }
            if not count:
                values["attempts"] = OutboxMessage.attempts - 1  # a 429 is not a failure
            mine = await self._answered(session, row, values)
        if not mine:
            self._lost(row, "re-queued")
            return
        log.warning("outbox=%s chat=%s retry in %.1fs (%s)", row.id, row.chat_id, delay,
                    error.split(":")[0])

    async def _unclaim(self, row: OutboxMessage) -> None:
        """Give a claimed row back, unsent and not counted as an attempt."""
        async with self._write() as session:
            result = await session.execute(
                update(OutboxMessage).where(self._mine(row))
                .values(status=OutboxStatus.pending, claimed_at=None, claimed_by=None,
                        claim_token=None, attempts=OutboxMessage.attempts - 1))
        if _rowcount(result) != 1:
            self._lost(row, "given back")

    async def _blocked(self, row: OutboxMessage, error: str) -> None:
        now = self.now()
        async with self._write() as session:
            if not await self._answered(session, row, {"status": OutboxStatus.blocked,
                                                       "last_error": f"403 {error}"}):
                self._lost(row, "marked blocked")
            # Telegram said so, whoever owns the row now.
            member = await session.get(Member, row.member_id) if row.member_id else None
            if member is not None and member.active:
                member.active = False
                member.inactive_reason = "blocked"
                member.updated_at = now
                record(session, "member.blocked", actor_label="sender",
                       committee_id=member.committee_id, agency_id=member.agency_id,
                       entity=("member", member.id), now=now)
            # Nothing else can reach this chat either.
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.chat_id == row.chat_id,
                       OutboxMessage.status == OutboxStatus.pending)
                .values(status=OutboxStatus.blocked, last_error="403 chat blocked the bot")
            )
        log.warning("outbox=%s chat=%s blocked the bot; member marked inactive", row.id,
                    row.chat_id)

    async def drain(self, limit_seconds: float = 30.0) -> int:
        """Send everything that is due now, then return (tests, `sweep` without a bot)."""
        deadline = time.monotonic() + limit_seconds
        start_count = self.sent
        self.start()
        try:
            while time.monotonic() < deadline:
                async with self.sessions() as session:
                    due = await session.scalar(
                        select(OutboxMessage.id).where(
                            OutboxMessage.status == OutboxStatus.pending,
                            OutboxMessage.next_attempt_at <= self.now(),
                            _of_channel(self.config.channel),
                        ).limit(1)
                    )
                if due is None and self.in_flight == 0:
                    break
                await asyncio.sleep(0.02)
        finally:
            await self.stop()
        return self.sent - start_count
