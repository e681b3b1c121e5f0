"""Issue 16: the bot's sweep at a province's scale.

- scheduler.sweeper._Renderer renders each distinct personal message once and gives it to
  everyone who gets the same words, with the buttons of their own reports: what each person
  gets is exactly what rendering their message alone gives.
- run_sweep(commit_every=…) reads and decides the agencies' people a part at a time
  (_stream); a person who is both an agency's reporter and a committee level's gets their
  own reports and their digest in one message, as one transaction writes it."""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib.util
import shutil
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

import scheduler.sweeper as sweeper
from core.calendar import WorkCalendar
from db.models import Member, MemberRole, OutboxItem, OutboxMessage, Role
from db.session import make_engine, make_sessionmaker
from scheduler.messages import render_decision
from scheduler.sweep import (
    CommitteeView,
    Decision,
    Item,
    ObligationView,
    Policy,
    Recipient,
    Snapshot,
    decide,
    decide_digests,
    decide_personal,
    digest_lines,
    finish,
)
from tests.conftest import ROOT

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
NOW = dt.datetime(2022, 3, 18, 8, 0, tzinfo=TZ)
DUE = dt.datetime(2022, 3, 21, 17, 0, tzinfo=TZ)
LABELS = {"chair": "Trưởng ban"}


def view(oid: int, agency: int, due: dt.datetime = DUE, escalate: bool = True
         ) -> ObligationView:
    return ObligationView(id=oid, committee_id=1, agency_id=agency, agency_name=f"Xã {agency}",
                          schedule_name="Báo cáo tháng", period_type="month",
                          period_key="2022-03", period_start=dt.date(2022, 2, 15), due_at=due,
                          plan_ends_on=dt.date(2022, 12, 31), policy=Policy(),
                          escalate=escalate)


def decision(member: int, agency: int, items: list[tuple[str, int]], language: str = "vi",
             roles: frozenset[str] = frozenset({"reporter"})) -> Decision:
    kind = max((k for k, _o in items), key=["notice", "reminder", "overdue"].index)
    return Decision(Recipient(member, 1000 + member, roles, agency, language), kind,
                    1 if kind == "overdue" else 0,
                    items=[Item(f"{k}:{o}:{member}", k, 1 if k == "overdue" else 0, o)
                           for k, o in items],
                    committee_id=1, labels=dict(LABELS))


async def test_one_rendering_per_distinct_message_each_with_its_own_reports(
        monkeypatch: pytest.MonkeyPatch) -> None:
    obligations = {o.id: o for o in [
        view(11, 1), view(12, 1, DUE + dt.timedelta(days=30)),  # agency 1: March and April
        view(21, 2), view(22, 2, DUE + dt.timedelta(days=30)),  # agency 2: the same words
        view(31, 3, DUE + dt.timedelta(days=1)),  # another deadline: other words
        view(41, 4, escalate=False),  # the same words for a reminder…
    ]}
    decisions = [
        decision(1, 1, [("reminder", 11), ("notice", 12)]),
        decision(2, 1, [("reminder", 11), ("notice", 12)]),
        decision(3, 2, [("reminder", 21), ("notice", 22)]),  # same words, other buttons
        decision(4, 2, [("reminder", 21), ("notice", 22)], language="en"),  # other language
        decision(5, 2, [("reminder", 21), ("notice", 22)],
                 roles=frozenset({"reporter", "chair"})),  # less room: a digest may join
        decision(6, 3, [("reminder", 31)]),
        decision(7, 1, [("reminder", 11), ("notice", 11)]),  # two items, one report
        decision(8, 2, [("reminder", 21), ("notice", 22)]),
        decision(9, 4, [("overdue", 41)]),  # …but not once late: who hears differs
        decision(10, 1, [("overdue", 11)]),
    ]
    session = cast(AsyncSession, None)  # personal messages with labels read nothing
    expected = [await render_decision(session, d, obligations, NOW, TZ) for d in decisions]
    rendered: list[Decision] = []

    async def counting(session: AsyncSession, d: Decision, *args: Any) -> dict[str, Any]:
        rendered.append(d)
        return await render_decision(session, d, *args)

    monkeypatch.setattr(sweeper, "render_decision", counting)
    render = sweeper._Renderer(session, obligations, NOW, TZ)
    render.expect(decisions)
    got = [await render(d) for d in decisions]
    assert got == expected
    # Agencies 1 and 2 share their words, not their buttons.
    assert got[0]["text"] == got[2]["text"] and got[0]["buttons"] != got[2]["buttons"]
    assert got[2]["buttons"] == got[7]["buttons"]
    assert got[3]["text"] != got[2]["text"]  # English
    assert got[8]["text"] != got[9]["text"]
    assert [d.recipient.member_id for d in rendered] == [1, 4, 5, 6, 7, 9, 10]
    assert not render.cache and not render.uses  # nothing kept once everyone has theirs


