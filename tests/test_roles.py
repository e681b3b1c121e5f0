"""Issue 11 §1: the consolidating agency and the committee's standing office are two roles,
messages use the plan's words for them, bodies the plan only requests are reminded but not
escalated, and a level outside the committee is explicit data of the plan.

Through the real importer, sweeper and message rendering, on a database:
- Đống Đa 2022: the district court (TAND quận, `escalate: false`) and an office (Phòng
  VH-TT) are late with their March reports (last day Friday 11/03/2022);
- Hà Nội 2020: a district is late with its third-quarter hotspot report, and after 15 days
  it is due to be reported to the city's vice-chairman (an `external` step);
- a plan whose standing office is an agency of its own (Công an quận), apart from the
  consolidating agency;
- a plan file that names only `standing_office` (read as both roles);
- migration 0008 on a database written before it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, text, update

from core.planfile import load_plan
from db.models import (
    Agency,
    Committee,
    Member,
    MemberRole,
    Obligation,
    ObligationStatus,
    Role,
    Schedule,
)
from db.plan_import import import_plan
from scheduler.sweep import Policy
from scheduler.sweeper import SweepResult, decision_json, load_snapshot, run_sweep
from tests.conftest import MINI_PLAN, PLANS

TZ = ZoneInfo("Asia/Ho_Chi_Minh")

# Where only the decisions matter (not the backend), SQLite only: the suite stays fast.
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

DONGDA_LABELS = {
    "consolidating": "Phòng LĐ-TBXH quận (nơi tổng hợp báo cáo)",
    "standing_office": "Thường trực Ban Chỉ đạo 138 quận",
    "chair": "Trưởng Ban Chỉ đạo 138 quận",
}
HANOI_EXTERNAL = "Đ/c Phó Chủ tịch UBND Thành phố, Trưởng Ban Chỉ đạo 138 Thành phố"


def at(iso: str) -> dt.datetime:
    return dt.datetime.fromisoformat(iso)


@dataclass
class World:
    agencies: dict[str, int]  # code -> id
    members: dict[int, int]  # telegram user id -> member id
    obligations: dict[str, list[int]]  # agency code -> its open obligations in the window


async def build_world(sessionmaker, settings, plan: Path, people: list[tuple[int, str, str]],
                      open_agencies: list[str], open_from: str, open_to: str) -> World:
    """Import `plan`, add `people` (user id, agency code, role; the same id twice: two
    roles), and leave open only the reports of `open_agencies` due in [open_from, open_to)."""
    async with sessionmaker() as session, session.begin():
        await import_plan(session, load_plan(plan), settings)
    async with sessionmaker() as session, session.begin():
        agencies = {a.code: a for a in (await session.scalars(select(Agency))).all()}
        keep = [agencies[code].id for code in open_agencies]
        await session.execute(
            update(Obligation).where(
                (Obligation.due_at < at(open_from)) | (Obligation.due_at >= at(open_to))
                | Obligation.agency_id.not_in(keep))
            .values(status=ObligationStatus.submitted))
        members: dict[int, Member] = {}
        for uid, code, role in people:
            agency = agencies[code]
            member = members.get(uid)
            if member is None:
                member = members[uid] = Member(
                    telegram_user_id=uid, chat_id=uid, agency_id=agency.id,
                    committee_id=agency.committee_id, full_name=f"Người {uid}")
                session.add(member)
            member.roles.append(MemberRole(role=Role(role)))
        await session.flush()
        rows = (await session.execute(
            select(Agency.code, Obligation.id).join(Obligation, Obligation.agency_id == Agency.id)
            .where(Obligation.status == ObligationStatus.open).order_by(Obligation.id))).all()
        opened: dict[str, list[int]] = {}
        for code, oid in rows:
            opened.setdefault(code, []).append(oid)
        return World({c: a.id for c, a in agencies.items()},
                     {uid: m.id for uid, m in members.items()}, opened)


async def sweep(sessionmaker, iso: str) -> SweepResult:
    async with sessionmaker() as session, session.begin():
        return await run_sweep(session, at(iso), TZ)


def texts(result: SweepResult) -> dict[int, str]:
    return {m.chat_id: m.payload["text"] for m in result.written}


def decision_of(result: SweepResult, chat: int, digest: bool = False):
    found = [d for d in result.decisions if d.recipient.chat_id == chat
             and (d.kind in ("digest", "weekly")) == digest]
    assert len(found) == 1, (chat, [(d.recipient.chat_id, d.kind) for d in result.decisions])
    return found[0]


def listed(result: SweepResult, chat: int) -> set[int]:
    return {oid for oid, _late in decision_of(result, chat, digest=True).lines}


# ----------------------------------------------------------------------------- Đống Đa

COURT_REPORTER, COURT_HEAD, OFFICE_REPORTER, MAI, CHAIR = 201, 202, 301, 103, 104


@pytest.fixture
async def dongda(sessionmaker, settings) -> World:
    return await build_world(
        sessionmaker, settings, PLANS / "dongda-2022.yaml",
        [(COURT_REPORTER, "tand", "reporter"), (COURT_HEAD, "tand", "head"),
         (OFFICE_REPORTER, "vhtt", "reporter"),
         (MAI, "ldtbxh", "standing_office"), (CHAIR, "ldtbxh", "chair")],
        ["tand", "vhtt"], "2022-03-01T00:00:00+07:00", "2022-04-01T00:00:00+07:00")


async def test_the_court_is_reminded_and_told_but_never_taken_to_the_chair(
    sessionmaker, dongda: World
) -> None:
    """«Đề nghị … Tòa án nhân dân quận»: the court gets its reminders and its own overdue
    notices, Phòng LĐ-TBXH sees it late, the chair never does; Phòng VH-TT (required, not
    requested) goes up to the chair."""
    court, office = dongda.obligations["tand"], dongda.obligations["vhtt"]
    assert len(court) == len(office) == 2  # March and the first quarter

    # Friday 4/3: the 7-day reminder, the court's like anyone's.
    reminded = await sweep(sessionmaker, "2022-03-04T08:00:00+07:00")
    assert {(m.chat_id, m.kind) for m in reminded.written} == {
        (COURT_REPORTER, "reminder"), (OFFICE_REPORTER, "reminder")}

    # Monday 14/3, 3 days late: overdue notices to the court's own people; Phòng LĐ-TBXH's
    # digest (its step is at 3 days) lists both agencies.
    first = await sweep(sessionmaker, "2022-03-14T08:00:00+07:00")
    sent = texts(first)
    assert set(sent) == {COURT_REPORTER, COURT_HEAD, OFFICE_REPORTER, MAI}
    for chat in (COURT_REPORTER, COURT_HEAD, OFFICE_REPORTER):
        assert decision_of(first, chat).kind == "overdue"
    assert listed(first, MAI) == set(court) | set(office)
    assert "TAND quận" in sent[MAI] and "Phòng VH-TT" in sent[MAI]
    # Who hears of a late report, in the plan's words: for the court, Phòng LĐ-TBXH only.
    for chat in (COURT_REPORTER, COURT_HEAD):
        assert DONGDA_LABELS["consolidating"] in sent[chat]
        assert DONGDA_LABELS["chair"] not in sent[chat]
        assert DONGDA_LABELS["standing_office"] not in sent[chat]
    for label in DONGDA_LABELS.values():
        assert label in sent[OFFICE_REPORTER]

    # Monday 21/3, 10 days late: round 2 for the court's people, Phòng LĐ-TBXH still lists
    # the court; the chair's digest lists only Phòng VH-TT.
    later = await sweep(sessionmaker, "2022-03-21T08:00:00+07:00")
    sent = texts(later)
    assert set(sent) == {COURT_REPORTER, COURT_HEAD, OFFICE_REPORTER, MAI, CHAIR}
    assert decision_of(later, COURT_HEAD).kind == "overdue"
    assert listed(later, MAI) == set(court) | set(office)
    assert listed(later, CHAIR) == set(office)
    assert "Phòng VH-TT" in sent[CHAIR] and "TAND quận" not in sent[CHAIR]
    assert decision_of(later, CHAIR, digest=True).orphans == []
    # The standing office's step (5 days) reaches nobody in the bot (the plan does not say
    # which agency it is): Phòng LĐ-TBXH's digest says which reports are now for it, the
    # court's not among them.
    mai = decision_of(later, MAI, digest=True)
    assert {(level, label) for level, label, _oid in mai.outside} == {
        ("standing_office", DONGDA_LABELS["standing_office"])}
    assert {oid for _level, _label, oid in mai.outside} == set(office)
    note = next(line for line in sent[MAI].splitlines() if line.startswith("⤴️"))
    assert DONGDA_LABELS["standing_office"] in note
    assert "Phòng VH-TT" in note and "TAND quận" not in note
    assert "⤴️" not in sent[CHAIR]  # the chair is above the standing office
    line = decision_json(mai, later.snapshot)
    assert {(o["level"], o["agency"]) for o in line["outside"]} == {
        ("standing_office", "Phòng VH-TT")}


@sqlite_only
async def test_every_agency_the_plan_only_requests_stays_below_the_chair(
    sessionmaker, settings
) -> None:
    """All of Đống Đa's late in March: the chair's digest has every agency but the
    procuracy, the court, the Front and the mass organisations."""
    async with sessionmaker() as session, session.begin():
        await import_plan(session, load_plan(PLANS / "dongda-2022.yaml"), settings)
        await session.execute(
            update(Obligation).where(Obligation.due_at < at("2022-03-01T00:00:00+07:00"))
            .values(status=ObligationStatus.submitted))
        ldtbxh = await session.scalar(select(Agency).where(Agency.code == "ldtbxh"))
        for uid, role in ((MAI, Role.standing_office), (CHAIR, Role.chair)):
            member = Member(telegram_user_id=uid, chat_id=uid, agency_id=ldtbxh.id,
                            committee_id=ldtbxh.committee_id)
            member.roles.append(MemberRole(role=role))
            session.add(member)
        requested = set((await session.scalars(
            select(Agency.id).where(Agency.escalate.is_(False)))).all())
    result = await sweep(sessionmaker, "2022-03-21T08:00:00+07:00")
    views = {o.id: o for o in result.snapshot.obligations}
    to_chair = {views[oid].agency_id for oid in listed(result, CHAIR)}
    to_office = {views[oid].agency_id for oid in listed(result, MAI)}
    assert len(requested) == 6
    assert requested <= to_office and not requested & to_chair
    assert to_chair == to_office - requested


# ----------------------------------------------------------------------------- Hà Nội

DISTRICT, SO_STAFF, SO_CHAIR = 501, 601, 602


@pytest.fixture
async def hanoi(sessionmaker, settings) -> World:
    """Q3 2020 of Hoàn Kiếm's hotspots: last day Monday 21/9/2020."""
    return await build_world(
        sessionmaker, settings, PLANS / "hanoi-667-2020.yaml",
        [(DISTRICT, "q-hoan-kiem", "reporter"), (SO_STAFF, "so-ldtbxh", "standing_office"),
         (SO_CHAIR, "so-ldtbxh", "chair")],
        ["q-hoan-kiem"], "2020-09-01T00:00:00+07:00", "2020-10-01T00:00:00+07:00")


