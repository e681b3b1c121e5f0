"""Operations (issue 6 §4): `python -m bot backup`, `python -m bot doctor`, the start-up
checks of `python -m bot web`, and the migrations on PostgreSQL through the CLI."""

from __future__ import annotations

import asyncio
import re
import sqlite3
import threading
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from db.migrate import alembic_config
from db.models import Base
from sandbox.botapi import StandInServer
from tests.conftest import run_cli
from tests.test_web import TOKEN, free_port

SECRET = "whsec-ops-9f8e7d"
HEAD = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def sqlite_path(url: str) -> Path:
    return Path(url.split("///", 1)[1])


def table_rows(path: Path) -> dict[str, list[tuple]]:
    conn = sqlite3.connect(path)
    try:
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return {t: conn.execute(f'SELECT * FROM "{t}" ORDER BY rowid').fetchall()
                for t in tables}
    finally:
        conn.close()


# ----------------------------------------------------------------------------- backup


def test_sqlite_backup_is_a_timestamped_consistent_copy_taken_while_the_bot_writes(
    sqlite_url: str, tmp_path: Path
) -> None:
    source = sqlite_path(sqlite_url)
    conn = sqlite3.connect(source)
    conn.execute("INSERT INTO committee (code, name, created_at) VALUES "
                 "('bcd', 'Ban Chỉ đạo', '2022-01-01 00:00:00')")
    conn.commit()
    conn.close()

    # Something writes all along, one committed row at a time, as the bot would.
    stop = threading.Event()
    written = [0]

    def write() -> None:
        writer = sqlite3.connect(source, timeout=30)
        try:
            while not stop.is_set():
                writer.execute(
                    "INSERT INTO audit_log (at, actor_label, action, details) VALUES "
                    "('2022-01-01 00:00:00', 'test', 'tick', '{}')")
                writer.commit()
                written[0] += 1
        finally:
            writer.close()

    thread = threading.Thread(target=write)
    thread.start()
    try:
        result = run_cli("backup", "--dir", str(tmp_path / "backups"), DATABASE_URL=sqlite_url)
    finally:
        stop.set()
        thread.join()
    assert result.returncode == 0, result.stderr
    [backup] = list((tmp_path / "backups").iterdir())
    assert re.fullmatch(r"bot-\d{8}-\d{6}\.sqlite3", backup.name), backup.name
    assert result.stdout.strip() == f"backed up {source} to {backup}"
    assert written[0] > 0

    copy = sqlite3.connect(backup)
    try:
        assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert copy.execute("SELECT version_num FROM alembic_version").fetchone() == (HEAD,)
    finally:
        copy.close()
    original, copied = table_rows(source), table_rows(backup)
    assert set(copied) == set(original)
    ticks = copied.pop("audit_log")
    assert copied == {t: rows for t, rows in original.items() if t != "audit_log"}
    # A snapshot of the writes, taken while they went on: the first n rows, exactly as in
    # the source, none torn.
    assert 0 < len(ticks) < len(original["audit_log"]) == written[0]
    assert ticks == original["audit_log"][:len(ticks)]
    assert [row[0] for row in ticks] == list(range(1, len(ticks) + 1))


def test_postgresql_backup_prints_the_pg_dump_command_without_the_password() -> None:
    url = "postgresql://reports:S3cr3t-pa55@db.internal:6543/committee"
    result = run_cli("backup", DATABASE_URL=url)
    assert result.returncode == 0, result.stderr
    out = result.stdout + result.stderr
    assert "S3cr3t-pa55" not in out
    [command] = [line.strip() for line in result.stdout.splitlines() if "pg_dump" in line]
    assert command.startswith("pg_dump ")
    for part in ("--host=db.internal", "--port=6543", "--username=reports", "--format=custom"):
        assert part in command.split(), command
    assert command.split()[-1] == "committee"
    assert "PGPASSWORD" in result.stdout or ".pgpass" in result.stdout


# ----------------------------------------------------------------------------- doctor


def catalog_failures() -> set[str]:
    """The catalog checks the doctor must fail in this checkout (none after `make catalogs`;
    a .po edited and not compiled yet is the doctor's business, not this test's)."""
    from babel.messages.pofile import read_po

    from core.i18n import LOCALES_DIR

    mo = LOCALES_DIR / "vi" / "LC_MESSAGES" / "messages.mo"
    po = mo.with_suffix(".po")
    failing = set()
    if not (mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime):
        failing.add("FAIL Vietnamese catalog compiled")
    with po.open("rb") as fh:
        if any(m.id and not m.string for m in read_po(fh, locale="vi")):
            failing.add("FAIL Vietnamese catalog complete")
    return failing


