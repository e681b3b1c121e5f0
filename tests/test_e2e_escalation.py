"""End to end (issue 4, §7): a ward that does not submit is reminded and escalated; the chair
taps «Nhắc tất cả»; the ward submits and everything stops.

The real `python -m bot run` runs against the in-process Bot API stand-in with
SWEEP_INTERVAL_SECONDS=0, so only the sweeps this test drives with `python -m bot sweep --now`
happen. The four people join with invite codes through /start, as in production:

* Lan, reporter of «P. Cát Linh», and Hùng, its head;
* Mai, of the standing office (Phòng LĐ-TBXH), and Bình, the committee's chair.

The report followed is P. Cát Linh's monthly report for January 2022: last day 12/01, late
from 13/01 00:00. The plan's defaults: reminders 7, 3, 1, 0 days before; escalation to the
reporter and head after 1 day, the standing office after 3, the chair after 7, repeated every 5
working days. The bot's clock starts at BOT_FAKE_NOW and runs in real time; outbox rows are
due at their sweep's --now, so the first bot process starts after the last sweep of the first
part (19/01), and a second one (20/01) delivers the sweep after the submission.

Nothing sleeps: every step waits for the bot's answer, or for the outbox to drain, with a
deadline.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import shutil
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sandbox.botapi import BotApiState
from sandbox.client import StandInClient, format_transcript
from tests.conftest import PLANS, run_cli
from tests.support.botproc import running_bot
from tests.support.chat import buttons

PLAN = PLANS / "dongda-2022.yaml"
WARD = "P. Cát Linh"

REMINDER_AT = "2022-01-05T08:00:00+07:00"  # 7 days before the last day (12/01)
OVERDUE_AT = "2022-01-13T08:00:00+07:00"  # the morning after the deadline: level 1
STANDING_AT = "2022-01-17T08:00:00+07:00"  # 5 days late (15/01 is a Saturday): level 2
CHAIR_AT = "2022-01-19T08:00:00+07:00"  # 7 days late: level 3
NEXT_ROUND_AT = "2022-01-20T08:00:00+07:00"  # 5 working days on: the chain would start again
FIRST_BOT_NOW = "2022-01-19T09:00:00+07:00"
SECOND_BOT_NOW = "2022-01-20T09:00:00+07:00"

REPORTER, HEAD, OFFICE, CHAIR = 881_001, 881_002, 881_003, 881_004
PEOPLE = {
    REPORTER: ("p-cat-linh", "reporter", "Lan"),
    HEAD: ("p-cat-linh", "head", "Hùng"),
    OFFICE: ("ldtbxh", "standing_office", "Mai"),
    CHAIR: ("ldtbxh", "chair", "Bình"),
}
BOT_ENV = {"SWEEP_INTERVAL_SECONDS": "0", "FLOOD_LIMIT": "1000"}

REMINDER = "Nhắc hạn nộp báo cáo"
OVERDUE = "Báo cáo quá hạn"
REMIND_ALL = "Nhắc tất cả"

JSON = dict[str, Any]
Predicate = Callable[[JSON], bool]


# ----------------------------------------------------------------------------- database


async def create_invites(url: str) -> dict[int, str]:
    """One single-use invite per person, valid at the bot's clock."""
    from db.invites import create_invite, find_agency
    from db.models import Role
    from db.session import make_engine, make_sessionmaker

    codes: dict[int, str] = {}
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            for user, (agency_code, role, _name) in PEOPLE.items():
                agency = await find_agency(session, agency_code, "dongda-2022")
                created = await create_invite(
                    session, agency, Role(role), dt.timedelta(days=7), actor_label="e2e",
                    now=dt.datetime.fromisoformat(FIRST_BOT_NOW),
                )
                codes[user] = created.code
    finally:
        await engine.dispose()
    return codes


def db_rows(path: Path, sql: str, *args: Any) -> list[sqlite3.Row]:
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def ward_obligation(path: Path) -> sqlite3.Row:
    rows = db_rows(
        path,
        """SELECT o.* FROM obligation o JOIN agency a ON a.id = o.agency_id
             JOIN schedule s ON s.id = o.schedule_id
            WHERE a.code = 'p-cat-linh' AND s.code = 'thang' AND o.period_key = '2022-01'""",
    )
    assert len(rows) == 1
    return rows[0]