def test_the_sweep_decides_in_parts_what_it_decides_at_once() -> None:
    """decide() is its parts: decide_personal, digest_lines, decide_digests, finish."""
    committee = CommitteeView(1, None, WorkCalendar.from_dict({}), consolidating_agency_id=9)
    late = dt.datetime(2022, 3, 1, 17, 0, tzinfo=TZ)
    obligations = [view(11, 1, late), view(21, 2, late), view(31, 3, late), view(12, 1)]
    office = Recipient(90, 90, frozenset({"standing_office"}), 9)
    members = {1: [Recipient(1, 1, frozenset({"reporter"}), 1)],
               2: [Recipient(2, 2, frozenset({"head"}), 2)]}
    snapshot = Snapshot({1: committee}, obligations, members,
                        by_level={1: {"consolidating": [office]}})
    now = dt.datetime(2022, 3, 8, 9, 0, tzinfo=TZ)
    whole = decide(now, snapshot, TZ)
    by_person: dict[tuple[int, str], Decision] = {}
    for agency in (1, 2, 3):  # a part at a time, the digests at the end
        decide_personal(now, Snapshot({1: committee},
                                      [o for o in obligations if o.agency_id == agency],
                                      {agency: members.get(agency, [])}), TZ, by_person)
    lines = digest_lines(now, snapshot, TZ, {1: 1, 2: 1})
    decide_digests(now, snapshot, TZ, lines, by_person)
    parts = finish(now, snapshot, TZ, lines, by_person)
    assert parts == whole
    assert {d.kind for d in whole} == {"overdue", "digest"}
    assert next(d for d in whole if d.kind == "digest").orphans == [3]


_spec = importlib.util.spec_from_file_location("sweep_scale", ROOT / "bench" / "sweep_scale.py")
assert _spec is not None and _spec.loader is not None
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)
OVERDUE = dt.datetime(2022, 3, 25, 8, 0, tzinfo=bench.TZ)