def doctor_lines(stdout: str) -> list[str]:
    lines = [line for line in stdout.splitlines() if line.strip()]
    for line in lines:
        assert re.match(r"(OK  |FAIL) \S", line), f"not a check line: {line!r}"
    return lines


async def test_doctor_prints_one_line_per_check_and_fails_clearly_on_each_problem(
    sqlite_url: str, tmp_path: Path
) -> None:
    catalog = catalog_failures()
    server = StandInServer()
    await server.start()
    api_url = server.url
    try:
        good = {"BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": server.url, "DATABASE_URL": sqlite_url,
                "WEBHOOK_URL": "https://bot.example.org/tg", "WEBHOOK_SECRET": SECRET}
        no_token = {k: v for k, v in good.items() if k != "BOT_TOKEN"}
        cases = {
            "healthy": good,
            "no token": no_token,
            "Bot API unreachable": {**good, "TELEGRAM_API_URL": f"http://127.0.0.1:{free_port()}"},
            "not migrated": {**good,
                             "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'fresh.sqlite3'}"},
            "webhook not https": {**good, "WEBHOOK_URL": "http://bot.example.org/tg"},
            "database unreachable": {
                **good, "DATABASE_URL": f"postgresql://u:pw-x1@127.0.0.1:{free_port()}/db"},
        }
        results = dict(zip(cases, await asyncio.gather(
            *(asyncio.to_thread(run_cli, "doctor", **env) for env in cases.values())
        ), strict=True))
    finally:
        await server.stop()

    def failures(stdout: str) -> list[str]:
        return [line for line in doctor_lines(stdout) if line.startswith("FAIL")
                and re.sub(r" — .*", "", line) not in catalog]

    healthy = results.pop("healthy")
    assert healthy.returncode == (1 if catalog else 0), healthy.stdout + healthy.stderr
    lines = doctor_lines(healthy.stdout)
    assert failures(healthy.stdout) == [], lines
    checks = [re.sub(r" — .*", "", line[5:]) for line in lines]
    assert checks == [
        "BOT_TOKEN is set", f"TELEGRAM_API_URL {api_url}", "WEBHOOK_URL is https",
        "WEBHOOK_SECRET is set", "database reachable", "migrations up to date",
        "Bot API reachable", "Vietnamese catalog compiled", "Vietnamese catalog complete",
    ], lines
    assert "@plan_report_bot" in healthy.stdout  # getMe answered

    expected = {
        "no token": ("FAIL BOT_TOKEN is set", "BotFather"),
        "Bot API unreachable": ("FAIL Bot API reachable", "NetworkError"),
        "not migrated": ("FAIL migrations up to date", "python -m bot db upgrade"),
        "webhook not https": ("FAIL WEBHOOK_URL is https", "https"),
        "database unreachable": ("FAIL database reachable", ""),
    }
    for case, (start, hint) in expected.items():
        result = results[case]
        out = result.stdout + result.stderr
        assert result.returncode == 1, f"{case}: exit {result.returncode}\n{out}"
        failed = failures(result.stdout)
        assert len(failed) == 1 and failed[0].startswith(start), f"{case}: {failed}"
        assert hint in failed[0], f"{case}: {failed[0]}"
        assert "Traceback" not in out, f"{case}:\n{out}"
    for result in [healthy, *results.values()]:
        out = result.stdout + result.stderr
        assert TOKEN not in out and SECRET not in out and "pw-x1" not in out, out


# ----------------------------------------------------------------------------- web start-up


