"""One chat's updates strictly one at a time and in arrival order; a burst from one chat
leaves the working slots to the other chats (issue 10 §1)."""

from __future__ import annotations

import asyncio

import pytest
from telegram import Update

from bot.updates import PerChatUpdateProcessor


def _update(update_id: int, chat_id: int) -> Update:
    return Update.de_json({
        "update_id": update_id,
        "message": {"message_id": update_id, "date": 0, "text": str(update_id),
                    "chat": {"id": chat_id, "type": "private"},
                    "from": {"id": chat_id, "is_bot": False, "first_name": "A"}},
    }, None)


async def _submit(processor: PerChatUpdateProcessor, update: Update, coroutine) -> None:
    async with asyncio.timeout(10):
        await processor.process_update(update, coroutine)


@pytest.mark.parametrize("gap_steps", [0, 1, 2, 3, 5])
async def test_updates_arriving_while_others_run_are_handled_in_order(gap_steps: int) -> None:
    """Answers arrive a few event-loop steps apart, shorter than a handler takes: each
    handler reads the current question, yields (the database), then writes the answer."""
    processor = PerChatUpdateProcessor(256)
    state = {"question": 0, "running": 0, "max_running": 0}
    answered: list[tuple[int, int]] = []

    async def handle(n: int) -> None:
        state["running"] += 1
        state["max_running"] = max(state["max_running"], state["running"])
        question = state["question"]
        for _ in range(4):
            await asyncio.sleep(0)
        answered.append((question, n))
        state["question"] = question + 1
        state["running"] -= 1

    tasks = []
    for n in range(18):
        tasks.append(asyncio.create_task(_submit(processor, _update(n, 7), handle(n))))
        for _ in range(gap_steps):
            await asyncio.sleep(0)
    await asyncio.gather(*tasks)
    assert answered == [(n, n) for n in range(18)]
    assert state["max_running"] == 1
    assert processor.waiting_chats() == 0


async def test_a_burst_from_one_chat_does_not_take_every_slot() -> None:
    processor = PerChatUpdateProcessor(2)
    release = asyncio.Event()
    other_done = asyncio.Event()

    async def slow() -> None:
        await release.wait()

    async def quick() -> None:
        other_done.set()

    burst = [asyncio.create_task(_submit(processor, _update(n, 1), slow())) for n in range(50)]
    await asyncio.sleep(0)
    other = asyncio.create_task(_submit(processor, _update(100, 2), quick()))
    async with asyncio.timeout(5):
        await other_done.wait()
    await other
    release.set()
    await asyncio.gather(*burst)
    assert processor.waiting_chats() == 0


async def test_a_cancelled_waiter_does_not_stop_the_queue() -> None:
    processor = PerChatUpdateProcessor(4)
    gate = asyncio.Event()
    order: list[int] = []

    async def handle(n: int) -> None:
        if n == 0:
            await gate.wait()
        order.append(n)

    first = asyncio.create_task(_submit(processor, _update(0, 5), handle(0)))
    await asyncio.sleep(0)
    second = asyncio.create_task(_submit(processor, _update(1, 5), handle(1)))
    third = asyncio.create_task(_submit(processor, _update(2, 5), handle(2)))
    await asyncio.sleep(0)
    second.cancel()
    gate.set()
    await asyncio.gather(first, third)
    with pytest.raises(asyncio.CancelledError):
        await second
    assert order == [0, 2]
    assert processor.waiting_chats() == 0


async def test_a_failing_update_passes_the_turn_on() -> None:
    processor = PerChatUpdateProcessor(4)
    order: list[int] = []

    async def handle(n: int) -> None:
        await asyncio.sleep(0)
        order.append(n)
        if n == 0:
            raise RuntimeError("boom")

    tasks = [asyncio.create_task(_submit(processor, _update(n, 9), handle(n)))
             for n in range(3)]
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(results[0], RuntimeError)
    assert order == [0, 1, 2]
