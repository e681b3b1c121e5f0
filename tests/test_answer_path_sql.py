"""What one form answer asks of the database (issue 16): a typed number and a button answer
each cost a bounded number of SQL statements. A count, not a timing: the statements are
counted with SQLAlchemy's `before_cursor_execute` event while the bot handles the update.
BEGIN/COMMIT are transaction control and counted apart.

The four: the member with their roles and, in the same query, the draft they are
answering with its obligation (both rows locked on PostgreSQL), the update's id recorded
(redelivery), the answer upserted, the draft's row updated (its question moved and the
question shown to the member, in one UPDATE). Before issue 16: ten on SQLite, eleven on
PostgreSQL (roles, the obligation, the schedule's rule and every answer read apart; the
advisory lock); six before the draft was read with the member and the question shown kept
on the draft."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, select, text
from sqlalchemy.exc import DBAPIError
from telegram.ext import ExtBot

from db.drafts import member_and_draft
from db.models import Answer, Submission
from tests.support.harness import BotHarness
from tests.support.sqlite_lock import write_lock_taken

LAN = 2001  # reporter of P. Cát Linh (the mini plan's ward form)
MAX_STATEMENTS = 4


@contextmanager
def counted(bot: BotHarness) -> Iterator[list[str]]:
    """The SQL statements the bot runs for the update handled inside the block (transaction
    control apart): those of this task, not the outbox sender's working beside it."""
    engine = bot.application.bot_data["engine"].sync_engine
    statements: list[str] = []
    task = asyncio.current_task()

    def on_execute(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if asyncio.current_task() is not task:
            return
        if statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK")):
            bot.transaction_control.append(statement)  # type: ignore[attr-defined]
        else:
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", on_execute)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)


@pytest.fixture
async def bot(database_url: str):
    async with BotHarness(database_url) as h:
        await h.join(LAN, "p-cat-linh", first_name="Lan")
        obligation = await h.obligation("p-cat-linh", "thang", "2022-03")
        await h.say(LAN, "Báo cáo cần nộp")
        await h.press(LAN, f"o:{obligation.id}")
        h.transaction_control = []  # type: ignore[attr-defined]
        yield h


async def test_a_typed_number_answer_costs_at_most_four_statements(bot: BotHarness) -> None:
    await bot.say(LAN, "10")  # the first answer of a report may also set its status
    with counted(bot) as statements:
        replies = await bot.say(LAN, "8")
    assert "Câu 3/" in replies.text  # answered: the next question
    assert len(statements) <= MAX_STATEMENTS, "\n".join(statements)
    assert sum("INSERT INTO answer" in s for s in statements) == 1  # counted, and one write
    answers = {a.field_code: a.value for a in await bot.rows(Answer)}
    assert answers == {"co_so_quan_ly": 10, "co_so_kiem_tra": 8}


async def test_a_button_answer_costs_at_most_four_statements(bot: BotHarness) -> None:
    await bot.say(LAN, "10")
    await bot.say(LAN, "8")
    with counted(bot) as statements:
        replies = await bot.tap(LAN, "Có")
    assert "Câu 4/" in replies.text
    assert len(statements) <= MAX_STATEMENTS, "\n".join(statements)
    assert sum("INSERT INTO answer" in s for s in statements) == 1  # counted, and one write
    answers = {a.field_code: a.value for a in await bot.rows(Answer)}
    assert answers["co_vi_pham"] is True
    (draft,) = await bot.rows(Submission)
    assert draft.current_field == "co_so_vi_pham"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_on_sqlite_an_answer_takes_the_write_lock_up_front(bot: BotHarness) -> None:
    """BEGIN IMMEDIATE: a turn that read first and then wrote would fail at once if another
    connection wrote in between; taken up front, it waits its turn instead. It goes with the
    turn's first statement (db.sqlite_driver): after that read, the lock is held."""
    engine = bot.application.bot_data["engine"].sync_engine
    path = engine.url.database
    task = asyncio.current_task()
    held: list[bool] = []

    def after_execute(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if asyncio.current_task() is task and not held:
            held.append(write_lock_taken(path))

    event.listen(engine, "after_cursor_execute", after_execute)
    try:
        with counted(bot) as statements:
            await bot.say(LAN, "10")
    finally:
        event.remove(engine, "after_cursor_execute", after_execute)
    assert statements[0].lstrip().startswith("SELECT") and held == [True]
    assert bot.transaction_control == []  # type: ignore[attr-defined]



async def test_a_draft_rewritten_elsewhere_is_read_again(bot: BotHarness) -> None:
    """The answers kept from the last commit are used only while the draft's version is the
    one this process wrote; a change made elsewhere (another instance) is read again."""
    await bot.say(LAN, "10")
    (draft,) = await bot.rows(Submission)
    async with bot.session() as session:  # another instance: answer 1 changed, version bumped
        answer = await session.scalar(select(Answer).where(Answer.field_code == "co_so_quan_ly"))
        assert answer is not None
        answer.value, answer.value_number = 5, 5
        (await session.get(Submission, draft.id)).lock_version += 1  # type: ignore[union-attr]
    replies = await bot.say(LAN, "8")  # more than 5: refused by the check against question 1
    assert "Câu 2/" in replies.text and await bot.count(Answer) == 1


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_on_postgresql_the_member_and_the_draft_are_locked_by_one_read(
        bot: BotHarness) -> None:
    """Read together, both rows are still locked until the commit: one person's turns, and
    two editors of one draft, take turns. The draft is locked in a LATERAL sub-select (a
    lock cannot take the missing side of an outer join), so a member with no draft open is
    read by the same one query."""
    await bot.say(LAN, "10")
    with counted(bot) as statements:
        await bot.say(LAN, "8")
    read = " ".join(statements[0].split())
    assert read.endswith("FOR UPDATE OF member"), read
    assert "member.active_submission_id FOR UPDATE) AS draft" in read, read
    assert not any(s.lstrip().startswith("SELECT") for s in statements[1:]), statements

    (draft,) = await bot.rows(Submission)
    member = await bot.member(LAN)
    assert member is not None
    async with bot.session() as turn, bot.session() as other:
        await member_and_draft(turn, "telegram_user_id", LAN, lock=True)
        for row in ("member", "submission"):
            key = member.id if row == "member" else draft.id
            with pytest.raises(DBAPIError, match="could not obtain lock"):
                async with other.begin_nested():
                    await other.execute(text(f"SELECT id FROM {row} WHERE id = :id "
                                             "FOR UPDATE NOWAIT"), {"id": key})


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_on_postgresql_a_member_without_a_draft_is_one_read_too(
        bot: BotHarness) -> None:
    await bot.say(LAN, "/cancel")  # the draft is no longer the active one
    with counted(bot) as statements:
        await bot.say(LAN, "Trợ giúp")
    assert sum(s.lstrip().startswith("SELECT member.id") for s in statements) == 1


async def test_a_reply_is_sent_without_reading_its_answer_back(
        bot: BotHarness, monkeypatch: pytest.MonkeyPatch) -> None:
    """A turn's replies go out as sendMessage with no telegram.Message built from Telegram's
    answer (scheduler.sender.post_message): nothing reads it, and it was 6 % of an answer's
    CPU. The reply, its keyboard and its HTML arrive as before."""
    def unexpected(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("Bot.send_message builds a Message from the answer")

    monkeypatch.setattr(ExtBot, "send_message", unexpected)
    replies = await bot.say(LAN, "10")
    question = replies.last
    assert question["parse_mode"] == "HTML" and question["text"].startswith("Câu 2/")
    assert {"type": "bold", "offset": 0, "length": 8} in question["entities"]
    assert ("« Quay lại", "b:1:1") in replies.buttons
    replies = await bot.press(LAN, "c:1")  # cancelled: the main menu, a reply keyboard
    assert replies.last["reply_markup"]["keyboard"], replies.last