async def test_hanoi_external_level_is_a_line_in_the_digests_after_its_days(
    sessionmaker, hanoi: World
) -> None:
    reports = set(hanoi.obligations["q-hoan-kiem"])
    assert reports
    # Monday 5/10/2020: 14 days late. The Sở (consolidating, 3 days) and its leaders (chair,
    # 7 days) list it; the city's vice-chairman (15 days) not yet.
    before = await sweep(sessionmaker, "2020-10-05T08:00:00+07:00")
    for chat in (SO_STAFF, SO_CHAIR):
        digest = decision_of(before, chat, digest=True)
        assert {oid for oid, _late in digest.lines} == reports
        assert digest.outside == []
        assert "⤴️" not in texts(before)[chat]
    # Tuesday 6/10/2020: 15 days late. Nobody in the bot is that level: both digests say
    # the report is now due to be reported there, by the plan's own label.
    after = await sweep(sessionmaker, "2020-10-06T08:00:00+07:00")
    sent = texts(after)
    for chat in (SO_STAFF, SO_CHAIR):
        digest = decision_of(after, chat, digest=True)
        assert {(level, label) for level, label, _oid in digest.outside} == {
            ("external", HANOI_EXTERNAL)}
        assert {oid for _level, _label, oid in digest.outside} == reports
        note = next(line for line in sent[chat].splitlines() if line.startswith("⤴️"))
        assert HANOI_EXTERNAL in note and "BCĐ 138 quận Hoàn Kiếm" in note
    # The district's own overdue notice names every level, the external one by its label.
    async with sessionmaker() as session:
        labels = await session.scalar(select(Committee.role_labels))
    [district] = [m for m in before.written if m.chat_id == DISTRICT]
    for label in (labels["consolidating"], labels["chair"], HANOI_EXTERNAL):
        assert label in district.payload["text"], label


