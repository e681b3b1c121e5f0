"""The outbox sender against the Bot API stand-in over HTTP with a real `telegram.Bot`.

Claim, send, mark; 429 / 5xx / timeouts / 403 / 400; pacing; recovery after a crash
(including a real `kill -9` of a sending process) and a graceful stop.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import os
import signal
import sys
import textwrap
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update
from telegram import Bot
from telegram.request import HTTPXRequest

from core.planfile import load_plan
from db.models import (
    Agency,
    AuditLog,
    Member,
    MemberRole,
    OutboxMessage,
    OutboxStatus,
    Role,
)
from db.plan_import import import_plan
from sandbox.botapi import BotApiError, BotApiState, StandInServer
from scheduler.sender import OutboxSender, SenderConfig
from scheduler.sweeper import run_sweep
from tests.conftest import MINI_PLAN, ROOT

TOKEN = "123456:TEST"
TZ = ZoneInfo("Asia/Ho_Chi_Minh")
T0 = dt.datetime(2022, 3, 21, 8, 0, tzinfo=TZ)

# Where the backend makes no difference (Telegram error handling, pacing), SQLite only.
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
TOLERANCE = 0.05  # seconds, for timings read from the stand-in's call log (HTTP jitter)


class Clock:
    """The sender's `now`: stands still until the test moves it."""

    def __init__(self, start: dt.datetime = T0) -> None:
        self.t = start

    def __call__(self) -> dt.datetime:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += dt.timedelta(seconds=seconds)


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture
async def server() -> AsyncIterator[StandInServer]:
    # Call-log times on the monotonic clock, so the pacing test can measure gaps.
    srv = StandInServer(BotApiState(clock=time.monotonic))
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()


def _bot(server: StandInServer, **request: float) -> Bot:
    return Bot(TOKEN, request=HTTPXRequest(connection_pool_size=32, **request),
               **server.bot_kwargs)


@pytest.fixture
async def bot(server: StandInServer) -> AsyncIterator[Bot]:
    async with _bot(server) as b:
        yield b


@pytest.fixture
def clock() -> Clock:
    return Clock()


def sender_for(bot: Bot, sessionmaker, clock: Clock, **config) -> OutboxSender:
    config.setdefault("idle_poll", 0.02)
    return OutboxSender(bot, sessionmaker, clock, SenderConfig(**config), name="test")


# ----------------------------------------------------------------------------- helpers


async def add_member(sessionmaker, uid: int, name: str, roles: tuple[str, ...] = ("reporter",),
                     agency_id: int | None = None, committee_id: int | None = None) -> int:
    async with sessionmaker() as session, session.begin():
        member = Member(telegram_user_id=uid, chat_id=uid, full_name=name, agency_id=agency_id,
                        committee_id=committee_id)
        member.roles = [MemberRole(role=Role(r)) for r in roles]
        session.add(member)
        await session.flush()
        return member.id


async def queue(sessionmaker, chat_id: int, text: str, *, key: str, member_id: int | None = None,
                at: dt.datetime = T0, buttons: list | None = None,
                status: OutboxStatus = OutboxStatus.pending, **extra) -> int:
    async with sessionmaker() as session, session.begin():
        row = OutboxMessage(
            dedupe_key=key, kind="reminder", member_id=member_id, chat_id=chat_id,
            payload={"text": text, "parse_mode": "HTML", "buttons": buttons or []},
            status=status, next_attempt_at=at, created_at=at, **extra,
        )
        session.add(row)
        await session.flush()
        return row.id


