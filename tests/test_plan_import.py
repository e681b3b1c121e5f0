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
    Committee,
    FormVersion,
    Obligation,
    ObligationStatus,
    Plan,
    Schedule,
    Submission,
    SubmissionState,
    Target,
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


# Đống Đa 2022, «trước ngày 13»: the last day is the 12th, or the working day before it
# (holiday: previous_working_day): Saturday 12/2, 12/3 and 12/11 move to Friday the 11th,
# Sunday 12/6 to Friday the 10th.
DONGDA_LAST_DAY = {month: 12 for month in range(1, 13)} | {2: 11, 3: 11, 6: 10, 11: 11}


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
        # Late from 00:00 after the last day, local time.
        last = (local - dt.timedelta(days=1)).date()
        assert (local.hour, local.minute) == (0, 0)
        assert last.day == DONGDA_LAST_DAY[last.month], local
        if period == "quarterly":
            assert last.month in (3, 6, 9, 12)
        if period == "yearly":
            assert (last.year, last.month) == (2022, 12)


async def test_the_committees_two_roles_labels_and_escalation_are_stored(
    sessionmaker, settings
) -> None:
    """Issue 11 §1: the consolidating agency and the standing office apart, the plan's words
    for the roles, which agencies escalate, each schedule's signed file rule."""
    await _import(sessionmaker, settings, PLANS / "dongda-2022.yaml")
    async with sessionmaker() as session:
        committee = await session.scalar(select(Committee))
        agencies = {a.code: a for a in (await session.scalars(select(Agency))).all()}
        schedules = {s.code: s for s in (await session.scalars(select(Schedule))).all()}
    assert committee.consolidating_id == agencies["ldtbxh"].id
    assert committee.standing_office_id is None  # the plan does not say which agency it is
    assert committee.role_labels == {
        "reporter": "Cán bộ đầu mối báo cáo",
        "head": "Thủ trưởng đơn vị, Chủ tịch UBND phường",
        "consolidating": "Phòng LĐ-TBXH quận (nơi tổng hợp báo cáo)",
        "standing_office": "Thường trực Ban Chỉ đạo 138 quận",
        "chair": "Trưởng Ban Chỉ đạo 138 quận",
    }
    # «Đề nghị»: the procuracy, the court, the Front and the mass organisations.
    assert {code for code, a in agencies.items() if not a.escalate} == {
        "vksnd", "tand", "mttq", *(a.code for a in agencies.values()
                                     if a.kind == "doan-the")}
    assert agencies["ca"].escalate and agencies["p-cat-linh"].escalate
    assert {s.code: s.signed_file for s in schedules.values()} == {
        "thang": "required", "quy": "required", "nam": "required"}
    assert [(s["after_days"], s["to"]) for s in schedules["thang"].escalation_policy["steps"]
            ] == [(1, ["reporter", "head"]), (3, ["consolidating"]),
                  (5, ["standing_office"]), (7, ["chair"])]


async def test_hanoi_external_level_and_per_subject_targets_are_stored(
    sessionmaker, settings
) -> None:
    await _import(sessionmaker, settings, PLANS / "hanoi-667-2020.yaml")
    async with sessionmaker() as session:
        committee = await session.scalar(select(Committee))
        office = await session.scalar(select(Agency).where(Agency.code == "so-ldtbxh"))
        schedule = await session.scalar(select(Schedule).where(
            Schedule.code == "quy-can-triet-xoa"))
        targets = {t.code: t.per_subject_kind
                   for t in (await session.scalars(select(Target))).all()}
    # The Sở is both: it receives the reports and is the standing body.
    assert committee.consolidating_id == committee.standing_office_id == office.id
    assert schedule.escalation_policy["steps"][-1] == {
        "after_days": 15, "to": ["external"],
        "label": "Đ/c Phó Chủ tịch UBND Thành phố, Trưởng Ban Chỉ đạo 138 Thành phố"}
    # No label key on the committee's own steps (nothing stored as null).
    assert all("label" not in step for step in schedule.escalation_policy["steps"][:-1])
    assert targets == {"triet-xoa-13": "can-triet-xoa", "duy-tri-6": "da-triet-xoa"}


