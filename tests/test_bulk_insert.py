"""db.bulk.insert_rows: the sweep's multi-row INSERTs through the driver (issue 16) store
exactly what the ORM stores, on SQLite and on PostgreSQL: the same text for times (SQLite
compares them as text: the sender's `next_attempt_at <= now`), JSON, enum values; the
RETURNING columns of every row, across statements of ROWS_PER_STATEMENT rows."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

import pytest
from sqlalchemy import Table, select, text

from db import bulk
from db.models import OutboxMessage, OutboxStatus
from db.session import make_engine, make_sessionmaker

OUTBOX = cast(Table, OutboxMessage.__table__)
COLUMNS = ("dedupe_key", "kind", "member_id", "chat_id", "payload", "status", "attempts",
           "next_attempt_at", "created_at")
NOW = dt.datetime(2022, 3, 18, 8, 0, 0, 123456, tzinfo=dt.timezone(dt.timedelta(hours=7)))


def row(n: int, payload: dict[str, Any], now: dt.datetime = NOW) -> tuple[Any, ...]:
    return (f"msg:bulk:{n}", "reminder", None, 1_000_000 + n, payload, OutboxStatus.pending,
            0, now, now)


async def test_rows_are_stored_as_the_orm_stores_them(database_url: str) -> None:
    shared = {"text": "🔔 <b>Nhắc hạn nộp báo cáo</b>", "parse_mode": "HTML",
              "buttons": [[{"text": "Mở báo cáo", "data": "o:1"}]]}
    # One payload object shared by many rows (converted once) and rows of their own; more
    # rows than one statement takes, so the last statement is a shorter one.
    rows = [row(n, shared if n % 3 else {"text": f"Thư {n}", "buttons": []})
            for n in range(bulk.ROWS_PER_STATEMENT * 2 + 7)]
    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            session.add(OutboxMessage(**dict(zip(COLUMNS, row(-1, shared), strict=True))))
            await session.flush()
            ids = await bulk.insert_rows(await session.connection(), OUTBOX, COLUMNS, rows,
                                         returning=("dedupe_key", "id"))
        by_key = dict(ids)
        assert len(ids) == len(rows) == len(by_key)
        async with make_sessionmaker(engine)() as session:
            stored = {m.dedupe_key: m for m in (await session.scalars(
                select(OutboxMessage))).all()}
            # The same text in the database as the ORM's own row (times, JSON, the enum).
            raw = {key: tuple(values) for key, *values in (await session.execute(text(
                "SELECT dedupe_key, next_attempt_at, created_at, status, payload FROM outbox"
                " WHERE dedupe_key IN ('msg:bulk:-1', 'msg:bulk:1')"))).all()}
    finally:
        await engine.dispose()
    assert raw["msg:bulk:1"] == raw["msg:bulk:-1"]
    for values in rows:
        message = stored[values[0]]
        assert message.id == by_key[values[0]]
        assert (message.kind, message.member_id, message.chat_id, message.payload,
                message.status, message.attempts) == values[1:7]
        assert message.next_attempt_at == message.created_at == NOW
        assert message.next_attempt_at.tzinfo is not None


async def test_a_column_the_orm_would_fill_in_must_be_given(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    try:
        async with engine.connect() as conn:
            with pytest.raises(ValueError, match="created_at"):
                await bulk.insert_rows(conn, OUTBOX, COLUMNS[:-1], [row(1, {})[:-1]])
            assert await bulk.insert_rows(conn, OUTBOX, COLUMNS, []) == []
            assert await conn.scalar(text("SELECT count(*) FROM outbox")) == 0
    finally:
        await engine.dispose()
