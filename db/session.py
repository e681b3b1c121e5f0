"""Engines and sessions (SQLAlchemy asyncio: aiosqlite by default, asyncpg for PostgreSQL)."""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from db import sqlite_driver


def normalize_url(url: str) -> str:
    """Accept the usual spellings and pick the async driver."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    if url.startswith("postgresql://"):
        url = "postgresql+asyncpg://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite:///") or url == "sqlite://":
        url = "sqlite+aiosqlite" + url.removeprefix("sqlite")
    return url


def ensure_sqlite_dir(url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)


SQLITE_BEGIN = "sqlite_begin"  # execution option: "IMMEDIATE" for a transaction that writes


async def immediate(session: AsyncSession) -> None:
    """Begin the session's transaction now, as one that writes: on SQLite it holds the write
    lock from its first statement (BEGIN IMMEDIATE); elsewhere nothing changes."""
    await session.connection(execution_options={SQLITE_BEGIN: "IMMEDIATE"})


POSTGRES_POOL_SIZE = 20  # per process; two instances keep 40 of PostgreSQL's default 100


def make_engine(url: str, *, foreign_keys: bool = True, **kwargs: Any) -> AsyncEngine:
    """`foreign_keys=False`: SQLite's foreign keys off, for migrations only — a migration
    that rebuilds a table (batch mode) drops it, which with them on would delete or null
    every row that references it (ON DELETE CASCADE / SET NULL)."""
    url = normalize_url(url)
    ensure_sqlite_dir(url)
    is_sqlite = url.startswith("sqlite")
    # Errors must not print SQL parameters: they hold officials' answers.
    kwargs.setdefault("hide_parameters", True)
    if is_sqlite:
        # SQLite's busy timeout: how long a statement waits for another process's writer.
        kwargs.setdefault("connect_args", {"timeout": 30})
        # One hand-off to aiosqlite's thread per statement, not three or four.
        kwargs["module"] = sqlite_driver.dbapi()
        # The connection given back last is taken next: the turns, one at a time, keep
        # using one connection, whose page cache its own commits leave valid (SQLite drops
        # a connection's cache when another one has written). A turn's statements took
        # 0.19 ms on the driver's thread instead of 0.57 ms (bench/updates.py, one run each).
        kwargs.setdefault("pool_use_lifo", True)
    else:
        # Connections kept open for the turns, the sender and the sweep at once: with
        # SQLAlchemy's default 5, every connection over 5 was closed when given back and
        # opened again for the next turn (a server process forked, TLS tried, types read),
        # which was PostgreSQL's latency tail under 20 people answering together.
        kwargs.setdefault("pool_size", POSTGRES_POOL_SIZE)
        kwargs.setdefault("max_overflow", POSTGRES_POOL_SIZE)
    # No pre-ping: it is a round trip at every checkout (one per update). A connection that
    # died (a database restart) fails its statement once; SQLAlchemy then sees the
    # disconnect and replaces the pool's connections, and the update or send is retried.
    engine = create_async_engine(url, **kwargs)
    if is_sqlite:
        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            # WAL lets the sender and the handlers read while one of them writes.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")
            cursor.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # A transaction that will write (immediate()) takes the write lock up front, as
            # in SQLAlchemy's recipe for SQLite: it waits for the writer before it reads,
            # instead of reading and then finding the lock taken. The others keep the
            # driver's own behaviour (BEGIN just before the first write: reads beside a
            # writer, and no snapshot a write could find stale). BEGIN IMMEDIATE goes with
            # the transaction's first statement, in its hand-off (db.sqlite_driver).
            if conn.get_execution_options().get(SQLITE_BEGIN) == "IMMEDIATE":
                conn.connection.dbapi_connection.begin_with_next("BEGIN IMMEDIATE")
    return engine


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def writer_lock(sessions: async_sessionmaker[AsyncSession]
                ) -> contextlib.AbstractAsyncContextManager[Any]:
    """On SQLite, one lock per database engine for the transactions of this process that
    queue for the single writer (the bot's turns): taken in arrival order, so they wait in
    line instead of in SQLite's busy timeout, which sleeps and retries (up to 100 ms at a
    time) and lets a late comer overtake. Elsewhere nothing to take: PostgreSQL's writers
    do not exclude each other."""
    engine = sessions.kw.get("bind")
    if engine is None or engine.dialect.name != "sqlite":
        return contextlib.nullcontext()
    # One per event loop too: an asyncio lock belongs to the loop it is used in.
    locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
        engine.sync_engine.__dict__.setdefault("_writer_locks", weakref.WeakKeyDictionary()))
    loop = asyncio.get_running_loop()
    lock = locks.get(loop)
    if lock is None:
        lock = locks[loop] = asyncio.Lock()
    return lock


def dialect_of(session: AsyncSession) -> str:
    """«postgresql» or «sqlite»: the few statements that differ (upserts, advisory locks)."""
    return session.get_bind().dialect.name


def rows_changed(result: Any) -> int:
    """How many rows an UPDATE/INSERT … ON CONFLICT changed (a CursorResult's rowcount)."""
    return int(result.rowcount)
