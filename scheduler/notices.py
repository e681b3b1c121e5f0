"""Messages a person's action sends to others at once, through the outbox.

The sweep writes what is due at its own pace; some changes must be told the moment they are
made (a deadline changed by an admin, an ad-hoc request created by the standing office).
`enqueue` writes one already-rendered message for one member as an outbox row with a unique
dedupe key (the same payload shape as the sweep's: text, parse_mode, buttons), optionally with
the sweep's own items (`OutboxItem`) so that the sweep does not say it again.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.calendar import WorkCalendar
from db.models import Member, OutboxItem, OutboxMessage, OutboxStatus, Plan, Role
from scheduler.sweep import CommitteeView, Item, ObligationView, personal_items
from scheduler.sweeper import existing_keys


def first_told(people: Iterable[Member]) -> dict[int, list[Member]]:
    """agency id -> who is told first about its reports: its reporters, else its heads (the
    sweep's notices and reminders go to the same people)."""
    by_agency: dict[int, list[Member]] = defaultdict(list)
    for person in people:
        if person.agency_id is not None:
            by_agency[person.agency_id].append(person)
    chosen: dict[int, list[Member]] = {}
    for agency_id, members in by_agency.items():
        reporters = [m for m in members if Role.reporter in m.role_set]
        chosen[agency_id] = reporters or [m for m in members if Role.head in m.role_set]
    return chosen


def committee_view(plan: Plan) -> CommitteeView:
    """The parts of the sweep's view of a committee that decide when a report's notice and
    reminders go out (its working days and pauses)."""
    cal = plan.calendar or {}
    return CommitteeView(
        id=plan.committee_id, standing_office_agency_id=None,
        calendar=WorkCalendar.from_dict(cal),
        pauses=tuple((dt.date.fromisoformat(a), dt.date.fromisoformat(b))
                     for a, b in cal.get("pauses", [])),
    )


def announced_items(view: ObligationView, plan: Plan, now: dt.datetime, tz: ZoneInfo
                    ) -> list[Item]:
    """The sweep's items (without the member) that an announcement made now stands for: the
    report's notice, and the reminder the sweep would send now if one is already due (a
    request due in two days)."""
    items = [Item(f"notice:{view.id}", "notice", 0, view.id)]
    found = personal_items(view, now, committee_view(plan), tz)
    if found is not None and found[0] == "reporters":
        items += [i for i in found[1] if i.dedupe_key != items[0].dedupe_key]
    return items


async def enqueue(
    session: AsyncSession,
    member: Member,
    *,
    kind: str,
    dedupe_key: str,
    payload: dict[str, Any],
    now: dt.datetime,
    items: Sequence[Item] = (),
) -> OutboxMessage | None:
    """One message for `member`, sent as soon as the sender takes it; None (nothing written)
    when a message with this key was written before. `items`: the sweep's items it stands
    for, keyed for this member (`{item key}:{member id}`, as the sweep keys them)."""
    if await session.scalar(select(OutboxMessage.id).where(
            OutboxMessage.dedupe_key == dedupe_key)) is not None:
        return None
    message = OutboxMessage(
        dedupe_key=dedupe_key, kind=kind, member_id=member.id,
        chat_id=member.reach,
        payload={"text": payload["text"], "parse_mode": payload.get("parse_mode", "HTML"),
                 "buttons": payload.get("buttons", [])},
        status=OutboxStatus.pending, next_attempt_at=now, created_at=now,
    )
    session.add(message)
    await session.flush()
    keyed = {f"{item.dedupe_key}:{member.id}": item for item in items}
    seen = await existing_keys(session, list(keyed))
    rows = [{"dedupe_key": key, "outbox_id": message.id, "kind": item.kind,
             "level": item.level, "obligation_id": item.obligation_id, "created_at": now}
            for key, item in keyed.items() if key not in seen]
    if rows:
        await session.execute(insert(OutboxItem), rows)
    return message
