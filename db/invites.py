"""Invite codes: random (144 bits), stored only as a SHA-256 hash, single-use and expiring."""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.formatting import format_datetime
from core.settings import Settings
from db.audit import record
from db.models import Agency, Committee, Invite, Plan, Role, utcnow
from db.session import make_engine, make_sessionmaker, rows_changed

CODE_BYTES = 18  # 144 bits; token_urlsafe gives 24 characters of [A-Za-z0-9_-]
CODE_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_DURATION_RE = re.compile(r"^\s*(\d+)\s*([dhm])\s*$")


def new_code() -> str:
    """A random code that never starts with «-», which a command line (`invite revoke
    CODE`) would read as an option; drawing again keeps it uniform over the others."""
    while True:
        code = secrets.token_urlsafe(CODE_BYTES)
        if not code.startswith("-"):
            return code


def hash_code(code: str) -> str:
    return hashlib.sha256(code.strip().encode()).hexdigest()


def parse_duration(text: str) -> dt.timedelta:
    """«7d», «12h», «30m»."""
    match = _DURATION_RE.match(text or "")
    if not match:
        raise ValueError(f"cannot read the duration {text!r}; write e.g. 7d, 12h or 30m")
    amount, unit = int(match.group(1)), match.group(2)
    delta = {"d": dt.timedelta(days=amount), "h": dt.timedelta(hours=amount),
             "m": dt.timedelta(minutes=amount)}[unit]
    if delta <= dt.timedelta(0) or delta > dt.timedelta(days=365):
        raise ValueError("an invite must last between one minute and one year")
    return delta


def deep_link(bot_username: str | None, code: str) -> str:
    return f"https://t.me/{bot_username or '<bot_username>'}?start={code}"


@dataclass
class CreatedInvite:
    invite: Invite
    code: str


async def create_invite(
    session: AsyncSession,
    agency: Agency,
    role: Role,
    lifetime: dt.timedelta,
    created_by_member_id: int | None = None,
    actor_label: str | None = None,
    now: dt.datetime | None = None,
    for_member_id: int | None = None,
) -> CreatedInvite:
    """`for_member_id`: a code that binds another channel's account to that member."""
    now = now or utcnow()
    code = new_code()
    invite = Invite(
        for_member_id=for_member_id,
        code_hash=hash_code(code),
        committee_id=agency.committee_id,
        agency_id=agency.id,
        role=role,
        created_by_member_id=created_by_member_id,
        created_at=now,
        expires_at=now + lifetime,
    )
    session.add(invite)
    await session.flush()
    record(session, "invite.create", actor=created_by_member_id, actor_label=actor_label,
           committee_id=agency.committee_id, agency_id=agency.id, entity=("invite", invite.id),
           details={"role": role.value, "expires_at": invite.expires_at.isoformat()}, now=now)
    return CreatedInvite(invite, code)


class InviteProblem(enum.StrEnum):
    unknown = "unknown"
    used = "used"
    expired = "expired"
    revoked = "revoked"


async def claim_invite(
    session: AsyncSession, code: str, member_id: int, now: dt.datetime | None = None
) -> Invite | InviteProblem:
    """Mark the invite used by `member_id`, atomically: of two people racing for one code,
    exactly one wins."""
    now = now or utcnow()
    if not CODE_RE.match(code or ""):
        return InviteProblem.unknown
    invite = await session.scalar(select(Invite).where(Invite.code_hash == hash_code(code)))
    if invite is None:
        return InviteProblem.unknown
    if invite.revoked_at is not None:
        return InviteProblem.revoked
    if invite.used_at is not None:
        return InviteProblem.used
    if invite.expires_at <= now:
        return InviteProblem.expired
    result = await session.execute(
        update(Invite)
        .where(Invite.id == invite.id, Invite.used_at.is_(None), Invite.revoked_at.is_(None))
        .values(used_at=now, used_by_member_id=member_id)
        .execution_options(synchronize_session=False)
    )
    if rows_changed(result) != 1:
        return InviteProblem.used
    await session.refresh(invite)
    return invite


