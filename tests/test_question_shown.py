"""The question each editor was last shown is kept on the draft (submission.shown_to), in the
UPDATE of the draft's row that an answer makes anyway (issue 16): typed text still answers
only the question its writer saw, across a restart, and migration 0012 carries the old
member.shown_field over to the draft."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

from db.migrate import downgrade, upgrade
from db.models import Answer, Member, Submission, SubmissionState
from tests.support.harness import BotHarness

LAN = 2001  # reporter of P. Cát Linh
HUNG = 2002  # head of P. Cát Linh
OTHER = "Người khác vừa trả lời câu hỏi đó"


async def open_report(bot: BotHarness, user: int) -> None:
    obligation = await bot.obligation("p-cat-linh", "thang", "2022-03")
    await bot.say(user, "Báo cáo cần nộp")
    await bot.press(user, f"o:{obligation.id}")


async def test_the_question_shown_survives_a_restart(database_url: str) -> None:
    async with BotHarness(database_url) as bot:
        await bot.join(LAN, "p-cat-linh", first_name="Lan")
        await bot.join(HUNG, "p-cat-linh", "head", first_name="Hùng")
        await open_report(bot, LAN)  # Lan sees question 1
        await open_report(bot, HUNG)  # so does Hùng
        assert "⚠️" not in (await bot.say(HUNG, "10")).text  # Hùng answers question 1
        draft = await bot.one(Submission, Submission.state == SubmissionState.draft)
        lan, hung = await bot.member(LAN), await bot.member(HUNG)
        assert lan is not None and hung is not None
        assert draft.shown_to == {str(lan.id): "co_so_quan_ly", str(hung.id): "co_so_kiem_tra"}

        await bot.rebuild()  # a restart: nothing kept in memory
        replies = await bot.say(LAN, "7")  # Lan answers question 1, as on her screen
        assert OTHER in replies.text and "Câu 2/" in replies.text
        stored = {a.field_code: a.value for a in await bot.rows(Answer)}
        assert stored == {"co_so_quan_ly": 10}  # nobody was shown question 2 by then
        # Now she has seen question 2: her next figure answers it.
        assert "Câu 3/" in (await bot.say(LAN, "7")).text
        assert {a.field_code: a.value for a in await bot.rows(Answer)} == {
            "co_so_quan_ly": 10, "co_so_kiem_tra": 7}


async def test_an_answer_does_not_write_the_members_row(database_url: str) -> None:
    """The member's row is left alone by an answer (its updated_at stays)."""
    async with BotHarness(database_url) as bot:
        await bot.join(LAN, "p-cat-linh", first_name="Lan")
        await open_report(bot, LAN)
        before = await bot.one(Member, Member.telegram_user_id == LAN)
        bot.set_now(bot.now.replace(hour=9))
        await bot.say(LAN, "10")
        after = await bot.one(Member, Member.telegram_user_id == LAN)
        assert after.updated_at == before.updated_at


async def test_migration_0012_moves_the_question_shown_to_the_draft(tmp_path: Path) -> None:
    path = tmp_path / "shown.sqlite3"
    url = f"sqlite+aiosqlite:///{path}"
    await asyncio.to_thread(upgrade, url)
    async with BotHarness(url) as bot:
        await bot.join(LAN, "p-cat-linh", first_name="Lan")
        await bot.join(HUNG, "p-cat-linh", "head", first_name="Hùng")
        await open_report(bot, LAN)
        lan = await bot.member(LAN)
        draft = await bot.one(Submission)
        assert lan is not None
    await asyncio.to_thread(downgrade, url, "0011")
    with sqlite3.connect(path) as conn:  # as 0011 kept it: on the member
        conn.execute("UPDATE member SET shown_field = 'co_so_kiem_tra' WHERE id = ?", (lan.id,))
        conn.execute("UPDATE member SET shown_field = 'q9' WHERE id != ?", (lan.id,))
    await asyncio.to_thread(upgrade, url)
    with sqlite3.connect(path) as conn:
        (shown_to,) = conn.execute("SELECT shown_to FROM submission WHERE id = ?",
                                   (draft.id,)).fetchone()
        columns = {row[1] for row in conn.execute("PRAGMA table_info(member)")}
    # Hùng has no draft open: his value has nowhere to go.
    assert json.loads(shown_to) == {str(lan.id): "co_so_kiem_tra"}
    assert "shown_field" not in columns
