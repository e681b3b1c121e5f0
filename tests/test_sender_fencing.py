"""Two outbox senders on one database (issue 10 §4): what one instance does must not undo
what the other does.

* A 429 whose `retry_after` is longer than the claim timeout: a sender that held claims
  through the pause sent them again after another sender's recovery had already sent them
  (8 doubles in one run with two `web` instances). Now a sender claims only when it can
  send at once, every update of a claimed row is fenced by its claim token, and a send
  whose claim is no longer its own does not happen.
* `SEND_RATE` and `SEND_PER_CHAT_SECONDS` hold overall: two senders against a Bot API
  stand-in that is strict at the configured rate get no 429, and nothing is lost or doubled.

Both run on SQLite and on PostgreSQL (two engines: two instances). Clocks are injected;
everything waits by polling with a deadline.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import select
from telegram import Bot
from telegram.request import HTTPXRequest

from db.models import OutboxMessage, OutboxStatus
from db.session import make_engine, make_sessionmaker
from sandbox.botapi import BotApiError, BotApiState, StandInServer
from scheduler.sender import OutboxSender, SenderConfig

TOKEN = "123456:TEST"
T0 = dt.datetime(2022, 3, 21, 1, 0, tzinfo=dt.UTC)
both_backends = pytest.mark.parametrize("database_url", ["sqlite", "postgresql"],
                                        indirect=True)


class RealTimeClock:
    """The bot's clock, running at real speed from T0 (claims age as they would)."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def __call__(self) -> dt.datetime:
        return T0 + dt.timedelta(seconds=time.monotonic() - self.started)


