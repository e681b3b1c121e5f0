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

from sqlalchemy import and_, func, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import lazyload

from core.calendar import WorkCalendar
from core.i18n import pick_language
from core.lateness import supplement_days, supplement_due
from db.audit import record
from db.models import (
    OPEN_STATUSES,
    Agency,
    Committee,
    Member,
    Obligation,
    ObligationStatus,
    OutboxItem,
    OutboxMessage,
    OutboxStatus,
    Plan,
    Schedule,
    Submission,
    SubmissionState,
)
from db.queries import member_levels
from scheduler import levels as escalation_levels
from scheduler.arrivals import write_arrivals
from scheduler.committees import committee_view
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
# How far back a leader's last digest is looked up (Snapshot.last_digests): older than this,
# the next digest goes out whatever it lists.
LAST_DIGEST_DAYS = 14
# Never two overdue messages to one person within this: a chair's nudge («Remind everyone»)
# and the sweep's overdue notice about the same reports are one message (see write_decisions
# and handlers.committee.remind_all).
OVERDUE_WINDOW = dt.timedelta(hours=1)


def _recipient(m: Member) -> Recipient:
    return Recipient(
        member_id=m.id,
        chat_id=m.reach,
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
    returned_at = await return_times(session, [o.id for o, _s, _p, _a in rows
                                               if o.status == ObligationStatus.returned])
    for obligation, schedule, plan, agency in rows:
        plan_calendars.setdefault(plan.committee_id, plan.calendar or {})
        if plan.committee_id not in committees:
            committee = await session.get(Committee, plan.committee_id)
            committees[plan.committee_id] = committee_view(plan.committee_id, committee,
                                                           plan.calendar)
        obligations.append(view_of(
            obligation, schedule, plan, agency.display_name,
            Policy.from_rows(schedule.reminder_offsets, schedule.escalation_policy),
            escalate=agency.escalate,
            due_at=chase_due(obligation, returned_at.get(obligation.id), plan, tz),
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
    leaders = {r.member_id for per in by_level.values() for people in per.values()
               for r in people}
    return Snapshot(committees=committees, obligations=obligations, members=dict(members),
                    by_level={cid: dict(people) for cid, people in by_level.items()},
                    blocked=dict(blocked),
                    last_digests=await last_digests(session, leaders, now, tz))


async def last_digests(session: AsyncSession, member_ids: set[int], now: dt.datetime,
                       tz: ZoneInfo) -> dict[int, tuple[dt.date, frozenset[str]]]:
    """member id -> (local day, what it listed: scheduler.sweep.digest_listing) of their
    latest digest written before `now` that recorded it (OutboxMessage.payload "listed" and
    "outside", see write_decisions)."""
    found: dict[int, tuple[dt.date, frozenset[str]]] = {}
    if not member_ids:
        return found
    rows = (await session.execute(
        select(OutboxMessage.member_id, OutboxMessage.created_at, OutboxMessage.payload)
        .where(OutboxMessage.kind.in_(["digest", "weekly"]),
               OutboxMessage.member_id.in_(sorted(member_ids)),
               OutboxMessage.created_at >= now - dt.timedelta(days=LAST_DIGEST_DAYS),
               OutboxMessage.created_at <= now)
        .order_by(OutboxMessage.created_at, OutboxMessage.id)
    )).all()
    for member_id, created_at, payload in rows:
        listed = (payload or {}).get("listed")
        if member_id is None or not isinstance(listed, list):
            continue
        outside = (payload or {}).get("outside") or []
        found[member_id] = (created_at.astimezone(tz).date(),
                            frozenset([str(oid) for oid in listed]
                                      + [str(note) for note in outside]))
    return found


async def recent_overdue(session: AsyncSession, member_ids: list[int], now: dt.datetime,
                         kinds: tuple[str, ...] = ("overdue", "nudge"),
                         ) -> dict[int, dict[int, set[int]]]:
    """member id -> outbox message id -> the reports it named, for the overdue messages
    (`kinds` items) written to these people within OVERDUE_WINDOW before `now`."""
    found: dict[int, dict[int, set[int]]] = {}
    ids = sorted(set(member_ids))
    for start in range(0, len(ids), 500):
        rows = (await session.execute(
            select(OutboxItem.member_id, OutboxItem.outbox_id, OutboxItem.obligation_id)
            .where(OutboxItem.kind.in_(list(kinds)),
                   OutboxItem.member_id.in_(ids[start:start + 500]),
                   OutboxItem.created_at > now - OVERDUE_WINDOW,
                   OutboxItem.created_at <= now)
        )).all()
        for member_id, outbox_id, obligation_id in rows:
            if member_id is not None and obligation_id is not None:
                found.setdefault(member_id, {}).setdefault(outbox_id, set()).add(
                    obligation_id)
    return found


async def return_times(session: AsyncSession, obligation_ids: list[int]
                       ) -> dict[int, dt.datetime]:
    """obligation id -> when the office last returned it for changes."""
    if not obligation_ids:
        return {}
    rows = (await session.execute(
        select(Submission.obligation_id, func.max(Submission.reviewed_at))
        .where(Submission.obligation_id.in_(obligation_ids),
               Submission.state == SubmissionState.returned)
        .group_by(Submission.obligation_id))).all()
    return {oid: at if at.tzinfo else at.replace(tzinfo=dt.UTC)
            for oid, at in rows if at is not None}


def chase_due(obligation: Obligation, returned_at: dt.datetime | None, plan: Plan,
              tz: ZoneInfo) -> dt.datetime:
    """The deadline a report is chased against: its own, or, once returned for changes, the
    end of the time the return gave when that is later (core.lateness.supplement_due; the
    same rule that judges the correction on time), so a report sent on time and returned is
    not called overdue while its correction is still on time."""
    due = obligation.effective_due_at
    if returned_at is None:
        return due
    return max(due, supplement_due(returned_at, tz, WorkCalendar.from_dict(plan.calendar),
                                   supplement_days(plan.defaults)))


def view_of(obligation: Obligation, schedule: Schedule, plan: Plan, agency_name: str,
            policy: Policy | None = None, *, escalate: bool = True,
            due_at: dt.datetime | None = None) -> ObligationView:
    """The sweep's view of one obligation, for messages written outside the sweep too.

    `policy`: the schedule's own (reminders and escalation chain) unless given; `escalate`:
    the agency's Agency.escalate (an overdue notice says who hears of late reports);
    `due_at`: when it is chased against another deadline than its own (a returned report:
    the time the return gave, `chase_due`)."""
    return ObligationView(
        id=obligation.id, committee_id=plan.committee_id, agency_id=obligation.agency_id,
        agency_name=agency_name, schedule_name=schedule.name,
        period_type=obligation.period_type, period_key=obligation.period_key,
        period_start=obligation.period_start, due_at=due_at or obligation.effective_due_at,
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
    # A chair's nudge sent within the hour already told the person these reports are late:
    # the sweep's overdue items about the same reports are folded into that message (their
    # dedupe keys stored against it, so no later sweep sends them) instead of a second
    # overdue message (issue §3: never two overdue messages to one person within the hour).
    unsaid = [[i for i in d.items if i.dedupe_key not in seen] for d in decisions]
    overdue_to = [d.recipient.member_id for d, items in zip(decisions, unsaid, strict=True)
                  if any(i.kind == "overdue" for i in items)]
    nudged = await recent_overdue(session, overdue_to, now, kinds=("nudge",)) \
        if overdue_to else {}
    folded: list[tuple[int, int, Item]] = []  # (outbox id, member id, item)
    for decision, items in zip(decisions, unsaid, strict=True):
        for outbox_id, named in nudged.get(decision.recipient.member_id, {}).items():
            covered = [i for i in items if i.kind == "overdue" and i.obligation_id in named]
            folded += [(outbox_id, decision.recipient.member_id, i) for i in covered]
            items = [i for i in items if i not in covered]
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
        digests = [d for d in group if d.kind in ("digest", "weekly")]
        if digests:
            # What the digest listed: the next one goes out only when this changes
            # (Snapshot.last_digests, scheduler.sweep._unchanged_digest).
            payload = {**payload, "listed": sorted(
                {oid for d in digests for oid, _late in d.lines}),
                "outside": sorted({f"{level}:{oid}" for d in digests
                                   for level, _label, oid in d.outside})}
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
    item_rows += [
        {"dedupe_key": item.dedupe_key, "outbox_id": outbox_id, "kind": item.kind,
         "level": item.level, "obligation_id": item.obligation_id, "member_id": member_id,
         "created_at": now}
        for outbox_id, member_id, item in folded
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
    if not dry_run:
        # The office's «new reports» notice, at most hourly (scheduler.arrivals).
        written = [*written, *await write_arrivals(session, now, tz)]
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
