"""Digest buttons for chairs and the standing office: remind everyone, details, seen.

Callback data (written by the scheduler's digests): ra:{committee} remind all ·
dd:{committee} details · ack:{committee}:{digest} seen.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import lazyload
from telegram.ext import Application, CallbackQueryHandler

from core import callbacks
from core.collation import vi_key
from core.formatting import format_datetime
from core.texts import esc, period_label, split_message
from db.audit import record
from db.models import (
    OPEN_STATUSES,
    Agency,
    Committee,
    Member,
    Obligation,
    Plan,
    Role,
    Schedule,
)
from db.queries import agency_people, member_levels
from handlers.context import COMMITTEE_ONLY, Turn, with_turn
from handlers.groups import FEATURES
from scheduler.buttons import DETAILS, REMIND_ALL, SEEN
from scheduler.messages import last_reminders
from scheduler.sweep import Decision, Item, ObligationView
from scheduler.sweeper import _recipient, view_of, write_decisions

COMMITTEE_ROLES = {Role.chair, Role.standing_office, Role.admin}


def may_oversee(t: Turn, committee_id: int) -> bool:
    member = t.member
    return bool(
        member and member.active and member.committee_id == committee_id
        and member.role_set & COMMITTEE_ROLES
    )


async def sees_exempt_agencies(t: Turn, committee_id: int) -> bool:
    """Agencies the plan only requests (court, procuracy, Front…) are never escalated above
    the consolidating agency: only its staff (the sweep's own mapping of roles to levels,
    db.queries.member_levels) and admins see them among the late."""
    member = t.member
    if member is None:
        return False
    if Role.admin in member.role_set:
        return True
    committee = await t.session.get(Committee, committee_id)
    return committee is not None and "consolidating" in member_levels(
        member.role_set, member.agency_id, committee.consolidating_id,
        committee.standing_office_id)


async def overdue_obligations(t: Turn, committee_id: int) -> list[tuple[Obligation, str, str]]:
    """(obligation, agency name, schedule name) for every overdue report of the committee
    that this member oversees."""
    exempt_too = await sees_exempt_agencies(t, committee_id)
    rows = (
        await t.session.execute(
            select(Obligation, Agency.short_name, Agency.name, Schedule.name, Agency.escalate)
            .options(lazyload("*"))
            .join(Schedule, Schedule.id == Obligation.schedule_id)
            .join(Plan, Plan.id == Schedule.plan_id)
            .join(Agency, Agency.id == Obligation.agency_id)
            .where(Plan.committee_id == committee_id, Obligation.status.in_(OPEN_STATUSES),
                   Obligation.due_at <= t.now, Schedule.active.is_(True),
                   Agency.active.is_(True))
        )
    ).all()
    out = []
    for obligation, short, name, schedule_name, escalate in sorted(
            rows, key=lambda row: (vi_key(row[1] or row[2]), row[0].due_at)):
        if obligation.effective_due_at <= t.now and (escalate or exempt_too):
            out.append((obligation, short or name, schedule_name))
    return out


@with_turn
async def on_digest_button(t: Turn) -> None:
    """ra:/dd:/ack: buttons, each naming the committee whose digest it came with."""
    route = next(r for r in (REMIND_ALL, DETAILS, SEEN) if r.matches(t.data))
    parts = route.parse(t.data)
    committee_id = callbacks.parse_id(parts[0]) if parts else None
    if committee_id is None:
        t.stale()
        return
    if not may_oversee(t, committee_id):
        t.send(t._(COMMITTEE_ONLY))
        return
    if route is REMIND_ALL:
        await remind_all(t, committee_id)
    elif route is DETAILS:
        await details(t, committee_id)
    else:
        await acknowledge(t, committee_id, parts[1] if len(parts) > 1 else "")


def register(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    for route in (REMIND_ALL, DETAILS, SEEN):
        app.add_handler(CallbackQueryHandler(on_digest_button, pattern=route.pattern),
                        group=FEATURES)


async def remind_all(t: Turn, committee_id: int) -> None:
    """Queue an urgent reminder to every overdue agency now, through the outbox."""
    _ = t._
    rows = await overdue_obligations(t, committee_id)
    if not rows:
        t.send(_("No report is overdue right now; nobody to remind."))
        return
    agency_ids = {o.agency_id for o, _n, _s in rows}
    people = (await t.session.scalars(agency_people(agency_ids))).all()
    by_agency: dict[int, list[Member]] = defaultdict(list)
    for person in people:
        if person.agency_id is not None:  # agency_people selects by agency
            by_agency[person.agency_id].append(person)
    stamp = t.now.astimezone(t.tz).strftime("%Y%m%dT%H")
    decisions: dict[int, Decision] = {}
    views: dict[int, ObligationView] = {}
    plans: dict[int, Plan] = {}
    for obligation, agency_name, _schedule_name in rows:
        schedule = await t.session.get(Schedule, obligation.schedule_id)
        assert schedule is not None
        if schedule.plan_id not in plans:
            plan = await t.session.get(Plan, schedule.plan_id)
            assert plan is not None  # a schedule belongs to a plan (foreign key)
            plans[schedule.plan_id] = plan
        views[obligation.id] = view_of(obligation, schedule, plans[schedule.plan_id],
                                       agency_name)
        for person in by_agency.get(obligation.agency_id, []):
            decision = decisions.setdefault(person.id, Decision(_recipient(person), "overdue", 1))
            # One nudge per report, person and hour: a double tap sends nothing twice.
            decision.items.append(Item(f"nudge:{obligation.id}:{person.id}:{stamp}", "nudge", 1,
                                       obligation.id))
    _fresh, written = await write_decisions(t.session, list(decisions.values()), views,
                                            t.now, t.tz)
    reached = {o.agency_id for o, _n, _s in rows if by_agency.get(o.agency_id)}
    unreachable = len(agency_ids) - len(reached)
    record(t.session, "committee.remind_all", actor=t.member, committee_id=committee_id,
           details={"agencies": len(reached), "messages": len(written)}, now=t.now)
    sender = t.context.application.bot_data.get("sender")
    if sender is not None:
        async def wake_sender() -> None:
            sender.notify()

        t.later(wake_sender)
    lines = ["📣 " + _("Reminder queued for {agencies} agencies ({people} people).").format(
        agencies=len(reached), people=len(written))]
    if not written and reached:
        lines.append(_("They were already reminded in the last hour."))
    if unreachable:
        lines.append("⚠️ " + _("{n} agencies have no active member and cannot be reminded.")
                     .format(n=unreachable))
    t.send("\n".join(lines))


async def details(t: Turn, committee_id: int) -> None:
    _ = t._
    rows = await overdue_obligations(t, committee_id)
    if not rows:
        t.send(_("No report is overdue right now."))
        return
    agency_ids = {o.agency_id for o, _n, _s in rows}
    counts = dict((await t.session.execute(
        select(Member.agency_id, func.count()).where(Member.agency_id.in_(agency_ids),
                                                     Member.active.is_(True))
        .group_by(Member.agency_id)
    )).all())
    last = await last_reminders(t.session, [o.id for o, _n, _s in rows])
    by_agency: dict[int, list[tuple[Obligation, str, str]]] = defaultdict(list)
    for row in rows:
        by_agency[row[0].agency_id].append(row)
    lines = ["🔎 " + _("<b>Overdue agencies in detail</b>"), ""]
    for agency_id, entries in by_agency.items():
        name = entries[0][1]
        reminded = [last[o.id] for o, _n, _s in entries if last.get(o.id)]
        when = format_datetime(max(reminded), t.locale, t.tz) if reminded else _("never")
        lines.append(_("<b>{agency}</b> — active members: {members}; last reminder: {when}")
                     .format(agency=esc(name), members=counts.get(agency_id, 0), when=when))
        for o, _n, schedule_name in entries:
            late = max(1, (t.now.astimezone(t.tz).date()
                           - (o.effective_due_at.astimezone(t.tz)
                              - dt.timedelta(microseconds=1)).date()).days)
            lines.append("   • " + _("{report}: {days} days late").format(
                report=f"{esc(schedule_name)} {esc(period_label(_, o.period_type, o.period_key))}",
                days=late))
    for chunk in split_message(lines):
        t.send(chunk)


async def acknowledge(t: Turn, committee_id: int, stamp: str) -> None:
    _ = t._
    record(t.session, "digest.ack", actor=t.member, committee_id=committee_id,
           details={"digest": stamp}, now=t.now)
    t.edit_markup(None)  # seen: the digest's buttons go
    t.send("👁 " + _("Noted: you have seen this digest."))