@pytest.mark.parametrize("missing", ["WEBHOOK_SECRET", "WEBHOOK_URL", "BOT_TOKEN"])
def test_web_without_its_settings_exits_2_and_says_what_is_missing(
    missing: str, sqlite_url: str
) -> None:
    env = {"BOT_TOKEN": TOKEN, "WEBHOOK_URL": "https://bot.example.org/tg",
           "WEBHOOK_SECRET": SECRET, "DATABASE_URL": sqlite_url, "PORT": str(free_port()),
           "TELEGRAM_API_URL": "http://127.0.0.1:9"}
    env.pop(missing)
    result = run_cli("web", **env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"webhook mode needs {missing}" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert TOKEN not in result.stderr and SECRET not in result.stderr


# ----------------------------------------------------------------------------- migrations


async def _diff_and_tables(url: str) -> tuple[list, set[str]]:
    from db.session import make_engine

    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            def check(sync_conn):
                ctx = MigrationContext.configure(sync_conn, opts={"compare_type": True})
                return compare_metadata(ctx, Base.metadata), set(
                    inspect(sync_conn).get_table_names())

            return await conn.run_sync(check)
    finally:
        await engine.dispose()


def test_postgresql_migrations_go_up_down_and_up_again_through_the_cli(
    empty_postgres_url: str,
) -> None:
    """base → head → base → head with `python -m bot db upgrade|downgrade`; at head the
    models and the schema agree (autogenerate finds no difference)."""
    from db.migrate import current

    url = empty_postgres_url

    def cli(*args: str) -> None:
        result = run_cli("db", *args, DATABASE_URL=url)
        assert result.returncode == 0, result.stderr

    assert current(url) is None
    for round_ in range(2):
        cli("upgrade")
        assert current(url) == HEAD
        diff, tables = asyncio.run(_diff_and_tables(url))
        assert diff == [], f"models and migrations disagree: {diff}"
        assert set(Base.metadata.tables) <= tables
        if round_ == 0:
            cli("downgrade", "base")
            assert current(url) is None
            _diff, tables = asyncio.run(_diff_and_tables(url))
            assert tables <= {"alembic_version"}, tables


# ----------------------------------------------------------------------------- sweep


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_sweep_cli_that_loses_the_race_to_a_concurrent_sweep_exits_0(
    database_url: str, sessionmaker, settings
) -> None:
    """Two sweeps at once (the bot's and `python -m bot sweep`, or two cron jobs): the one
    whose outbox rows come second hits the unique dedupe keys. The bot's own sweep treats
    that as "nothing to add"; so does the CLI: exit 0 and one line, no traceback."""
    import datetime as dt
    import sys

    from sqlalchemy import func, select, text

    from core.planfile import load_plan
    from db.models import Agency, Member, MemberRole, OutboxMessage, Role
    from db.plan_import import import_plan
    from scheduler.sweeper import run_sweep
    from tests.conftest import MINI_PLAN, ROOT, cli_env

    now = dt.datetime.fromisoformat("2022-03-21T08:00:00+07:00")
    async with sessionmaker() as session, session.begin():
        await import_plan(session, load_plan(MINI_PLAN), settings)
        agencies = {a.code: a for a in (await session.scalars(select(Agency))).all()}
        for uid, code, role in ((541, "p-cat-linh", Role.reporter),
                                (543, "ldtbxh", Role.standing_office)):
            member = Member(telegram_user_id=uid, chat_id=uid, full_name=f"Cán bộ {uid}",
                            agency_id=agencies[code].id,
                            committee_id=agencies[code].committee_id)
            member.roles = [MemberRole(role=role)]
            session.add(member)

    async def cli_waits_for_our_rows() -> bool:
        async with sessionmaker() as watcher:
            waiting = await watcher.scalar(text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'"))
        return bool(waiting)

    async with sessionmaker() as session:
        async with session.begin():
            # This sweep has written its rows and not committed yet when the CLI's sweep
            # writes the same ones: the CLI's inserts wait on the unique index, then fail.
            ours = await run_sweep(session, now, settings.tz)
            assert len(ours.written) == 2
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "sweep", "--now", now.isoformat(), cwd=ROOT,
                env=cli_env(DATABASE_URL=database_url),
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            try:
                deadline = asyncio.get_running_loop().time() + 60
                while not await cli_waits_for_our_rows():
                    assert proc.returncode is None, await proc.communicate()
                    assert asyncio.get_running_loop().time() < deadline, "the CLI never waited"
                    await asyncio.sleep(0.02)
            except BaseException:
                proc.kill()
                raise
        _out, err = await asyncio.wait_for(proc.communicate(), 60)

    stderr = err.decode()
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr and "IntegrityError" not in stderr, stderr
    said = [line for line in stderr.splitlines() if "messages queued" in line]
    assert len(said) == 1 and said[0].startswith("0 messages queued"), stderr
    assert "another sweep" in said[0], said
    async with sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(OutboxMessage)) == 2