async def test_hanoi_so_staff_are_both_the_consolidating_agency_and_the_standing_office(
    sessionmaker, hanoi: World
) -> None:
    async with sessionmaker() as session:
        snapshot = await load_snapshot(session, at("2020-10-06T08:00:00+07:00"), TZ)
    [committee] = snapshot.committees.values()
    assert committee.consolidating_agency_id == committee.standing_office_agency_id == (
        hanoi.agencies["so-ldtbxh"])
    assert committee.label("chair") == "Lãnh đạo Sở LĐ-TBXH"
    staff = hanoi.members[SO_STAFF]
    assert [r.member_id for r in snapshot.standing[committee.id]] == [staff]
    assert [r.member_id for r in snapshot.standing_office[committee.id]] == [staff]
    assert [r.member_id for r in snapshot.chairs[committee.id]] == [hanoi.members[SO_CHAIR]]


# --------------------------------------------------- a standing office agency of its own

POLICE_PLAN = (MINI_PLAN.read_text(encoding="utf-8")
               .replace("  standing_office: ldtbxh\n",
                        "  consolidating: ldtbxh\n"
                        "  standing_office: ca\n"
                        "  labels:\n"
                        '    standing_office: "Thường trực BCĐ (Công an quận)"\n')
               .replace("defaults:\n  reminders: [7, 3, 1, 0]\n",
                        "defaults:\n  reminders: [7, 3, 1, 0]\n"
                        "  escalation:\n"
                        "    steps:\n"
                        "      - {after_days: 1, to: [reporter, head]}\n"
                        "      - {after_days: 3, to: [consolidating]}\n"
                        "      - {after_days: 5, to: [standing_office]}\n"
                        "      - {after_days: 7, to: [chair]}\n"))
