"""Issue 16: the bot's sweep writes the outbox in committed runs of people
(run_sweep(commit_every=…), scheduler.jobs.sweep_once), waking the sender after each.

The runs write exactly the rows one transaction writes (kinds, dedupe keys, texts, items);
a sweep stopped after a run leaves whole messages and the next sweep writes the rest, once."""

from __future__ import annotations

import datetime as dt
import importlib.util
import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select

from db.models import Agency, Member, MemberRole, OutboxItem, OutboxMessage, Role
from db.session import make_engine, make_sessionmaker
from scheduler.sweeper import RUN_GROWTH, run_sweep
from tests.conftest import ROOT

_spec = importlib.util.spec_from_file_location("sweep_scale", ROOT / "bench" / "sweep_scale.py")
assert _spec is not None and _spec.loader is not None
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)

TZ = bench.TZ
REMINDER = bench.NOW  # every member gets the 3-day reminder
OVERDUE = dt.datetime(2022, 3, 25, 8, 0, tzinfo=TZ)  # overdue notices and the office's digest
MEMBERS, AGENCIES = 120, 30


@pytest.fixture(scope="module")
def province(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small province (bench/sweep_scale.py's), with the standing office's clerk, built
    once; each test sweeps a copy."""
    db = tmp_path_factory.mktemp("province") / "clean.sqlite3"
    import asyncio

    asyncio.run(bench.build(f"sqlite+aiosqlite:///{db}", AGENCIES, MEMBERS))

    async def clerk() -> None:
        engine = make_engine(f"sqlite+aiosqlite:///{db}")
        async with make_sessionmaker(engine)() as session, session.begin():
            office, committee = (await session.execute(
                select(Agency.id, Agency.committee_id).where(Agency.kind == "so"))).one()
            now = dt.datetime.now(dt.UTC)
            member_id = (await session.execute(insert(Member).returning(Member.id), [{
                "telegram_user_id": 999, "chat_id": 999, "agency_id": office,
                "committee_id": committee, "full_name": "Văn phòng", "active": True,
                "created_at": now, "updated_at": now}])).scalar_one()
            await session.execute(insert(MemberRole), [
                {"member_id": member_id, "role": Role.standing_office, "granted_at": now}])
        await engine.dispose()

    asyncio.run(clerk())
    return db


def copy_of(province: Path, tmp_path: Path) -> str:
    tmp_path.mkdir(parents=True, exist_ok=True)
    target = tmp_path / "sweep.sqlite3"
    shutil.copy(province, target)
    return f"sqlite+aiosqlite:///{target}"


async def outbox(url: str) -> tuple[dict[str, tuple[Any, ...]], dict[str, tuple[Any, ...]]]:
    """The outbox as rows that do not depend on ids: message by dedupe key (kind, member,
    chat, payload), item by dedupe key (its message's key, kind, level, report)."""
    engine = make_engine(url)
    async with make_sessionmaker(engine)() as session:
        messages = {m.id: m for m in (await session.scalars(select(OutboxMessage))).all()}
        items = (await session.scalars(select(OutboxItem))).all()
    await engine.dispose()
    return ({m.dedupe_key: (m.kind, m.member_id, m.chat_id, m.payload, m.status.value)
             for m in messages.values()},
            {i.dedupe_key: (messages[i.outbox_id].dedupe_key, i.kind, i.level,
                            i.obligation_id) for i in items})


async def sweep_whole(url: str, now: dt.datetime) -> int:
    engine = make_engine(url)
    async with make_sessionmaker(engine)() as session, session.begin():
        result = await run_sweep(session, now, TZ)
    await engine.dispose()
    return result.count


async def sweep_in_runs(url: str, now: dt.datetime, size: int,
                        stop_after: int | None = None) -> tuple[int, list[int]]:
    """The bot's sweep (scheduler.jobs.sweep_once); `stop_after` runs: it dies there."""
    commits: list[int] = []

    async def committed(count: int) -> None:
        commits.append(count)
        if stop_after is not None and len(commits) >= stop_after:
            raise RuntimeError("the process died")

    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as session:
            result = await run_sweep(session, now, TZ, commit_every=size, on_commit=committed,
                                     keep_written=False)
            await session.commit()
        return result.count, commits
    finally:
        await engine.dispose()


@pytest.mark.parametrize("now", [REMINDER, OVERDUE], ids=["reminders", "overdue+digest"])
async def test_runs_write_what_one_transaction_writes(province: Path, tmp_path: Path,
                                                      now: dt.datetime) -> None:
    whole = copy_of(province, tmp_path / "whole")
    runs = copy_of(province, tmp_path / "runs")
    written = await sweep_whole(whole, now)
    count, commits = await sweep_in_runs(runs, now, size=25)
    assert count == written > MEMBERS // 2
    # One commit per run, the sender woken after each: the first of 25 people, the others of
    # RUN_GROWTH × 25; the last run (with the arrivals notice and the audit entry) is
    # committed by the caller.
    sizes = [after - before for before, after in zip([0, *commits], commits, strict=False)]
    assert sizes[0] == 25 and all(0 < size <= 25 * RUN_GROWTH for size in sizes)
    assert 25 * RUN_GROWTH in sizes and len(commits) >= (written - 25) // (25 * RUN_GROWTH)
    assert await outbox(runs) == await outbox(whole)
    messages, _items = await outbox(whole)
    if now == OVERDUE:
        assert {kind for kind, *_rest in messages.values()} >= {"overdue", "digest"}
    # Nothing twice: the same sweep again writes nothing.
    assert (await sweep_in_runs(runs, now, size=25))[0] == 0


async def test_a_sweep_that_dies_after_a_run_leaves_whole_messages(province: Path,
                                                                   tmp_path: Path) -> None:
    whole = copy_of(province, tmp_path / "whole")
    runs = copy_of(province, tmp_path / "runs")
    written = await sweep_whole(whole, OVERDUE)
    with pytest.raises(RuntimeError):
        await sweep_in_runs(runs, OVERDUE, size=40, stop_after=1)
    messages, items = await outbox(runs)
    full_messages, full_items = await outbox(whole)
    assert 0 < len(messages) < written
    # Every message committed has all its items; nothing else is there.
    assert {k: v for k, v in full_messages.items() if k in messages} == messages
    assert {k: v for k, v in full_items.items() if v[0] in messages} == items
    # The next sweep writes the rest, once.
    rest, _commits = await sweep_in_runs(runs, OVERDUE, size=40)
    assert len(messages) + rest == written
    assert await outbox(runs) == await outbox(whole)


async def test_two_sweepers_at_once_write_each_message_once(province: Path,
                                                            tmp_path: Path) -> None:
    """A second sweeper writes everything while the first is between two runs: the first
    one's next runs see those rows (each run checks the dedupe keys in its own transaction)
    and add nothing; together they wrote each message once."""
    url = copy_of(province, tmp_path)
    written = await sweep_whole(copy_of(province, tmp_path / "whole"), REMINDER)
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as first:

            async def meanwhile(count: int) -> None:
                if count == 30:
                    assert await sweep_whole(url, REMINDER) == written - 30

            result = await run_sweep(first, REMINDER, TZ, commit_every=30,
                                     on_commit=meanwhile, keep_written=False)
            await first.commit()
    finally:
        await engine.dispose()
    assert result.count == 30
    messages, items = await outbox(url)
    assert len(messages) == written
    assert len({v[0] for v in items.values()}) == written
