"""db.sqlite_driver (issue 16): on SQLite a statement is one hand-off to aiosqlite's thread,
not three or four, and every result SQLAlchemy reads from a cursor is still there: rows,
rowcount, lastrowid, executemany, errors, streamed results."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from db.session import make_engine


async def test_a_statement_is_one_hand_off(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'one.sqlite3'}")
    hand_offs: list[Any] = []
    execute = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        hand_offs.append(fn)
        return await execute(self, fn, *args, **kwargs)  # type: ignore[no-untyped-call]

    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))  # the connection's own first statements
            monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
            assert (await conn.execute(text("SELECT 1, 2"))).all() == [(1, 2)]
            assert len(hand_offs) == 1
    finally:
        monkeypatch.undo()
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
