"""`python -m bot doctor` with Zalo (issue 14): getMe against the Zalo stand-in, the webhook
URL and secret, PUBLIC_URL; either token alone is enough, neither is a problem; no token or
secret is ever printed."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

from bot.ops import doctor
from core.settings import Settings
from sandbox.botapi import StandInServer
from sandbox.zaloapi import ZaloStandInServer
from tests.conftest import run_cli
from tests.support.zalo import TOKEN
from tests.test_ops import catalog_failures
from tests.test_web import TOKEN as TELEGRAM_TOKEN
from tests.test_web import free_port

SECRET = "zalo-whsec-4Kq9xT"
WEBHOOK = "https://bot.example.gov.vn/zalo"
PUBLIC = "https://bot.example.gov.vn"


def settings(sqlite_url: str, zalo_server: ZaloStandInServer, **extra: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": sqlite_url, "bot_token": None, "zalo_bot_token": TOKEN,
        "zalo_api_url": zalo_server.api_root, "zalo_webhook_url": WEBHOOK,
        "zalo_webhook_secret": SECRET, "public_url": PUBLIC, "webhook_url": None,
        "webhook_secret": None, "bot_username": None,
    }
    values.update(extra)
    return Settings(_env_file=None, **values)


async def run_doctor(settings: Settings, capsys: pytest.CaptureFixture[str]) -> tuple[
        list[str], list[str]]:
    """The problems (without the catalog's, which depend on this checkout) and the lines."""
    catalog = {line[5:] for line in catalog_failures()}
    problems = await doctor(settings)
    out = capsys.readouterr()
    lines = [line for line in out.out.splitlines() if line.strip()]
    for line in lines:
        assert re.match(r"(OK  |FAIL|WARN) \S", line), f"not a check line: {line!r}"
    text = out.out + out.err
    for secret in (TOKEN, SECRET, TELEGRAM_TOKEN, TOKEN.split(":", 1)[1]):
        assert secret not in text, text
    return [p for p in problems if p not in catalog], lines


def line_of(lines: list[str], what: str) -> str:
    [line] = [line for line in lines if line[5:].startswith(what)]
    return line


async def test_a_good_zalo_token_passes_every_zalo_check(
    sqlite_url: str, zalo_server: ZaloStandInServer, capsys: pytest.CaptureFixture[str]
) -> None:
    problems, lines = await run_doctor(settings(sqlite_url, zalo_server), capsys)
    assert problems == [], lines
    checks = [re.sub(r" — .*", "", line[5:]) for line in lines]
    assert checks[:6] == [
        "BOT_TOKEN is unset", "ZALO_BOT_TOKEN is set", f"ZALO_API_URL {zalo_server.api_root}",
        "ZALO_WEBHOOK_URL is https", "ZALO_WEBHOOK_SECRET is 8–256 characters",
        f"PUBLIC_URL {PUBLIC}",
    ], lines
    assert "Zalo Bot API reachable" in checks and "Bot API reachable" not in checks
    reachable = line_of(lines, "Zalo Bot API reachable")
    assert reachable == "OK   Zalo Bot API reachable — bot.PlanReport", reachable
    assert "24 h" in line_of(lines, "PUBLIC_URL")
    assert not any(line.startswith("WARN") for line in lines), lines


async def test_a_wrong_zalo_token_is_reported_without_printing_it(
    sqlite_url: str, zalo_server: ZaloStandInServer, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = "1234567890:wrong-Secret-77"
    s = settings(sqlite_url, zalo_server, zalo_bot_token=wrong)
    problems, lines = await run_doctor(s, capsys)
    assert problems == ["Zalo Bot API reachable"], lines
    line = line_of(lines, "Zalo Bot API reachable")
    assert line.startswith("FAIL") and "401" in line and "ZALO_BOT_TOKEN" in line, line
    assert "wrong-Secret-77" not in "\n".join(lines)


async def test_an_unreachable_zalo_api_names_the_other_host(
    sqlite_url: str, zalo_server: ZaloStandInServer, capsys: pytest.CaptureFixture[str]
) -> None:
    s = settings(sqlite_url, zalo_server, zalo_api_url=f"http://127.0.0.1:{free_port()}")
    problems, lines = await run_doctor(s, capsys)
    assert problems == ["Zalo Bot API reachable"], lines
    assert "https://bot-api.zapps.me" in line_of(lines, "Zalo Bot API reachable")


@pytest.mark.parametrize(("secret", "hint"), [
    ("short", "it has 5"),
    ("x" * 257, "it has 257"),
    (None, "X-Bot-Api-Secret-Token"),
])
async def test_a_webhook_secret_zalo_refuses_is_reported(
    sqlite_url: str, zalo_server: ZaloStandInServer, capsys: pytest.CaptureFixture[str],
    secret: str | None, hint: str,
) -> None:
    s = settings(sqlite_url, zalo_server, zalo_webhook_secret=secret)
    problems, lines = await run_doctor(s, capsys)
    assert problems == ["ZALO_WEBHOOK_SECRET is 8–256 characters"], lines
    line = line_of(lines, "ZALO_WEBHOOK_SECRET")
    assert line.startswith("FAIL") and hint in line, line
    if secret:
        assert secret not in "\n".join(lines)


async def test_a_plain_http_webhook_or_public_url_is_reported(
    sqlite_url: str, zalo_server: ZaloStandInServer, capsys: pytest.CaptureFixture[str]
) -> None:
    s = settings(sqlite_url, zalo_server, zalo_webhook_url="http://bot.example.gov.vn/zalo",
                 public_url="http://bot.example.gov.vn")
    problems, lines = await run_doctor(s, capsys)
    assert problems == ["ZALO_WEBHOOK_URL is https", "PUBLIC_URL http://bot.example.gov.vn"], lines


async def test_zalo_alone_by_long_polling_passes_and_warns_without_public_url(
    sqlite_url: str, zalo_server: ZaloStandInServer, capsys: pytest.CaptureFixture[str]
) -> None:
    s = settings(sqlite_url, zalo_server, zalo_webhook_url=None, zalo_webhook_secret=None,
                 public_url=None)
    problems, lines = await run_doctor(s, capsys)
    assert problems == [], lines
    assert line_of(lines, "BOT_TOKEN is unset").startswith("OK")
    assert line_of(lines, "Zalo by long polling").startswith("OK")
    assert not any(line[5:].startswith("ZALO_WEBHOOK") for line in lines), lines
    warning = line_of(lines, "PUBLIC_URL is unset")
    assert warning.startswith("WARN") and "no files" in warning, warning


async def test_both_channels_are_checked_side_by_side(
    sqlite_url: str, zalo_server: ZaloStandInServer, capsys: pytest.CaptureFixture[str]
) -> None:
    telegram = StandInServer()
    await telegram.start()
    try:
        s = settings(sqlite_url, zalo_server, bot_token=TELEGRAM_TOKEN,
                     telegram_api_url=telegram.url)
        problems, lines = await run_doctor(s, capsys)
    finally:
        await telegram.stop()
    assert problems == [], lines
    for check in ("BOT_TOKEN is set", "ZALO_BOT_TOKEN is set", "Bot API reachable",
                  "Zalo Bot API reachable"):
        assert line_of(lines, check).startswith("OK"), lines


async def test_neither_token_is_a_problem(
    sqlite_url: str, zalo_server: ZaloStandInServer, capsys: pytest.CaptureFixture[str]
) -> None:
    s = settings(sqlite_url, zalo_server, zalo_bot_token=None)
    problems, lines = await run_doctor(s, capsys)
    assert problems == ["BOT_TOKEN is set"], lines
    line = line_of(lines, "BOT_TOKEN is set")
    assert "BotFather" in line and "ZALO_BOT_TOKEN" in line, line
    assert not any("Zalo" in line or "ZALO" in line for line in lines[1:]), lines


async def test_the_command_exits_0_with_zalo_alone(
    sqlite_url: str, zalo_server: ZaloStandInServer
) -> None:
    result = await asyncio.to_thread(
        run_cli, "doctor", DATABASE_URL=sqlite_url, ZALO_BOT_TOKEN=TOKEN,
        ZALO_API_URL=zalo_server.api_root, ZALO_WEBHOOK_URL=WEBHOOK,
        ZALO_WEBHOOK_SECRET=SECRET, PUBLIC_URL=PUBLIC)
    out = result.stdout + result.stderr
    assert result.returncode == (1 if catalog_failures() else 0), out
    assert "OK   Zalo Bot API reachable" in result.stdout, out
    assert "Traceback" not in out and TOKEN not in out and SECRET not in out, out