async def test_a_file_that_names_only_the_standing_office_uses_it_for_both(
    sessionmaker, settings
) -> None:
    await _import(sessionmaker, settings, MINI_PLAN)
    async with sessionmaker() as session:
        committee = await session.scalar(select(Committee))
        office = await session.scalar(select(Agency).where(Agency.code == "ldtbxh"))
    assert committee.consolidating_id == committee.standing_office_id == office.id
    assert committee.role_labels == {}


async def test_a_changed_label_or_escalation_updates_the_committee_in_place(
    sessionmaker, settings, tmp_path: Path
) -> None:
    await _import(sessionmaker, settings, PLANS / "dongda-2022.yaml")
    edited = tmp_path / "dongda-edited.yaml"
    source = (PLANS / "dongda-2022.yaml").read_text(encoding="utf-8")
    edited.write_text(
        source.replace('chair: "Trưởng Ban Chỉ đạo 138 quận"', 'chair: "Trưởng ban"')
        .replace('doan-the: {label: "Mặt trận Tổ quốc và các đoàn thể quận", escalate: false}',
                 'doan-the: {label: "Mặt trận Tổ quốc và các đoàn thể quận", escalate: true}'),
        encoding="utf-8")
    report = await _import(sessionmaker, settings, edited)
    assert report.updated.get("committee") == 1
    assert report.updated.get("agencies") == 4  # the Front and three mass organisations
    async with sessionmaker() as session:
        committee = await session.scalar(select(Committee))
        mttq = await session.scalar(select(Agency).where(Agency.code == "mttq"))
        court = await session.scalar(select(Agency).where(Agency.code == "tand"))
    assert committee.role_labels["chair"] == "Trưởng ban"
    assert mttq.escalate and not court.escalate
    assert not (await _import(sessionmaker, settings, edited)).changed


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
        last = dt.date.fromisoformat(row["last_day"])
        assert last.day == DONGDA_LAST_DAY[last.month]
        assert row["due_at"] == f"{last + dt.timedelta(days=1)}T00:00:00+07:00"
    assert rows[-1]["due_at"] == "2022-12-13T00:00:00+07:00"
    march = [r for r in rows if r["period"] == "2022-03"]
    assert [(r["last_day"], r["shifted_from"]) for r in march] == [("2022-03-11", "2022-03-12")]

    table = run_cli("plan", "calendar", "dongda-2022", "--year", "2022", **env)
    assert table.returncode == 0 and "12/12/2022" in table.stdout and "P. Cát Linh" in table.stdout
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


def test_validate_and_import_print_the_plans_warnings(tmp_path: Path) -> None:
    """Warnings refuse nothing (exit 0) but are shown, on stderr, with file and line; a
    refused file shows its warnings after its errors."""
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'warn.sqlite3'}"}
    assert run_cli("db", "upgrade", **env).returncode == 0
    source = MINI_PLAN.read_text(encoding="utf-8")
    assert 'label: "Số cơ sở đang quản lý"' in source
    warned = tmp_path / "warned.yaml"
    warned.write_text(source.replace('label: "Số cơ sở đang quản lý"',
                                     'label: "Họ tên và số điện thoại người quản lý"'),
                      encoding="utf-8")
    line = next(n for n, text in enumerate(warned.read_text(encoding="utf-8").splitlines(), 1)
                if "Họ tên và số điện thoại" in text)
    expected = f"{warned}:{line}: forms[1].fields[0].label: warning: asks for personal data"

    validated = run_cli("plan", "validate", str(warned), str(MINI_PLAN), **env)
    assert validated.returncode == 0, validated.stderr
    assert expected in validated.stderr
    assert validated.stderr.count("warning:") == 1  # the clean file has none
    assert "OK" in validated.stdout

    imported = run_cli("plan", "import", str(warned), **env)
    assert imported.returncode == 0, imported.stderr
    assert expected in imported.stderr and "imported" in imported.stdout

    broken = tmp_path / "broken.yaml"
    broken.write_text(warned.read_text(encoding="utf-8").replace(
        "agencies: [ldtbxh, ca]", "agencies: [ldtbxh, cong-an]"), encoding="utf-8")
    refused = run_cli("plan", "validate", str(broken), **env)
    assert refused.returncode == 1
    errors = refused.stderr.splitlines()
    assert "unknown agency 'cong-an'" in errors[0]
    assert "warning: asks for personal data" in errors[1]
    refused = run_cli("plan", "import", str(broken), **env)
    assert refused.returncode == 1
    assert "warning: asks for personal data" in refused.stderr
    assert "nothing was imported" in refused.stderr
