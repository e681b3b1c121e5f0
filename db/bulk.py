"""Many rows into one table, or many keys looked up, in a few statements written for the
driver.

SQLAlchemy's bulk INSERT builds a parameter dictionary per row and converts every value of
it through its column's type: at the sweep's 300,000 rows of a province, seconds of CPU.
Here each value is converted by its column type's own bind processor, as SQLAlchemy would,
but once per distinct object of a column (the sweep's `now` in every row, one rendered
message shared by an agency's people), and the rows go to the driver in one of two forms:

- SQLite: multi-row `INSERT … VALUES (?, …), (?, …)` of ROWS_PER_STATEMENT rows, one flat
  tuple of parameters each (SQLite steps a whole statement at once, not row by row with
  Python's lock taken and released as its executemany does);
- PostgreSQL (asyncpg): one `INSERT … SELECT * FROM unnest($1::type[], …)`, a list per
  column, whatever the number of rows.

RETURNING gives back what the database assigned (the ids). The table, columns and types are
written by SQLAlchemy's compiler for the dialect (quoting, type names).

`insert_linked` (PostgreSQL) writes rows and their children in one statement, parents in a
data-modifying WITH, children joined to them by a unique key: run on a connection in
autocommit, one round trip, where BEGIN, two INSERTs and COMMIT were four, each of which
waited for an event loop busy with the sweep's next run.

`existing` looks many values of one column up with `IN (…)` lists whose text is made once
per length: SQLAlchemy's expanding IN renders a placeholder per value on every execution
(at the sweep's 300,000 dedupe keys, about 0.7 s of CPU on the sweep's critical path).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection

# Rows per statement on SQLite: within its limit on parameters (32,766 since 3.32) for
# tables of up to 32 columns.
ROWS_PER_STATEMENT = 1000
_Processor = Callable[[Any], Any]
# The drivers whose parameter style the statements here are written in.
_SQLITE = ("sqlite", "qmark")
_POSTGRESQL = ("postgresql", "numeric_dollar")
# (table, columns, returning, dialect, driver) -> the INSERT up to its rows, its RETURNING
# clause, the processors
_prepared: dict[tuple[Any, ...], tuple[str, str, list[_Processor | None]]] = {}


def _require(dialect: Dialect, what: str, *supported: tuple[str, str]) -> None:
    if (dialect.name, dialect.paramstyle) not in supported:
        raise ValueError(f"{what}: {dialect.name} ({dialect.driver}) not supported")


def _prepare(table: Table, columns: tuple[str, ...], returning: tuple[str, ...],
             dialect: Dialect) -> tuple[str, str, list[_Processor | None]]:
    key = (table.name, columns, returning, dialect.name, dialect.driver)
    if key not in _prepared:
        _require(dialect, "bulk insert", _SQLITE, _POSTGRESQL)
        statement = insert(table).values({name: None for name in columns})
        if returning:
            statement = statement.returning(*[table.c[name] for name in returning])
        compiled = statement.compile(dialect=dialect)
        # A column left out that SQLAlchemy would fill in (a Python-side default) has to be
        # given: the driver knows nothing of those defaults.
        missing = set(compiled.positiontup or ()) - set(columns)
        if missing:
            raise ValueError(f"bulk insert into {table.name}: give {sorted(missing)} too")
        listed = f"INSERT INTO {compiled.preparer.format_table(table)} (" + ", ".join(
            compiled.preparer.format_column(table.c[name]) for name in columns) + ") "
        tail = ""
        if returning:
            tail = " RETURNING " + ", ".join(
                compiled.preparer.format_column(table.c[name]) for name in returning)
        processors: list[_Processor | None] = [
            table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
            for name in columns]
        _prepared[key] = (listed, tail, processors)
    return _prepared[key]


# (table, column, dialect, length) -> SELECT column FROM table WHERE column IN (…length…)
_lookups: dict[tuple[str, str, str, int], str] = {}


def _lookup(table: Table, column: str, dialect: Dialect, count: int) -> str:
    key = (table.name, column, dialect.name, count)
    if key not in _lookups:
        preparer = dialect.identifier_preparer
        name = preparer.format_column(table.c[column])
        marks = (["?"] * count if dialect.paramstyle == _SQLITE[1]
                 else [f"${n}" for n in range(1, count + 1)])
        _lookups[key] = (f"SELECT {name} FROM {preparer.format_table(table)} "
                         f"WHERE {name} IN ({', '.join(marks)})")
    return _lookups[key]


async def existing(connection: AsyncConnection, table: Table, column: str,
                   values: Sequence[Any], chunk: int) -> set[Any]:
    """Those of `values` (of a column the driver takes as they are: strings, numbers) that
    `table` holds in `column`, looked up `chunk` at a time (within both databases' limit on
    parameters: 32,766)."""
    dialect = connection.dialect
    _require(dialect, "lookup", _SQLITE, _POSTGRESQL)
    found: set[Any] = set()
    for start in range(0, len(values), chunk):
        part = tuple(values[start:start + chunk])
        result = await connection.exec_driver_sql(_lookup(table, column, dialect, len(part)),
                                                  part)
        found.update(row[0] for row in result.all())
    return found


def _values(count: int, width: int) -> str:
    """SQLite: `count` rows of `width` parameters."""
    group = "(" + ", ".join(["?"] * width) + ")"
    return "VALUES " + ", ".join([group] * count)


def _arrays(table: Table, columns: tuple[str, ...], dialect: Dialect) -> str:
    """PostgreSQL: the rows as one array per column (`$n::type[]`), unnested."""
    return "SELECT * FROM unnest(" + ", ".join(
        f"${n}::{table.c[name].type.compile(dialect=dialect)}[]"
        for n, name in enumerate(columns, start=1)) + ")"


def _converted(rows: Sequence[Sequence[Any]], processors: list[_Processor | None]
               ) -> list[list[Any]]:
    """The rows' columns, each value as the driver takes it."""
    columns: list[list[Any]] = []
    for position, process in enumerate(processors):
        values = [row[position] for row in rows]
        if process is not None:
            # id of a value -> converted. `rows` holds every value for the whole call, so an
            # id is never reused for another object meanwhile.
            memo = {id(v): process(v) for v in {id(v): v for v in values}.values()
                    if v is not None}
            values = [None if v is None else memo[id(v)] for v in values]
        columns.append(values)
    return columns


