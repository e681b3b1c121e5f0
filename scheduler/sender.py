"""The outbox sender: claim, send, mark — paced under Telegram's limits.

Crash safety. Each message goes through three steps, each its own transaction:
1. *claim*: pending → sending (with claimed_at), committed before anything is sent;
2. *send*: the Bot API call;
3. *mark*: sending → sent with Telegram's message id (or back to pending / failed / blocked).
A crash before 2 leaves a claimed row that `recover` (run at start and every
`recover_every` seconds) returns to pending after `claim_timeout`: nothing is lost. A crash
after 2 and before 3 — the only window — re-sends that message once it is recovered. Each
message can thus be sent at most twice, and only the messages in flight at the moment of the
crash (at most `concurrency`, one per worker) can be. Everything Telegram accepted and that
was marked is never sent again. (A read timeout after Telegram accepted a message is the
other, unavoidable, source of a repeat: the send is retried.)

Pacing: at most `rate` messages per second overall (a shared slot clock) and at most one per
`per_chat` seconds per chat (rows of a chat that was just served wait their turn).
429 `RetryAfter` pauses all sending for the time Telegram asks and re-queues the row; network
errors, timeouts and 5xx retry with exponential backoff up to `max_attempts`; 403 marks the
member inactive (the standing office's next digest says so).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import math
import os
import socket
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

from db.models import AuditLog, Member, OutboxMessage, OutboxStatus

log = logging.getLogger(__name__)


@dataclass
class SenderConfig:
    rate: float = 30.0  # messages per second, overall
    per_chat: float = 1.0  # seconds between two messages to one chat
    concurrency: int = 8
    max_attempts: int = 8
    backoff_base: float = 2.0
    backoff_max: float = 600.0
    claim_timeout: float = 120.0
    recover_every: float = 30.0
    idle_poll: float = 0.5


class Pacer:
    """At most `rate` messages in any one-second window, as Telegram counts them (arrivals).

    A send takes a place when it starts and gives it back, stamped with its *completion*
    time, when the answer comes: a new send starts only while fewer than `rate` sends are in
    flight or completed within the last second. Since a message arrives between the start
    and the completion of its send, no second can see more than `rate` arrivals, whatever
    the network jitter or event-loop stalls. `pause` (a 429) holds everything."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = max(1, int(rate)) if rate > 0 else 0
        self.clock = clock
        self.in_flight = 0
        self.done: deque[float] = deque()
        self.paused_until = 0.0
        self.changed = asyncio.Condition()

    async def acquire(self) -> None:
        async with self.changed:
            for _ in range(1_000_000):  # bounded; each turn waits for time or a release
                now = self.clock()
                while self.done and self.done[0] <= now - 1.0:
                    self.done.popleft()
                if self.paused_until > now:
                    delay = self.paused_until - now
                elif not self.rate or self.in_flight + len(self.done) < self.rate:
                    self.in_flight += 1
                    return
                else:
                    delay = (self.done[0] + 1.0 - now) if self.done else 0.05
                try:
                    await asyncio.wait_for(self.changed.wait(), max(delay, 0.001))
                except TimeoutError:
                    pass

    async def release(self) -> None:
        async with self.changed:
            self.in_flight -= 1
            self.done.append(self.clock())
            self.changed.notify_all()

    def pause(self, seconds: float) -> None:
        self.paused_until = max(self.paused_until, self.clock() + seconds)


