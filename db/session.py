"""Engines and sessions (SQLAlchemy asyncio: aiosqlite by default, asyncpg for PostgreSQL)."""

from __future__ import annotations

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
        kwargs.setdefault("connect_args", {"timeout": 30})
    else:
        kwargs.setdefault("pool_pre_ping", True)
    engine = create_async_engine(url, **kwargs)
    if is_sqlite:
        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            # WAL lets the sender and the handlers read while one of them writes.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()
    return engine


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def dialect_of(session: AsyncSession) -> str:
    """«postgresql» or «sqlite»: the few statements that differ (upserts, advisory locks)."""
    return session.get_bind().dialect.name


def rows_changed(result: Any) -> int:
    """How many rows an UPDATE/INSERT … ON CONFLICT changed (a CursorResult's rowcount)."""
    return int(result.rowcount)
