"""Several instances (issue 6 §3): two `python -m bot web` processes on one PostgreSQL
database and one Bot API stand-in.

* A form whose updates reach the two instances alternately (a round-robin load balancer)
  completes with every answer saved, in order.
* A fan-out (`python -m bot sweep --now` on the morning after the January deadline of the
  Đống Đa plan, 40 officials bound directly in the database) is drained by both senders:
  each outbox row is delivered exactly once; when one instance is killed with SIGKILL a
  third of the way through, the other finishes: nothing is lost, and only messages that
  were sent and not yet marked at the kill are sent twice.
* Exactly one process sweeps (it holds the advisory lock); when it dies, the other takes
  over.

* Two answers sent together to different instances go to successive questions (each
  chat's turns are serialised across instances with a PostgreSQL advisory lock).

Everything polls with a deadline; nothing sleeps for a fixed time.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import signal
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text

from db.models import (
    Agency,
    Answer,
    Member,
    MemberRole,
    OutboxItem,
    OutboxMessage,
    OutboxStatus,
    Plan,
    Role,
    Submission,
)
from sandbox.botapi import BotApiState
from sandbox.client import format_transcript
from scheduler.jobs import SweepLock
from scheduler.sender import OutboxSender, SenderConfig
from tests import test_web
from tests.conftest import postgres_reachable, run_cli
from tests.test_web import (
    EXPECTED_ANSWERS,
    FLOW,
    FORM_NOW,
    OFFICIAL,
    PLAN_CODE,
    SENT_LINE,
    TOKEN,
    USER,
    Db,
    Deployment,
    WebBot,
    WebhookUser,
    assert_clean_log,
    fill_ward_form,
    open_db,
    open_march_report,
    poll,
    question_of,
    saved_answers,
    web_instances,
)

# The Đống Đa PostgreSQL databases of tests/test_web.py (a template, a fresh copy per test).
dongda_pg_template = test_web.dongda_pg_template
dongda_pg_url = test_web.dongda_pg_url

pytestmark = pytest.mark.skipif(not postgres_reachable(),
                                reason="PostgreSQL is not reachable at 127.0.0.1:5432")

# The morning after the January deadline (last day 12/01): every reporter and head of an
# agency that has not reported is told it is overdue (the February period opens too; one
# message per person).
SWEEP_AT = "2022-01-13T08:00:00+07:00"
BOT_NOW = "2022-01-13T08:00:30+07:00"  # the instances' clock: the sweep's rows are due
FIRST_CHAT = 891_000
HEADS = 4  # 36 agencies: a reporter each, and a head for the first four = 40 people


# ----------------------------------------------------------------------------- helpers


async def bind_members(db: Db, state: BotApiState, heads: int = HEADS) -> list[int]:
    """One reporter per agency of the plan and a head for the first `heads`, bound directly
    (Member + MemberRole rows, as /start with an invite leaves them); their chats exist in
    the stand-in. Returns the chat ids."""
    async with db.sessions() as session, session.begin():
        plan = await session.scalar(select(Plan).where(Plan.code == PLAN_CODE))
        assert plan is not None
        agencies = (await session.scalars(
            select(Agency).where(Agency.committee_id == plan.committee_id).order_by(Agency.code)
        )).all()
        people = [(agency, Role.reporter) for agency in agencies]
        people += [(agency, Role.head) for agency in agencies[:heads]]
        chats = []
        for i, (agency, role) in enumerate(people):
            chat = FIRST_CHAT + i
            member = Member(telegram_user_id=chat, chat_id=chat, committee_id=plan.committee_id,
                            agency_id=agency.id, full_name=f"Cán bộ {i}", language="vi",
                            active=True)
            member.roles.append(MemberRole(role=role))
            session.add(member)
            state.add_user(chat, first_name=f"Cán bộ {i}", language_code="vi")
            chats.append(chat)
    return chats


async def sweep_cli(url: str, now: str = SWEEP_AT) -> int:
    """`python -m bot sweep --now NOW`; the number of messages it queued."""
    result = await asyncio.to_thread(run_cli, "sweep", "--now", now, DATABASE_URL=url)
    assert result.returncode == 0, result.stderr
    line = next(ln for ln in result.stderr.splitlines() if "messages queued" in ln)
    return int(line.split()[0])


def sends(state: BotApiState) -> Counter[int]:
    """Accepted sendMessage calls per chat."""
    return Counter(int(c["params"]["chat_id"]) for c in state.calls("sendMessage") if c["ok"])


async def outbox(db: Db) -> list[OutboxMessage]:
    return await db.scalars(select(OutboxMessage).order_by(OutboxMessage.id))


async def statuses(db: Db) -> Counter[str]:
    return Counter(str(r.status) for r in await outbox(db))


def check_exactly_once(rows: list[OutboxMessage], state: BotApiState,
                       allowed_duplicates: int = 0) -> dict[str, Any]:
    """Every row sent, and delivered to its chat (one row per chat here) once, give or take
    `allowed_duplicates` extra copies overall."""
    assert rows, "the sweep queued nothing"
    per_chat = Counter(r.chat_id for r in rows)
    assert set(per_chat.values()) == {1}, "one message per person per sweep"
    got = sends(state)
    lost = sorted(chat for chat in per_chat if got[chat] == 0)
    duplicates = {chat: n for chat, n in got.items() if n > 1}
    strangers = set(got) - set(per_chat)
    assert not lost, f"lost: no message reached {lost}"
    assert not strangers, f"messages to chats without an outbox row: {strangers}"
    assert sum(n - 1 for n in duplicates.values()) <= allowed_duplicates, duplicates
    not_sent = [(r.id, str(r.status), r.last_error) for r in rows
                if r.status != OutboxStatus.sent]
    assert not not_sent, not_sent
    for row in rows:
        last = state.bot_messages(row.chat_id)[-1]
        assert row.telegram_message_id == last["message_id"]
        assert last["source_text"] == (row.payload or {})["text"]
    return {"duplicates": duplicates}


async def advisory_holders(db: Db) -> list[int]:
    """Backend pids holding the sweep's advisory lock in this database."""
    key = SweepLock.KEY
    rows = await db.all(text(
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
        "AND classid = :hi AND objid = :lo "
        "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    ).bindparams(hi=key >> 32, lo=key & 0xFFFFFFFF))
    return [r[0] for r in rows]


async def kill(bot: WebBot) -> None:
    bot.process.send_signal(signal.SIGKILL)
    assert await bot.process.wait() == -signal.SIGKILL


# ----------------------------------------------------------------------------- the form


async def test_a_form_answered_through_two_instances_alternately_completes_in_order(
    dongda_pg_url: str, tmp_path: Path
) -> None:
    async with open_db(dongda_pg_url) as db:
        code = await db.invite()
        async with web_instances(dongda_pg_url, tmp_path, count=2,
                                 BOT_FAKE_NOW=FORM_NOW) as dep:
            me = WebhookUser(dep)  # round-robin over both instances
            answered: list[str] = []

            async def saved_so_far(field: str) -> None:
                # Each answer is in the database before the next question is asked, so the
                # other instance, which gets the next answer, continues from it.
                answered.append(field)
                saved = await saved_answers(db)
                assert [c for c, _v, _s in saved] == answered, (saved, answered)
                assert (saved[-1][1], saved[-1][2]) == EXPECTED_ANSWERS[field]

            await fill_ward_form(me, code, after_answer=saved_so_far)
            [submission] = await db.scalars(select(Submission))
            assert submission.state == "submitted"
            saved = await saved_answers(db)
            assert [c for c, _v, _s in saved] == [f for f, _a, _v in FLOW]
            assert {c: (v, s) for c, v, s in saved} == EXPECTED_ANSWERS
            assert await db.scalar(select(func.count()).select_from(Answer)) == len(FLOW)

            one, two = dep.bots
            posted_one, posted_two = me.posted[one.name], me.posted[two.name]
        # Both handled half of the updates, each exactly the ones it received.
        assert abs(len(posted_one) - len(posted_two)) <= 1 and len(posted_one) >= 8
        assert sorted(one.update_ids()) == sorted(posted_one)
        assert sorted(two.update_ids()) == sorted(posted_two)
        for bot in dep.bots:
            assert_clean_log(bot.log(), code)


async def test_two_answers_sent_together_to_different_instances_go_to_successive_questions(
    dongda_pg_url: str, tmp_path: Path
) -> None:
    """A phone that was offline sends both queued answers at once; the webhook acknowledges
    each as soon as it is queued, so Telegram delivers the second right away and the load
    balancer gives it to the other instance. In one process the two go to successive
    questions (tests/test_e2e_forms.py); with two they must too."""
    async with open_db(dongda_pg_url) as db:
        code = await db.invite()
        async with web_instances(dongda_pg_url, tmp_path, count=2,
                                 BOT_FAKE_NOW=FORM_NOW) as dep:
            me = WebhookUser(dep)
            q = await open_march_report(me, code)
            assert question_of(q) == "co_so_quan_ly"
            first = dep.state.user_sends_text(OFFICIAL, "12", **USER)
            second = dep.state.user_sends_text(OFFICIAL, "10", **USER)
            one, two = dep.bots
            assert await me.post(first, target=one) == 200
            assert await me.post(second, target=two) == 200

            async def both_handled() -> bool:  # the log line comes after the replies
                return (first["update_id"] in one.update_ids()
                        and second["update_id"] in two.update_ids())

            await poll("both answers are handled", both_handled)
            chat = dep.state.chat_messages(OFFICIAL)
            saved = [(c, v) for c, v, _s in await saved_answers(db)]
        transcript = format_transcript(chat[-4:])
        assert saved == [("co_so_quan_ly", 12), ("co_so_kiem_tra", 10)], f"{saved}\n{transcript}"
        assert "Người khác" not in transcript, transcript


# ----------------------------------------------------------------------------- fan-out


async def test_two_senders_drain_a_fan_out_with_no_duplicate_and_no_loss(
    dongda_pg_url: str, tmp_path: Path
) -> None:
    state = BotApiState()
    async with open_db(dongda_pg_url) as db:
        chats = await bind_members(db, state)
        # 10 messages/s overall, shared: the 40 messages take ~4 s; whichever instance
        # starts first gives half of the rate to the other within a second or two.
        async with web_instances(dongda_pg_url, tmp_path, count=2, state=state,
                                 BOT_FAKE_NOW=BOT_NOW, SEND_RATE="10") as dep:
            queued = await sweep_cli(dongda_pg_url)
            assert queued == len(chats) == 40

            async def drained() -> bool:
                return (await statuses(db)) == Counter({"sent": queued})

            await poll("both senders drain the outbox", drained)
            rows = await outbox(db)
            check_exactly_once(rows, dep.state)
            by = Counter(r.claimed_by for r in rows)
            one, two = dep.bots
            assert set(by) == {one.sender_name, two.sender_name}, by
        for bot in dep.bots:
            logged = [int(o) for o, _c in SENT_LINE.findall(bot.log())]
            assert sorted(logged) == sorted(r.id for r in rows if r.claimed_by == bot.sender_name)
            assert_clean_log(bot.log(), rows[0].payload["text"][:60])


async def _kill_one_halfway(dep: Deployment, db: Db, queued: int,
                            victim: WebBot | None = None) -> tuple[WebBot, WebBot]:
    """Wait until a third of the fan-out is delivered, then SIGKILL `victim` (by default the
    instance that has claimed the most so far); returns (dead, survivor)."""

    async def a_third_delivered() -> bool:
        return sum(sends(dep.state).values()) >= queued // 3

    await poll("a third of the fan-out is delivered", a_third_delivered, interval=0.005)
    if victim is None:
        mine = Counter(r.claimed_by for r in await outbox(db) if r.claimed_by)
        victim = max(dep.bots, key=lambda b: mine[b.sender_name])
    await kill(victim)
    [survivor] = [b for b in dep.bots if b is not victim]
    return victim, survivor


async def test_killing_one_instance_halfway_through_the_fan_out_loses_nothing(
    dongda_pg_url: str, tmp_path: Path
) -> None:
    """SIGKILL one instance when a third is delivered; the survivor finishes on its own.

    It sends everything still pending at once, at its share of the rate, and at the whole
    rate once the dead instance's share lapses (`lease_ttl`, 5 s). The rows the dead
    instance had claimed (only those it was sending: a row is claimed when it can be sent
    at once) stay 'sending' until a sender's `recover` (at start and every 30 s) finds them
    older than `claim_timeout` (120 s). Not to wait two minutes, the survivor's clock
    (BOT_FAKE_NOW) runs a day ahead of the dead instance's: by its clock those claims are
    long abandoned, and its next periodic recovery (≤ 30 s after it started) returns them
    to the queue.
    The only messages that go twice are those the dead instance had sent and not yet marked
    when it died (claim, send, mark): at most one per sender worker."""
    state = BotApiState()
    ahead = (dt.datetime.fromisoformat(BOT_NOW) + dt.timedelta(days=1)).isoformat()
    async with open_db(dongda_pg_url) as db:
        chats = await bind_members(db, state)
        # Slow sending (10 messages/s overall), so the kill lands in the middle of the drain.
        async with web_instances(dongda_pg_url, tmp_path, count=2, state=state,
                                 per_instance=[{"BOT_FAKE_NOW": BOT_NOW},
                                               {"BOT_FAKE_NOW": ahead}],
                                 SEND_RATE="10") as dep:
            # The senders start on the rows as soon as the sweep commits, before the CLI
            # process has exited: watch the drain meanwhile.
            sweeping = asyncio.create_task(sweep_cli(dongda_pg_url))
            queued = len(chats)
            dead, survivor = await _kill_one_halfway(dep, db, queued, victim=dep.bots[0])
            assert await sweeping == queued
            delivered_at_kill = sum(sends(state).values())
            assert delivered_at_kill < queued, "killed too late"
            rows = await outbox(db)
            abandoned = {r.id for r in rows
                         if r.status == OutboxStatus.sending and r.claimed_by == dead.sender_name}
            # Claimed, sent, not marked: these will go twice.
            delivered = sends(state)
            in_window = {r.chat_id for r in rows if r.id in abandoned and delivered[r.chat_id]}

            async def all_sent() -> bool:
                return (await statuses(db)) == Counter({"sent": queued})

            await poll("the survivor sends everything, the dead one's claims too", all_sent,
                       timeout=45)
            rows = await outbox(db)
            result = check_exactly_once(rows, state, allowed_duplicates=len(in_window))
            assert set(result["duplicates"]) == in_window
            assert set(result["duplicates"].values()) <= {2}
            assert len(in_window) <= 8, "more sends in flight than sender workers"
            assert {r.claimed_by for r in rows if r.id in abandoned} <= {survivor.sender_name}
            assert survivor.process.returncode is None
        print(f"delivered at the kill: {delivered_at_kill}/{queued}; abandoned claims: "
              f"{len(abandoned)}; sent but not marked: {len(in_window)}")


async def test_a_crash_between_send_and_mark_resends_only_the_messages_in_flight_once(
    postgres_url: str, tmp_path: Path
) -> None:
    """One instance with four sender workers drains twelve messages. The Bot API answers
    slowly (0.5 s), so four sends are under way at once. The database stalls its commits
    (the test holds a SHARE lock on the outbox table: claims and marks wait, reads go on)
    while they are; Telegram accepts them. The instance is killed once two messages are out
    and not marked. After recovery exactly those go out again, once each: never more than
    one per worker (README «Crash semantics»)."""
    from telegram import Bot

    workers = 4
    state = BotApiState()
    chats = list(range(892_000, 892_012))
    for chat in chats:
        state.add_user(chat, first_name=f"Cán bộ {chat}")
    slow = state.inject("sendMessage", times=None, delay=0.5)
    slow.error = None  # slow but successful
    # A message is claimed only when it can be sent at once: as many claims at a time as
    # workers (the rate allows more).
    async with open_db(postgres_url) as db, web_instances(
            postgres_url, tmp_path, state=state, SEND_RATE="8",
            SEND_CONCURRENCY=str(workers)) as dep:
        [bot] = dep.bots
        due = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        await db.add(*(OutboxMessage(dedupe_key=f"w:{c}", kind="test", chat_id=c,
                                     payload={"text": f"Nhắc hạn {c}"}, next_attempt_at=due,
                                     status=OutboxStatus.pending) for c in chats))

        async def claimed() -> bool:
            return sum(r.status == OutboxStatus.sending for r in await outbox(db)) >= 3

        async def sent_unmarked() -> list[int]:
            delivered = sends(state)
            return [r.chat_id for r in await outbox(db)
                    if r.status == OutboxStatus.sending and delivered[r.chat_id]]

        async def all_claims_out() -> list[int]:
            # Every claimed message has reached Telegram (none is still on its way, so none
            # arrives after the kill), at least two, and none is marked.
            rows = await outbox(db)
            claimed = sorted(r.chat_id for r in rows if r.status == OutboxStatus.sending)
            out = sorted(await sent_unmarked())
            return out if len(out) >= 2 and out == claimed else []

        await poll("the sender claims a batch", claimed, interval=0.002)
        async with db.engine.connect() as conn, conn.begin():
            await conn.execute(text("LOCK TABLE outbox IN SHARE MODE"))
            # No claim or mark commits from here on.
            await poll("the claimed messages are out and not marked", all_claims_out)
            await kill(bot)
        window = await sent_unmarked()

        # The claim timeout passes (simulated); the claims are sent again.
        later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
        async with Bot(TOKEN, base_url=f"{dep.server.url}/bot") as telegram:
            sender = OutboxSender(telegram, db.sessions, lambda: later,
                                  SenderConfig(claim_timeout=0, rate=100, per_chat=0))
            await sender.recover()
            await sender.drain(10)
        rows = await outbox(db)
        assert {str(r.status) for r in rows} == {"sent"}
        check_exactly_once(rows, state, allowed_duplicates=len(window))
        duplicates = {c: n for c, n in sends(state).items() if n > 1}
        assert set(duplicates) == set(window) and set(duplicates.values()) == {2}
        assert 2 <= len(window) <= workers, window


# ----------------------------------------------------------------------------- the sweeper


async def test_exactly_one_instance_sweeps_and_the_other_takes_over_when_it_dies(
    dongda_pg_url: str, tmp_path: Path
) -> None:
    state = BotApiState()
    async with open_db(dongda_pg_url) as db:
        chats = await bind_members(db, state)
        async with web_instances(dongda_pg_url, tmp_path, count=2, state=state,
                                 BOT_FAKE_NOW=SWEEP_AT, SWEEP_INTERVAL_SECONDS="1") as dep:

            async def swept_and_sent() -> bool:
                counts = await statuses(db)
                return counts == Counter({"sent": len(chats)})

            await poll("the sweep's messages are all sent", swept_and_sent)
            holders = await advisory_holders(db)
            assert len(holders) == 1, holders
            sweepers = [b for b in dep.bots if "this process is now the sweeper" in b.log()]
            assert len(sweepers) == 1, [b.log() for b in dep.bots]
            [sweeper] = sweepers
            [other] = [b for b in dep.bots if b is not sweeper]
            # Both try every second; only the holder sweeps (and writes).
            assert "sweep wrote" in sweeper.log() and "sweep wrote" not in other.log()
            assert "sweep skipped" not in sweeper.log() + other.log()
            rows = await outbox(db)
            check_exactly_once(rows, state)
            keys = await db.scalars(select(OutboxItem.dedupe_key))
            assert len(keys) == len(set(keys)) >= len(chats)

            # The sweeper dies; its connection, and the lock with it, goes away.
            await kill(sweeper)

            async def taken_over() -> list[int] | None:
                now = await advisory_holders(db)
                return now if now and now != holders else None

            new_holders = await poll("the other instance takes the lock", taken_over,
                                     timeout=15)
            assert len(new_holders) == 1
            assert "this process is now the sweeper" in other.log()

            # The new sweeper sweeps: one more official joins an agency (its head), and only
            # she is told; nobody else is told twice.
            async with db.sessions() as session, session.begin():
                agency = await session.scalar(select(Agency).where(Agency.code == "p-van-mieu"))
                member = Member(telegram_user_id=891_999, chat_id=891_999,
                                committee_id=agency.committee_id, agency_id=agency.id,
                                full_name="Trưởng phường", language="vi", active=True)
                member.roles.append(MemberRole(role=Role.head))
                session.add(member)
            state.add_user(891_999, first_name="Bình")

            async def newcomer_told() -> bool:
                counts = await statuses(db)
                return counts == Counter({"sent": len(chats) + 1})

            await poll("the new sweeper tells the newcomer", newcomer_told, timeout=15)
            rows = await outbox(db)
            check_exactly_once(rows, state)
            assert [r.chat_id for r in rows][-1] == 891_999
            keys = await db.scalars(select(OutboxItem.dedupe_key))
            assert len(keys) == len(set(keys))
            assert "sweep wrote" in other.log()