WARD, LDTBXH_STAFF, POLICE_STAFF, MINI_CHAIR = 701, 702, 703, 704


@sqlite_only
async def test_a_standing_office_agency_gets_its_own_step(
    sessionmaker, settings, tmp_path: Path
) -> None:
    """Consolidating agency Phòng LĐ-TBXH, standing office Công an quận: the member role
    standing_office at each is a different level. March 2022 of the mini plan: last day
    Saturday 12/3 (holiday: keep)."""
    plan = tmp_path / "police.yaml"
    plan.write_text(POLICE_PLAN, encoding="utf-8")
    assert "consolidating: ldtbxh" in POLICE_PLAN and "[consolidating]" in POLICE_PLAN
    world = await build_world(
        sessionmaker, settings, plan,
        [(WARD, "p-cat-linh", "reporter"), (LDTBXH_STAFF, "ldtbxh", "standing_office"),
         (POLICE_STAFF, "ca", "standing_office"), (MINI_CHAIR, "ldtbxh", "chair")],
        ["p-cat-linh"], "2022-03-01T00:00:00+07:00", "2022-03-20T00:00:00+07:00")
    march = set(world.obligations["p-cat-linh"])
    async with sessionmaker() as session:
        committee = await session.scalar(select(Committee))
        snapshot = await load_snapshot(session, at("2022-03-15T08:00:00+07:00"), TZ)
    assert (committee.consolidating_id, committee.standing_office_id) == (
        world.agencies["ldtbxh"], world.agencies["ca"])
    assert [r.member_id for r in snapshot.standing[committee.id]] == [
        world.members[LDTBXH_STAFF]]
    assert [r.member_id for r in snapshot.standing_office[committee.id]] == [
        world.members[POLICE_STAFF]]

    digests = {}
    for day in (15, 16, 17, 18, 21):
        result = await sweep(sessionmaker, f"2022-03-{day}T08:00:00+07:00")
        digests[day] = {d.recipient.chat_id: (d.level, {oid for oid, _ in d.lines})
                        for d in result.decisions if d.kind == "digest"}
        # A standing office that is an agency is reached in the bot: no «outside» line.
        assert all(d.outside == [] for d in result.decisions)
    # Each level from its own step; a digest only when its listing changed (or a new week
    # began: Monday 21/3), so the same late report is not repeated every morning.
    assert digests[15] == {LDTBXH_STAFF: (2, march)}  # 3 days late
    assert digests[16] == {}  # nothing new for anyone
    assert digests[17] == {POLICE_STAFF: (3, march)}  # 5 days late: the standing office
    assert digests[18] == {}
    assert digests[21] == {LDTBXH_STAFF: (2, march), POLICE_STAFF: (3, march),
                           MINI_CHAIR: (4, march)}


