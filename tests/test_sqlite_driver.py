"""db.sqlite_driver (issue 16): on SQLite a statement is one hand-off to aiosqlite's thread,
not three or four, and every result SQLAlchemy reads from a cursor is still there: rows,
rowcount, lastrowid, executemany, errors, streamed results. A transaction that writes takes
the write lock (BEGIN IMMEDIATE) in its first statement's hand-off."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from db import sqlite_driver
from db.session import immediate, make_engine, make_sessionmaker
from tests.support.sqlite_lock import write_lock_taken


@contextmanager
def hand_offs_counted(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Every call run on aiosqlite's thread: the driver's (statements, commit, rollback) and
    aiosqlite's own (connect, close, anything SQLAlchemy's adapter still does)."""
    hand_offs: list[Any] = []
    execute = aiosqlite.Connection._execute
    on_thread = sqlite_driver._on_thread

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        hand_offs.append(fn)
        return await execute(self, fn, *args, **kwargs)  # type: ignore[no-untyped-call]

    async def counted_driver(connection: aiosqlite.Connection, fn: Any) -> Any:
        hand_offs.append(fn)
        return await on_thread(connection, fn)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    monkeypatch.setattr(sqlite_driver, "_on_thread", counted_driver)
    try:
        yield hand_offs
    finally:
        monkeypatch.undo()


async def test_each_hand_off_lets_go_of_the_gil_once_queued(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The driver's thread can start a statement, a commit or a rollback at once, not when
    the event loop next waits: the loop's thread releases the GIL (time.sleep(0)) after
    queuing each, before it waits for the answer."""
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'gil.sqlite3'}")
    sessions = make_sessionmaker(engine)
    events: list[str] = []
    sleep = time.sleep

    def recorded_sleep(seconds: float) -> None:
        events.append(f"sleep {seconds}")
        sleep(seconds)

    def queued(tx: Any) -> Any:
        put = tx.put_nowait

        def put_nowait(item: Any) -> None:
            events.append("queued")
            put(item)
        return put_nowait

    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY)"))
        monkeypatch.setattr(sqlite_driver.time, "sleep", recorded_sleep)
        async with sessions() as session:
            raw = (await session.connection()).sync_connection.connection.dbapi_connection
            tx = raw._connection._tx
            raw._connection._tx = type("Tx", (), {"put_nowait": staticmethod(queued(tx)),
                                                  "get": tx.get})()
            try:
                await session.execute(text("INSERT INTO t DEFAULT VALUES"))
                await session.commit()
                await session.execute(text("INSERT INTO t DEFAULT VALUES"))
                await session.rollback()
            finally:
                raw._connection._tx = tx
        # two statements, a commit and a rollback: each queued, then the GIL let go
        assert events == ["queued", "sleep 0"] * 4
    finally:
        await engine.dispose()


async def test_the_connection_given_back_last_is_taken_next(tmp_path: Path) -> None:
    """One turn after another keeps using one connection (its page cache stays valid), not
    each of the pool's in turn."""
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'lifo.sqlite3'}")
    try:
        first, second = await engine.connect(), await engine.connect()
        raw_first = (await first.get_raw_connection()).dbapi_connection
        raw_second = (await second.get_raw_connection()).dbapi_connection
        assert raw_first is not raw_second
        await first.close()
        await second.close()  # given back last
        for _ in range(3):
            async with engine.connect() as conn:
                assert (await conn.get_raw_connection()).dbapi_connection is raw_second
    finally:
        await engine.dispose()


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