@pytest.fixture(scope="module")
def province(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """bench/sweep_scale.py's province, small, whose last member (a reporter of a commune)
    is also of the committee's office (role standing_office: the consolidating level): they
    get an overdue notice and the office's digest."""
    db = tmp_path_factory.mktemp("province") / "clean.sqlite3"
    asyncio.run(bench.build(f"sqlite+aiosqlite:///{db}", 12, 40))

    async def clerk() -> None:
        engine = make_engine(f"sqlite+aiosqlite:///{db}")
        async with make_sessionmaker(engine)() as session, session.begin():
            member_id = await session.scalar(select(Member.id).order_by(Member.id.desc()))
            await session.execute(insert(MemberRole), [{
                "member_id": member_id, "role": Role.standing_office,
                "granted_at": dt.datetime.now(dt.UTC)}])
        await engine.dispose()

    asyncio.run(clerk())
    return db


async def _outbox(url: str) -> dict[str, tuple[Any, ...]]:
    engine = make_engine(url)
    async with make_sessionmaker(engine)() as session:
        keys = {m.id: m.dedupe_key for m in (await session.scalars(select(OutboxMessage)))}
        messages = {m.dedupe_key: (m.kind, m.member_id, m.chat_id, m.payload, m.created_at,
                                   m.next_attempt_at)
                    for m in (await session.scalars(select(OutboxMessage)))}
        items = {i.dedupe_key: (keys[i.outbox_id], i.kind, i.level, i.obligation_id,
                                i.created_at)
                 for i in (await session.scalars(select(OutboxItem)))}
    await engine.dispose()
    return {**messages, **{f"item {k}": v for k, v in items.items()}}


async def _sweep(url: str, size: int | None) -> int:
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as session:
            result = await run(session, size)
            await session.commit()
        return result
    finally:
        await engine.dispose()


async def run(session: AsyncSession, size: int | None) -> int:
    result = await sweeper.run_sweep(session, OVERDUE, bench.TZ, commit_every=size,
                                     keep_written=size is None)
    return result.count


async def test_a_leader_who_reports_gets_one_message_from_the_streamed_sweep(
        province: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    urls = []
    for name in ("whole", "parts"):
        target = tmp_path / f"{name}.sqlite3"
        shutil.copy(province, target)
        urls.append(f"sqlite+aiosqlite:///{target}")
    whole, parts = urls
    # The agencies' people read in parts (3 agencies, then 5 at a time), written in runs
    # of 7 people.
    monkeypatch.setattr(sweeper, "FIRST_PART", 3)
    monkeypatch.setattr(sweeper, "ID_CHUNK", 5)
    assert await _sweep(parts, 7) == await _sweep(whole, None) > 20
    written = await _outbox(parts)
    assert written == await _outbox(whole)
    engine = make_engine(parts)
    async with make_sessionmaker(engine)() as session:
        clerk = await session.scalar(select(MemberRole.member_id).where(
            MemberRole.role == Role.standing_office))
        kinds = (await session.execute(select(OutboxItem.kind).select_from(OutboxItem).join(
            OutboxMessage, OutboxMessage.id == OutboxItem.outbox_id).where(
            OutboxMessage.member_id == clerk))).scalars().all()
        messages = (await session.scalars(select(OutboxMessage).where(
            OutboxMessage.member_id == clerk))).all()
        # The time columns hold the sweep's `now` (written once per run as a parameter).
        assert {m.created_at for m in messages} == {OVERDUE.astimezone(dt.UTC)}
    await engine.dispose()
    assert {"digest", "overdue"} <= set(kinds) and len(messages) == 1
    assert messages[0].kind == "digest"


async def test_the_collector_is_as_it_was_after_sweeps(province: Path, tmp_path: Path) -> None:
    """During a sweep the cyclic collector walks less (sweeper._collector_for_bulk); after
    it, and after two at once, one of which fails, the process's collector is as before."""
    import gc

    engines = []
    for name in ("one", "two"):
        shutil.copy(province, tmp_path / f"{name}.sqlite3")
        engines.append(make_engine(f"sqlite+aiosqlite:///{tmp_path / name}.sqlite3"))
    before = gc.get_threshold()
    seen: list[tuple[int, ...]] = []

    async def committed(_count: int) -> None:
        seen.append(gc.get_threshold())
        await asyncio.sleep(0)  # the other sweep goes on meanwhile

    async def failing(_count: int) -> None:
        raise RuntimeError("the process died")

    async def sweep(engine: Any, on_commit: Any) -> int:
        async with make_sessionmaker(engine)() as session:
            result = await sweeper.run_sweep(session, OVERDUE, bench.TZ, commit_every=10,
                                             on_commit=on_commit, keep_written=False)
            await session.commit()
            return result.count

    try:
        results = await asyncio.gather(sweep(engines[0], committed),
                                       sweep(engines[1], failing), return_exceptions=True)
    finally:
        for engine in engines:
            await engine.dispose()
    assert isinstance(results[1], RuntimeError) and results[0] > 0
    assert seen and all(t[0] >= sweeper.SWEEP_GC_THRESHOLD for t in seen)
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
