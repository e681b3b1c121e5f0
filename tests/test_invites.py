"""Invite codes: ≥128 bits, hashed at rest, single-use, expiring, revocable; CLI."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from pathlib import Path

import pytest
from sqlalchemy import select

from core.planfile import load_plan
from db.invites import (
    InviteProblem,
    claim_invite,
    create_invite,
    hash_code,
    new_code,
    parse_duration,
    revoke_invite,
)
from db.models import Agency, AuditLog, Invite, Member, Role
from db.plan_import import import_plan
from tests.conftest import MINI_PLAN, run_cli

NOW = dt.datetime(2022, 3, 1, 2, 0, tzinfo=dt.UTC)


def test_codes_are_long_random_and_url_safe() -> None:
    codes = {new_code() for _ in range(2000)}
    assert len(codes) == 2000
    for code in list(codes)[:50]:
        assert re.fullmatch(r"[A-Za-z0-9_-]{24}", code)  # 24 chars × 6 bits = 144 bits
        assert len(code) * 6 >= 128


@pytest.mark.parametrize(("text", "delta"), [("7d", dt.timedelta(days=7)),
                                             ("12h", dt.timedelta(hours=12)),
                                             (" 30m ", dt.timedelta(minutes=30))])
def test_durations(text: str, delta: dt.timedelta) -> None:
    assert parse_duration(text) == delta


@pytest.mark.parametrize("text", ["", "7", "7w", "0d", "-1d", "400d", "abc"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


async def _setup(sessionmaker, settings) -> tuple[int, int]:
    async with sessionmaker() as session, session.begin():
        await import_plan(session, load_plan(MINI_PLAN), settings)
        agency = await session.scalar(select(Agency).where(Agency.code == "p-cat-linh"))
        a = Member(telegram_user_id=1001, full_name="A")
        b = Member(telegram_user_id=1002, full_name="B")
        session.add_all([a, b])
        await session.flush()
        return agency.id, a.id


async def test_invite_is_hashed_single_use_and_audited(sessionmaker, settings) -> None:
    agency_id, member_id = await _setup(sessionmaker, settings)
    async with sessionmaker() as session, session.begin():
        agency = await session.get(Agency, agency_id)
        created = await create_invite(session, agency, Role.reporter, dt.timedelta(days=7),
                                      actor_label="test", now=NOW)
        code = created.code
    async with sessionmaker() as session:
        stored = await session.scalar(select(Invite))
        assert stored.code_hash == hash_code(code) and code not in stored.code_hash
        assert stored.expires_at == NOW + dt.timedelta(days=7)
        actions = (await session.scalars(select(AuditLog.action))).all()
        assert "invite.create" in actions
    async with sessionmaker() as session, session.begin():
        first = await claim_invite(session, code, member_id, now=NOW + dt.timedelta(hours=1))
        assert isinstance(first, Invite) and first.role == Role.reporter
        assert first.agency_id == agency_id and first.used_by_member_id == member_id
    async with sessionmaker() as session, session.begin():
        again = await claim_invite(session, code, member_id, now=NOW + dt.timedelta(hours=2))
        assert again is InviteProblem.used


async def test_expired_unknown_and_revoked_codes(sessionmaker, settings) -> None:
    agency_id, member_id = await _setup(sessionmaker, settings)
    async with sessionmaker() as session, session.begin():
        agency = await session.get(Agency, agency_id)
        short = await create_invite(session, agency, Role.head, dt.timedelta(hours=1), now=NOW)
        revoked = await create_invite(session, agency, Role.head, dt.timedelta(days=1), now=NOW)
        await revoke_invite(session, str(revoked.invite.id), actor_label="test", now=NOW)
    later = NOW + dt.timedelta(hours=1, seconds=1)
    async with sessionmaker() as session, session.begin():
        expired = await claim_invite(session, short.code, member_id, now=later)
        assert expired is InviteProblem.expired
        assert await claim_invite(session, revoked.code, member_id, now=NOW) is (
            InviteProblem.revoked
        )
        assert await claim_invite(session, new_code(), member_id, now=NOW) is InviteProblem.unknown
        assert await claim_invite(session, "x' OR 1=1 --", member_id) is InviteProblem.unknown


async def test_two_people_racing_for_one_code_only_one_wins(sessionmaker, settings) -> None:
    agency_id, _ = await _setup(sessionmaker, settings)
    async with sessionmaker() as session, session.begin():
        agency = await session.get(Agency, agency_id)
        created = await create_invite(session, agency, Role.reporter, dt.timedelta(days=1))
        ids = (await session.scalars(select(Member.id).order_by(Member.id))).all()

    async def claim(member_id: int):
        async with sessionmaker() as session, session.begin():
            return await claim_invite(session, created.code, member_id)

    results = await asyncio.gather(*(claim(m) for m in ids), return_exceptions=True)
    winners = [r for r in results if isinstance(r, Invite)]
    assert len(winners) == 1, results


def test_invite_cli_create_list_revoke(tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'inv.sqlite3'}", "BOT_USERNAME": "bcd_bot"}
    assert run_cli("db", "upgrade", **env).returncode == 0
    assert run_cli("plan", "import", str(MINI_PLAN), **env).returncode == 0
    created = run_cli("invite", "create", "--agency", "ca", "--role", "reporter",
                      "--expires", "2d", **env)
    assert created.returncode == 0, created.stderr
    link = re.search(r"https://t\.me/bcd_bot\?start=([A-Za-z0-9_-]{24})", created.stdout)
    assert link, created.stdout
    code = link.group(1)
    listed = run_cli("invite", "list", **env)
    assert "active" in listed.stdout and "ca" in listed.stdout and code not in listed.stdout
    revoked = run_cli("invite", "revoke", code, **env)
    assert revoked.returncode == 0 and "revoked" in revoked.stdout
    assert "no active invites" in run_cli("invite", "list", **env).stdout
    assert "revoked" in run_cli("invite", "list", "--all", **env).stdout
    unknown = run_cli("invite", "create", "--agency", "nope", "--role", "head", **env)
    assert unknown.returncode == 1 and "no agency 'nope'" in unknown.stderr
    bad_role = run_cli("invite", "create", "--agency", "ca", "--role", "boss", **env)
    assert bad_role.returncode == 2


def test_a_code_never_starts_with_a_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    """«invite revoke -abc…» would be read as an option: such a draw is drawn again."""
    from db import invites

    draws = iter(["-" + "a" * 23, "b" * 24])
    monkeypatch.setattr(invites.secrets, "token_urlsafe", lambda n: next(draws))
    assert invites.new_code() == "b" * 24
