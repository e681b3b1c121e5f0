"""The sweep over the database: load a snapshot, decide (pure), write the outbox.

Only what can be due is loaded: open obligations whose period has begun and whose deadline is
near or past, so the cost grows with what is due, not with the history.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import lazyload

from core.calendar import WorkCalendar
from core.i18n import pick_language
from db.audit import record
from db.models import (
    OPEN_STATUSES,
    Agency,
    Committee,
    Member,
    Obligation,
    OutboxItem,
    OutboxMessage,
    OutboxStatus,
    Plan,
    Schedule,
)
from db.queries import member_levels
from scheduler import levels as escalation_levels
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
)

_PERSONAL_RANK = {"notice": 0, "reminder": 1, "overdue": 2}
_MESSAGE_RANK = {"notice": 0, "reminder": 1, "overdue": 2, "weekly": 3, "digest": 4}
LOOKAHEAD_DAYS = 31  # reminders are at most this far ahead; notices this far back
BLOCKED_NEWS_DAYS = 7


def _hhmm(text: str, default: dt.time) -> dt.time:
    try:
        hh, mm = (int(x) for x in text.split(":"))
        return dt.time(hh, mm)
    except (ValueError, AttributeError):
        return default


def _recipient(m: Member) -> Recipient:
    return Recipient(
        member_id=m.id,
        chat_id=m.chat_id or m.telegram_user_id,
        roles=frozenset(r.value for r in m.role_set),
        agency_id=m.agency_id,
        language=pick_language(m.language, m.telegram_language),
    )


async def load_snapshot(session: AsyncSession, now: dt.datetime, tz: ZoneInfo) -> Snapshot:
    today = now.astimezone(tz).date()
    horizon = now + dt.timedelta(days=LOOKAHEAD_DAYS)
    rows = (
        await session.execute(
            select(Obligation, Schedule, Plan, Agency)
            .options(lazyload("*"))  # the models' joined eager loads are not needed here
            .join(Schedule, Schedule.id == Obligation.schedule_id)
            .join(Plan, Plan.id == Schedule.plan_id)
            .join(Agency, Agency.id == Obligation.agency_id)
            .where(
                Obligation.status.in_(OPEN_STATUSES),
                Obligation.period_start <= today,
                Schedule.active.is_(True),
                Agency.active.is_(True),
                Plan.ends_on >= today - dt.timedelta(days=3650),
                or_(
                    Obligation.due_at <= horizon,
                    and_(Obligation.extended_due_at.is_not(None),
                         Obligation.extended_due_at <= horizon),
                    Obligation.period_start >= today - dt.timedelta(days=LOOKAHEAD_DAYS),
                ),
            )
        )
    ).all()
    committees: dict[int, CommitteeView] = {}
    obligations: list[ObligationView] = []
    plan_calendars: dict[int, dict[str, Any]] = {}
    for obligation, schedule, plan, agency in rows:
        plan_calendars.setdefault(plan.committee_id, plan.calendar or {})
        if plan.committee_id not in committees:
            committee = await session.get(Committee, plan.committee_id)
            cal = plan.calendar or {}
            quiet = str(cal.get("quiet_hours", "21:00-07:00")).split("-")
            committees[plan.committee_id] = CommitteeView(
                id=plan.committee_id,
                standing_office_agency_id=committee.standing_office_id if committee else None,
                consolidating_agency_id=committee.consolidating_id if committee else None,
                labels=tuple(sorted(
                    (str(role), str(label))
                    for role, label in ((committee.role_labels or {}) if committee else {}
                                        ).items() if label)),
                calendar=WorkCalendar.from_dict(cal),
                quiet_start=_hhmm(quiet[0], dt.time(21, 0)),
                quiet_end=_hhmm(quiet[-1], dt.time(7, 0)),
                digest_time=_hhmm(str(cal.get("digest_time", "08:00")), dt.time(8, 0)),
                pauses=tuple(
                    (dt.date.fromisoformat(a), dt.date.fromisoformat(b))
                    for a, b in cal.get("pauses", [])
                ),
            )
        obligations.append(view_of(
            obligation, schedule, plan, agency.display_name,
            Policy.from_rows(schedule.reminder_offsets, schedule.escalation_policy),
            escalate=agency.escalate,
        ))
    agency_ids = {o.agency_id for o in obligations}
    members: dict[int, list[Recipient]] = defaultdict(list)
    # committee id -> level name -> its people (Snapshot.by_level)
    by_level: dict[int, dict[str, list[Recipient]]] = defaultdict(lambda: defaultdict(list))
    if committees:
        people = (
            await session.scalars(
                select(Member).where(
                    Member.active.is_(True),
                    or_(Member.agency_id.in_(agency_ids),
                        Member.committee_id.in_(list(committees))),
                )
            )
        ).all()
        for m in people:
            r = _recipient(m)
            if m.agency_id in agency_ids and r.roles & {"reporter", "head"}:
                members[m.agency_id].append(r)
            view = committees.get(m.committee_id) if m.committee_id else None
            if view is None:
                continue
            # The member role standing_office is the committee office's staff: the
            # consolidating agency's people, except those of a standing office agency of its
            # own, who are the Thường trực (db.queries.member_levels).
            levels = member_levels(r.roles, m.agency_id,
                                   view.agency_for("consolidating"),
                                   view.agency_for("standing_office"))
            for level in escalation_levels.with_audience("committee"):
                if level.name in levels:  # each level's people in member order
                    by_level[view.id][level.name].append(r)
    blocked: dict[int, list[int]] = defaultdict(list)
    if committees:
        recent = now - dt.timedelta(days=BLOCKED_NEWS_DAYS)
        for m in (
            await session.scalars(
                select(Member).where(
                    Member.active.is_(False), Member.inactive_reason == "blocked",
                    Member.committee_id.in_(list(committees)), Member.updated_at >= recent,
                )
            )
        ).all():
            if m.committee_id is not None:  # selected by committee
                blocked[m.committee_id].append(m.id)
    return Snapshot(committees=committees, obligations=obligations, members=dict(members),
                    by_level={cid: dict(people) for cid, people in by_level.items()},
                    blocked=dict(blocked))


def view_of(obligation: Obligation, schedule: Schedule, plan: Plan, agency_name: str,
            policy: Policy | None = None, *, escalate: bool = True) -> ObligationView:
    """The sweep's view of one obligation, for messages written outside the sweep too.

    `policy`: the schedule's own (reminders and escalation chain) unless given; `escalate`:
    the agency's Agency.escalate (an overdue notice says who hears of late reports)."""
    return ObligationView(
        id=obligation.id, committee_id=plan.committee_id, agency_id=obligation.agency_id,
        agency_name=agency_name, schedule_name=schedule.name,
        period_type=obligation.period_type, period_key=obligation.period_key,
        period_start=obligation.period_start, due_at=obligation.effective_due_at,
        plan_ends_on=plan.ends_on,
        policy=policy or Policy.from_rows(schedule.reminder_offsets, schedule.escalation_policy),
        escalate=escalate,
    )