async def find_agency(session: AsyncSession, code: str, plan_code: str | None) -> Agency:
    query = select(Agency).where(Agency.code == code)
    if plan_code:
        plan = await session.scalar(select(Plan).where(Plan.code == plan_code))
        if plan is None:
            raise LookupError(f"no plan '{plan_code}' in the database")
        query = query.where(Agency.committee_id == plan.committee_id)
    found = (await session.scalars(query)).all()
    if not found:
        raise LookupError(f"no agency '{code}' in the database; import its plan first")
    if len(found) > 1:
        raise LookupError(
            f"agency code '{code}' exists in several committees; add --plan PLAN_CODE"
        )
    return found[0]


async def create_invite_cli(
    settings: Settings, agency_code: str, role: str, expires: str | None, plan: str | None
) -> str:
    lifetime = parse_duration(expires) if expires else dt.timedelta(days=settings.invite_ttl_days)
    engine = make_engine(settings.database_url)
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            agency = await find_agency(session, agency_code, plan)
            created = await create_invite(session, agency, Role(role), lifetime,
                                          actor_label="cli")
            expires_at = created.invite.expires_at
    finally:
        await engine.dispose()
    return "\n".join([
        f"Invite #{created.invite.id} for {agency.name} ({agency.code}) as {role}",
        f"expires {format_datetime(expires_at, tz=settings.tz)} (single use)",
        f"link: {deep_link(settings.bot_username, created.code)}",
        f"code: {created.code}",
        *([f"zalo: send the code alone (or /start {created.code}) to the Zalo bot"]
          if settings.zalo_bot_token is not None else []),
        "The code is shown only now; it is stored hashed.",
    ])


def invite_state(invite: Invite, now: dt.datetime) -> str:
    if invite.revoked_at:
        return "revoked"
    if invite.used_at:
        return "used"
    if invite.expires_at <= now:
        return "expired"
    return "active"


async def list_invites_cli(settings: Settings, include_all: bool) -> str:
    now = utcnow()
    engine = make_engine(settings.database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            query = select(Invite, Committee.code).join(
                Committee, Committee.id == Invite.committee_id
            ).order_by(Invite.id)
            if not include_all:
                query = query.where(
                    Invite.used_at.is_(None), Invite.revoked_at.is_(None),
                    Invite.expires_at > now,
                )
            rows = (await session.execute(query)).all()
    finally:
        await engine.dispose()
    if not rows:
        return "no invites" if include_all else "no active invites (use --all to see the rest)"
    lines = ["id\tstate\tcommittee\tagency\trole\texpires"]
    for invite, committee_code in rows:
        lines.append(
            f"{invite.id}\t{invite_state(invite, now)}\t{committee_code}\t{invite.agency.code}\t"
            f"{invite.role.value}\t{format_datetime(invite.expires_at, tz=settings.tz)}"
        )
    return "\n".join(lines)


async def revoke_invite(
    session: AsyncSession, ref: str, actor_member_id: int | None = None,
    actor_label: str | None = None, now: dt.datetime | None = None,
) -> Invite:
    now = now or utcnow()
    conditions = [Invite.code_hash == hash_code(ref)]
    if ref.isdigit():
        conditions.append(Invite.id == int(ref))
    invite = await session.scalar(select(Invite).where(or_(*conditions)))
    if invite is None:
        raise LookupError(f"no invite '{ref}'")
    if invite.revoked_at is None:
        invite.revoked_at = now
        record(session, "invite.revoke", actor=actor_member_id, actor_label=actor_label,
               committee_id=invite.committee_id, agency_id=invite.agency_id,
               entity=("invite", invite.id), now=now)
    return invite


async def revoke_invite_cli(settings: Settings, ref: str) -> str:
    engine = make_engine(settings.database_url)
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            invite = await revoke_invite(session, ref, actor_label="cli")
            state = "was already used" if invite.used_at else "can no longer be used"
            return f"invite #{invite.id} revoked; it {state}"
    finally:
        await engine.dispose()