def _markup(payload: dict[str, Any]) -> InlineKeyboardMarkup | None:
    rows = payload.get("buttons") or []
    if not rows:
        return None
    return InlineKeyboardMarkup([
        [InlineKeyboardButton(b["text"], callback_data=b["data"]) for b in row] for row in rows
    ])


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
        self.pacer = Pacer(self.config.rate)
        self.chat_ready: dict[int, float] = {}  # chat id -> monotonic time it may be used
        self.claim_lock = asyncio.Lock()
        self.wake = asyncio.Event()
        self.stopping = asyncio.Event()
        self.in_flight = 0
        self.tasks: list[asyncio.Task[None]] = []
        self.sent = 0
        self.next_recover = now() + dt.timedelta(seconds=self.config.recover_every)

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self.stopping.clear()
        self.tasks = [asyncio.create_task(self._worker(i), name=f"outbox-sender-{i}")
                      for i in range(self.config.concurrency)]

    async def stop(self, grace: float = 15.0) -> None:
        """Let sends in flight finish, then stop (graceful shutdown)."""
        self.stopping.set()
        self.wake.set()
        if self.tasks:
            _done, pending = await asyncio.wait(self.tasks, timeout=grace)
            for task in pending:
                task.cancel()
        self.tasks = []

    def notify(self) -> None:
        """New rows were written: look now rather than at the next poll."""
        self.wake.set()

    # ------------------------------------------------------------------ claiming

    async def recover(self) -> int:
        """Rows claimed by a process that died go back to pending."""
        cutoff = self.now() - dt.timedelta(seconds=self.config.claim_timeout)
        async with self.sessions() as session, session.begin():
            result = await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.status == OutboxStatus.sending,
                       OutboxMessage.claimed_at < cutoff)
                .values(status=OutboxStatus.pending, claimed_at=None, claimed_by=None)
            )
            return result.rowcount or 0

    async def claim(self) -> OutboxMessage | None:
        async with self.claim_lock:
            now = self.now()
            moment = time.monotonic()
            for chat in [c for c, ready in self.chat_ready.items() if ready <= moment]:
                del self.chat_ready[chat]  # keep the map to the chats that are still busy
            busy = list(self.chat_ready)
            async with self.sessions() as session, session.begin():
                query = (
                    select(OutboxMessage)
                    .where(OutboxMessage.status == OutboxStatus.pending,
                           OutboxMessage.next_attempt_at <= now)
                    .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
                    .limit(1)
                )
                if busy:
                    query = query.where(OutboxMessage.chat_id.not_in(busy))
                if session.bind.dialect.name == "postgresql":
                    # Several senders (instances) share the table without waiting on each other.
                    query = query.with_for_update(skip_locked=True)
                row = await session.scalar(query)
                if row is None:
                    return None
                # Conditional update: of two senders on one SQLite file, only one wins.
                result = await session.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.id == row.id,
                           OutboxMessage.status == OutboxStatus.pending)
                    .values(status=OutboxStatus.sending, claimed_at=now, claimed_by=self.name,
                            attempts=OutboxMessage.attempts + 1)
                    .execution_options(synchronize_session=False)
                )
                if result.rowcount != 1:
                    return None
                await session.refresh(row)
            # Busy until its send happens; the per-chat interval counts from the send.
            self.chat_ready[row.chat_id] = math.inf
            return row

    # ------------------------------------------------------------------ sending

    async def _worker(self, index: int) -> None:
        while not self.stopping.is_set():
            if index == 0 and self.now() >= self.next_recover:
                self.next_recover = self.now() + dt.timedelta(seconds=self.config.recover_every)
                try:
                    await self.recover()  # claims left by a process that died meanwhile
                except Exception:
                    log.exception("outbox recovery failed")
            try:
                row = await self.claim()
            except Exception:
                log.exception("outbox claim failed")
                await asyncio.sleep(self.config.idle_poll)
                continue
            if row is None:
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
            self.in_flight += 1
            try:
                await self.pacer.acquire()
                try:
                    await self.deliver(row)
                finally:
                    await self.pacer.release()
                    # Per chat, like overall: counted from when Telegram answered.
                    self.chat_ready[row.chat_id] = time.monotonic() + self.config.per_chat
            finally:
                self.in_flight -= 1

    async def deliver(self, row: OutboxMessage) -> None:
        payload = row.payload or {}
        started = time.monotonic()
        try:
            message = await self.bot.send_message(
                chat_id=row.chat_id,
                text=payload.get("text", ""),
                parse_mode=payload.get("parse_mode"),
                reply_markup=_markup(payload),
            )
        except RetryAfter as exc:
            wait = exc.retry_after
            seconds = wait.total_seconds() if isinstance(wait, dt.timedelta) else float(wait)
            self.pacer.pause(seconds)
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
            await self._finish(row, OutboxStatus.sent, message_id=message.message_id)
            self.sent += 1
            log.info("sent outbox=%s kind=%s chat=%s latency_ms=%d", row.id, row.kind,
                     row.chat_id, (time.monotonic() - started) * 1000)

    async def _finish(self, row: OutboxMessage, status: OutboxStatus, message_id: int | None = None,
                      error: str | None = None) -> None:
        async with self.sessions() as session, session.begin():
            values: dict[str, Any] = {"status": status, "last_error": error}
            if status == OutboxStatus.sent:
                values.update(sent_at=self.now(), telegram_message_id=message_id)
            await session.execute(
                update(OutboxMessage).where(OutboxMessage.id == row.id).values(**values)
            )
        if error:
            log.warning("outbox=%s chat=%s %s", row.id, row.chat_id, status.value)

    async def _requeue(self, row: OutboxMessage, delay: float, error: str,
                       count: bool = True) -> None:
        async with self.sessions() as session, session.begin():
            values: dict[str, Any] = {
                "status": OutboxStatus.pending,
                "next_attempt_at": self.now() + dt.timedelta(seconds=delay),
                "claimed_at": None, "claimed_by": None, "last_error": error,
            }
            if not count:
                values["attempts"] = OutboxMessage.attempts - 1  # a 429 is not a failure
            await session.execute(
                update(OutboxMessage).where(OutboxMessage.id == row.id).values(**values)
            )
        log.warning("outbox=%s chat=%s retry in %.1fs (%s)", row.id, row.chat_id, delay,
                    error.split(":")[0])

    async def _blocked(self, row: OutboxMessage, error: str) -> None:
        now = self.now()
        async with self.sessions() as session, session.begin():
            await session.execute(
                update(OutboxMessage).where(OutboxMessage.id == row.id)
                .values(status=OutboxStatus.blocked, last_error=f"403 {error}")
            )
            member = await session.get(Member, row.member_id) if row.member_id else None
            if member is not None and member.active:
                member.active = False
                member.inactive_reason = "blocked"
                member.updated_at = now
                session.add(AuditLog(
                    at=now, actor_label="sender", action="member.blocked",
                    actor_member_id=None, committee_id=member.committee_id,
                    agency_id=member.agency_id, entity_type="member", entity_id=member.id,
                ))
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
                        ).limit(1)
                    )
                if due is None and self.in_flight == 0:
                    break
                await asyncio.sleep(0.02)
        finally:
            await self.stop()
        return self.sent - start_count