@sqlite_only
async def test_a_file_that_names_only_the_standing_office_escalates_as_before(
    sessionmaker, settings
) -> None:
    """The mini plan names only `standing_office: ldtbxh` and keeps the default chain (the
    standing office after 3 days): Phòng LĐ-TBXH is both roles, its people get the digest
    from 3 days on, as they always did. Last day Saturday 12/3/2022 (holiday: keep)."""
    world = await build_world(
        sessionmaker, settings, MINI_PLAN,
        [(WARD, "p-cat-linh", "reporter"), (LDTBXH_STAFF, "ldtbxh", "standing_office"),
         (MINI_CHAIR, "ldtbxh", "chair")],
        ["p-cat-linh"], "2022-03-01T00:00:00+07:00", "2022-03-20T00:00:00+07:00")
    march = set(world.obligations["p-cat-linh"])
    async with sessionmaker() as session:
        steps = {tuple(s["to"]) for schedule in (await session.scalars(select(Schedule))).all()
                 for s in schedule.escalation_policy["steps"]}
    assert ("standing_office",) in steps and ("consolidating",) not in steps
    found = {}
    for day in (14, 15, 21):
        result = await sweep(sessionmaker, f"2022-03-{day}T08:00:00+07:00")
        found[day] = {d.recipient.chat_id: {oid for oid, _ in d.lines}
                      for d in result.decisions if d.kind == "digest"}
    assert found[14] == {}  # 2 days late
    assert found[15] == {LDTBXH_STAFF: march}
    assert found[21] == {LDTBXH_STAFF: march, MINI_CHAIR: march}


def test_policies_read_external_steps_and_the_consolidating_agencys_first_day() -> None:
    hanoi = Policy.from_rows([7, 3, 1, 0], {"steps": [
        {"after_days": 1, "to": ["reporter", "head"]},
        {"after_days": 3, "to": ["consolidating"]},
        {"after_days": 7, "to": ["chair"]},
        {"after_days": 15, "to": ["external"], "label": HANOI_EXTERNAL}]})
    assert hanoi.external == ((15, HANOI_EXTERNAL),)
    assert hanoi.desk_after() == 3
    assert hanoi.levels() == ["reporter", "head", "consolidating", "chair", "external"]
    # A chain stored before the consolidating agency was a level of its own.
    old = Policy.from_rows([7, 3, 1, 0], {"steps": [
        {"after_days": 1, "to": ["reporter", "head"]},
        {"after_days": 3, "to": ["standing_office"]},
        {"after_days": 7, "to": ["chair"]}]})
    assert old.external == () and old.desk_after() == 3
    assert Policy.from_rows(None, {"steps": [
        {"after_days": 1, "to": ["reporter"]}]}).desk_after() is None
    # A chain that goes from the agency straight outside the committee: the consolidating
    # agency lists the report (with the line about that level) from that step on.
    assert Policy.from_rows(None, {"steps": [
        {"after_days": 1, "to": ["reporter"]},
        {"after_days": 15, "to": ["external"], "label": HANOI_EXTERNAL}]}).desk_after() == 15


# ----------------------------------------------------------------------------- migration


@pytest.fixture(params=["sqlite", "postgresql"])
def migrated_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'old.sqlite3'}"
    else:
        yield request.getfixturevalue("empty_postgres_url")


async def _rows(url: str, sql: str) -> list[tuple]:
    from db.session import make_engine

    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            return [tuple(r) for r in (await conn.execute(text(sql))).all()]
    finally:
        await engine.dispose()


async def _execute(url: str, *statements: str) -> None:
    from db.session import make_engine

    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            for sql in statements:
                await conn.execute(text(sql))
    finally:
        await engine.dispose()


