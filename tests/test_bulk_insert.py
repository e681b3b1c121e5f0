"""db.bulk.insert_rows: the sweep's multi-row INSERTs through the driver (issue 16) store
exactly what the ORM stores, on SQLite and on PostgreSQL: the same text for times (SQLite
compares them as text: the sender's `next_attempt_at <= now`), JSON, enum values; the
RETURNING columns of every row, across statements of ROWS_PER_STATEMENT rows. And its two
other paths: messages with their items in one statement on PostgreSQL (insert_linked), and
many values looked up with IN lists written once per length (existing)."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

import pytest
from sqlalchemy import Table, event, select, text

from db import bulk
from db.models import OutboxItem, OutboxMessage, OutboxStatus
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


ITEM = cast(Table, OutboxItem.__table__)
ITEM_COLUMNS = ("dedupe_key", "outbox_id", "kind", "level", "obligation_id", "created_at")


async def test_messages_and_their_items_are_one_statement_on_postgresql(
        postgres_url: str) -> None:
    """db.bulk.insert_linked: the messages and their items in one statement, committed as it
    ends (a connection in autocommit); an item names its message by the message's dedupe
    key, or one stored before by its id."""
    engine = make_engine(postgres_url)
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    rows = [row(n, {"text": f"Thư {n}", "buttons": []}) for n in range(3)]
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            before = OutboxMessage(**dict(zip(COLUMNS, row(-1, {"text": "trước"}),
                                              strict=True)))
            session.add(before)
            await session.flush()
        items = [("a", "msg:bulk:0", "reminder", 0, None, NOW),
                 ("b", "msg:bulk:0", "overdue", 1, None, NOW),
                 ("c", "msg:bulk:2", "reminder", 0, None, NOW),
                 ("d", before.id, "overdue", 2, None, NOW)]
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            event.listen(engine.sync_engine, "before_cursor_execute", seen)
            await bulk.insert_linked(conn, OUTBOX, COLUMNS, rows, "dedupe_key",
                                     ITEM, ITEM_COLUMNS, items, "outbox_id")
            event.remove(engine.sync_engine, "before_cursor_execute", seen)
        assert len(statements) == 1
        # Committed as the statement ended: another session sees it all.
        async with make_sessionmaker(engine)() as session:
            keys = {m.id: m.dedupe_key for m in (await session.scalars(
                select(OutboxMessage))).all()}
            stored = {i.dedupe_key: (keys[i.outbox_id], i.kind, i.level, i.created_at)
                      for i in (await session.scalars(select(OutboxItem))).all()}
    finally:
        await engine.dispose()
    assert sorted(keys.values()) == ["msg:bulk:-1", "msg:bulk:0", "msg:bulk:1", "msg:bulk:2"]
    assert stored == {"a": ("msg:bulk:0", "reminder", 0, NOW),
                      "b": ("msg:bulk:0", "overdue", 1, NOW),
                      "c": ("msg:bulk:2", "reminder", 0, NOW),
                      "d": ("msg:bulk:-1", "overdue", 2, NOW)}


async def test_linked_rows_are_for_postgresql_only(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    try:
        async with engine.connect() as conn:
            with pytest.raises(ValueError, match="sqlite"):
                await bulk.insert_linked(conn, OUTBOX, COLUMNS, [row(0, {})], "dedupe_key",
                                         ITEM, ITEM_COLUMNS, [], "outbox_id")
    finally:
        await engine.dispose()


async def test_existing_values_are_found_in_pieces(database_url: str) -> None:
    """db.bulk.existing: the values a column holds, looked up `chunk` at a time (the last
    piece shorter), whatever is asked that is not there left out."""
    engine = make_engine(database_url)
    try:
        async with engine.begin() as conn:
            await bulk.insert_rows(conn, OUTBOX, COLUMNS, [row(n, {}) for n in range(5)])
            asked = [f"msg:bulk:{n}" for n in range(-2, 7)]
            assert await bulk.existing(conn, OUTBOX, "dedupe_key", asked, chunk=2) == {
                f"msg:bulk:{n}" for n in range(5)}
            assert await bulk.existing(conn, OUTBOX, "dedupe_key", [], chunk=2) == set()
            assert await bulk.existing(conn, OUTBOX, "chat_id", [1_000_003, 7], chunk=10) \
                == {1_000_003}
    finally:
        await engine.dispose()
