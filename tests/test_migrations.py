"""Migrations build the schema from nothing, agree with the models, and go back down."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from db.migrate import current, downgrade, upgrade
from db.models import Base
from db.session import make_engine


async def _diff_and_tables(url: str) -> tuple[list, set[str]]:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            def check(sync_conn):
                ctx = MigrationContext.configure(sync_conn, opts={"compare_type": True})
                return compare_metadata(ctx, Base.metadata), set(
                    inspect(sync_conn).get_table_names()
                )

            return await conn.run_sync(check)
    finally:
        await engine.dispose()


def _check_roundtrip(url: str) -> None:
    upgrade(url)
    assert current(url) is not None
    diff, tables = asyncio.run(_diff_and_tables(url))
    assert diff == [], f"models and migrations disagree: {diff}"
    assert set(Base.metadata.tables) <= tables
    # Upgrading again is a no-op, and downgrading removes every table.
    upgrade(url)
    downgrade(url, "base")
    diff, tables = asyncio.run(_diff_and_tables(url))
    assert tables <= {"alembic_version"}
    upgrade(url)
    assert asyncio.run(_diff_and_tables(url))[0] == []


def test_sqlite_empty_database_upgrades_and_matches_models(tmp_path: Path) -> None:
    _check_roundtrip(f"sqlite+aiosqlite:///{tmp_path / 'fresh.sqlite3'}")


def test_plain_sqlite_url_and_missing_directory_are_accepted(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'nested' / 'dir' / 'bot.sqlite3'}"
    upgrade(url)
    assert (tmp_path / "nested" / "dir" / "bot.sqlite3").exists()


def test_postgresql_empty_database_upgrades_and_matches_models(empty_postgres_url: str) -> None:
    _check_roundtrip(empty_postgres_url)


def test_constraints_follow_the_naming_convention() -> None:
    names = []
    for table in Base.metadata.tables.values():
        for constraint in table.constraints:
            names.append(str(constraint.name))
        for index in table.indexes:
            names.append(str(index.name))
    assert names and all(n.split("_")[0] in {"pk", "uq", "fk", "ck", "ix"} for n in names), names


def test_sweep_and_dashboard_indexes_exist() -> None:
    indexes = {ix.name: [c.name for c in ix.columns] for ix in Base.metadata.tables[
        "obligation"].indexes}
    assert indexes["ix_obligation_status_due_at"] == ["status", "due_at"]
    assert indexes["ix_obligation_schedule_id_period_key"] == ["schedule_id", "period_key"]
    outbox = {ix.name for ix in Base.metadata.tables["outbox"].indexes}
    assert "ix_outbox_status_next_attempt_at" in outbox
    assert any(c.name == "uq_outbox_dedupe_key" for c in Base.metadata.tables["outbox"].constraints)


def test_cli_db_upgrade_creates_the_default_sqlite_file(tmp_path: Path) -> None:
    from tests.conftest import run_cli

    db = tmp_path / "cli.sqlite3"
    result = run_cli("db", "upgrade", DATABASE_URL=f"sqlite:///{db}")
    assert result.returncode == 0, result.stderr
    assert db.exists()
    from alembic.script import ScriptDirectory

    from db.migrate import alembic_config

    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    result = run_cli("db", "current", DATABASE_URL=f"sqlite:///{db}")
    assert result.stdout.strip() == head


@pytest.mark.parametrize("url", ["postgres://u@h/db", "postgresql://u@h/db"])
def test_postgres_urls_get_the_async_driver(url: str) -> None:
    from db.session import normalize_url

    assert normalize_url(url).startswith("postgresql+asyncpg://")


NOW = "2022-01-01 00:00:00"


def _mai_at(path: Path, revision: str, agency: bool) -> str:
    """A SQLite database at `revision` with a committee and its member Mai (id 5, Telegram
    555), in agency 10 when `agency`; its URL."""
    url = f"sqlite+aiosqlite:///{path}"
    upgrade(url, revision)
    now = NOW
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO committee (id, code, name, created_at, role_labels) "
                     f"VALUES (1, 'b', 'B', '{now}', '{{}}')")
        if agency:
            conn.execute("INSERT INTO agency (id, committee_id, code, name, kind, escalate) "
                         "VALUES (10, 1, 'a', 'A', 'k', 1)")
        conn.execute("INSERT INTO member (id, telegram_user_id, committee_id, agency_id, "
                     "full_name, active, created_at, updated_at) VALUES (5, 555, 1, "
                     f"{10 if agency else 'NULL'}, 'Mai', 1, '{now}', '{now}')")
    return url


def test_rebuilding_a_table_on_sqlite_keeps_the_rows_that_reference_it(tmp_path: Path) -> None:
    """Migration 0010 rebuilds `member` on SQLite (a column becomes nullable). Foreign keys
    are off while migrations run, so the drop does not cascade: the roles stay."""
    path = tmp_path / "rebuild.sqlite3"
    url, now = _mai_at(path, "0009", agency=True), NOW
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO member_role (member_id, role, granted_at) "
                     f"VALUES (5, 'reporter', '{now}')")
    for step in (lambda: upgrade(url), lambda: downgrade(url, "0009"), lambda: upgrade(url)):
        step()
        with sqlite3.connect(path) as conn:
            assert conn.execute("SELECT member_id, role FROM member_role").fetchall() == [
                (5, "reporter")]
            assert conn.execute("SELECT id, telegram_user_id FROM member").fetchall() == [
                (5, 555)]


def test_an_outbox_items_person_is_its_messages_across_0013(tmp_path: Path) -> None:
    """Migration 0013 drops outbox_item.member_id (the item's person is its message's):
    the items stay; going back fills the column again from each item's message."""
    path = tmp_path / "items.sqlite3"
    url, now = _mai_at(path, "0012", agency=False), NOW
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO outbox (id, dedupe_key, kind, member_id, chat_id, payload, "
                     "status, attempts, next_attempt_at, created_at) VALUES (7, 'msg:k', "
                     f"'reminder', 5, 555, '{{}}', 'pending', 0, '{now}', '{now}')")
        conn.execute("INSERT INTO outbox_item (dedupe_key, outbox_id, kind, level, member_id, "
                     f"created_at) VALUES ('k', 7, 'reminder', 0, 5, '{now}')")
    upgrade(url)
    with sqlite3.connect(path) as conn:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(outbox_item)")]
        assert "member_id" not in columns
        assert conn.execute("SELECT dedupe_key, outbox_id FROM outbox_item").fetchall() == [
            ("k", 7)]
    downgrade(url, "0012")
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT dedupe_key, member_id FROM outbox_item").fetchall() == [
            ("k", 5)]