def test_migration_0008_fills_the_consolidating_agency_and_keeps_every_row(
    migrated_url: str
) -> None:
    """A database of revision 0007, where the importer stored the agency that receives the
    reports in standing_office_id: 0008 copies it to consolidating_id, every agency
    escalates, no label; and nothing else moves (SQLite: no table is rebuilt, so foreign
    keys cascade nothing). Going down gives the old code its standing_office_id back."""
    from db.migrate import downgrade, upgrade

    upgrade(migrated_url, "0007")
    now = "2022-01-01 00:00:00"
    asyncio.run(_execute(
        migrated_url,
        f"INSERT INTO committee (id, code, name, created_at) VALUES (1, 'bcd', 'BCĐ', '{now}')",
        "INSERT INTO agency (id, committee_id, code, name, kind) "
        "VALUES (10, 1, 'ldtbxh', 'Phòng LĐ-TBXH', 'phong-ban'), "
        "(11, 1, 'ca', 'Công an quận', 'phong-ban')",
        "UPDATE committee SET standing_office_id = 10 WHERE id = 1",
        "INSERT INTO member (id, telegram_user_id, committee_id, agency_id, full_name, active, "
        f"created_at, updated_at) VALUES (5, 555, 1, 10, 'Mai', true, '{now}', '{now}')",
        f"INSERT INTO plan (id, committee_id, code, title, year, starts_on, ends_on, calendar, "
        f"defaults, imported_at) VALUES (3, 1, 'p', 'Kế hoạch', 2022, '2022-01-01', "
        f"'2022-12-31', '{{}}', '{{}}', '{now}')",
    ))
    upgrade(migrated_url)
    assert asyncio.run(_rows(
        migrated_url, "SELECT consolidating_id, standing_office_id FROM committee")) == [
        (10, 10)]
    [(labels,)] = asyncio.run(_rows(migrated_url, "SELECT role_labels FROM committee"))
    assert labels in ({}, "{}")
    assert asyncio.run(_rows(migrated_url, "SELECT id, escalate FROM agency ORDER BY id")) in (
        [(10, True), (11, True)], [(10, 1), (11, 1)])
    assert asyncio.run(_rows(migrated_url, "SELECT id FROM member")) == [(5,)]
    assert asyncio.run(_rows(migrated_url, "SELECT id FROM plan")) == [(3,)]

    # A later import separates the roles; going down puts the receiving agency back where
    # the old code reads it, and keeps every row.
    asyncio.run(_execute(migrated_url,
                         "UPDATE committee SET standing_office_id = NULL, consolidating_id = 10"))
    downgrade(migrated_url, "0007")
    assert asyncio.run(_rows(migrated_url, "SELECT standing_office_id FROM committee")) == [
        (10,)]
    assert asyncio.run(_rows(migrated_url, "SELECT id FROM agency ORDER BY id")) == [
        (10,), (11,)]
    assert asyncio.run(_rows(migrated_url, "SELECT id FROM member")) == [(5,)]
    upgrade(migrated_url)  # and up again
    assert asyncio.run(_rows(migrated_url, "SELECT consolidating_id FROM committee")) == [(10,)]


