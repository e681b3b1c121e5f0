"""APScheduler wiring (PTB's JobQueue): the periodic sweep and the outbox sender."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy import delete, text
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from telegram.ext import Application, ContextTypes

from core.channels import TELEGRAM, ZALO
from db.models import ProcessedUpdate
from scheduler.sender import OutboxSender, SenderConfig
from scheduler.sweeper import SWEEP_CHUNK, run_sweep

log = logging.getLogger(__name__)


class SweepLock:
    """Exactly one sweeper at a time across processes.

    On PostgreSQL a session-level advisory lock, held on a dedicated connection for as long
    as the process lives: when the holder dies its connection closes, the lock is released,
    and the next process that tries takes over. SQLite has one writer anyway."""

    KEY = 138_2022_001

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.conn: AsyncConnection | None = None

    async def acquire(self) -> bool:
        if self.engine.dialect.name != "postgresql":
            return True
        if self.conn is not None:
            try:
                await self.conn.execute(text("select 1"))
                return True
            except DBAPIError:
                self.conn = None  # the connection died, and the lock with it
        conn = await self.engine.connect()
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        got = (await conn.execute(text("select pg_try_advisory_lock(:key)"),
                                  {"key": self.KEY})).scalar()
        if got:
            self.conn = conn
            log.info("this process is now the sweeper")
            return True
        await conn.close()
        return False

    async def release(self) -> None:
        if self.conn is not None:
            try:
                await self.conn.execute(text("select pg_advisory_unlock(:key)"),
                                        {"key": self.KEY})
            finally:
                await self.conn.close()
                self.conn = None


async def sweep_once(app: Application[Any, Any, Any, Any, Any, Any]) -> int:
    settings = app.bot_data["settings"]
    lock = app.bot_data.get("sweep_lock")
    if lock is None:
        lock = app.bot_data["sweep_lock"] = SweepLock(app.bot_data["engine"])
    if not await lock.acquire():
        return 0  # another process sweeps
    now = app.bot_data["clock"].now()
    sender: OutboxSender | None = app.bot_data.get("sender")
    committed = 0

    async def wake_sender(count: int) -> None:
        # The first committed run goes out while the sweep writes the rest.
        nonlocal committed
        committed = count
        if sender is not None:
            sender.notify()

    try:
        async with app.bot_data["db"]() as session:
            result = await run_sweep(session, now, settings.tz, commit_every=SWEEP_CHUNK,
                                     on_commit=wake_sender, keep_written=False)
            # Telegram redelivers within minutes, not days: old update ids can go.
            await session.execute(delete(ProcessedUpdate).where(
                ProcessedUpdate.at < now - dt.timedelta(days=2)))
            await session.commit()
    except (IntegrityError, OperationalError) as exc:
        # Another sweeper wrote the same items first (or holds the lock): its messages win.
        # The runs committed before stay (whole messages; the next sweep writes the rest).
        log.info("sweep stopped: %s after %d messages", type(exc).__name__, committed)
        return committed
    if result.count and sender is not None:
        sender.notify()
    if result.count:
        log.info("sweep wrote %d messages", result.count)
    return result.count


async def _sweep_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    await sweep_once(context.application)


def schedule_sweep(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    interval = app.bot_data["settings"].sweep_interval_seconds
    if interval <= 0 or app.job_queue is None:
        return
    app.job_queue.run_repeating(
        _sweep_job,
        interval=interval,
        first=1,
        name="sweep",
        # After a restart or a stall, run once to catch up rather than once per missed tick.
        job_kwargs={"coalesce": True, "misfire_grace_time": max(30, interval * 10),
                    "max_instances": 1},
    )


async def start_sender(app: Application[Any, Any, Any, Any, Any, Any]) -> OutboxSender:
    settings = app.bot_data["settings"]
    channel = app.bot_data.get("channel", TELEGRAM)
    paid = settings.paid_broadcast and channel == TELEGRAM
    sender = OutboxSender(
        app.bot, app.bot_data["db"], app.bot_data["clock"].now,
        SenderConfig(rate=settings.zalo_send_rate if channel == ZALO else settings.send_rate,
                     per_chat=settings.send_per_chat_seconds,
                     # Paid broadcasts: up to 1,000 messages/s, with about a round trip's
                     # worth of them (tens of ms) in flight at once.
                     concurrency=max(settings.send_concurrency, 64) if paid
                     else settings.send_concurrency,
                     paid_broadcast=paid, channel=channel),
    )
    recovered = await sender.recover()
    if recovered:
        log.info("returned %d interrupted sends to the queue", recovered)
    sender.start()
    app.bot_data["sender"] = sender
    return sender


async def stop_sender(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    sender: OutboxSender | None = app.bot_data.pop("sender", None)
    if sender is not None:
        await sender.stop()