def items_about(path: Path, obligation_id: int) -> list[str]:
    rows = db_rows(path, "SELECT dedupe_key FROM outbox_item WHERE obligation_id = ? "
                   "ORDER BY id", obligation_id)
    return [r["dedupe_key"] for r in rows]


async def outbox_drained(path: Path, timeout: float = 30.0) -> None:  # noqa: ASYNC109
    """Wait until the bot's sender has dealt with every outbox row (none pending or sending)."""
    deadline = time.monotonic() + timeout
    while True:
        left = db_rows(path, "SELECT id, chat_id, status, next_attempt_at, last_error FROM outbox "
                       "WHERE status IN ('pending', 'sending')")
        if not left:
            break
        if time.monotonic() > deadline:
            raise AssertionError(f"outbox not drained within {timeout}s: {[dict(r) for r in left]}")
        await asyncio.sleep(0.05)
    failed = db_rows(path, "SELECT id, chat_id, status, last_error FROM outbox "
                     "WHERE status NOT IN ('sent', 'pending', 'sending')")
    assert not failed, [dict(r) for r in failed]


# ----------------------------------------------------------------------------- the CLI


async def sweep(url: str, now: str, dry_run: bool = False) -> list[JSON]:
    """`python -m bot sweep --now NOW [--dry-run]`; the decisions of a dry run."""
    args = ["sweep", "--now", now] + (["--dry-run"] if dry_run else [])
    result = await asyncio.to_thread(run_cli, *args, DATABASE_URL=url)
    assert result.returncode == 0, result.stderr
    if not dry_run:
        assert "messages queued in the outbox" in result.stderr, result.stderr
        return []
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


# ----------------------------------------------------------------------------- the people


class Chats:
    """What each person has seen so far: waits for new bot messages and checks for none."""

    def __init__(self, client: StandInClient) -> None:
        self.client = client
        self.seen: dict[int, int] = {}

    def use(self, client: StandInClient) -> None:
        self.client = client

    async def next(self, user: int, predicate: Predicate, timeout: float = 20.0) -> JSON:  # noqa: ASYNC109
        msg = await self.client.wait_for_message(
            user, predicate, timeout=timeout, after_message_id=self.seen.get(user, 0)
        )
        self.seen[user] = msg["message_id"]
        return msg

    async def new(self, user: int) -> list[JSON]:
        """Bot messages since the last look (and mark them seen)."""
        messages = [m for m in await self.client.messages(user)
                    if m["message_id"] > self.seen.get(user, 0)]
        if messages:
            self.seen[user] = messages[-1]["message_id"]
        return [m for m in messages if m["from_bot"]]

    async def nothing_new(self, *users: int) -> None:
        for user in users:
            got = await self.new(user)
            assert not got, f"user {user} got unexpected messages:\n{format_transcript(got)}"

    async def press(self, user: int, message: JSON, data: str) -> str:
        """Press a button shown on `message`; returns the callback query id."""
        pressed = await self.client.press(user, message["message_id"], data)
        return pressed["callback_query_id"]


def button_data(msg: JSON, pattern: str) -> str:
    found = [d for d in buttons(msg).values() if re.fullmatch(pattern, d)]
    assert len(found) == 1, f"no single button {pattern!r} in {buttons(msg)}"
    return found[0]


def text_has(*parts: str) -> Predicate:
    return lambda m: all(p in (m.get("text") or "") for p in parts)


def personal_overdue(m: JSON) -> bool:
    text = m.get("text") or ""
    return text.startswith("⏰") and OVERDUE in text and "Báo cáo tháng" in text


def chairs_nudge(m: JSON) -> bool:
    text = m.get("text") or ""
    return text.startswith("📣 Đồng chí Bình, Trưởng Ban Chỉ đạo 138 quận đề nghị đơn vị gửi "
                           "ngay các báo cáo sau:") and "Báo cáo tháng" in text


def digest_of(day: str) -> Predicate:
    return text_has(OVERDUE, f"tổng hợp ngày {day}")


# ----------------------------------------------------------------------------- the test


