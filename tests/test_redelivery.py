"""An update Telegram delivers twice (a webhook instance died before answering 200) is
handled once: the answer is not applied to the next question, and nothing is sent again."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from db.models import Answer, ProcessedUpdate
from tests.support.harness import BotHarness

LAN = 5101


async def test_a_redelivered_answer_is_ignored(database_url: str) -> None:
    async with BotHarness(database_url) as h:
        await h.join(LAN, "p-cat-linh", first_name="Lan")
        obligation = await h.obligation("p-cat-linh", "thang", "2022-03")
        await h.say(LAN, "Báo cáo cần nộp")
        await h.press(LAN, f"o:{obligation.id}")
        update = h.state.user_sends_text(LAN, "10")
        first = await h.feed(LAN, update)
        assert "Câu 2/" in first.text
        # The same update id, delivered again (the harness records the skip as an error).
        again = await h.feed(LAN, update, allow_errors=True)
        assert len(again) == 0, again.text
        async with h.sessionmaker() as session:
            answers = (await session.scalars(select(Answer))).all()
            assert [(a.field_code, a.value) for a in answers] == [("co_so_quan_ly", 10)]
            recorded = await session.get(ProcessedUpdate, update["update_id"])
            assert recorded is not None
        # The next real answer still goes to question 2.
        second = await h.say(LAN, "8")
        assert "Câu 3/" in second.text


async def test_old_update_ids_are_pruned_by_the_sweep(database_url: str) -> None:
    from scheduler.jobs import sweep_once

    async with BotHarness(database_url) as h:
        await h.say(LAN, "/start")
        async with h.session() as session:
            session.add(ProcessedUpdate(update_id=1, at=h.now - dt.timedelta(days=3)))
        try:
            await sweep_once(h.application)
        finally:
            lock = h.application.bot_data.pop("sweep_lock", None)
            if lock is not None:
                await lock.release()  # its dedicated PostgreSQL connection
        async with h.sessionmaker() as session:
            ids = (await session.scalars(select(ProcessedUpdate.update_id))).all()
        assert 1 not in ids and len(ids) == 1  # the /start just handled stays
