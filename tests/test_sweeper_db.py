"""The sweep over a real database: the Đống Đa plan, a few members, sweeps at chosen instants.

Everything due before March 2022 is marked submitted, so the instants below see only the
March monthly report and the first-quarter report (both «trước ngày 13/3»: 12/03 is a
Saturday, so the last day is Friday 11/03, holiday: previous_working_day; late from
00:00 on 12/03). The chain: reporter and head after 1 day, the consolidating agency (Phòng
LĐ-TBXH, member role standing_office) after 3, the standing office after 5 (the plan names
no standing office agency: nobody in the bot), the chair after 7.
- 2022-03-04 08:00 (Fri): the 7-day reminder;
- 2022-03-14 08:00 (Mon, 3 days late): overdue round 0 to the reporter and the head; the
  consolidating agency's digest;
- 2022-03-21 08:00 (Mon, 10 days late): overdue round 1; digests to the consolidating agency
  (with a line: due to be reported to the standing office) and the chair.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event, func, select, update
from sqlalchemy.exc import IntegrityError

from core.planfile import load_plan
from db.models import (
    Agency,
    Member,
    MemberRole,
    Obligation,
    ObligationStatus,
    OutboxItem,
    OutboxMessage,
    OutboxStatus,
    Role,
    Schedule,
)
from db.plan_import import import_plan
from scheduler import sweeper
from scheduler.sweeper import SweepResult, decision_json, run_sweep
from tests.conftest import PLANS, run_cli

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
DONGDA = PLANS / "dongda-2022.yaml"
REMINDER_DAY = "2022-03-04T08:00:00+07:00"
OVERDUE_DAY = "2022-03-14T08:00:00+07:00"
DIGEST_DAY = "2022-03-21T08:00:00+07:00"

# Where only the decisions matter (not the backend), SQLite only: the suite stays fast.
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def at(iso: str) -> dt.datetime:
    return dt.datetime.fromisoformat(iso)


@dataclass
class World:
    committee_id: int
    agencies: dict[str, int]  # code -> id
    lan: int  # reporter, P. Cát Linh
    hung: int  # head, P. Cát Linh
    mai: int  # the consolidating agency (Phòng LĐ-TBXH), member role standing_office
    chair: int  # committee chair
    march: int  # P. Cát Linh, Báo cáo tháng 2022-03
    q1: int  # P. Cát Linh, Báo cáo quý 2022-Q1
    ca_march: int  # Công an quận (no member), Báo cáo tháng 2022-03


async def _obligation(session, agency_id: int, schedule: str, period: str) -> int:
    return await session.scalar(
        select(Obligation.id).join(Schedule, Schedule.id == Obligation.schedule_id)
        .where(Obligation.agency_id == agency_id, Schedule.code == schedule,
               Obligation.period_key == period)
    )


@pytest.fixture
async def world(sessionmaker, settings) -> World:
    async with sessionmaker() as session, session.begin():
        await import_plan(session, load_plan(DONGDA), settings)
    async with sessionmaker() as session, session.begin():
        # Everything due before March is in.
        await session.execute(
            update(Obligation).where(Obligation.due_at < at("2022-03-01T00:00:00+07:00"))
            .values(status=ObligationStatus.submitted)
        )
        agencies = {a.code: a for a in (await session.scalars(select(Agency))).all()}

        def member(uid: int, code: str, roles: tuple[str, ...], name: str) -> Member:
            agency = agencies[code]
            m = Member(telegram_user_id=uid, chat_id=uid, agency_id=agency.id,
                       committee_id=agency.committee_id, full_name=name)
            m.roles = [MemberRole(role=Role(r)) for r in roles]
            session.add(m)
            return m

        people = [
            member(101, "p-cat-linh", ("reporter",), "Nguyễn Thị Lan"),
            member(102, "p-cat-linh", ("head",), "Lê Văn Hùng"),
            member(103, "ldtbxh", ("standing_office",), "Trần Thị Mai"),
            member(104, "ldtbxh", ("chair",), "Phạm Quốc Tuấn"),
        ]
        await session.flush()
        ward, ca = agencies["p-cat-linh"].id, agencies["ca"].id
        return World(
            committee_id=agencies["ldtbxh"].committee_id,
            agencies={code: a.id for code, a in agencies.items()},
            lan=people[0].id, hung=people[1].id, mai=people[2].id, chair=people[3].id,
            march=await _obligation(session, ward, "thang", "2022-03"),
            q1=await _obligation(session, ward, "quy", "2022-Q1"),
            ca_march=await _obligation(session, ca, "thang", "2022-03"),
        )


async def sweep(sessionmaker, iso: str, dry_run: bool = False) -> SweepResult:
    async with sessionmaker() as session, session.begin():
        result = await run_sweep(session, at(iso), TZ, dry_run=dry_run)
        if dry_run:
            await session.rollback()
        return result


async def counts(sessionmaker) -> tuple[int, int]:
    async with sessionmaker() as session:
        return (await session.scalar(select(func.count()).select_from(OutboxMessage)),
                await session.scalar(select(func.count()).select_from(OutboxItem)))


async def items_by_member(sessionmaker, created: dt.datetime) -> dict[int, list[OutboxItem]]:
    async with sessionmaker() as session:
        rows = (await session.execute(
            select(OutboxItem, OutboxMessage.member_id)
            .join(OutboxMessage, OutboxMessage.id == OutboxItem.outbox_id)
            .where(OutboxItem.created_at == created).order_by(OutboxItem.id)
        )).all()
    out: dict[int, list[OutboxItem]] = {}
    for item, member_id in rows:
        out.setdefault(member_id, []).append(item)
    return out


def by_chat(result: SweepResult) -> dict[int, OutboxMessage]:
    chats = [m.chat_id for m in result.written]
    assert len(chats) == len(set(chats)), "one message per person per sweep"
    return {m.chat_id: m for m in result.written}


def key_shape(key: str) -> tuple[str, str, str]:
    """(kind, subject, tail) of a dedupe key such as ``overdue:52:…:1:7``.

    The middle (e.g. the deadline, so that an extension starts the reminders over) is
    left out: only the kind, what it is about and the last two fields (step, member) are
    checked here.
    """
    parts = key.split(":")
    return parts[0], parts[1], ":".join(parts[-2:])


def digest_obligations(result: SweepResult, member_id: int) -> set[int]:
    [decision] = [d for d in result.decisions if d.recipient.member_id == member_id]
    return {oid for oid, _late in decision.lines}


# ----------------------------------------------------------------------------- instants


async def sweep_once_only(sessionmaker, iso: str) -> SweepResult:
    """Sweep at `iso`; the same sweep again, and the next one a minute later, add nothing."""
    result = await sweep(sessionmaker, iso)
    assert result.written
    before = await counts(sessionmaker)
    again = await sweep(sessionmaker, iso)
    assert again.written == [] and again.decisions == []
    later = await sweep(sessionmaker, (at(iso) + dt.timedelta(minutes=1)).isoformat())
    assert later.written == []
    assert await counts(sessionmaker) == before
    return result


async def test_reminder_overdue_and_digest_mornings(sessionmaker, world: World) -> None:
    # --- 2022-03-04: the 7-day reminder, to the reporter only.
    result = await sweep_once_only(sessionmaker, REMINDER_DAY)

    messages = by_chat(result)
    assert set(messages) == {101}, "only the reporter; the head only hears when overdue"
    message = messages[101]
    assert (message.kind, message.member_id, message.status) == (
        "reminder", world.lan, OutboxStatus.pending)
    assert message.next_attempt_at == at(REMINDER_DAY)
    text = message.payload["text"]
    assert message.payload["parse_mode"] == "HTML"
    assert text.startswith("🔔 <b>Nhắc hạn nộp báo cáo</b>")
    for fragment in ("<b>Báo cáo tháng 03/2022</b>", "<b>Báo cáo quý I/2022</b>",
                     "hết ngày 11/03/2022 (Thứ Sáu)", "còn 7 ngày"):
        assert fragment in text, fragment
    assert sorted(b[0]["data"] for b in message.payload["buttons"]) == sorted(
        [f"o:{world.march}", f"o:{world.q1}"])

    items = (await items_by_member(sessionmaker, at(REMINDER_DAY)))[world.lan]
    assert sorted((i.kind, i.level, i.obligation_id, key_shape(i.dedupe_key))
                  for i in items) == sorted([
        ("reminder", 0, world.march, ("reminder", str(world.march), f"7:{world.lan}")),
        ("reminder", 0, world.q1, ("reminder", str(world.q1), f"7:{world.lan}")),
    ])
    assert {i.outbox_id for i in items} == {message.id}

    # --- 2022-03-14: overdue to the reporter and the head; 3 days late: the consolidating
    # agency's digest.
    result = await sweep_once_only(sessionmaker, OVERDUE_DAY)

    messages = by_chat(result)
    assert set(messages) == {101, 102, 103}, "no chair yet: 3 days late, the chair is at 7"
    for chat in (101, 102):
        assert messages[chat].kind == "overdue"
        text = messages[chat].payload["text"]
        assert text.startswith("⏰ <b>Báo cáo quá hạn</b>")
        assert "quá hạn 3 ngày" in text and "tháng 03/2022" in text and "quý I/2022" in text
        # Who hears of it, in the plan's words.
        for label in ("Phòng LĐ-TBXH quận (nơi tổng hợp báo cáo)",
                      "Thường trực Ban Chỉ đạo 138 quận", "Trưởng Ban Chỉ đạo 138 quận"):
            assert label in text, label
    items = await items_by_member(sessionmaker, at(OVERDUE_DAY))
    overdue = {(i.kind, i.level, i.obligation_id, key_shape(i.dedupe_key))
               for i in items[world.hung]}
    assert overdue == {  # round 0
        ("overdue", 1, world.march, ("overdue", str(world.march), f"0:{world.hung}")),
        ("overdue", 1, world.q1, ("overdue", str(world.q1), f"0:{world.hung}")),
    }
    lan_kinds = sorted(i.kind for i in items[world.lan])
    # The reporter also hears that April's and the second quarter's periods are open.
    assert lan_kinds == ["notice", "notice", "overdue", "overdue"]
    # All in one message: the overdue section first, the new periods under their own header.
    text = messages[101].payload["text"]
    assert text.index("Báo cáo quá hạn") < text.index("Kỳ báo cáo mới") < text.index(
        "tháng 04/2022")

    # The consolidating agency: every late report (3 days: its step), the agency nobody can
    # be reminded at named.
    [digest] = items[world.mai]
    assert (digest.kind, digest.level, digest.obligation_id, digest.dedupe_key) == (
        "digest", 2, None, f"digest:{world.committee_id}:2022-03-14:{world.mai}")
    listed = digest_obligations(result, world.mai)
    assert {world.ca_march, world.march, world.q1} <= listed
    [decision] = [d for d in result.decisions if d.recipient.member_id == world.mai]
    assert world.agencies["ca"] in decision.orphans
    assert world.agencies["p-cat-linh"] not in decision.orphans
    assert decision.outside == []  # the standing office's step is at 5 days
    text = messages[103].payload["text"]
    assert "tổng hợp ngày 14/03/2022" in text
    # The agencies nobody can be reminded at: a count for the office, with its own button
    # (the names are one tap away).
    assert re.search(r"⚠️ \d+ đơn vị có báo cáo quá hạn chưa có người dùng bot", text), text
    assert "P. Cát Linh" in text and "Thường trực" not in text
    buttons = [b["text"] for row in messages[103].payload["buttons"] for b in row]
    assert "📣 Nhắc tất cả" in buttons and "🔎 Xem chi tiết" in buttons
    assert any(b.startswith("⚠️ ") and b.endswith("đơn vị chưa có người dùng bot")
               for b in buttons), buttons

    # --- 2022-03-21: overdue round 1; digests to the standing office and the chair.
    result = await sweep_once_only(sessionmaker, DIGEST_DAY)

    messages = by_chat(result)
    assert set(messages) == {101, 102, 103, 104}
    assert {c: (m.kind, m.member_id) for c, m in messages.items()} == {
        101: ("overdue", world.lan), 102: ("overdue", world.hung),
        103: ("digest", world.mai), 104: ("digest", world.chair),
    }
    items = await items_by_member(sessionmaker, at(DIGEST_DAY))
    assert {key_shape(i.dedupe_key) for i in items[world.lan]} == {  # round 1
        ("overdue", str(world.march), f"1:{world.lan}"),
        ("overdue", str(world.q1), f"1:{world.lan}")}
    levels = {m: [(i.kind, i.level) for i in items[m]] for m in (world.mai, world.chair)}
    assert levels == {world.mai: [("digest", 2)], world.chair: [("digest", 4)]}
    for member in (world.mai, world.chair):
        listed = digest_obligations(result, member)
        assert {world.march, world.q1, world.ca_march} <= listed
    for chat in (103, 104):
        text = messages[chat].payload["text"]
        assert "📊 <b>Báo cáo quá hạn</b> — tổng hợp ngày 21/03/2022" in text
        assert "P. Cát Linh" in text and "quá hạn tới 10 ngày" in text
    # 10 days late: past the standing office's step (5), which nobody in the bot is: the
    # consolidating agency is told, in the plan's words, the chair (above it) is not.
    [mai] = [d for d in result.decisions if d.recipient.member_id == world.mai]
    assert {(level, label) for level, label, _oid in mai.outside} == {
        ("standing_office", "Thường trực Ban Chỉ đạo 138 quận")}
    noted = {oid for _level, _label, oid in mai.outside}
    assert {world.march, world.q1, world.ca_march} <= noted
    views = {o.id: o for o in result.snapshot.obligations}
    assert noted == {oid for oid, _late in mai.lines if views[oid].escalate}
    assert "⤴️" in messages[103].payload["text"]
    assert "Thường trực Ban Chỉ đạo 138 quận" in messages[103].payload["text"]
    assert "Thường trực" not in messages[104].payload["text"]
    json_line = decision_json(
        next(d for d in result.decisions if d.recipient.member_id == world.chair),
        result.snapshot)
    assert json_line["kind"] == "digest" and json_line["level"] == 4
    assert json_line["recipient"] == 104
    assert {"id": world.march, "agency": "P. Cát Linh", "schedule": "Báo cáo tháng",
            "period": "2022-03"} in json_line["obligations"]


async def test_two_sweeps_at_once_never_duplicate(sessionmaker, world: World) -> None:
    expected = await sweep(sessionmaker, DIGEST_DAY, dry_run=True)
    expected_keys = {i.dedupe_key for d in expected.decisions for i in d.items}
    assert len(expected.decisions) == 4 and await counts(sessionmaker) == (0, 0)

    async def one() -> SweepResult:
        async with sessionmaker() as session, session.begin():
            return await run_sweep(session, at(DIGEST_DAY), TZ)

    results = await asyncio.gather(one(), one(), return_exceptions=True)
    ok = [r for r in results if isinstance(r, SweepResult)]
    failed = [r for r in results if not isinstance(r, SweepResult)]
    # One may lose the race on the unique keys; that is the design, not an error.
    assert ok and all(isinstance(e, IntegrityError) for e in failed), failed

    async with sessionmaker() as session:
        messages = (await session.scalars(select(OutboxMessage))).all()
        items = (await session.scalars(select(OutboxItem))).all()
    assert len(messages) == len(expected.decisions)
    assert sorted(m.chat_id for m in messages) == [101, 102, 103, 104]
    assert len({m.dedupe_key for m in messages}) == len(messages)
    assert sorted(i.dedupe_key for i in items) == sorted(expected_keys)
    member_of = {m.id: m.member_id for m in messages}
    assert len({(member_of[i.outbox_id], i.obligation_id, i.kind) for i in items}) == len(items)


async def test_the_streamed_sweep_writes_what_one_transaction_writes(
        sessionmaker, world: World) -> None:
    """The bot's sweep (commit_every: a first run of one person, then of RUN_GROWTH, each
    committed, written through db.bulk) writes on both databases the messages and items a
    dry run decides."""
    expected = await sweep(sessionmaker, DIGEST_DAY, dry_run=True)
    commits: list[int] = []

    async def committed(count: int) -> None:
        commits.append(count)

    async with sessionmaker() as session:
        result = await run_sweep(session, at(DIGEST_DAY), TZ, commit_every=1,
                                 on_commit=committed)
        await session.commit()
    assert commits[0] == 1 and commits[-1] == len(expected.decisions) and len(commits) > 1
    assert [m.dedupe_key for m in result.written] == [
        f"msg:{d.items[0].dedupe_key}" for d in expected.decisions]
    async with sessionmaker() as session:
        messages = {m.id: m for m in (await session.scalars(select(OutboxMessage))).all()}
        items = (await session.scalars(select(OutboxItem))).all()
    assert sorted(m.dedupe_key for m in messages.values()) == sorted(
        m.dedupe_key for m in result.written)
    assert {m.id for m in result.written} == set(messages)
    # Each item points at its person's message.
    assert sorted((i.dedupe_key, messages[i.outbox_id].member_id) for i in items) == sorted(
        (i.dedupe_key, d.recipient.member_id) for d in expected.decisions for i in d.items)
    assert all(m.created_at == at(DIGEST_DAY) for m in messages.values())


async def test_the_bots_sweep_stores_each_run_in_one_statement_on_postgresql(
        sessionmaker, world: World) -> None:
    """The bot's sweep keeps nothing it wrote (keep_written=False): on PostgreSQL each run's
    messages and items are one statement, on a writer's connection in autocommit (no BEGIN
    or COMMIT to wait for), two runs stored at once on two writers; on SQLite, the session's
    INSERTs. Both write what a dry run decides, each item with its person's message."""
    expected = await sweep(sessionmaker, DIGEST_DAY, dry_run=True)
    engine = sessionmaker.kw["bind"].sync_engine
    statements: list[str] = []
    writers: set[int] = set()

    def seen(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement.lstrip()[:30])
        if statement.startswith("WITH p AS"):
            writers.add(id(conn.connection.dbapi_connection))

    commits: list[int] = []

    async def committed(count: int) -> None:
        commits.append(count)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        async with sessionmaker() as session:
            result = await run_sweep(session, at(DIGEST_DAY), TZ, commit_every=1,
                                     on_commit=committed, keep_written=False)
            await session.commit()
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert result.count == len(expected.decisions) == commits[-1] and len(commits) > 1
    linked = [s for s in statements if s.startswith("WITH p AS (INSERT INTO outbox")]
    if engine.dialect.name == "postgresql":
        assert len(linked) == len(commits)
        assert len(writers) == sweeper.WRITERS == 2
        assert not [s for s in statements if s.startswith(("BEGIN", "COMMIT"))]
    else:
        assert not linked
    async with sessionmaker() as session:
        messages = {m.id: m for m in (await session.scalars(select(OutboxMessage))).all()}
        items = (await session.scalars(select(OutboxItem))).all()
    assert sorted(m.dedupe_key for m in messages.values()) == sorted(
        f"msg:{d.items[0].dedupe_key}" for d in expected.decisions)
    assert sorted((i.dedupe_key, messages[i.outbox_id].member_id) for i in items) == sorted(
        (i.dedupe_key, d.recipient.member_id) for d in expected.decisions for i in d.items)


