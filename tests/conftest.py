"""Shared fixtures: migrated databases (SQLite always, PostgreSQL when reachable)."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.support.zalo import zalo_server  # noqa: F401  (a fixture for every test module)

ROOT = Path(__file__).resolve().parent.parent
PLANS = ROOT / "plans"
MINI_PLAN = ROOT / "tests" / "data" / "mini-plan.yaml"
PG_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")

# Tests must never reach Telegram; settings read the environment, so clear what matters.
for _var in ("BOT_TOKEN", "DATABASE_URL", "BOT_ADMINS", "TELEGRAM_API_URL", "BOT_USERNAME",
             "ZALO_BOT_TOKEN", "ZALO_API_URL", "ZALO_WEBHOOK_URL", "ZALO_WEBHOOK_SECRET",
             "PUBLIC_URL", "WEBHOOK_URL", "WEBHOOK_SECRET"):
    os.environ.pop(_var, None)


def postgres_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=0.5):
            return True
    except OSError:
        return False


def _pg_url(database: str) -> str:
    base, _, _ = PG_ADMIN_URL.rpartition("/")
    return f"{base}/{database}"


async def _pg_admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file per session; each test gets a copy (migrating is slower)."""
    from db.migrate import upgrade

    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def dongda_template(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file with the Đống Đa plan imported (once per session)."""
    from core.planfile import load_plan
    from core.settings import Settings
    from db.plan_import import import_plan
    from db.session import make_engine, make_sessionmaker

    path = tmp_path_factory.mktemp("dongda") / "dongda.sqlite3"
    shutil.copy(sqlite_template, path)
    url = f"sqlite+aiosqlite:///{path}"

    async def load() -> None:
        settings = Settings(_env_file=None, database_url=url, bot_token="123456:TEST")
        engine = make_engine(url)
        try:
            async with make_sessionmaker(engine)() as session, session.begin():
                await import_plan(session, load_plan(PLANS / "dongda-2022.yaml"), settings)
        finally:
            await engine.dispose()

    asyncio.run(load())
    return path


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    target = tmp_path / "bot.sqlite3"
    shutil.copy(sqlite_template, target)
    return f"sqlite+aiosqlite:///{target}"


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """One migrated PostgreSQL database per session, copied for each test: CREATE DATABASE
    … TEMPLATE takes a fraction of the time the migrations take."""
    from tests.support.harness import postgres_template as template

    yield from template()


@pytest.fixture
def postgres_url(postgres_template: str) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database, dropped afterwards."""
    from tests.support.harness import postgres_copy

    yield from postgres_copy(postgres_template)


@pytest.fixture
def empty_postgres_url() -> Iterator[str]:
    if not postgres_reachable():
        pytest.skip("PostgreSQL is not reachable at 127.0.0.1:5432")
    name = f"t_{uuid.uuid4().hex[:12]}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield _pg_url(name)
    finally:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Runs a database test on SQLite and again on PostgreSQL when one is reachable."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def settings(database_url: str):
    from core.settings import Settings

    return Settings(_env_file=None, database_url=database_url, bot_token="123456:TEST")


@pytest.fixture
async def sessionmaker(database_url: str) -> AsyncIterator:
    from db.session import make_engine, make_sessionmaker

    engine = make_engine(database_url)
    try:
        yield make_sessionmaker(engine)
    finally:
        await engine.dispose()


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("BOT_TOKEN", "DATABASE_URL")}
    env.update(extra)
    env.setdefault("PYTHONPATH", str(ROOT))
    return env


def run_cli(*args: str, **env: str):
    import subprocess

    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=ROOT, env=cli_env(**env), capture_output=True, text=True, timeout=120,
    )
