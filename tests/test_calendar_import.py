"""`python -m bot plan calendar` lists exactly the obligations the importer creates (issue 11
§2): for every shipped plan, imported into a fresh SQLite database, the set of (schedule,
agency, subject, period, period start and end, due_at) the importer wrote equals the
calendar's rows over every year, read from the plan file and from the imported plan, and the
CLI's JSON prints the same. Plus variants of the test plan that use a late plan start, a
schedule's own start and a one-off due after the plan ends.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.calendar_view import calendar_rows
from core.planfile import PlanSpec, load_plan
from core.settings import Settings
from db.models import Agency, Obligation, Plan, Schedule, Subject
from db.plan_import import import_plan
from db.session import make_engine, make_sessionmaker
from tests.conftest import MINI_PLAN, PLANS, run_cli

SHIPPED = sorted(PLANS.glob("*.yaml"))
UTC = dt.UTC

# (schedule, agency, subject or "", period key, period start, period end, due_at in UTC)
Row = tuple[str, str, str, str, dt.date, dt.date, dt.datetime]


def settings_for(url: str) -> Settings:
    return Settings(_env_file=None, database_url=url, bot_token="123456:TEST")


async def import_and_read(settings: Settings, spec: PlanSpec) -> set[Row]:
    """Import `spec` and return the obligations the importer created."""
    engine = make_engine(settings.database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            async with session.begin():
                report = await import_plan(session, spec, settings)
            assert report.obligations.created > 0
            rows = (
                await session.execute(
                    select(Schedule.code, Agency.code, Subject.code, Obligation.period_key,
                           Obligation.period_start, Obligation.period_end, Obligation.due_at)
                    .join(Schedule, Schedule.id == Obligation.schedule_id)
                    .join(Plan, Plan.id == Schedule.plan_id)
                    .join(Agency, Agency.id == Obligation.agency_id)
                    .outerjoin(Subject, Subject.id == Obligation.subject_id)
                    .where(Plan.code == spec.code)
                )
            ).all()
    finally:
        await engine.dispose()
    out = {(s, a, subj or "", key, start, end, due.astimezone(UTC))
           for s, a, subj, key, start, end, due in rows}
    assert len(out) == len(rows)
    return out


def as_rows(rows: list[dict[str, Any]]) -> set[Row]:
    out = {
        (r["schedule"], r["agency"], r.get("subject", ""), r["period"],
         dt.date.fromisoformat(r["period_start"]), dt.date.fromisoformat(r["period_end"]),
         dt.datetime.fromisoformat(r["due_at"]).astimezone(UTC))
        for r in rows
    }
    assert len(out) == len(rows)  # no obligation listed twice
    return out


def years_around(spec: PlanSpec) -> range:
    return range(spec.doc.plan.starts.year - 1, spec.doc.plan.ends.year + 2)  # type: ignore[union-attr]


async def calendar_of(settings: Settings, plan: PlanSpec | str, spec: PlanSpec) -> set[Row]:
    """The calendar over every year around the plan, year by year (as the CLI asks for it)."""
    by_year: set[Row] = set()
    for year in years_around(spec):
        rows = await calendar_rows(settings, plan, year)
        assert all(r["period"].startswith(str(year)) for r in rows)
        assert not as_rows(rows) & by_year
        by_year |= as_rows(rows)
    return by_year


async def check_agreement(settings: Settings, spec: PlanSpec) -> set[Row]:
    # The plan file, before the import (what an admin previews) …
    from_file = await calendar_of(settings, spec, spec)
    created = await import_and_read(settings, spec)
    # … and the imported plan, read back from the database.
    from_db = await calendar_of(settings, spec.code, spec)
    assert from_file == created, (sorted(from_file - created)[:5], sorted(created - from_file)[:5])
    assert from_db == created, (sorted(from_db - created)[:5], sorted(created - from_db)[:5])
    # All years at once (year None) is the same list.
    for plan in (spec, spec.code):
        assert as_rows(await calendar_rows(settings, plan, None)) == created
    return created


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
async def test_calendar_lists_exactly_what_the_importer_creates(path: Path,
                                                                sqlite_url: str) -> None:
    spec = load_plan(path)
    created = await check_agreement(settings_for(sqlite_url), spec)
    # Nothing outside the plan: every period overlaps the plan's dates.
    plan = spec.doc.plan
    assert all(end >= plan.starts and start <= plan.ends  # type: ignore[operator]
               for _s, _a, _subj, _k, start, end, _due in created)


async def test_hanoi_2020_starts_with_the_dispatch(sqlite_url: str) -> None:
    """Dispatch 667/SLĐTBXH is dated 06/03/2020: no report for January or February 2020,
    neither in the database nor in the calendar (which used to list both)."""
    spec = load_plan(PLANS / "hanoi-667-2020.yaml")
    assert spec.doc.plan.starts == dt.date(2020, 3, 6)
    settings = settings_for(sqlite_url)
    created = await check_agreement(settings, spec)
    keys = {key for _s, _a, _subj, key, *_rest in created}
    assert "2020-01" not in keys and "2020-02" not in keys
    # Each period overlaps the plan (Q1, 15/12/2019–14/03/2020, does: due 20/03/2020).
    assert all(end >= dt.date(2020, 3, 6) for _s, _a, _subj, _k, _start, end, _due in created)
    rows = await calendar_rows(settings, spec, 2020)
    assert rows and len(rows) == len(created)
    assert min(dt.date.fromisoformat(r["last_day"]) for r in rows) >= dt.date(2020, 3, 6)
    assert not [r for r in rows if r["period"] in ("2020-01", "2020-02")]


def test_the_cli_prints_the_same_json(sqlite_url: str, tmp_path: Path) -> None:
    """`python -m bot plan calendar CODE --year Y --format json`, from the file and from the
    imported plan, prints what the importer created."""
    path = PLANS / "hanoi-667-2020.yaml"
    db = tmp_path / "cli.sqlite3"
    env = {"DATABASE_URL": f"sqlite:///{db}"}
    assert run_cli("db", "upgrade", **env).returncode == 0
    assert run_cli("plan", "import", str(path), **env).returncode == 0

    async def read() -> set[Row]:
        engine = make_engine(f"sqlite+aiosqlite:///{db}")
        try:
            async with make_sessionmaker(engine)() as session:
                rows = (await session.execute(
                    select(Schedule.code, Agency.code, Subject.code, Obligation.period_key,
                           Obligation.period_start, Obligation.period_end, Obligation.due_at)
                    .join(Schedule, Schedule.id == Obligation.schedule_id)
                    .join(Agency, Agency.id == Obligation.agency_id)
                    .outerjoin(Subject, Subject.id == Obligation.subject_id)
                )).all()
        finally:
            await engine.dispose()
        return {(s, a, subj or "", key, start, end, due.astimezone(UTC))
                for s, a, subj, key, start, end, due in rows}

    created = asyncio.run(read())
    for ref in ("hanoi-667-2020", str(path)):
        result = run_cli("plan", "calendar", ref, "--year", "2020", "--format", "json", **env)
        assert result.returncode == 0, result.stderr
        printed = [json.loads(line) for line in result.stdout.splitlines()]
        assert as_rows(printed) == created
        assert all(r["plan"] == "hanoi-667-2020" for r in printed)


def variant(tmp_path: Path) -> Path:
    """The test plan, started on 06/03/2022, with a quarterly schedule that starts on
    01/07/2022 and a one-off due on 15/01/2023, after the plan ends."""
    text = MINI_PLAN.read_text(encoding="utf-8")
    for old, new in (
        ("  year: 2022\n", "  year: 2022\n  starts: 2022-03-06\n"),
        ("    holiday: next_working_day\n", "    holiday: next_working_day\n"
                                            "    start: 2022-07-01\n"),
        ("due: {date: 2022-11-30}", "due: {date: 2023-01-15}"),
    ):
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    path = tmp_path / "mini-variant.yaml"
    path.write_text(text, encoding="utf-8")
    return path


async def test_the_test_plan_agrees(sqlite_url: str) -> None:
    await check_agreement(settings_for(sqlite_url), load_plan(MINI_PLAN))


async def test_late_start_schedule_start_and_one_off_after_the_plan(
        sqlite_url: str, tmp_path: Path) -> None:
    spec = load_plan(variant(tmp_path))
    created = await check_agreement(settings_for(sqlite_url), spec)

    def keys(schedule: str) -> set[str]:
        return {key for s, _a, _subj, key, *_rest in created if s == schedule}

    # thang: cut-off on the 12th, so March (13/02–12/03) is the first period that overlaps.
    assert keys("thang") == {f"2022-{m:02d}" for m in range(3, 13)}
    # quy starts on 01/07: Q3 (15/06–14/09) and Q4 only.
    assert keys("quy") == {"2022-Q3", "2022-Q4"}
    # The one-off due in 2023 exists (the plan file allows a deadline up to a year later).
    assert keys("tong-ket") == {"2023-once"}
    rows = await calendar_rows(settings_for(sqlite_url), spec, 2023)
    assert {r["schedule"] for r in rows} == {"tong-ket"}
    # 15/01/2023 is a Sunday: the plan's rule (the file's default) says where it goes.
    expected = {"keep": "2023-01-15", "next_working_day": "2023-01-16",
                "previous_working_day": "2023-01-13"}[spec.schedule("tong-ket").holiday]
    assert {r["last_day"] for r in rows} == {expected}
    assert keys("dot-xuat") == set()  # ad hoc: created on request
