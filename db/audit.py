"""The audit log: one way to write an entry."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from db.models import AuditLog, Member


def record(
    session: AsyncSession,
    action: str,
    *,
    actor: Member | int | None = None,
    actor_label: str | None = None,
    committee_id: int | None = None,
    agency_id: int | None = None,
    entity: tuple[str, int] | None = None,
    details: dict[str, Any] | None = None,
    now: dt.datetime | None = None,
) -> AuditLog:
    """Add an entry to the session. `actor` is the member who acted (a row, or only its id
    when that is all the caller has); `actor_label` names a non-member («cli», «sweep»);
    `now` defaults to the column's default (the time of the insert)."""
    entry = AuditLog(
        actor_member_id=actor.id if isinstance(actor, Member) else actor,
        actor_telegram_id=actor.telegram_user_id if isinstance(actor, Member) else None,
        actor_label=actor_label, action=action, committee_id=committee_id,
        agency_id=agency_id, entity_type=entity[0] if entity else None,
        entity_id=entity[1] if entity else None, details=details or {},
    )
    if now is not None:
        entry.at = now
    session.add(entry)
    return entry