async def insert_rows(connection: AsyncConnection, table: Table, columns: Sequence[str],
                      rows: Sequence[Sequence[Any]], returning: Sequence[str] = (),
                      ) -> list[tuple[Any, ...]]:
    """INSERT `rows` (values in the order of `columns`) into `table`; the `returning`
    columns of the rows inserted, in no set order.

    Values are given as the ORM would take them (aware datetimes, enum members, dicts for
    JSON). No Python-side defaults are applied: a column that has one must be given."""
    if not rows:
        return []
    dialect = connection.dialect
    head, tail, processors = _prepare(table, tuple(columns), tuple(returning), dialect)
    flat = _converted(rows, processors)
    if dialect.name == "postgresql":
        # One statement, a parameter per column (asyncpg sends the lists as arrays).
        result = await connection.exec_driver_sql(
            head + _arrays(table, tuple(columns), dialect) + tail, tuple(flat))
        return [tuple(row) for row in result.all()] if returning else []
    width = len(processors)
    found: list[tuple[Any, ...]] = []
    sizes: dict[int, str] = {}  # rows in a statement -> its text
    for start in range(0, len(rows), ROWS_PER_STATEMENT):
        count = min(ROWS_PER_STATEMENT, len(rows) - start)
        if count not in sizes:
            sizes[count] = head + _values(count, width) + tail
        parameters = tuple([value for row in zip(*[column[start:start + count]
                                                    for column in flat], strict=True)
                            for value in row])
        result = await connection.exec_driver_sql(sizes[count], parameters)
        if returning:
            found += [tuple(row) for row in result.all()]
    return found


async def insert_linked(connection: AsyncConnection,
                        parent: Table, parent_columns: Sequence[str],
                        parent_rows: Sequence[Sequence[Any]], key: str,
                        child: Table, child_columns: Sequence[str],
                        child_rows: Sequence[Sequence[Any]], link: str) -> None:
    """PostgreSQL: INSERT `parent_rows` into `parent` and `child_rows` into `child` in one
    statement (atomic on its own). In a child row, the value at `link`'s position is the
    parent's id: given either as the `key` column's value of a parent row of this call (a
    str), or as the id of a parent stored before (an int)."""
    dialect = connection.dialect
    _require(dialect, "linked insert", _POSTGRESQL)
    parents = tuple(parent_columns)
    children = tuple(child_columns)
    head, _tail, processors = _prepare(parent, parents, (), dialect)
    at = children.index(link)
    own = children[:at] + children[at + 1:]
    _head, _tail, child_processors = _prepare(child, own, (), dialect)
    keys = [row[at] if isinstance(row[at], str) else None for row in child_rows]
    ids = [None if isinstance(row[at], str) else row[at] for row in child_rows]
    rest = [(*row[:at], *row[at + 1:]) for row in child_rows]
    quote = dialect.identifier_preparer
    primary = parent.primary_key.columns.values()[0]
    n = len(parents)
    arrays = ", ".join(f"${n + i}::{child.c[name].type.compile(dialect=dialect)}[]"
                       for i, name in enumerate(own, start=1))
    last = n + len(own)
    statement = (
        f"WITH p AS ({head}{_arrays(parent, parents, dialect)} "
        f"RETURNING {quote.format_column(parent.c[key])} AS link_key, "
        f"{quote.format_column(primary)} AS link_id) "
        f"INSERT INTO {quote.format_table(child)} ("
        + ", ".join(quote.format_column(child.c[name]) for name in own)
        + f", {quote.format_column(child.c[link])}) "
        f"SELECT {', '.join(f'c.c{i}' for i in range(len(own)))}, "
        f"coalesce(p.link_id, c.link_id) FROM unnest({arrays}, "
        f"${last + 1}::{parent.c[key].type.compile(dialect=dialect)}[], "
        f"${last + 2}::{primary.type.compile(dialect=dialect)}[]) "
        f"AS c({', '.join(f'c{i}' for i in range(len(own)))}, link_key, link_id) "
        f"LEFT JOIN p ON p.link_key = c.link_key")
    await connection.exec_driver_sql(
        statement, (*_converted(parent_rows, processors),
                    *_converted(rest, child_processors), keys, ids))
