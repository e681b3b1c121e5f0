"""SQLite through aiosqlite, one hand-off to the driver's thread per statement.

SQLAlchemy's aiosqlite adapter makes three or four hand-offs per statement (open a cursor,
execute, fetch the rows, close), each a wake-up of aiosqlite's thread and then of the event
loop, with Python's lock passed between them: 407 µs of CPU for a `SELECT 1` on this
machine, against 181 µs on asyncpg. Here the cursor's whole work is one function run on
aiosqlite's thread (185 µs): the bot's answers cost 5.3 ms of CPU instead of 6.2 ms on
SQLite, and a process answers 20 % more of them per second (bench/updates.py; SQLite's
turns take the single writer one at a time, so each turn's length is the limit).

Only the ordinary cursor changes; results streamed with a server-side cursor keep
SQLAlchemy's. What is used of aiosqlite is what SQLAlchemy's adapter uses too: the
connection's `_execute` (run a function on its thread) and `_conn` (the sqlite3 connection).
The engine takes it as its DBAPI module (`create_async_engine(module=…)`, db.session).

A transaction that will write begins with BEGIN IMMEDIATE (db.session.immediate): that is
run in the hand-off of the transaction's first statement, not in one of its own
(`_Connection.begin_with_next`). A commit or rollback with no transaction open in SQLite makes no
hand-off: the pool rolls back every connection given back, even just after its commit. A
turn of four statements makes five hand-offs, not seven.

Each hand-off lets go of Python's GIL as soon as the work is queued (`_on_thread`). Without
that, the driver's thread, woken to run a statement, waited for the GIL while the event loop
ran other updates' Python (a reply being sent, the next poll read): at the 90th percentile a
statement began 1.4 ms after it was queued (most of the slow ones a turn's first), against
0.1 ms with it; a turn holds SQLite's single writer all that time. 40 officials answering
together: 250–262 answers/s instead of 229–238 (bench/updates.py, docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import collections
import sqlite3
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, cast

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_

# What a statement leaves: the cursor's description, rowcount, lastrowid and rows (None
# for a statement that returns none).
_Done = tuple[Any, int, int | None, list[Any] | None]
_T = TypeVar("_T")


async def _on_thread(connection: aiosqlite.Connection, function: Callable[[], _T]) -> _T:
    """Run `function` on the connection's thread, as aiosqlite's own `_execute` queues it,
    and let go of the GIL at once (`time.sleep(0)` returns at once, the GIL released and
    taken again) so that the thread, waiting for it, can start now rather than when the loop
    next waits for I/O. aiosqlite's queue takes (future, function): its thread sets the
    future's result or error through the loop."""
    if not connection._running or connection._connection is None:
        raise ValueError("Connection closed")  # as aiosqlite's _execute
    future: asyncio.Future[_T] = asyncio.get_running_loop().create_future()
    connection._tx.put_nowait((future, function))
    time.sleep(0)  # noqa: ASYNC251 (0 s: releases the GIL, does not wait)
    return await future


class _Cursor(AsyncAdapt_aiosqlite_cursor):
    """A cursor whose execute is one call on aiosqlite's thread: a sqlite3 cursor opened,
    the statement run, its rows fetched and the cursor closed there."""

    __slots__ = ("_done",)
    _awaitable_cursor_close = False

    def __init__(self, adapt_connection: Any) -> None:
        # No driver cursor is opened here (the base class opens one: a hand-off).
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._done: _Done = (None, -1, None, None)

    @property
    def description(self) -> Any:
        return self._done[0]

    @property
    def rowcount(self) -> int:
        return self._done[1]

    @property
    def lastrowid(self) -> Any:
        return self._done[2]

    def close(self) -> None:
        self._rows.clear()

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        try:
            await_(self._run(operation, parameters, many=False))
        except Exception as error:
            self._adapt_connection._handle_exception(error)

    def executemany(self, operation: Any, seq_of_parameters: Sequence[Any]) -> Any:
        try:
            await_(self._run(operation, seq_of_parameters, many=True))
        except Exception as error:
            self._adapt_connection._handle_exception(error)

    async def _run(self, operation: Any, parameters: Any, many: bool) -> None:
        connection = cast(aiosqlite.Connection, self._connection)
        raw: sqlite3.Connection = connection._conn
        adapted = cast(_Connection, self._adapt_connection)
        begin, adapted._begin = adapted._begin, None

        def run() -> _Done:
            if begin is not None:
                raw.execute(begin)
            cursor = raw.cursor()
            try:
                if many:
                    cursor.executemany(operation, parameters)
                elif parameters is None:
                    cursor.execute(operation)
                else:
                    cursor.execute(operation, parameters)
                rows = cursor.fetchall() if cursor.description else None
                return cursor.description, cursor.rowcount, cursor.lastrowid, rows
            finally:
                cursor.close()

        async with self._adapt_connection._execute_mutex:
            self._done = await _on_thread(connection, run)
        if self._done[3] is not None:
            self._rows = collections.deque(self._done[3])


class _Connection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ("_begin",)
    _cursor_cls = _Cursor

    def __init__(self, dbapi: Any, connection: Any) -> None:
        super().__init__(dbapi, connection)
        self._begin: str | None = None  # run before the next statement, in its hand-off

    def begin_with_next(self, statement: str) -> None:
        """Begin the transaction with `statement` (BEGIN IMMEDIATE) just before the next
        statement, in the same hand-off; a transaction that ends before any statement has
        nothing to commit or roll back."""
        self._begin = statement

    def cursor(self, server_side: bool = False) -> Any:
        if server_side and self._begin is not None:
            # A streamed result opens SQLAlchemy's own cursor: begin apart, first.
            begin, self._begin = self._begin, None
            super().cursor().execute(begin)
        return super().cursor(server_side)

    def _idle(self) -> bool:
        """No transaction to end: begun and nothing run since, or none open in SQLite
        (after a commit, or only reads). The pool rolls back every connection given back,
        even after a commit: on this thread, with no hand-off, when there is nothing to
        roll back."""
        if self._begin is not None:
            self._begin = None
            return True
        raw: sqlite3.Connection | None = cast(aiosqlite.Connection, self._connection)._connection
        return raw is None or not raw.in_transaction  # None: closed (the base class skips)

    def commit(self) -> None:
        if not self._idle():
            self._end("commit")

    def rollback(self) -> None:
        if not self._idle():
            self._end("rollback")

    def _end(self, how: str) -> None:
        connection = cast(aiosqlite.Connection, self._connection)
        try:
            await_(_on_thread(connection, getattr(connection._conn, how)))
        except Exception as error:
            self._handle_exception(error)


class OneHandOffDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """SQLAlchemy's aiosqlite DBAPI shim, its connections with _Cursor."""

    def connect(self, *arg: Any, **kw: Any) -> _Connection:
        adapted = super().connect(*arg, **kw)
        return _Connection(self, adapted._connection)


def dbapi() -> OneHandOffDBAPI:
    return OneHandOffDBAPI(aiosqlite, sqlite3)
