"""Going live from the README alone: the CLI on a database that was never migrated, the bot's
username from getMe when BOT_USERNAME is unset (bot, `invite create`, `doctor`), and `/id`
for the person whose id goes into BOT_ADMINS."""

from __future__ import annotations

import asyncio
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from sandbox.botapi import StandInServer
from tests.conftest import PLANS, run_cli
from tests.support.harness import BotHarness
from tests.test_web import TOKEN, free_port

SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
UPGRADE_FIRST = "run `python -m bot db upgrade` first"
STANDIN_USERNAME = "plan_report_bot"  # what the stand-in's getMe answers

STRANGER = 5009
LAN = 5002
ADMIN = 5001


# ----------------------------------------------------------------------------- unmigrated


async def test_commands_on_a_database_never_migrated_say_to_upgrade_first(
    tmp_path: Path,
) -> None:
    """The README's order is migrate, then import; whoever skips the first step is told so in
    one line by every command that needs the tables, and nothing is left half done."""
    fresh = f"sqlite+aiosqlite:///{tmp_path / 'fresh.sqlite3'}"
    commands = {
        "plan import": ("plan", "import", str(PLANS / "dongda-2022.yaml")),
        "plan list": ("plan", "list"),
        "sweep": ("sweep", "--dry-run"),
        "export": ("export", "--plan", "dongda-2022", "--schedule", "thang", "--period",
                   "2022-03", "--out", str(tmp_path / "x.xlsx")),
        "invite create": ("invite", "create", "--agency", "p-cat-linh", "--role", "reporter"),
        "invite list": ("invite", "list"),
        "invite revoke": ("invite", "revoke", "1"),
        # Going live on it: refused before polling or serving starts.
        "run": ("run",),
        "web": ("web",),
    }
    results = dict(zip(commands, await asyncio.gather(
        *(asyncio.to_thread(run_cli, *args, DATABASE_URL=fresh, BOT_USERNAME="bcd_bot",
                            BOT_TOKEN="123456:TEST", WEBHOOK_URL="https://bot.example/tg",
                            WEBHOOK_SECRET="s" * 32)
          for args in commands.values())), strict=True))
    for name, result in results.items():
        out = result.stdout + result.stderr
        assert result.returncode == 2, f"{name}: exit {result.returncode}\n{out}"
        assert "Traceback" not in out, f"{name}:\n{out}"
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert lines == ["the database has no tables yet: " + UPGRADE_FIRST], f"{name}: {out}"
    assert not (tmp_path / "x.xlsx").exists()

    # Then the steps in the README's order work.
    upgraded = run_cli("db", "upgrade", DATABASE_URL=fresh)
    assert upgraded.returncode == 0, upgraded.stderr
    imported = run_cli("plan", "import", str(PLANS / "dongda-2022.yaml"), DATABASE_URL=fresh)
    assert imported.returncode == 0, imported.stderr
    assert UPGRADE_FIRST not in imported.stdout + imported.stderr


def test_a_database_behind_the_code_is_told_to_upgrade_too(tmp_path: Path) -> None:
    from alembic.script import ScriptDirectory

    from db.migrate import alembic_config, upgrade

    url = f"sqlite+aiosqlite:///{tmp_path / 'old.sqlite3'}"
    script = ScriptDirectory.from_config(alembic_config(url))
    first = [rev.revision for rev in script.walk_revisions()][-1]  # the first revision
    upgrade(url, first)
    result = run_cli("plan", "import", str(PLANS / "dongda-2022.yaml"), DATABASE_URL=url)
    out = result.stdout + result.stderr
    assert result.returncode == 2, out
    assert "Traceback" not in out, out
    [line] = [line for line in result.stderr.splitlines() if line.strip()]
    assert line.startswith(f"the database schema is at {first}, the code needs "), line
    assert line.endswith(UPGRADE_FIRST), line


# ----------------------------------------------------------------------------- username


