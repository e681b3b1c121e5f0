"""The event loop of `python -m bot run` and `web` (EVENT_LOOP, bot/eventloop.py): uvloop by
default, asyncio's own on request or where uvloop is missing."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import uvloop

import bot.app
import bot.cli
from bot.eventloop import use_event_loop
from core.settings import Settings


@pytest.fixture(autouse=True)
def restore_policy() -> Iterator[None]:
    before = asyncio.get_event_loop_policy()
    yield
    asyncio.set_event_loop_policy(before)


def loop_type() -> type[asyncio.AbstractEventLoop]:
    async def running() -> type[asyncio.AbstractEventLoop]:
        return type(asyncio.get_running_loop())

    return asyncio.run(running())


def test_uvloop_is_the_default_and_runs_the_loop() -> None:
    assert Settings(_env_file=None).event_loop == "uvloop"
    assert use_event_loop("uvloop") == "uvloop"
    assert loop_type() is uvloop.Loop


def test_asyncio_keeps_the_standard_loop() -> None:
    assert use_event_loop("asyncio") == "asyncio"
    assert not issubclass(loop_type(), uvloop.Loop)


def test_without_uvloop_the_standard_loop_is_used_and_said(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import fails
    with caplog.at_level(logging.WARNING, logger="bot.eventloop"):
        assert use_event_loop("uvloop") == "asyncio"
    assert "uvloop is not installed" in caplog.text
    assert not issubclass(loop_type(), uvloop.Loop)


@pytest.mark.parametrize(("choice", "expected"), [("uvloop", True), ("asyncio", False)])
def test_the_run_command_polls_on_the_chosen_loop(
        monkeypatch: pytest.MonkeyPatch, choice: str, expected: bool) -> None:
    seen: list[bool] = []

    def fake_run_polling(settings: Settings) -> None:
        seen.append(issubclass(loop_type(), uvloop.Loop))

    monkeypatch.setenv("EVENT_LOOP", choice)
    monkeypatch.setenv("BOT_TOKEN", "123:TEST")
    monkeypatch.setattr(bot.cli, "refused_unmigrated", lambda url: False)
    monkeypatch.setattr(bot.app, "run_polling", fake_run_polling)
    settings: Any = Settings(_env_file=None)
    monkeypatch.setattr(bot.cli, "get_settings", lambda: settings)
    assert bot.cli.main(["run"]) == 0
    assert seen == [expected]
