"""The answer-path benchmarks run in smoke mode (small sizes) so they keep working: each
prints one JSON line with its figures and the commit. Figures are judged by hand
(docs/benchmarks.md), never asserted here; what is asserted is that every answer got its
reply and that the SQL statements were counted."""

from __future__ import annotations

import asyncio

import aiohttp

from sandbox.botapi import BotApiState, StandInServer
from tests.test_bench_smoke import run


def test_updates_smoke_drives_the_bot_and_the_echo_bot_with_one_driver() -> None:
    result = run("updates.py", "--smoke")
    assert result["answers"] == 50 and result["rounds"] == 2 and result["commit"]
    assert len(result["ratios"]) == 2 and result["python_ref_ms"] > 0
    assert result["bot_answers_per_s"] > 0 and result["echo_messages_per_s"] > 0
    assert result["sql_statements_per_answer"] > 0


def test_latency_smoke_reports_percentiles_for_typed_and_button_answers() -> None:
    result = run("latency.py", "--smoke")
    assert result["answers"] == 20 and result["typed"] == result["pressed"] == 10
    assert 0 < result["p50_ms"] <= result["p95_ms"] <= result["p99_ms"] <= result["max_ms"]


async def test_the_stand_in_wakes_a_waiter_when_the_bot_replies() -> None:
    """The driver's wait: no polling, the reply itself wakes it; a timeout gives None."""
    state = BotApiState()
    state.add_user(7, first_name="Lan")
    sent = state.user_sends_text(7, "10")["message"]["message_id"]
    waiter = asyncio.ensure_future(state.wait_bot_message(7, sent, seconds=30))
    await asyncio.sleep(0)
    assert not waiter.done()
    await state.call("1:A", "sendMessage", {"chat_id": 7, "text": "Câu 2"})
    reply = await asyncio.wait_for(waiter, 5)
    assert reply is not None and reply["text"] == "Câu 2" and reply["message_id"] > sent
    assert await state.wait_bot_message(7, reply["message_id"], seconds=0.01) is None


async def test_the_control_api_long_polls_for_the_next_reply() -> None:
    server = StandInServer()
    await server.start()
    try:
        state = server.state
        state.add_user(8, first_name="Hùng")
        sent = state.user_sends_text(8, "/start")["message"]["message_id"]
        async with aiohttp.ClientSession() as http:
            wait = asyncio.ensure_future(http.get(
                f"{server.url}/_control/chats/8/wait", params={"after": sent, "timeout": 30}))
            await asyncio.sleep(0.05)
            await state.call("1:A", "sendMessage", {"chat_id": 8, "text": "Xin chào"})
            async with await asyncio.wait_for(wait, 10) as response:
                body = await response.json()
            assert body["message"]["text"] == "Xin chào"
            async with http.get(f"{server.url}/_control/chats/8/wait",
                                params={"after": body["message"]["message_id"],
                                        "timeout": 0.01}) as response:
                assert (await response.json()) == {"message": None}
    finally:
        await server.stop()
