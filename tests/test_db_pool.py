"""Issue 16: on PostgreSQL the engine keeps its connections for 20 turns at once. With
SQLAlchemy's default pool of 5, each connection over 5 was closed when given back and opened
again for the next turn (a server process forked, TLS tried, types read): PostgreSQL's
latency tail with 20 people answering together."""

from __future__ import annotations

import asyncio

from sqlalchemy import event, text

from db.session import make_engine


async def test_twenty_turns_at_once_reuse_their_connections(postgres_url: str) -> None:
    engine = make_engine(postgres_url)
    opened: list[object] = []
    event.listen(engine.sync_engine, "connect", lambda conn, record: opened.append(conn))
    try:
        async def turn() -> None:
            async with engine.connect() as conn:
                await conn.execute(text("select pg_sleep(0.05)"))

        await asyncio.gather(*(turn() for _ in range(20)))
        first = len(opened)
        for _ in range(3):
            await asyncio.gather(*(turn() for _ in range(20)))
        assert first == 20
        assert len(opened) == first, "connections were closed and opened again"
    finally:
        await engine.dispose()
