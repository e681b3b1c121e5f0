"""End to end: the real bot process against the local Bot API stand-in, over HTTP."""

from __future__ import annotations

from pathlib import Path

from sandbox.botapi import BotApiState
from tests.conftest import run_cli
from tests.support.botproc import TOKEN, running_bot

STRANGER = 777001


async def test_stranger_gets_vietnamese_welcome_with_invite_instructions(
    sqlite_url: str, tmp_path: Path
) -> None:
    async with running_bot(sqlite_url, tmp_path / "bot.log") as bot:
        commands = await bot.client.wait_for_call("setMyCommands")
        assert commands is not None
        await bot.client.send_text(STRANGER, "/start", first_name="Lan", language_code="vi")
        reply = await bot.client.wait_for_message(STRANGER, lambda m: "mời" in m["text"])
        assert "Xin chào" in reply["text"]
        assert "đường dẫn mời" in reply["text"] and "/start" in reply["text"]
        assert TOKEN not in bot.log(), "the token must never appear in logs"
    # Commands are registered in Vietnamese (also the default) and English.
    vi = {c["command"]: c["description"] for c in bot.state.get_commands(language_code="vi")}
    en = {c["command"]: c["description"] for c in bot.state.get_commands(language_code="en")}
    default = {c["command"] for c in bot.state.get_commands()}
    assert vi["start"] == "Mở menu chính" and en["start"] == "Open the main menu"
    assert set(vi) == set(en) == default == {"start", "help", "cancel", "lang", "channel", "id"}


async def test_bot_carries_on_when_the_server_lacks_set_my_commands(
    sqlite_url: str, tmp_path: Path
) -> None:
    state = BotApiState()
    state.disable_method("setMyCommands")
    async with running_bot(sqlite_url, tmp_path / "bot.log", state=state) as bot:
        await bot.client.send_text(STRANGER, "/help", language_code="vi")
        reply = await bot.client.wait_for_message(STRANGER)
        assert "mã mời" in reply["text"]
        assert "setMyCommands is not available" in bot.log()


def test_run_without_token_explains_how_to_set_one(tmp_path: Path) -> None:
    result = run_cli("run", DATABASE_URL=f"sqlite:///{tmp_path / 'x.sqlite3'}")
    assert result.returncode == 2
    assert "BOT_TOKEN" in result.stderr and "@BotFather" in result.stderr
