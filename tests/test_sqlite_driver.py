"""db.sqlite_driver (issue 16): on SQLite a statement is one hand-off to aiosqlite's thread,
not three or four, and every result SQLAlchemy reads from a cursor is still there: rows,
rowcount, lastrowid, executemany, errors, streamed results. A transaction that writes takes
the write lock (BEGIN IMMEDIATE) in its first statement's hand-off."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from db.session import immediate, make_engine, make_sessionmaker
from tests.support.sqlite_lock import write_lock_taken


@contextmanager
def hand_offs_counted(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    hand_offs: list[Any] = []
    execute = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        hand_offs.append(fn)
        return await execute(self, fn, *args, **kwargs)  # type: ignore[no-untyped-call]

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    try:
        yield hand_offs
    finally:
        monkeypatch.undo()


async def test_a_statement_is_one_hand_off(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'one.sqlite3'}")
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))  # the connection's own first statements
            with hand_offs_counted(monkeypatch) as hand_offs:
                assert (await conn.execute(text("SELECT 1, 2"))).all() == [(1, 2)]
            assert len(hand_offs) == 1
    finally:
        await engine.dispose()


async def test_a_writing_transaction_takes_the_lock_with_its_first_statement(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """BEGIN IMMEDIATE goes with the first statement, in its hand-off: the lock is held from
    then to the commit, and a transaction that ran nothing has nothing to end."""
    path = tmp_path / "lock.sqlite3"
    engine = make_engine(f"sqlite+aiosqlite:///{path}")
    sessions = make_sessionmaker(engine)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, k TEXT)"))
        async with sessions() as session, session.begin():
            with hand_offs_counted(monkeypatch) as hand_offs:
                await immediate(session)
                assert hand_offs == [] and not write_lock_taken(path)
                assert (await session.execute(text("SELECT count(*) FROM t"))).all() == [(0,)]
                assert len(hand_offs) == 1
            assert write_lock_taken(path)  # taken by a read: no other writer in between
            await session.execute(text("INSERT INTO t (k) VALUES ('a')"))
        assert not write_lock_taken(path)
        async with sessions() as session:
            assert await session.scalar(text("SELECT k FROM t")) == "a"

        with hand_offs_counted(monkeypatch) as hand_offs:
            async with sessions() as session, session.begin():
                await immediate(session)
            assert hand_offs == []  # begun, nothing run: nothing committed
        async with sessions() as session:
            with pytest.raises(ZeroDivisionError):
                async with session.begin():
                    await immediate(session)
                    raise ZeroDivisionError
        assert not write_lock_taken(path)

        async with sessions() as session, session.begin():
            await immediate(session)
            streamed = await session.stream(text("SELECT k FROM t"))
            assert write_lock_taken(path)  # a streamed result begins first, apart
            assert [row[0] async for row in streamed] == ["a"]
        assert not write_lock_taken(path)

        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another process writing: the turn waits for it
        try:
            engine_busy = make_engine(f"sqlite+aiosqlite:///{path}",
                                      connect_args={"timeout": 0})
            async with make_sessionmaker(engine_busy)() as session:
                with pytest.raises(Exception, match="locked"):
                    async with session.begin():
                        await immediate(session)
                        await session.execute(text("SELECT 1"))
            await engine_busy.dispose()
        finally:
            other.execute("ROLLBACK")
            other.close()
    finally:
        await engine.dispose()


async def test_results_errors_and_streams(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'two.sqlite3'}")
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, k TEXT UNIQUE)"))
            inserted = await conn.execute(text("INSERT INTO t (k) VALUES ('a')"))
            assert inserted.lastrowid == 1 and inserted.rowcount == 1
            await conn.execute(text("INSERT INTO t (k) VALUES (:k)"),
                               [{"k": "b"}, {"k": "c"}, {"k": "d"}])
            changed = await conn.execute(text("UPDATE t SET k = k || '!' WHERE id > 2"))
            assert changed.rowcount == 2
            rows = await conn.execute(text("SELECT id, k FROM t ORDER BY id"))
            assert list(rows.keys()) == ["id", "k"]
            assert rows.all() == [(1, "a"), (2, "b"), (3, "c!"), (4, "d!")]
            streamed = await conn.stream(text("SELECT k FROM t ORDER BY id"))
            assert [row[0] async for row in streamed] == ["a", "b", "c!", "d!"]
        async with engine.connect() as conn:
            with pytest.raises(IntegrityError):
                await conn.execute(text("INSERT INTO t (k) VALUES ('a')"))
            await conn.rollback()
            assert await conn.scalar(text("SELECT count(*) FROM t")) == 4
    finally:
        await engine.dispose()