async def poll(what: str, check: Callable[[], Awaitable[Any]], timeout: float = 30.0,  # noqa: ASYNC109
               interval: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        await asyncio.sleep(interval)


async def standin(state: BotApiState) -> StandInServer:
    server = StandInServer(state)
    await server.start()
    return server


def _bot(server: StandInServer) -> Bot:
    return Bot(TOKEN, request=HTTPXRequest(connection_pool_size=32), **server.bot_kwargs)


async def queue_many(sessionmaker, messages: list[tuple[int, str]]) -> None:
    async with sessionmaker() as session, session.begin():
        for i, (chat, text) in enumerate(messages):
            session.add(OutboxMessage(
                dedupe_key=f"fence:{i}", kind="overdue", chat_id=chat,
                payload={"text": text}, status=OutboxStatus.pending,
                next_attempt_at=T0, created_at=T0,
            ))


async def rows(sessionmaker) -> list[OutboxMessage]:
    async with sessionmaker() as session:
        return list((await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
                    .all())


def accepted(state: BotApiState) -> Counter[tuple[int, str]]:
    """(chat, text) of every sendMessage the stand-in accepted."""
    return Counter((int(c["params"]["chat_id"]), str(c["params"]["text"]))
                   for c in state.calls("sendMessage") if c["ok"])


@pytest.fixture
async def two_instances(database_url: str) -> AsyncIterator[tuple[Any, Any]]:
    engines = [make_engine(database_url), make_engine(database_url)]
    try:
        yield make_sessionmaker(engines[0]), make_sessionmaker(engines[1])
    finally:
        for engine in engines:
            await engine.dispose()


async def run_two(state: BotApiState, sessions: tuple[Any, Any], config: SenderConfig,
                  clock: Callable[[], dt.datetime], expected: int,
                  timeout: float = 40.0) -> list[OutboxMessage]:  # noqa: ASYNC109
    """Two senders (two engines, two Bots: two instances) drain the outbox together."""
    server = await standin(state)
    senders: list[OutboxSender] = []
    try:
        async with _bot(server) as one, _bot(server) as two:
            senders = [OutboxSender(bot, s, clock, config, name=f"web-{i}:{i}")
                       for i, (bot, s) in enumerate(zip((one, two), sessions, strict=True), 1)]
            for sender in senders:
                sender.start()

            async def all_sent() -> bool:
                return [r.status for r in await rows(sessions[0])] == (
                    [OutboxStatus.sent] * expected)

            try:
                await poll("every row is sent", all_sent, timeout=timeout)
            finally:
                for sender in senders:
                    await sender.stop()
    finally:
        await server.stop()
    return await rows(sessions[0])


# ----------------------------------------------------------------------------- 429 > claim


@both_backends
async def test_a_429_pause_longer_than_the_claim_timeout_sends_nothing_twice(
    two_instances: tuple[Any, Any]
) -> None:
    state = BotApiState(clock=time.monotonic)
    chats = list(range(930_001, 930_041))  # 40 messages, one per chat
    for chat in chats:
        state.add_user(chat)
    await queue_many(two_instances[0], [(c, f"Nhắc hạn #{c}") for c in chats])
    # The first message gets a 429 asking for 2 s: longer than the claim timeout (1 s).
    retry_after = 2
    state.inject("sendMessage", chat_id=chats[0],
                 error=BotApiError.too_many_requests(retry_after))
    config = SenderConfig(rate=10, per_chat=1.0, concurrency=8, claim_timeout=1.0,
                          recover_every=0.05, idle_poll=0.02)

    final = await run_two(state, two_instances, config, RealTimeClock(), len(chats))

    calls = state.calls("sendMessage")
    refused = [c for c in calls if c["ok"] is False]
    assert len(refused) == 1 and refused[0]["error"]["error_code"] == 429
    copies = accepted(state)
    doubles = {key: n for key, n in copies.items() if n > 1}
    assert doubles == {}, f"{len(doubles)} messages delivered twice: {doubles}"
    assert sorted(copies) == sorted((r.chat_id, r.payload["text"]) for r in final)
    for row in final:
        [message] = state.bot_messages(row.chat_id)
        assert row.telegram_message_id == message["message_id"]
    # Telegram's wait was honoured: the refused chat's message went out after it.
    [retried] = [c for c in calls if c["ok"] and int(c["params"]["chat_id"]) == chats[0]]
    assert retried["time"] >= refused[0]["time"] + retry_after - 0.05


# ----------------------------------------------------------------------------- overall rate


@both_backends
async def test_send_rate_and_per_chat_interval_hold_across_two_instances(
    two_instances: tuple[Any, Any]
) -> None:
    rate, per_chat = 20, 1.0
    # The stand-in is as strict as Telegram can be: no more than `rate` arrivals in any
    # sliding second, none to one chat within `per_chat` s of the previous one.
    state = BotApiState(clock=time.monotonic, rate_limit=rate, per_chat_interval=per_chat)
    # 10 chats with 3 messages each (interleaved, as sweeps write them), 30 with one: 60.
    busy = list(range(940_001, 940_011))
    single = list(range(940_101, 940_131))
    messages = [(chat, f"tin {n} cho {chat}") for n in range(3) for chat in busy]
    messages += [(chat, f"tin cho {chat}") for chat in single]
    for chat in busy + single:
        state.add_user(chat)
    await queue_many(two_instances[0], messages)
    # Each instance is configured with the overall figures, as the README says.
    config = SenderConfig(rate=rate, per_chat=per_chat, concurrency=8, idle_poll=0.02)

    started = time.monotonic()
    final = await run_two(state, two_instances, config, RealTimeClock(), len(messages))
    elapsed = time.monotonic() - started

    assert state.rate_limited == 0, f"{state.rate_limited} × 429 from the stand-in"
    copies = accepted(state)
    assert copies == Counter(messages), "lost or doubled"
    assert {r.status for r in final} == {OutboxStatus.sent}
    # Both instances sent: they shared the rate, not just the outbox.
    assert {r.claimed_by for r in final} == {"web-1:1", "web-2:2"}
    # Measured at the stand-in: the busiest second and the closest two sends to one chat.
    times = sorted(c["time"] for c in state.calls("sendMessage") if c["ok"])
    assert max(sum(1 for t in times[i:] if t < start + 1.0) for i, start in enumerate(times)) \
        <= rate
    per_chat_times: dict[int, list[float]] = {}
    for call in state.calls("sendMessage"):
        if call["ok"]:
            per_chat_times.setdefault(int(call["params"]["chat_id"]), []).append(call["time"])
    gaps = [b - a for ts in per_chat_times.values() for a, b in itertools.pairwise(ts)]
    assert min(gaps) >= per_chat, min(gaps)
    # Sharing the rate does not waste it: 60 messages at 20/s overall.
    assert elapsed < len(messages) / rate + 6.0, elapsed