async def outbox(sessionmaker) -> dict[int, OutboxMessage]:
    async with sessionmaker() as session:
        rows = (await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all()
        return {r.id: r for r in rows}


async def get_row(sessionmaker, row_id: int) -> OutboxMessage:
    return (await outbox(sessionmaker))[row_id]


def send_calls(state: BotApiState, chat_id: int | None = None) -> list[dict]:
    calls = state.calls("sendMessage")
    if chat_id is None:
        return calls
    return [c for c in calls if str(c["params"].get("chat_id")) == str(chat_id)]


def delivered(state: BotApiState, chat_id: int) -> list[dict]:
    return state.bot_messages(chat_id)


# ----------------------------------------------------------------------------- delivery


async def test_queued_message_is_sent_and_marked_with_its_message_id(
    sessionmaker, server: StandInServer, bot: Bot, clock: Clock
) -> None:
    state = server.state
    state.add_user(501, first_name="Lan")
    member_id = await add_member(sessionmaker, 501, "Lan")
    buttons = [[{"text": "Báo cáo tháng 03/2022", "data": "o:7"}],
               [{"text": "Nhắc tất cả", "data": "ra:1"}, {"text": "Xem chi tiết", "data": "dd:1"}]]
    row_id = await queue(
        sessionmaker, 501, "🔔 <b>Nhắc hạn nộp báo cáo</b>\n• Báo cáo &amp; số liệu",
        key="k1", member_id=member_id, buttons=buttons,
    )
    clock.advance(5)

    sent = await sender_for(bot, sessionmaker, clock).drain(10)

    assert sent == 1
    [message] = delivered(state, 501)
    assert message["text"] == "🔔 Nhắc hạn nộp báo cáo\n• Báo cáo & số liệu"
    assert {"type": "bold", "offset": 3, "length": len("Nhắc hạn nộp báo cáo")} in [
        {k: e[k] for k in ("type", "offset", "length")} for e in message["entities"]]
    keyboard = message["reply_markup"]["inline_keyboard"]
    assert [[(b["text"], b["callback_data"]) for b in r] for r in keyboard] == [
        [("Báo cáo tháng 03/2022", "o:7")],
        [("Nhắc tất cả", "ra:1"), ("Xem chi tiết", "dd:1")],
    ]
    row = await get_row(sessionmaker, row_id)
    assert row.status == OutboxStatus.sent
    assert row.telegram_message_id == message["message_id"]
    assert row.sent_at == clock.t
    assert row.attempts == 1 and row.last_error is None
    assert len(send_calls(state)) == 1


@sqlite_only
async def test_message_not_yet_due_waits(sessionmaker, server, bot, clock) -> None:
    server.state.add_user(502)
    row_id = await queue(sessionmaker, 502, "later", key="k-later", at=T0 + dt.timedelta(hours=1))
    assert await sender_for(bot, sessionmaker, clock).drain(5) == 0
    assert (await get_row(sessionmaker, row_id)).status == OutboxStatus.pending
    clock.advance(3600)
    assert await sender_for(bot, sessionmaker, clock).drain(5) == 1
    assert len(delivered(server.state, 502)) == 1


# ----------------------------------------------------------------------------- 429


async def test_retry_after_requeues_without_counting_and_pauses_everything(
    sessionmaker, server: StandInServer, bot: Bot, clock: Clock
) -> None:
    state = server.state
    for uid in (511, 512):
        state.add_user(uid)
    state.inject("sendMessage", chat_id=511, error=BotApiError.too_many_requests(1))
    first = await queue(sessionmaker, 511, "một", key="k511")
    second = await queue(sessionmaker, 512, "hai", key="k512")
    sender = sender_for(bot, sessionmaker, clock, concurrency=1)

    assert await sender.drain(10) == 1  # the other chat's message, after the pause
    row = await get_row(sessionmaker, first)
    assert row.status == OutboxStatus.pending
    assert row.attempts == 0, "a 429 is not a failed attempt"
    assert row.next_attempt_at >= clock.t + dt.timedelta(seconds=1)
    assert row.claimed_at is None and "429" in (row.last_error or "")
    assert delivered(state, 511) == []
    # RetryAfter holds all sending, not just that chat: the next call waited ~1 s.
    calls = send_calls(state)
    assert [str(c["params"]["chat_id"]) for c in calls] == ["511", "512"]
    assert calls[1]["time"] - calls[0]["time"] >= 1.0 - 0.05
    assert (await get_row(sessionmaker, second)).status == OutboxStatus.sent

    # Not due before the wait is over, even if the sender looks again.
    clock.advance(0.5)
    assert await sender.drain(3) == 0
    assert len(send_calls(state, 511)) == 1

    clock.advance(0.5)
    assert await sender.drain(10) == 1
    row = await get_row(sessionmaker, first)
    assert row.status == OutboxStatus.sent and row.attempts == 1
    assert len(delivered(state, 511)) == 1


@sqlite_only
async def test_retry_after_also_holds_sends_already_waiting_for_a_slot(
    sessionmaker, server: StandInServer, bot: Bot, clock: Clock
) -> None:
    state = server.state
    chats = [561, 562, 563, 564]
    for uid in chats:
        state.add_user(uid)
        await queue(sessionmaker, uid, "tin", key=f"k{uid}")
    # The 429 for the first chat comes back after 0.3 s; by then the three other messages
    # hold pacer slots at 0.2, 0.4 and 0.6 s.
    state.inject("sendMessage", chat_id=561, error=BotApiError.too_many_requests(1), delay=0.3)
    await sender_for(bot, sessionmaker, clock, rate=5, concurrency=4).drain(10)

    calls = send_calls(state)
    first = next(c for c in calls if str(c["params"]["chat_id"]) == "561")
    told_at = first["time"] + 0.3  # when the sender learnt it must wait 1 s
    during_pause = [(c["params"]["chat_id"], round(c["time"] - told_at, 3)) for c in calls
                    if told_at + TOLERANCE < c["time"] < told_at + 1.0 - TOLERANCE]
    assert during_pause == [], "sent while Telegram said to wait"


# ----------------------------------------------------------------------------- 5xx, timeouts


async def test_server_errors_retry_with_growing_backoff_then_deliver(
    sessionmaker, server: StandInServer, bot: Bot, clock: Clock
) -> None:
    state = server.state
    state.add_user(521)
    state.inject("sendMessage", chat_id=521, error=BotApiError.server_error(500), times=1)
    state.inject("sendMessage", chat_id=521, error=BotApiError.server_error(502), times=1)
    row_id = await queue(sessionmaker, 521, "thử lại", key="k521")
    sender = sender_for(bot, sessionmaker, clock, backoff_base=2.0, max_attempts=5,
                        per_chat=0.05)

    waits = []
    for attempt in (1, 2):
        assert await sender.drain(5) == 0
        row = await get_row(sessionmaker, row_id)
        assert row.status == OutboxStatus.pending and row.attempts == attempt
        wait = (row.next_attempt_at - clock.t).total_seconds()
        waits.append(wait)
        assert wait == pytest.approx(2.0 ** attempt)
        clock.advance(wait - 0.5)  # not quite yet: nothing happens
        assert await sender.drain(2) == 0
        clock.advance(0.5)
    assert waits[1] > waits[0], "the backoff grows"

    assert await sender.drain(5) == 1
    row = await get_row(sessionmaker, row_id)
    assert row.status == OutboxStatus.sent and row.attempts == 3
    assert len(delivered(state, 521)) == 1
    assert len(send_calls(state, 521)) == 3


@sqlite_only
async def test_server_errors_give_up_after_max_attempts(
    sessionmaker, server: StandInServer, bot: Bot, clock: Clock
) -> None:
    state = server.state
    state.add_user(522)
    state.inject("sendMessage", chat_id=522, error=BotApiError.server_error(), times=None)
    row_id = await queue(sessionmaker, 522, "không bao giờ tới", key="k522")
    sender = sender_for(bot, sessionmaker, clock, backoff_base=2.0, max_attempts=3,
                        per_chat=0.05)
    for _ in range(6):
        await sender.drain(3)
        clock.advance(3600)
    row = await get_row(sessionmaker, row_id)
    assert row.status == OutboxStatus.failed
    assert row.attempts == 3
    assert (row.last_error or "").startswith("gave up")
    assert len(send_calls(state, 522)) == 3
    assert delivered(state, 522) == []


@sqlite_only
async def test_timeouts_retry_with_backoff(
    sessionmaker, server: StandInServer, clock: Clock
) -> None:
    state = server.state
    state.add_user(523)
    # A server slower than the client's read timeout, twice.
    state.inject("sendMessage", chat_id=523, error=BotApiError.server_error(), times=2,
                 delay=1.0)
    row_id = await queue(sessionmaker, 523, "chậm", key="k523")
    async with _bot(server, read_timeout=0.25) as slow_bot:
        sender = sender_for(slow_bot, sessionmaker, clock, backoff_base=2.0, max_attempts=5,
                        per_chat=0.05)
        waits = []
        for attempt in (1, 2):
            assert await sender.drain(5) == 0
            row = await get_row(sessionmaker, row_id)
            assert row.status == OutboxStatus.pending and row.attempts == attempt
            assert "TimedOut" in (row.last_error or "")
            waits.append((row.next_attempt_at - clock.t).total_seconds())
            clock.advance(waits[-1])
        assert waits == [2.0, 4.0]
        assert await sender.drain(5) == 1
    row = await get_row(sessionmaker, row_id)
    assert row.status == OutboxStatus.sent and row.attempts == 3
    assert len(delivered(state, 523)) == 1


# ----------------------------------------------------------------------------- 403, 400


async def test_blocked_user_is_marked_inactive_and_their_queue_is_dropped(
    sessionmaker, server: StandInServer, bot: Bot, clock: Clock
) -> None:
    state = server.state
    state.add_user(531, first_name="Lan")
    state.add_user(532, first_name="Hùng")
    state.block(531)
    lan = await add_member(sessionmaker, 531, "Lan")
    hung = await add_member(sessionmaker, 532, "Hùng")
    lan_rows = [await queue(sessionmaker, 531, f"tin {i}", key=f"k531-{i}", member_id=lan)
                for i in range(3)]
    hung_row = await queue(sessionmaker, 532, "tin", key="k532", member_id=hung)

    await sender_for(bot, sessionmaker, clock, per_chat=0.2).drain(10)

    rows = await outbox(sessionmaker)
    assert [rows[i].status for i in lan_rows] == [OutboxStatus.blocked] * 3
    assert rows[lan_rows[0]].last_error.startswith("403")
    assert rows[hung_row].status == OutboxStatus.sent
    assert len(send_calls(state, 531)) == 1, "nothing else is tried for a blocked chat"
    async with sessionmaker() as session:
        member = await session.get(Member, lan)
        assert member.active is False and member.inactive_reason == "blocked"
        assert (await session.get(Member, hung)).active is True
        audit = (await session.scalars(
            select(AuditLog).where(AuditLog.action == "member.blocked"))).all()
    assert [(a.entity_type, a.entity_id, a.actor_label) for a in audit] == [
        ("member", lan, "sender")]


@sqlite_only
async def test_blocked_member_is_named_in_the_next_standing_office_digest(
    sessionmaker, settings, server: StandInServer, bot: Bot, clock: Clock
) -> None:
    state = server.state
    async with sessionmaker() as session, session.begin():
        await import_plan(session, load_plan(MINI_PLAN), settings)
        agencies = {a.code: a for a in (await session.scalars(select(Agency))).all()}
    ward, office = agencies["p-cat-linh"], agencies["ldtbxh"]
    lan = await add_member(sessionmaker, 541, "Nguyễn Thị Lan", ("reporter",), ward.id,
                           ward.committee_id)
    await add_member(sessionmaker, 543, "Trần Mai", ("standing_office",), office.id,
                     office.committee_id)
    state.add_user(541, first_name="Lan")
    state.add_user(543, first_name="Mai")
    state.block(541)

    async with sessionmaker() as session, session.begin():
        first = await run_sweep(session, T0, TZ)
    assert {m.chat_id for m in first.written} == {541, 543}
    digest = next(d for d in first.decisions if d.recipient.chat_id == 543)
    assert digest.kind == "digest" and digest.blocked == []
    await sender_for(bot, sessionmaker, clock).drain(10)
    async with sessionmaker() as session:
        assert (await session.get(Member, lan)).inactive_reason == "blocked"

    next_morning = T0 + dt.timedelta(days=1)
    async with sessionmaker() as session, session.begin():
        second = await run_sweep(session, next_morning, TZ)
    digest = next(d for d in second.decisions if d.recipient.chat_id == 543)
    assert digest.kind == "digest" and digest.blocked == [lan]
    assert all(d.recipient.chat_id != 541 for d in second.decisions), "nothing for Lan now"
    [message] = [m for m in second.written if m.chat_id == 543]
    assert "đã chặn bot" in message.payload["text"]
    assert "Nguyễn Thị Lan (P. Cát Linh)" in message.payload["text"]
    clock.advance(86400)
    await sender_for(bot, sessionmaker, clock).drain(10)
    texts = [m["text"] for m in delivered(state, 543)]
    assert len(texts) == 2 and "Nguyễn Thị Lan" in texts[1]


@sqlite_only
async def test_bad_request_fails_without_retry(
    sessionmaker, server: StandInServer, bot: Bot, clock: Clock
) -> None:
    state = server.state
    state.add_user(551)
    broken = await queue(sessionmaker, 551, "Số cơ sở < 5", key="k551")  # not valid HTML
    unknown = await queue(sessionmaker, 559, "ai đây?", key="k559")  # chat not found
    sender = sender_for(bot, sessionmaker, clock)
    await sender.drain(5)
    clock.advance(86400)
    await sender.drain(2)
    rows = await outbox(sessionmaker)
    for row_id in (broken, unknown):
        assert rows[row_id].status == OutboxStatus.failed
        assert rows[row_id].attempts == 1
        assert rows[row_id].last_error.startswith("400")
    assert "can't parse entities" in rows[broken].last_error.lower()
    assert len(send_calls(state, 551)) == 1 and len(send_calls(state, 559)) == 1
    assert delivered(state, 551) == []


# ----------------------------------------------------------------------------- pacing


def gaps_per_chat(times: dict[int, list[float]]) -> dict[int, list[float]]:
    return {chat: [b - a for a, b in itertools.pairwise(stamps)]
            for chat, stamps in times.items()}


def busiest_second(times: dict[int, list[float]], tolerance: float) -> int:
    """The most sends in any window of (1 s - tolerance)."""
    everything = sorted(t for stamps in times.values() for t in stamps)
    return max(len([t for t in everything[i:] if t < start + 1.0 - tolerance])
               for i, start in enumerate(everything))


def call_times(state: BotApiState) -> dict[int, list[float]]:
    """Monotonic arrival times of the accepted sendMessage calls, per chat."""
    times: dict[int, list[float]] = {}
    for call in send_calls(state):
        if call["ok"]:
            times.setdefault(int(call["params"]["chat_id"]), []).append(call["time"])
    return times


async def paced_fan_out(sessionmaker, state: BotApiState, clock: Clock,
                        bot: Bot, messages: list[int], **config) -> dict[int, list[float]]:
    for uid in set(messages):
        state.add_user(uid)
    for i, uid in enumerate(messages):
        await queue(sessionmaker, uid, f"tin {i}", key=f"p{i}")
    sent = await sender_for(bot, sessionmaker, clock, **config).drain(30)
    assert sent == len(messages)
    times = call_times(state)
    assert Counter(messages) == Counter({c: len(t) for c, t in times.items()})
    return times



@sqlite_only
async def test_pacing_overall_rate_and_per_chat_interval(
    sessionmaker, server: StandInServer, bot: Bot, clock: Clock
) -> None:
    # Two workers: the pacer queue is at most one slot deep (see the slack below).
    rate, per_chat, concurrency = 20, 0.5, 2
    # 9 chats with 1 to 3 messages each (18 in all), interleaved as a sweep writes them,
    # plus 14 chats with one message each: 32 messages.
    chats = list(range(601, 610))
    count = {uid: 1 + i % 3 for i, uid in enumerate(chats)}
    messages = [uid for round_ in range(3) for uid in chats if round_ < count[uid]]
    messages += list(range(611, 625))
    started = time.monotonic()
    times = await paced_fan_out(sessionmaker, server.state, clock, bot, messages, rate=rate,
                                per_chat=per_chat, concurrency=concurrency)
    elapsed = time.monotonic() - started

    assert busiest_second(times, TOLERANCE) <= rate
    gaps = gaps_per_chat(times)
    # The per-chat interval is counted from the claim, not from the send, so it can come up
    # short by the time a message waited in the pacer queue (here at most one slot); the
    # exact bound is test_per_chat_interval_is_measured_between_sends.
    slack = (concurrency - 1) / rate
    assert all(g >= per_chat - slack - TOLERANCE for chat in gaps.values() for g in chat), gaps
    # The overall rate bounds the time from below; pacing wastes little.
    assert (len(messages) - 1) / rate - TOLERANCE <= elapsed < len(messages) / rate + 2.0


@sqlite_only
async def test_per_chat_interval_is_measured_between_sends(
    sessionmaker, server: StandInServer, bot: Bot, clock: Clock
) -> None:
    rate, per_chat = 8, 0.5
    # Seven chats, then chat 650 twice: the first 650 message gets the 8th pacer slot
    # (7/8 s after the claim); the second is claimable 0.5 s after the first *claim* and
    # takes the very next slot, 1/8 s after the first send.
    messages = [*range(641, 648), 650, 650]
    times = await paced_fan_out(sessionmaker, server.state, clock, bot, messages, rate=rate,
                                per_chat=per_chat, concurrency=8)
    assert busiest_second(times, TOLERANCE) <= rate
    [gap] = gaps_per_chat(times)[650]
    assert gap >= per_chat - TOLERANCE, f"two messages to one chat {gap:.3f} s apart"


# ----------------------------------------------------------------------------- crash safety


async def test_recover_returns_abandoned_claims_and_never_resends_sent_rows(
    sessionmaker, server: StandInServer, bot: Bot, clock: Clock
) -> None:
    state = server.state
    for uid in (701, 702, 703):
        state.add_user(uid)
    dead = await queue(sessionmaker, 701, "bị bỏ dở", key="k701", status=OutboxStatus.sending,
                       claimed_at=T0 - dt.timedelta(minutes=10), claimed_by="dead:1",
                       attempts=1)
    live = await queue(sessionmaker, 702, "đang gửi", key="k702", status=OutboxStatus.sending,
                       claimed_at=T0 - dt.timedelta(seconds=10), claimed_by="alive:2",
                       attempts=1)
    done = await queue(sessionmaker, 703, "đã gửi", key="k703", status=OutboxStatus.sent,
                       sent_at=T0, telegram_message_id=77, attempts=1)
    sender = sender_for(bot, sessionmaker, clock, claim_timeout=120)

    assert await sender.recover() == 1
    rows = await outbox(sessionmaker)
    assert rows[dead].status == OutboxStatus.pending and rows[dead].claimed_by is None
    assert rows[live].status == OutboxStatus.sending  # another sender is still on it
    assert await sender.drain(5) == 1
    assert await sender.recover() == 0
    assert await sender.drain(2) == 0

    rows = await outbox(sessionmaker)
    assert rows[dead].status == OutboxStatus.sent and rows[dead].attempts == 2
    assert rows[done].telegram_message_id == 77 and rows[done].status == OutboxStatus.sent
    assert [len(send_calls(state, uid)) for uid in (701, 702, 703)] == [1, 0, 0]


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
async def test_two_senders_never_claim_the_same_row(
    sessionmaker, server: StandInServer, bot: Bot, clock: Clock
) -> None:
    server.state.add_user(711)
    doubles = []
    for i in range(5):
        row_id = await queue(sessionmaker, 711, "một lần thôi", key=f"k711-{i}")
        first = OutboxSender(bot, sessionmaker, clock, SenderConfig(), name="one:1")
        second = OutboxSender(bot, sessionmaker, clock, SenderConfig(), name="two:2")
        claims = await asyncio.gather(first.claim(), second.claim())
        got = [c for c in claims if c is not None]
        assert got and all(c.id == row_id for c in got)
        doubles.append(len(got))
        async with sessionmaker() as session, session.begin():
            await session.execute(update(OutboxMessage).where(OutboxMessage.id == row_id)
                                  .values(status=OutboxStatus.sent))
    assert doubles == [1] * 5, "a row claimed by two senders is sent twice"


@sqlite_only
async def test_restart_soon_after_a_crash_still_delivers_the_abandoned_claims(
    sessionmaker, settings, server: StandInServer, bot: Bot, clock: Clock
) -> None:
    from types import SimpleNamespace

    from scheduler.jobs import start_sender, stop_sender

    server.state.add_user(721)
    # The previous process claimed this row 10 s ago and was killed before sending it.
    row_id = await queue(sessionmaker, 721, "bị bỏ dở", key="k721", status=OutboxStatus.sending,
                         claimed_at=T0 - dt.timedelta(seconds=10), claimed_by="bot:7",
                         attempts=1)
    app = SimpleNamespace(bot=bot, bot_data={"settings": settings, "db": sessionmaker,
                                             "clock": SimpleNamespace(now=clock)})
    await start_sender(app)  # what `python -m bot run` does at start
    try:
        clock.advance(600)  # the bot keeps running; the claim is now long abandoned
        deadline = time.monotonic() + 1.5
        while (await get_row(sessionmaker, row_id)).status != OutboxStatus.sent:
            assert time.monotonic() < deadline, "the abandoned claim is never sent"
            await asyncio.sleep(0.1)
    finally:
        await stop_sender(app)
    assert len(delivered(server.state, 721)) == 1


DOOMED_SENDER = textwrap.dedent("""
    import asyncio, datetime as dt, sys
    from telegram import Bot
    from telegram.request import HTTPXRequest
    from db.session import make_engine, make_sessionmaker
    from scheduler.sender import OutboxSender, SenderConfig

    async def main(api_url, db_url, now_iso, workers, mark_delay):
        if float(mark_delay):  # a slow database: the mark lags behind the send
            finish = OutboxSender._finish
            async def slow_finish(self, *args, **kwargs):
                await asyncio.sleep(float(mark_delay))
                await finish(self, *args, **kwargs)
            OutboxSender._finish = slow_finish
        engine = make_engine(db_url)
        now = dt.datetime.fromisoformat(now_iso)
        bot = Bot("123456:TEST", base_url=api_url + "/bot", base_file_url=api_url + "/file/bot",
                  request=HTTPXRequest(connection_pool_size=16))
        await bot.initialize()
        config = SenderConfig(rate=30, per_chat=1.0, idle_poll=0.05, concurrency=int(workers))
        sender = OutboxSender(bot, make_sessionmaker(engine), lambda: now, config, name="doomed")
        await sender.drain(60)

    asyncio.run(main(*sys.argv[1:6]))
""")


async def kill_9_midway_then_restart(
    database_url: str, sessionmaker, server: StandInServer, bot: Bot, clock: Clock,
    tmp_path: Path, workers: int, mark_delay: float = 0.0, kill_after: int = 25,
) -> dict[int, int]:
    """Fan out 100 messages from a separate process, SIGKILL it midway, recover and drain
    here; returns the number of copies each recipient got."""
    state = server.state
    recipients = list(range(10_001, 10_101))
    for uid in recipients:
        state.add_user(uid)
    async with sessionmaker() as session, session.begin():
        for uid in recipients:
            session.add(OutboxMessage(
                dedupe_key=f"fan:{uid}", kind="overdue", chat_id=uid,
                payload={"text": f"<b>Báo cáo quá hạn</b> #{uid}", "parse_mode": "HTML"},
                status=OutboxStatus.pending, next_attempt_at=T0, created_at=T0,
            ))
    script = tmp_path / "doomed_sender.py"
    script.write_text(DOOMED_SENDER)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(script), server.url, database_url, T0.isoformat(), str(workers),
        str(mark_delay), cwd=ROOT, env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        # Kill the moment the server has accepted the kill_after-th message: that send
        # has completed, its mark has not.
        while len([c for c in send_calls(state) if c["ok"]]) < kill_after:
            assert proc.returncode is None, (await proc.stderr.read()).decode()[-3000:]
            assert time.monotonic() < deadline, "the sender never got going"
            await asyncio.sleep(0.002)
        proc.send_signal(signal.SIGKILL)
        assert await proc.wait() == -signal.SIGKILL
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()

    before = Counter(r.status for r in (await outbox(sessionmaker)).values())
    delivered_before = sum(1 for uid in recipients if delivered(state, uid))
    assert kill_after <= delivered_before < len(recipients), "killed midway"
    assert before[OutboxStatus.pending] > 0

    # The restart: return the dead process's claims to the queue, then send.
    clock.advance(1)
    restarted = sender_for(bot, sessionmaker, clock, rate=200, per_chat=0.0, claim_timeout=0)
    assert await restarted.recover() == before[OutboxStatus.sending]
    await restarted.drain(30)

    copies = {uid: len(delivered(state, uid)) for uid in recipients}
    rows = (await outbox(sessionmaker)).values()
    assert {r.status for r in rows} == {OutboxStatus.sent}
    for row in rows:
        assert row.telegram_message_id == delivered(state, row.chat_id)[-1]["message_id"]
    return copies


@pytest.mark.parametrize(("database_url", "workers"), [
    ("sqlite", 1), ("sqlite", 8), ("postgresql", 8),
], indirect=["database_url"])
async def test_kill_9_in_the_middle_of_a_fan_out_loses_nothing(
    database_url, workers, sessionmaker, server, bot, clock, tmp_path
) -> None:
    copies = await kill_9_midway_then_restart(database_url, sessionmaker, server, bot, clock,
                                              tmp_path, workers)
    lost = [uid for uid, n in copies.items() if n == 0]
    duplicates = {uid: n for uid, n in copies.items() if n > 1}
    assert lost == [], f"lost messages for {lost}"
    # Claim, send, mark: a message whose send had completed when the process died but whose
    # mark had not is sent again after the restart. Each worker has at most one message in
    # that window, so with one worker at most one recipient gets a second copy.
    assert sum(n - 1 for n in duplicates.values()) <= workers, duplicates


@sqlite_only
async def test_kill_9_resends_at_most_one_message_with_concurrent_workers(
    database_url, sessionmaker, server, bot, clock, tmp_path
) -> None:
    copies = await kill_9_midway_then_restart(database_url, sessionmaker, server, bot, clock,
                                              tmp_path, workers=8, mark_delay=0.2)
    assert [uid for uid, n in copies.items() if n == 0] == []
    duplicates = {uid: n for uid, n in copies.items() if n > 1}
    # Each worker has its own claim/send/mark window: a crash can repeat at most the
    # messages in flight (one per worker), each at most once (see scheduler/sender.py).
    assert all(n == 2 for n in duplicates.values()), duplicates
    assert len(duplicates) <= 8, duplicates


# ----------------------------------------------------------------------------- graceful stop


@sqlite_only
async def test_stop_lets_a_send_in_flight_finish(
    sessionmaker, server: StandInServer, bot: Bot, clock: Clock
) -> None:
    state = server.state
    state.add_user(801)
    state.add_user(802)
    slow = state.inject("sendMessage", chat_id=801, delay=0.6)
    slow.error = None  # slow but successful
    first = await queue(sessionmaker, 801, "chậm", key="k801")
    second = await queue(sessionmaker, 802, "chờ", key="k802")
    sender = sender_for(bot, sessionmaker, clock, concurrency=1)
    sender.start()
    try:
        deadline = time.monotonic() + 5
        while not send_calls(state, 801):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        assert send_calls(state, 801)[0]["ok"] is None  # the server is still answering
        stopped_at = time.monotonic()
        await sender.stop(grace=5)
        assert time.monotonic() - stopped_at >= 0.3, "stop waited for the send"
    finally:
        await sender.stop()
    rows = await outbox(sessionmaker)
    assert rows[first].status == OutboxStatus.sent
    assert rows[first].telegram_message_id == delivered(state, 801)[0]["message_id"]
    assert rows[second].status == OutboxStatus.pending and rows[second].claimed_at is None
    assert send_calls(state, 802) == []