@pytest.fixture
def dongda_url(dongda_template: Path, tmp_path: Path) -> str:
    target = tmp_path / "dongda.sqlite3"
    shutil.copy(dongda_template, target)
    return f"sqlite+aiosqlite:///{target}"


async def test_invite_create_without_bot_username_names_the_bot_getme_gives(
    dongda_url: str,
) -> None:
    server = StandInServer()
    await server.start()
    try:
        result = await asyncio.to_thread(
            run_cli, "invite", "create", "--agency", "p-cat-linh", "--role", "reporter",
            DATABASE_URL=dongda_url, BOT_TOKEN=TOKEN, TELEGRAM_API_URL=server.url)
    finally:
        await server.stop()
    assert result.returncode == 0, result.stderr
    assert re.search(rf"link: https://t\.me/{STANDIN_USERNAME}\?start=[A-Za-z0-9_-]+",
                     result.stdout), result.stdout
    assert TOKEN not in result.stdout + result.stderr


def test_invite_create_without_bot_username_or_telegram_says_what_to_fill_in(
    dongda_url: str,
) -> None:
    result = run_cli("invite", "create", "--agency", "p-cat-linh", "--role", "reporter",
                     DATABASE_URL=dongda_url, BOT_TOKEN=TOKEN,
                     TELEGRAM_API_URL=f"http://127.0.0.1:{free_port()}")
    assert result.returncode == 0, result.stderr
    assert "link: https://t.me/<bot_username>?start=" in result.stdout
    assert "BOT_USERNAME is not set" in result.stderr
    assert "Traceback" not in result.stderr and TOKEN not in result.stderr


def check_lines(stdout: str, name: str) -> list[str]:
    return [line for line in stdout.splitlines() if line[5:].startswith(name)]


async def test_doctor_reports_the_username_it_found_or_that_it_has_none(sqlite_url: str) -> None:
    server = StandInServer()
    await server.start()
    try:
        base = {"BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": server.url, "DATABASE_URL": sqlite_url}
        cases = {
            "unset, found": base,
            "set, same": {**base, "BOT_USERNAME": STANDIN_USERNAME},
            "set, another bot": {**base, "BOT_USERNAME": "some_other_bot"},
            "unset, unreachable": {**base,
                                   "TELEGRAM_API_URL": f"http://127.0.0.1:{free_port()}"},
            "set, unreachable": {**base, "BOT_USERNAME": "bcd_bot",
                                 "TELEGRAM_API_URL": f"http://127.0.0.1:{free_port()}"},
        }
        results = dict(zip(cases, await asyncio.gather(
            *(asyncio.to_thread(run_cli, "doctor", **env) for env in cases.values())),
            strict=True))
    finally:
        await server.stop()

    for result in results.values():
        assert "Traceback" not in result.stdout + result.stderr
    [line] = check_lines(results["unset, found"].stdout, "Bot API reachable")
    assert line.startswith("OK") and f"@{STANDIN_USERNAME}" in line, line
    assert "BOT_USERNAME is unset: invite links use this" in line, line
    assert check_lines(results["unset, found"].stdout, "BOT_USERNAME matches") == []

    [line] = check_lines(results["set, same"].stdout, "Bot API reachable")
    assert line == f"OK   Bot API reachable — @{STANDIN_USERNAME}", line
    assert check_lines(results["set, same"].stdout, "BOT_USERNAME matches") == []

    [line] = check_lines(results["set, another bot"].stdout, "BOT_USERNAME matches the bot")
    assert line.startswith("FAIL") and "@some_other_bot" in line, line
    assert f"@{STANDIN_USERNAME}" in line and results["set, another bot"].returncode == 1

    [line] = check_lines(results["unset, unreachable"].stdout, "Bot API reachable")
    assert line.startswith("FAIL") and "BOT_USERNAME is unset too" in line, line
    [line] = check_lines(results["set, unreachable"].stdout, "Bot API reachable")
    assert line.startswith("FAIL") and "invite links use BOT_USERNAME @bcd_bot" in line, line


