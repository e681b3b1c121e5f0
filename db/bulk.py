"""Many rows into one table in a few statements written for the driver.

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
# (table, columns, returning, dialect, driver) -> the INSERT up to its rows, its RETURNING
# clause, the processors
_prepared: dict[tuple[Any, ...], tuple[str, str, list[_Processor | None]]] = {}


def _prepare(table: Table, columns: tuple[str, ...], returning: tuple[str, ...],
             dialect: Dialect) -> tuple[str, str, list[_Processor | None]]:
    key = (table.name, columns, returning, dialect.name, dialect.driver)
    if key not in _prepared:
        if (dialect.name, dialect.paramstyle) not in (("sqlite", "qmark"),
                                                      ("postgresql", "numeric_dollar")):
            raise ValueError(f"bulk insert: {dialect.name} ({dialect.driver}) not supported")
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