async def test_ward_is_reminded_escalated_nudged_and_stops_after_submitting(
    dongda_template: Path, tmp_path: Path
) -> None:
    path = tmp_path / "bot.sqlite3"
    shutil.copy(dongda_template, path)
    url = f"sqlite+aiosqlite:///{path}"
    codes = await create_invites(url)
    obligation = ward_obligation(path)
    oid = obligation["id"]
    state = BotApiState()

    async with running_bot(url, tmp_path / "bot1.log", state=state,
                           BOT_FAKE_NOW=FIRST_BOT_NOW, **BOT_ENV) as bot:
        chats = Chats(bot.client)
        # Everyone joins with their invite code (so everyone has a chat with the bot).
        for user, (_agency, _role, name) in PEOPLE.items():
            await bot.client.send_text(user, f"/start {codes[user]}", first_name=name,
                                       language_code="vi")
            await chats.next(user, lambda m: (m.get("text") or "").startswith("✅"))

        # 1. Seven days before the last day the ward's reporter is reminded; nobody else.
        await sweep(url, REMINDER_AT)
        reminder = await chats.next(REPORTER, text_has(REMINDER, "Báo cáo tháng"))
        assert "tháng 01/2022" in reminder["text"] and "12/01/2022" in reminder["text"]
        await outbox_drained(path)
        await chats.nothing_new(HEAD, OFFICE, CHAIR)
        await chats.nothing_new(REPORTER)  # one message with everything (notices merged)

        # 2. The morning after the deadline: the reporter AND the head are told it is overdue.
        await sweep(url, OVERDUE_AT)
        for user in (REPORTER, HEAD):
            overdue = await chats.next(user, personal_overdue)
            assert "tháng 01/2022" in overdue["text"]
        await outbox_drained(path)
        await chats.nothing_new(REPORTER, HEAD, CHAIR)
        # The standing office hears today only about agencies nobody can be told about.
        for msg in await chats.new(OFFICE):
            assert WARD not in msg["text"], msg["text"]

        # 3. Three days late (on the next working day): the standing office's digest.
        await sweep(url, STANDING_AT)
        digest = await chats.next(OFFICE, digest_of("17/01/2022"))
        assert WARD in digest["text"], digest["text"]
        await outbox_drained(path)
        await chats.nothing_new(REPORTER, HEAD, CHAIR, OFFICE)

        # 4. Seven days late: the chair's digest, with «Nhắc tất cả».
        await sweep(url, CHAIR_AT)
        digest = await chats.next(CHAIR, digest_of("19/01/2022"))
        assert WARD in digest["text"], digest["text"]
        assert any(REMIND_ALL in text for text in buttons(digest)), buttons(digest)
        await outbox_drained(path)
        # The office's digest lists what it listed on 17/01: no news, no digest (issue §2).
        await chats.nothing_new(REPORTER, HEAD, CHAIR, OFFICE)

        # 5. The chair taps «Nhắc tất cả»: confirmation, and the ward is nudged at once.
        remind_all = next(d for text, d in buttons(digest).items() if REMIND_ALL in text)
        query = await chats.press(CHAIR, digest, remind_all)
        confirmation = await chats.next(CHAIR, text_has("Đã xếp lịch gửi nhắc tới"))
        assert "Đã xếp lịch gửi nhắc tới 2 người của 1 đơn vị." in confirmation["text"], \
            confirmation["text"]
        assert (await bot.client.callback(query))["answered"]
        # The nudge says who asks, in the plan's words for the chair (issue §3).
        nudges = {user: await chats.next(user, chairs_nudge) for user in (REPORTER, HEAD)}
        await outbox_drained(path)
        await chats.nothing_new(OFFICE)

        # Without a submission the next sweep would start the chain again for the ward.
        planned = await sweep(url, NEXT_ROUND_AT, dry_run=True)
        assert {d["recipient"] for d in planned if d["kind"] == "overdue"} == {REPORTER, HEAD}
        before = items_about(path, oid)

        # 6. The ward submits through the bot: «Không phát sinh» from the nudge's button.
        nudge = nudges[REPORTER]
        await chats.press(REPORTER, nudge, button_data(nudge, rf"o:{oid}"))
        intro = await chats.next(REPORTER, lambda m: f"n:{oid}" in buttons(m).values())
        await chats.press(REPORTER, intro, f"n:{oid}")
        confirm = await chats.next(REPORTER, lambda m: f"N:{oid}" in buttons(m).values())
        await chats.press(REPORTER, confirm, f"N:{oid}")
        receipt = await chats.next(REPORTER, text_has("Đã nhận báo cáo"))
        assert "tháng 01/2022" in receipt["text"]
        assert ward_obligation(path)["status"] == "submitted"
        # The report ready to sign follows the receipt (a file, sent after it).
        await chats.next(REPORTER, lambda m: str(
            (m.get("document") or {}).get("file_name", "")).endswith(".docx"))
        await chats.new(REPORTER)  # whatever else the form flow said

    # 7. A later sweep (another bot process, its clock a day on) sends nothing more about it.
    planned = await sweep(url, NEXT_ROUND_AT, dry_run=True)
    assert not [d for d in planned if d["recipient"] in (REPORTER, HEAD)], planned
    assert not [d for d in planned if oid in [o["id"] for o in d["obligations"]]], planned
    state.call_log.clear()  # the new process's first getUpdates is what says it is up
    async with running_bot(url, tmp_path / "bot2.log", state=state,
                           BOT_FAKE_NOW=SECOND_BOT_NOW, **BOT_ENV) as bot:
        chats.use(bot.client)
        await sweep(url, NEXT_ROUND_AT)
        # The committee still hears about the other late agencies, no longer about the ward.
        for user in (OFFICE, CHAIR):
            digest = await chats.next(user, digest_of("20/01/2022"))
            assert WARD not in digest["text"], digest["text"]
        # The office is told the ward's report arrived (issue 13 §4), with its queue.
        arrived = await chats.next(OFFICE, text_has("Báo cáo mới nhận"))
        assert WARD in arrived["text"] and "BC-2022-" in arrived["text"], arrived["text"]
        await outbox_drained(path)
        await chats.nothing_new(REPORTER, HEAD, OFFICE, CHAIR)
    assert items_about(path, oid) == before