def test_migration_0008_rebuilds_no_sqlite_table(tmp_path: Path) -> None:
    """On SQLite every column is added in place (ALTER TABLE ADD COLUMN): each table keeps
    its original definition, the new columns inserted after the old ones. (A rebuilt table
    is dropped and copied; with foreign keys on, dropping `committee` or `agency` deletes
    every row that references them through ON DELETE CASCADE: see the test above.)"""
    from db.migrate import upgrade

    path = tmp_path / "inplace.sqlite3"
    upgrade(f"sqlite+aiosqlite:///{path}", "0007")
    with sqlite3.connect(path) as conn:
        before = dict(conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'"))
    upgrade(f"sqlite+aiosqlite:///{path}", "0008")
    with sqlite3.connect(path) as conn:
        after = dict(conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'"))
        fks = conn.execute("PRAGMA foreign_key_list(committee)").fetchall()
    added = {
        "committee": ", consolidating_id INTEGER CONSTRAINT fk_committee_consolidating_id_agency "
                     "REFERENCES agency (id), role_labels JSON DEFAULT '{}' NOT NULL",
        "agency": ", escalate BOOLEAN DEFAULT 1 NOT NULL",
        "schedule": ", signed_file VARCHAR(10)",
        "target": ", per_subject_kind VARCHAR(40)",
    }
    for table, columns in added.items():
        assert columns in after[table], table
        assert after[table].replace(columns, "") == before[table], table
    assert {(row[2], row[3], row[4]) for row in fks} >= {("agency", "consolidating_id", "id")}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_the_chair_is_not_shown_agencies_the_plan_only_requests(database_url: str) -> None:
    """«Xem chi tiết» and «Nhắc tất cả» from a chair leave out the court (escalate: false);
    the consolidating agency's staff still see it among the late (issue 11 §1)."""
    from db.models import Committee
    from tests.support.harness import DONGDA_PLAN, HANOI, BotHarness
    from tests.support.pages import all_detail_pages

    CHAIR, OFFICE = 5201, 5202
    async with BotHarness(database_url, plan=DONGDA_PLAN) as h:
        await h.join(CHAIR, "ldtbxh", "chair", first_name="Bình")
        await h.join(OFFICE, "ldtbxh", "standing_office", first_name="Mai")
        committee = await h.one(Committee, Committee.code != "")
        h.set_now(dt.datetime(2022, 3, 21, 8, 0, tzinfo=HANOI))
        chair_view = await all_detail_pages(h, CHAIR, committee.id)
        office_view = await all_detail_pages(h, OFFICE, committee.id)
        assert "Phòng VH-TT" in chair_view and "TAND quận" not in chair_view, chair_view
        assert "TAND quận" in office_view, office_view


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_the_admin_invites_and_lists_people_in_the_plans_words(database_url: str) -> None:
    """Đống Đa: the office role at Phòng LĐ-TBXH is «Phòng LĐ-TBXH quận (nơi tổng hợp báo
    cáo)», not the committee's standing office; a ward's head is its chairman."""
    from tests.support.harness import DONGDA_PLAN, BotHarness

    ADMIN, MAI = 5301, 5302
    async with BotHarness(database_url, plan=DONGDA_PLAN, bot_username="plan_bot") as h:
        await h.join(ADMIN, "ldtbxh", "admin", first_name="Quản trị")
        await h.join(MAI, "ldtbxh", "standing_office", first_name="Mai")
        ldtbxh = await h.agency("ldtbxh")
        await h.say(ADMIN, "/admin")
        roles = await h.press_raw(ADMIN, h.last_message(ADMIN)["message_id"],
                                  f"ai:a:{ldtbxh.id}")
        labels = {data.rsplit(":", 1)[1]: label for label, data in roles.buttons
                  if data.startswith("ai:r:")}
        assert labels["standing_office"] == "Phòng LĐ-TBXH quận (nơi tổng hợp báo cáo)"
        assert labels["head"] == "Thủ trưởng đơn vị, Chủ tịch UBND phường"
        assert labels["chair"] == "Trưởng Ban Chỉ đạo 138 quận"
        assert not any("Thường trực" in label for label in labels.values()), labels
        created = await h.press(ADMIN, f"ai:r:{ldtbxh.id}:standing_office")
        assert "Phòng LĐ-TBXH quận (nơi tổng hợp báo cáo)" in created.text, created.text
        people = await h.press_raw(ADMIN, created.last["message_id"], f"am:a:{ldtbxh.id}")
        assert "Mai — Phòng LĐ-TBXH quận (nơi tổng hợp báo cáo) — " in people.text, people.text
        # The escalation editor names the levels the same way.
        monthly = await h.one(Schedule, Schedule.code == "thang")
        prompt = await h.press_raw(ADMIN, created.last["message_id"], f"as:e:{monthly.id}")
        assert ("(1) Cán bộ đầu mối báo cáo và Thủ trưởng đơn vị, Chủ tịch UBND phường, "
                "(2) Phòng LĐ-TBXH quận (nơi tổng hợp báo cáo), "
                "(3) Trưởng Ban Chỉ đạo 138 quận;") in prompt.text, prompt.text
        # A button for another committee's agency, or none at all, is refused.
        stale = await h.press_raw(ADMIN, created.last["message_id"], "ai:a:999999")
        assert "không còn hiệu lực" in stale.text, stale.text
