"""Issue 16: the outbox sender claims and marks in batches, paces on start times over a
network with latency, and can use Telegram's paid broadcasts.

* Pacer: over a network with latency a place is held for a second after the send's
  *start* (plus the jitter margin), not after its answer; a stall still holds it longer;
  on a fast network the answer's time is the bound, as before.
* Claims: one statement claims many rows, at most one per chat (the first due), never a
  row another claim holds; marks: one statement marks many rows sent, fenced per claim.
* A fan-out costs less than one transaction per message (it cost two or more).
* PAID_BROADCAST: `allow_paid_broadcast` is passed; SEND_RATE's ceiling is raised.
* The stand-in's added latency delays the answer, not the arrival the limits count.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from pydantic import ValidationError
from sqlalchemy import event, update
from telegram import Bot

from db.models import OutboxMessage, OutboxStatus
from sandbox.botapi import BotApiState, StandInServer
from scheduler.sender import OutboxSender, Pacer, Place, SenderConfig
from tests.test_sender import Clock, _bot, get_row, outbox, queue, send_calls, sender_for

sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
async def server() -> AsyncIterator[StandInServer]:
    srv = StandInServer(BotApiState(clock=time.monotonic))
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()


@pytest.fixture
async def bot(server: StandInServer) -> AsyncIterator[Bot]:
    async with _bot(server) as b:
        yield b


@pytest.fixture
def clock() -> Clock:
    return Clock()


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


async def answered(pacer: Pacer, clock: FakeClock, start: float, rtt: float) -> float:
    """One send through the pacer: taken (ahead, so that nothing waits), started at
    `start`, answered `rtt` later; returns the time its place said it could start."""
    place = await pacer.take(ahead=10.0)
    assert place is not None
    clock.t = start
    pacer.begin(place)
    clock.t = start + rtt
    await pacer.release(place)
    return place.at


# ----------------------------------------------------------------------------- pacing


async def test_with_latency_a_place_frees_a_second_after_the_start_not_after_the_answer(
) -> None:
    clock = FakeClock()
    pacer = Pacer(2, clock=clock, jitter=0.01)
    # Two sends, each answered 100 ms after it started (a network's latency).
    await answered(pacer, clock, 100.0, 0.1)
    await answered(pacer, clock, 100.5, 0.1)
    clock.t = 100.7
    third = await pacer.take(ahead=10.0)
    assert third is not None
    # Free a second after the first send's start plus the jitter margin: 101.01, not 101.1
    # (the answer's time, as the pacer used to count).
    assert third.at == pytest.approx(101.01)


async def test_a_stalled_round_trip_holds_its_place_longer() -> None:
    clock = FakeClock()
    pacer = Pacer(2, clock=clock, jitter=0.01)
    await answered(pacer, clock, 100.0, 0.1)  # the fastest round trip: 100 ms
    # This one took 300 ms: the request may have reached Telegram up to 200 ms late.
    await answered(pacer, clock, 100.5, 0.3)
    clock.t = 100.9
    third = await pacer.take(ahead=10.0)
    fourth = await pacer.take(ahead=10.0)
    assert third is not None and fourth is not None
    assert third.at == pytest.approx(101.01)
    assert fourth.at == pytest.approx(100.5 + 0.3 - 0.09 + 1.0)


async def test_on_a_fast_network_the_answer_bounds_the_arrival() -> None:
    clock = FakeClock()
    pacer = Pacer(1, clock=clock, jitter=0.01)
    await answered(pacer, clock, 100.0, 0.004)  # within the jitter margin
    second = await pacer.take(ahead=10.0)
    assert second is not None and second.at == pytest.approx(101.004)


async def test_sends_start_at_least_one_slot_apart() -> None:
    clock = FakeClock()
    pacer = Pacer(4, clock=clock)
    places = [await pacer.take(ahead=10.0) for _ in range(4)]
    assert [p.at for p in places if p] == pytest.approx([100.0, 100.25, 100.5, 100.75])


# ----------------------------------------------------------------------------- batches


async def test_one_statement_claims_many_rows_at_most_one_per_chat(
    sessionmaker, server: StandInServer, bot, clock: Clock
) -> None:
    ids = {}
    for chat, key in [(701, "a"), (702, "b"), (701, "c"), (703, "d"), (704, "e")]:
        ids[key] = await queue(sessionmaker, chat, f"tin {key}", key=key)
    sender = sender_for(bot, sessionmaker, clock)
    rows = await sender.claim_many(10)
    # 701's second message waits for its first; the others go in one claim, in order.
    assert [r.id for r in rows] == [ids["a"], ids["b"], ids["d"], ids["e"]]
    assert len({r.claim_token for r in rows}) == 1 and rows[0].claim_token
    assert {r.status for r in rows} == {OutboxStatus.sending}
    # Nothing more can be claimed: 701 is being sent, the rest are claimed.
    assert await sender.claim_many(10) == []
    other = OutboxSender(bot, sessionmaker, clock, SenderConfig(), name="other")
    assert await other.claim() is None


async def test_one_statement_marks_many_rows_sent_each_fenced_by_its_claim(
    sessionmaker, server: StandInServer, bot, clock: Clock
) -> None:
    for chat in (711, 712, 713):
        await queue(sessionmaker, chat, "tin", key=f"m{chat}")
    sender = sender_for(bot, sessionmaker, clock)
    first, second, third = await sender.claim_many(3)
    # Another sender recovered the second row (a new claim token) meanwhile.
    async with sessionmaker() as session, session.begin():
        await session.execute(update(OutboxMessage).where(OutboxMessage.id == second.id)
                              .values(claim_token="someone-else"))
    async with sender._write() as session:
        mine = await sender._mark_sent(session, [(first, 11), (second, 12), (third, 13)])
    assert mine == {first.id, third.id}
    rows = await outbox(sessionmaker)
    assert (rows[first.id].status, rows[first.id].telegram_message_id) == (OutboxStatus.sent, 11)
    assert (rows[third.id].status, rows[third.id].telegram_message_id) == (OutboxStatus.sent, 13)
    lost = rows[second.id]
    assert lost.status == OutboxStatus.sending and lost.telegram_message_id is None
    assert lost.done_at is not None  # its chat's interval counts from the send all the same


@sqlite_only
async def test_a_fan_out_costs_less_than_one_transaction_per_message(
    sessionmaker, server: StandInServer, bot, clock: Clock
) -> None:
    chats = list(range(720_001, 720_061))
    for chat in chats:
        server.state.add_user(chat)
        await queue(sessionmaker, chat, f"Nhắc hạn {chat}", key=f"t{chat}")
    commits = [0]

    def count(_conn: object) -> None:
        commits[0] += 1

    engine = sessionmaker.kw["bind"].sync_engine
    event.listen(engine, "commit", count)
    try:
        sender = sender_for(bot, sessionmaker, clock, rate=0, per_chat=0, concurrency=16)
        assert await sender.drain(30) == len(chats)
    finally:
        event.remove(engine, "commit", count)
    # Claim and mark took a transaction each per message (and a read); now the claims and
    # marks of the workers that wait together share one.
    assert commits[0] < len(chats), commits[0]
    assert {r.status for r in (await outbox(sessionmaker)).values()} == {OutboxStatus.sent}
    assert len(send_calls(server.state)) == len(chats)


@sqlite_only
async def test_a_stale_claim_is_read_again_before_the_send(
    sessionmaker, server: StandInServer, bot, clock: Clock
) -> None:
    server.state.add_user(731)
    row_id = await queue(sessionmaker, 731, "tin", key="s731")
    sender = sender_for(bot, sessionmaker, clock, claim_timeout=0.0)
    [row] = await sender.claim_many(1)
    async with sessionmaker() as session, session.begin():  # recovered and claimed again
        await session.execute(update(OutboxMessage).where(OutboxMessage.id == row_id)
                              .values(claim_token="someone-else"))
    sender.claims[row.id] = (row.claim_token or "", time.monotonic())
    await sender.deliver(row)
    assert send_calls(server.state) == []
    assert (await get_row(sessionmaker, row_id)).claim_token == "someone-else"


# ----------------------------------------------------------------------------- paid broadcasts


@sqlite_only
@pytest.mark.parametrize("paid", [False, True])
async def test_paid_broadcast_is_asked_for_only_when_configured(
    paid: bool, sessionmaker, server: StandInServer, bot, clock: Clock
) -> None:
    server.state.add_user(741)
    await queue(sessionmaker, 741, "tin", key="p741")
    assert await sender_for(bot, sessionmaker, clock, paid_broadcast=paid).drain(10) == 1
    [call] = send_calls(server.state)
    assert call["ok"]
    assert str(call["params"].get("allow_paid_broadcast", "")).lower() == (
        "true" if paid else "")


def test_send_rate_over_30_needs_paid_broadcast() -> None:
    from core.settings import Settings

    assert Settings(_env_file=None, send_rate=30).send_rate == 30
    with pytest.raises(ValidationError, match="PAID_BROADCAST"):
        Settings(_env_file=None, send_rate=100)
    assert Settings(_env_file=None, send_rate=1000, paid_broadcast=True).send_rate == 1000
    with pytest.raises(ValidationError, match="1000"):
        Settings(_env_file=None, send_rate=2000, paid_broadcast=True)


async def test_start_sender_passes_paid_broadcast_for_telegram_only(
    sessionmaker, settings, bot, clock: Clock
) -> None:
    from types import SimpleNamespace

    from scheduler.jobs import start_sender, stop_sender

    for channel, paid in [("telegram", True), ("zalo", False)]:
        paid_settings = settings.model_copy(update={"paid_broadcast": True,
                                                    "send_rate": 1000.0})
        app = SimpleNamespace(bot=bot, bot_data={
            "settings": paid_settings, "db": sessionmaker, "channel": channel,
            "clock": SimpleNamespace(now=clock)})
        sender = await start_sender(app)
        try:
            assert sender.config.paid_broadcast is paid
            assert sender.config.concurrency >= (64 if paid else 1)
        finally:
            await stop_sender(app)


# ----------------------------------------------------------------------------- the stand-in


async def test_the_stand_ins_latency_delays_the_answer_not_the_arrival() -> None:
    state = BotApiState(clock=time.monotonic, rate_limit=30)
    state.response_delay = 0.2
    state.add_user(751)
    standin = StandInServer(state)
    await standin.start()
    try:
        async with Bot("123456:TEST", **standin.bot_kwargs) as telegram:
            started = time.monotonic()
            await telegram.send_message(751, "tin")
            answered_at = time.monotonic()
    finally:
        await standin.stop()
    [call] = state.calls("sendMessage")
    assert call["time"] - started < answered_at - started - 0.15
    assert answered_at - call["time"] >= 0.2


# ----------------------------------------------------------------------------- early wake-ups


@sqlite_only
async def test_a_send_never_starts_before_its_place_even_if_a_sleep_wakes_early(
    sessionmaker, server: StandInServer, bot, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # uvloop (EVENT_LOOP) wakes a sleep up to a millisecond early; a send started early is
    # a 31st arrival in Telegram's second. Here every sleep wakes 20 ms early.
    sleep = asyncio.sleep

    async def early(delay: float, *args: object) -> object:
        return await sleep(max(0.0, delay - 0.02), *args)

    monkeypatch.setattr(asyncio, "sleep", early)
    server.state.add_user(751)
    await queue(sessionmaker, 751, "tin", key="s751")
    sender = sender_for(bot, sessionmaker, clock)
    [row] = await sender.claim_many(1)
    sender.claims[row.id] = (row.claim_token or "", time.monotonic())
    place = Place(sender.pacer.clock() + 0.1)
    sender.pacer.flying.add(place)
    await sender.deliver(row, place)
    assert place.start is not None and place.start >= place.at
    assert len(send_calls(server.state)) == 1