@pytest.mark.parametrize("where", ["after its commit", "while the next is prepared"])
@pytest.mark.parametrize("keep", [True, False], ids=["kept", "counted"])
async def test_a_streamed_sweep_that_dies_after_a_run_leaves_whole_messages(
        sessionmaker, world: World, monkeypatch: pytest.MonkeyPatch, where: str,
        keep: bool) -> None:
    """The process dies after the first run (on_commit raises), or while the second is
    prepared (on PostgreSQL the first is then being stored on its own connection, and is
    stopped or finished): what was committed are whole messages with all their items, no
    connection is left checked out, and the next sweep writes the rest."""
    expected = await sweep(sessionmaker, DIGEST_DAY, dry_run=True)

    async def dies(_count: int) -> None:
        raise RuntimeError("the process died")

    prepare = sweeper._prepare
    calls: list[int] = []

    async def prepare_then_die(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("the process died")
        return await prepare(*args, **kwargs)

    if where != "after its commit":
        monkeypatch.setattr(sweeper, "_prepare", prepare_then_die)
    with pytest.raises(RuntimeError):
        async with sessionmaker() as session:
            await run_sweep(session, at(DIGEST_DAY), TZ, commit_every=1,
                            on_commit=dies if where == "after its commit" else None,
                            keep_written=keep)
    monkeypatch.setattr(sweeper, "_prepare", prepare)
    assert sessionmaker.kw["bind"].sync_engine.pool.checkedout() == 0
    async with sessionmaker() as session:
        messages = {m.id: m for m in (await session.scalars(select(OutboxMessage))).all()}
        items = (await session.scalars(select(OutboxItem))).all()
    assert len(messages) <= 1 < len(expected.decisions)
    wanted = {d.recipient.member_id: sorted(i.dedupe_key for i in d.items)
              for d in expected.decisions}
    assert {m.member_id: sorted(i.dedupe_key for i in items if i.outbox_id == m.id)
            for m in messages.values()} == {m.member_id: wanted[m.member_id]
                                            for m in messages.values()}
    async with sessionmaker() as session:
        rest = await run_sweep(session, at(DIGEST_DAY), TZ, commit_every=1)
        await session.commit()
    assert rest.count == len(expected.decisions) - len(messages)


@sqlite_only
async def test_a_member_with_two_roles_gets_one_message_per_sweep(
    sessionmaker, world: World
) -> None:
    # Mai of the standing office also reports for her own office (Phòng LĐ-TBXH), whose
    # March report is overdue too.
    async with sessionmaker() as session, session.begin():
        session.add(MemberRole(member_id=world.mai, role=Role.reporter))
    result = await sweep(sessionmaker, DIGEST_DAY)
    to_mai = [(m.kind, m.chat_id) for m in result.written if m.member_id == world.mai]
    assert len(to_mai) == 1, to_mai


# ----------------------------------------------------------------------------- stopping rules


@sqlite_only
async def test_submitted_or_waived_obligation_stops_at_once(sessionmaker, world: World) -> None:
    for iso in (REMINDER_DAY, OVERDUE_DAY):
        await sweep(sessionmaker, iso)
    async with sessionmaker() as session, session.begin():
        await session.execute(update(Obligation).where(Obligation.id == world.march)
                              .values(status=ObligationStatus.submitted))
        await session.execute(update(Obligation).where(Obligation.id == world.q1)
                              .values(status=ObligationStatus.waived))
    result = await sweep(sessionmaker, DIGEST_DAY)

    assert set(by_chat(result)) == {103, 104}, "nothing more for P. Cát Linh"
    async with sessionmaker() as session:
        about = (await session.scalars(
            select(OutboxItem).where(OutboxItem.obligation_id.in_([world.march, world.q1]),
                                     OutboxItem.created_at == at(DIGEST_DAY))
        )).all()
    assert about == []
    for member in (world.mai, world.chair):
        listed = digest_obligations(result, member)
        assert world.ca_march in listed and not listed & {world.march, world.q1}
    for message in result.written:
        assert "P. Cát Linh" not in message.payload["text"]


@sqlite_only
async def test_quiet_hours_and_days_off_write_nothing(sessionmaker, world: World) -> None:
    for iso in (
        "2022-03-19T08:00:00+07:00",  # a Saturday
        "2022-03-20T10:00:00+07:00",  # a Sunday
        "2022-03-21T06:59:00+07:00",  # quiet hours (21:00-07:00)
        "2022-03-21T21:30:00+07:00",
        "2022-03-22T06:59:00+07:00",
    ):
        result = await sweep(sessionmaker, iso)
        assert result.decisions == [] and result.written == [], iso
    assert await counts(sessionmaker) == (0, 0)
    # The next allowed moment: the people at 07:00, the digests at the digest time.
    early = await sweep(sessionmaker, "2022-03-22T07:00:00+07:00")
    assert set(by_chat(early)) == {101, 102}, "digests wait for 08:00"
    digests = await sweep(sessionmaker, "2022-03-22T08:00:00+07:00")
    assert set(by_chat(digests)) == {103, 104}


# ----------------------------------------------------------------------------- CLI


@sqlite_only
async def test_cli_dry_run_prints_decisions_and_writes_nothing(
    database_url, sessionmaker, world: World
) -> None:
    done = await asyncio.to_thread(run_cli, "sweep", "--now", DIGEST_DAY, "--dry-run",
                                   DATABASE_URL=database_url)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    assert await counts(sessionmaker) == (0, 0)
    by_recipient = {line["recipient"]: line for line in lines}
    assert len(lines) == 4 and set(by_recipient) == {101, 102, 103, 104}
    for line in lines:
        assert {"recipient", "kind", "level", "obligations", "dedupe_key"} <= set(line)
        for obligation in line["obligations"]:
            assert {"agency", "schedule", "period"} <= set(obligation)
    lan = by_recipient[101]
    assert (lan["kind"], lan["level"]) == ("overdue", 1)
    # Overdue March and Q1, and (first sweep of the period) the notices for April and Q2.
    assert sorted((o["agency"], o["schedule"], o["period"]) for o in lan["obligations"]) == [
        ("P. Cát Linh", "Báo cáo quý", "2022-Q1"), ("P. Cát Linh", "Báo cáo quý", "2022-Q2"),
        ("P. Cát Linh", "Báo cáo tháng", "2022-03"), ("P. Cát Linh", "Báo cáo tháng", "2022-04"),
    ]
    assert key_shape(lan["dedupe_key"]) in {("overdue", str(world.march), f"1:{world.lan}"),
                                            ("overdue", str(world.q1), f"1:{world.lan}")}
    assert lan["dedupe_key"] == lan["dedupe_keys"][0] and len(lan["dedupe_keys"]) == 4
    assert [(by_recipient[c]["kind"], by_recipient[c]["level"]) for c in (103, 104)] == [
        ("digest", 2), ("digest", 4)]
    assert by_recipient[104]["dedupe_key"] == (
        f"digest:{world.committee_id}:2022-03-21:{world.chair}")
    assert ("Công an quận", "Báo cáo tháng", "2022-03") in {
        (o["agency"], o["schedule"], o["period"]) for o in by_recipient[103]["obligations"]}

    # Without --dry-run the same decisions go to the outbox.
    done = await asyncio.to_thread(run_cli, "sweep", "--now", DIGEST_DAY,
                                   DATABASE_URL=database_url)
    assert done.returncode == 0, done.stderr
    assert "4 messages queued" in done.stderr
    async with sessionmaker() as session:
        keys = set((await session.scalars(select(OutboxItem.dedupe_key))).all())
        chats = sorted((await session.scalars(select(OutboxMessage.chat_id))).all())
    assert chats == [101, 102, 103, 104]
    assert {line["dedupe_key"] for line in lines} <= keys
    # What the outbox has, a later dry run no longer lists.
    assert (await sweep(sessionmaker, DIGEST_DAY, dry_run=True)).decisions == []