# ----------------------------------------------------------------------------- found by the
# fan-out benchmark (bench/fanout.py, docs/benchmarks.md)


async def test_sender_pacer_stays_under_its_rate_in_every_second_after_a_stall() -> None:
    from scheduler.sender import Pacer, SenderConfig

    config = SenderConfig()  # 30 messages/s, 8 workers: the production defaults
    pacer = Pacer(config.rate)
    sends: list[float] = []
    in_full_swing = asyncio.Event()

    async def worker() -> None:
        for _ in range(12):
            await pacer.acquire()
            sends.append(time.monotonic())  # the Bot API call starts here…
            await asyncio.sleep(0.01)  # …and Telegram answers
            await pacer.release()
            if len(sends) >= 15:
                in_full_swing.set()

    workers = [asyncio.create_task(worker()) for _ in range(config.concurrency)]
    await asyncio.wait_for(in_full_swing.wait(), 10)
    # The event loop stalls for 0.3 s (a slow synchronous call, a GC pause, a busy CPU)
    # while the workers sleep on their slots.
    time.sleep(0.3)  # noqa: ASYNC251 - the stall is the point
    await asyncio.gather(*workers)
    busiest = max(sum(1 for s in sends if t <= s < t + 1.0) for t in sends)
    assert busiest <= config.rate, f"{busiest} sends within one second (limit {config.rate:g})"


async def test_sender_pacer_resumes_at_its_rate_after_a_429_pause() -> None:
    from scheduler.sender import Pacer, SenderConfig

    config = SenderConfig()
    pacer = Pacer(config.rate)
    sends: list[float] = []
    in_full_swing = asyncio.Event()

    async def worker() -> None:
        for _ in range(8):
            await pacer.acquire()
            sends.append(time.monotonic())
            await asyncio.sleep(0.01)
            await pacer.release()
            if len(sends) >= 15:
                in_full_swing.set()

    workers = [asyncio.create_task(worker()) for _ in range(config.concurrency)]
    await asyncio.wait_for(in_full_swing.wait(), 10)
    pacer.pause(1.0)  # what OutboxSender.deliver does on RetryAfter(1)
    paused_at = time.monotonic()
    await asyncio.gather(*workers)
    after = [s for s in sends if s >= paused_at]
    busiest = max(sum(1 for s in after if t <= s < t + 1.0) for t in after)
    assert busiest <= config.rate, f"{busiest} sends within one second (limit {config.rate:g})"