@SQLITE_ONLY
async def test_without_bot_username_the_admins_invite_links_name_the_bot_from_getme(
    database_url: str,
) -> None:
    async with BotHarness(database_url, bot_admins=(ADMIN,)) as h:
        assert h.application.bot_data["settings"].bot_username == STANDIN_USERNAME
        await h.say(ADMIN, "/start")
        replies = await h.say(ADMIN, "/admin")
        replies = await h.press(ADMIN, "ai:")
        # Down the invite menu (kind → agency → role) to the first link.
        for _step in range(4):
            if "https://t.me/" in replies.text:
                break
            replies = await h.press(ADMIN, replies.buttons[0][1])
        assert re.search(rf"https://t\.me/{STANDIN_USERNAME}\?start=[A-Za-z0-9_-]+",
                         replies.text), replies.text
        assert "<bot_username>" not in replies.text


@SQLITE_ONLY
async def test_a_set_bot_username_is_kept(database_url: str) -> None:
    async with BotHarness(database_url, bot_username="bcd_bot") as h:
        assert h.application.bot_data["settings"].bot_username == "bcd_bot"


# ----------------------------------------------------------------------------- /id


def group_message(user_id: int, update_id: int, text: str) -> dict[str, Any]:
    user = {"id": user_id, "is_bot": False, "first_name": "Lan", "language_code": "vi"}
    return {"update_id": update_id, "message": {
        "message_id": update_id, "date": 1_646_442_000, "text": text,
        "chat": {"id": -100_777, "type": "supergroup", "title": "BCĐ"}, "from": user,
        "entities": [{"type": "bot_command", "offset": 0, "length": len(text)}]}}


@SQLITE_ONLY
async def test_a_stranger_learns_their_id_and_becomes_admin_with_it(database_url: str) -> None:
    async with BotHarness(database_url) as h:
        welcome = await h.say(STRANGER, "/start", first_name="Quân", language_code="vi")
        assert "/id" in welcome.text and "BOT_ADMINS" in welcome.text, welcome.text

        replies = await h.say(STRANGER, "/id")
        assert replies.texts == [f"Mã số Telegram của anh/chị: {STRANGER}"]
        assert await h.member(STRANGER) is None  # asking leaves no trace of a stranger

        # Whoever runs the bot puts that number in BOT_ADMINS and restarts it.
        await h.rebuild(bot_admins=frozenset({STRANGER}))
        assert "Quản trị" in (await h.say(STRANGER, "/admin")).text


@SQLITE_ONLY
async def test_members_get_their_id_too_in_english_as_well(database_url: str) -> None:
    async with BotHarness(database_url) as h:
        await h.join(LAN, "p-cat-linh", first_name="Lan", language_code="en")
        replies = await h.say(LAN, "/id")
        assert replies.texts == [f"Your Telegram id: {LAN}"], replies.texts
        assert replies.last.get("reply_markup") is None


@SQLITE_ONLY
async def test_id_is_not_given_in_a_group(database_url: str) -> None:
    async with BotHarness(database_url) as h:
        await h.feed(LAN, group_message(LAN, 910_001, "/id"))
        said = [str(c["params"].get("text")) for c in h.state.calls("sendMessage")
                if str(c["params"].get("chat_id")) == "-100777"]
        assert said and all(str(LAN) not in text for text in said), said


@SQLITE_ONLY
async def test_id_is_in_the_command_menu(database_url: str) -> None:
    async with BotHarness(database_url) as h:
        for language in ("vi", "en", ""):
            commands = {c["command"]: c["description"]
                        for c in h.state.get_commands(language_code=language or None)}
            assert "id" in commands, (language, commands)
        assert h.state.get_commands(language_code="vi")[-1]["description"] == (
            "Xem mã số Telegram của anh/chị")
