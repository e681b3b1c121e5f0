"""Importing plans: all seeds import, re-import is a no-op, edits keep history, errors write
nothing; the calendar CLI reads imported plans."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from core.planfile import load_plan
from db.models import (
    Agency,
    Base,
    FormVersion,
    Obligation,
    ObligationStatus,
    Plan,
    Schedule,
    Submission,
    SubmissionState,
)
from db.plan_import import import_plan
from tests.conftest import MINI_PLAN, PLANS, run_cli

ICT = dt.timezone(dt.timedelta(hours=7))
ALL_PLANS = sorted(PLANS.glob("*.yaml"))


async def _import(sessionmaker, settings, path: Path):
    async with sessionmaker() as session, session.begin():
        return await import_plan(session, load_plan(path), settings)


async def _dump(sessionmaker) -> dict[str, list]:
    """Every row of every table, for before/after comparisons."""
    out = {}
    async with sessionmaker() as session:
        for table in Base.metadata.sorted_tables:
            rows = (await session.execute(select(table).order_by(*table.primary_key))).all()
            out[table.name] = [tuple(r) for r in rows]
    return out


@pytest.mark.parametrize("path", ALL_PLANS, ids=[p.stem for p in ALL_PLANS])
async def test_every_seed_plan_imports_and_reimport_changes_nothing(
    path: Path, sessionmaker, settings
) -> None:
    report = await _import(sessionmaker, settings, path)
    assert report.changed and report.obligations.created > 0
    before = await _dump(sessionmaker)
    again = await _import(sessionmaker, settings, path)
    assert not again.changed, again.summary()
    assert await _dump(sessionmaker) == before


async def test_dongda_obligations_match_the_plan_deadlines(sessionmaker, settings) -> None:
    await _import(sessionmaker, settings, PLANS / "dongda-2022.yaml")
    async with sessionmaker() as session:
        rows = (
            await session.execute(
                select(Agency.code, Schedule.period_type, Obligation.due_at)
                .join(Obligation, Obligation.agency_id == Agency.id)
                .join(Schedule, Schedule.id == Obligation.schedule_id)
            )
        ).all()
        agencies = await session.scalar(select(func.count()).select_from(Agency))
    assert agencies == 36
    per_agency = Counter((code, period) for code, period, _ in rows)
    for code in {c for c, _ in per_agency}:
        assert per_agency[(code, "monthly")] == 12
        assert per_agency[(code, "quarterly")] == 4
        assert per_agency[(code, "yearly")] == 1
    for _, period, due_at in rows:
        local = due_at.astimezone(ICT)
        # «trước ngày 13»: late from 00:00 on the 13th, local time.
        assert (local.day, local.hour, local.minute) == (13, 0, 0)
        if period == "quarterly":
            assert local.month in (3, 6, 9, 12)
        if period == "yearly":
            assert (local.year, local.month) == (2022, 12)


async def test_edited_plan_updates_in_place_and_keeps_submissions(
    sessionmaker, settings, tmp_path: Path
) -> None:
    await _import(sessionmaker, settings, MINI_PLAN)
    async with sessionmaker() as session, session.begin():
        obligation = await session.scalar(
            select(Obligation).join(Agency).where(Agency.code == "p-cat-linh").limit(1)
        )
        version = await session.scalar(
            select(FormVersion).where(FormVersion.form_id == obligation.form_id)
        )
        session.add(Submission(
            obligation_id=obligation.id, form_version_id=version.id,
            state=SubmissionState.submitted, submitted_at=dt.datetime.now(dt.UTC),
        ))
        obligation.status = ObligationStatus.submitted
        obligation_count = await session.scalar(select(func.count()).select_from(Obligation))

    edited = tmp_path / "mini-edited.yaml"
    edited.write_text(
        MINI_PLAN.read_text(encoding="utf-8")
        .replace('label: "Số cơ sở đang quản lý"', 'label: "Số cơ sở kinh doanh đang quản lý"')
        .replace('name: "Công an quận"', 'name: "Công an quận Đống Đa"'),
        encoding="utf-8",
    )
    report = await _import(sessionmaker, settings, edited)
    assert report.new_form_versions == ["phuong v2"]
    assert report.updated.get("agencies") == 1
    async with sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Submission)) == 1
        count = await session.scalar(select(func.count()).select_from(Obligation))
        assert count == obligation_count
        versions = (await session.execute(
            text("select f.code, v.version from form_version v join form f on f.id = v.form_id "
                 "order by f.code, v.version")
        )).all()
        assert [tuple(v) for v in versions] == [("chung", 1), ("phuong", 1), ("phuong", 2)]
        name = await session.scalar(select(Agency.name).where(Agency.code == "ca"))
        assert name == "Công an quận Đống Đa"
    # The edited file is now the truth: importing it again is a no-op.
    assert not (await _import(sessionmaker, settings, edited)).changed


def test_broken_plan_is_refused_whole_and_database_unchanged(tmp_path: Path) -> None:
    db = tmp_path / "cli.sqlite3"
    env = {"DATABASE_URL": f"sqlite:///{db}"}
    assert run_cli("db", "upgrade", **env).returncode == 0
    assert run_cli("plan", "import", str(MINI_PLAN), **env).returncode == 0
    before = _sqlite_rows(db)
    broken = tmp_path / "broken.yaml"
    text_ = MINI_PLAN.read_text(encoding="utf-8").replace(
        "agencies: [ldtbxh, ca]", "agencies: [ldtbxh, cong-an]"
    ).replace('title: "Báo cáo chung"', 'title: "Báo cáo chung (sửa)"')
    broken.write_text(text_, encoding="utf-8")
    result = run_cli("plan", "import", str(broken), **env)
    assert result.returncode == 1
    line = text_.splitlines().index("    agencies: [ldtbxh, cong-an]") + 1
    assert f"{broken}:{line}: schedules[1].agencies[1]: unknown agency 'cong-an'" in result.stderr
    assert "nothing was imported" in result.stderr
    assert _sqlite_rows(db) == before


def _sqlite_rows(db: Path) -> dict[str, list]:
    import sqlite3

    with sqlite3.connect(db) as conn:
        return {
            table.name: conn.execute(f"select * from {table.name} order by 1").fetchall()
            for table in Base.metadata.sorted_tables
        }


def test_calendar_cli_reads_an_imported_plan(tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'cal.sqlite3'}"}
    assert run_cli("db", "upgrade", **env).returncode == 0
    assert run_cli("plan", "import", str(PLANS / "dongda-2022.yaml"), **env).returncode == 0
    result = run_cli("plan", "calendar", "dongda-2022", "--year", "2022", "--agency", "p-cat-linh",
                     "--format", "json", **env)
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert Counter(r["period_type"] for r in rows) == {"monthly": 12, "quarterly": 4, "yearly": 1}
    for row in rows:
        assert {"plan", "schedule", "period_type", "agency", "period_start", "period_end",
                "due_at"} <= row.keys()
        assert row["plan"] == "dongda-2022" and row["agency"] == "p-cat-linh"
        assert row["due_at"].endswith("T00:00:00+07:00") and row["due_at"][8:10] == "13"
    assert rows[-1]["due_at"] == "2022-12-13T00:00:00+07:00"

    table = run_cli("plan", "calendar", "dongda-2022", "--year", "2022", **env)
    assert table.returncode == 0 and "13/12/2022" in table.stdout and "P. Cát Linh" in table.stdout
    missing = run_cli("plan", "calendar", "khong-co", "--year", "2022", **env)
    assert missing.returncode == 1 and "no plan 'khong-co'" in missing.stderr
    bad_agency = run_cli(
        "plan", "calendar", "dongda-2022", "--year", "2022", "--agency", "x", **env
    )
    assert bad_agency.returncode == 1 and "agency 'x'" in bad_agency.stderr


async def test_plan_row_records_source(sessionmaker, settings) -> None:
    await _import(sessionmaker, settings, MINI_PLAN)
    async with sessionmaker() as session:
        plan = await session.scalar(select(Plan))
    assert plan.code == "mini-2022" and plan.source_hash and plan.starts_on == dt.date(2022, 1, 1)