@dataclass
class SweepResult:
    decisions: list[Decision]
    written: list[OutboxMessage]
    snapshot: Snapshot


async def existing_keys(session: AsyncSession, keys: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(keys), 500):
        chunk = keys[start:start + 500]
        found.update((await session.scalars(
            select(OutboxItem.dedupe_key).where(OutboxItem.dedupe_key.in_(chunk))
        )).all())
    return found


async def write_decisions(
    session: AsyncSession, decisions: list[Decision], obligations: dict[int, ObligationView],
    now: dt.datetime, tz: ZoneInfo, dry_run: bool = False,
) -> tuple[list[Decision], list[OutboxMessage]]:
    """Keep only the items not sent before; one outbox message per remaining decision."""
    keys = [item.dedupe_key for d in decisions for item in d.items]
    seen = await existing_keys(session, keys)
    fresh: list[Decision] = []
    by_id = obligations
    for decision in decisions:
        items = [i for i in decision.items if i.dedupe_key not in seen]
        if not items:
            continue
        decision.items = items
        # The message is about what is left to say: a reminder is not an overdue notice
        # just because an overdue item of the same sweep was sent before.
        personal = [i.kind for i in items if i.kind in _PERSONAL_RANK]
        if personal:
            decision.kind = max(personal, key=_PERSONAL_RANK.__getitem__)
            decision.level = max(i.level for i in items)
        fresh.append(decision)
    if dry_run:
        return fresh, []
    # Everything one person gets in one sweep is one message (their own reports and, for
    # the standing office and chairs, the digest).
    by_person: dict[int, list[Decision]] = defaultdict(list)
    for decision in fresh:
        by_person[decision.recipient.member_id].append(decision)
    written: list[OutboxMessage] = []
    grouped_items: list[list[Item]] = []
    for group in by_person.values():
        payloads = [await render_decision(session, d, by_id, now, tz) for d in group]
        payload = payloads[0] if len(payloads) == 1 else {
            "text": "\n\n".join(p["text"] for p in payloads),
            "parse_mode": "HTML",
            "buttons": [row for p in payloads for row in p.get("buttons", [])],
        }
        items = [item for d in group for item in d.items]
        head = max(group, key=lambda d: _MESSAGE_RANK.get(d.kind, 0))
        message = OutboxMessage(
            dedupe_key=f"msg:{items[0].dedupe_key}",
            kind=head.kind,
            member_id=head.recipient.member_id,
            chat_id=head.recipient.chat_id,
            payload=payload,
            status=OutboxStatus.pending,
            next_attempt_at=now,
            created_at=now,
        )
        session.add(message)
        written.append(message)
        grouped_items.append(items)
    await session.flush()  # one flush for all messages: their ids, for the items
    item_rows = [
        {"dedupe_key": item.dedupe_key, "outbox_id": message.id, "kind": item.kind,
         "level": item.level, "obligation_id": item.obligation_id,
         "member_id": message.member_id, "created_at": now}
        for message, items in zip(written, grouped_items, strict=True) for item in items
    ]
    if item_rows:
        await session.execute(insert(OutboxItem), item_rows)
    await session.flush()
    return fresh, written


async def run_sweep(
    session: AsyncSession, now: dt.datetime, tz: ZoneInfo, dry_run: bool = False
) -> SweepResult:
    snapshot = await load_snapshot(session, now, tz)
    decisions = decide(now, snapshot, tz)
    fresh, written = await write_decisions(
        session, decisions, {o.id: o for o in snapshot.obligations}, now, tz, dry_run
    )
    if written:
        record(session, "sweep.run", actor_label="sweep", details={"messages": len(written)},
               now=now)
    return SweepResult(fresh, written, snapshot)


def decision_json(decision: Decision, snapshot: Snapshot) -> dict[str, Any]:
    by_id = {o.id: o for o in snapshot.obligations}
    obligation_ids = [i.obligation_id for i in decision.items if i.obligation_id is not None]
    obligation_ids += [oid for oid, _late in decision.lines]
    return {
        "recipient": decision.recipient.chat_id,
        "member": decision.recipient.member_id,
        "kind": decision.kind,
        "level": decision.level,
        "obligations": [
            {"id": oid, "agency": by_id[oid].agency_name, "schedule": by_id[oid].schedule_name,
             "period": by_id[oid].period_key}
            for oid in obligation_ids if oid in by_id
        ],
        "dedupe_key": decision.items[0].dedupe_key if decision.items else None,
        "dedupe_keys": [i.dedupe_key for i in decision.items],
        # Digests: reports now due to be reported to a level nobody in the bot is.
        "outside": [
            {"level": level, "label": label, "id": oid,
             "agency": by_id[oid].agency_name if oid in by_id else None}
            for level, label, oid in decision.outside
        ],
    }
