"""Extending one agency's deadline for one report (gia hạn), with a reason.

xl:{schedule}:{period} lists the agencies not yet received; ex:{obligation} asks for
«dd/mm[/yyyy] reason» as the next message (a pending action row); a day without its year is
the next such day from today (core.dates). The new deadline is the end of that day;
reminders and escalation follow it, and the agency is told through the outbox.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import lazyload
from telegram.ext import Application, CallbackQueryHandler

from core import callbacks
from core.choices import Choice
from core.collation import vi_sorted
from core.dates import resolve, split_leading_day
from core.formatting import format_date
from core.textlimits import button_label
from core.texts import day_with_weekday, esc, report_title
from db.audit import record
from db.models import (
    OPEN_STATUSES,
    Agency,
    Obligation,
    Plan,
    Schedule,
)
from db.queries import agency_people
from handlers import pending
from handlers.context import Turn, with_turn
from handlers.groups import FEATURES
from handlers.screens import EXTEND
from scheduler.sweep import Decision, Item
from scheduler.sweeper import _recipient, view_of, write_decisions

ASK = callbacks.route("ex")


async def _obligation_in_committee(t: Turn, obligation_id: int
                                   ) -> tuple[Obligation, Schedule, Plan, Agency] | None:
    row = (await t.session.execute(
        select(Obligation, Schedule, Plan, Agency).options(lazyload("*"))
        .join(Schedule, Schedule.id == Obligation.schedule_id)
        .join(Plan, Plan.id == Schedule.plan_id)
        .join(Agency, Agency.id == Obligation.agency_id)
        .where(Obligation.id == obligation_id)
    )).first()
    if row is None or t.member is None or row[2].committee_id != t.member.committee_id:
        t.stale()
        return None
    return row[0], row[1], row[2], row[3]


async def list_for_extension(t: Turn, schedule_id: int, period_key: str) -> None:
    _ = t._
    rows = (await t.session.execute(
        select(Obligation, Agency).options(lazyload("*"))
        .join(Agency, Agency.id == Obligation.agency_id)
        .join(Schedule, Schedule.id == Obligation.schedule_id)
        .join(Plan, Plan.id == Schedule.plan_id)
        .where(Obligation.schedule_id == schedule_id, Obligation.period_key == period_key,
               Obligation.status.in_(OPEN_STATUSES),
               Plan.committee_id == (t.member.committee_id if t.member else -1))
    )).all()
    rows = vi_sorted(rows, key=lambda row: row[1].display_name)
    if not rows:
        t.send(_("Every agency has reported for this period; nothing to extend."))
        return
    buttons = [[Choice(button_label(agency.display_name), ASK.data(o.id))]
               for o, agency in rows[:40]]
    t.send(_("Extend the deadline for which agency?"), choices=buttons)


async def ask_extension(t: Turn, obligation_id: int) -> None:
    _ = t._
    found = await _obligation_in_committee(t, obligation_id)
    if found is None:
        return
    obligation, schedule, _plan, agency = found
    assert t.member is not None
    t.member.pending_action = {"kind": "extend", "obligation": obligation.id}
    t.send(_("New deadline for {agency} — {report}: type the last day and the reason, e.g. "
             "<code>{example} the head is on a work trip</code>.").format(
                 agency=esc(agency.display_name),
                 report=esc(report_title(_, schedule.name, obligation.period_type,
                                         obligation.period_key)),
                 example=_example(t)),
           choices=[[pending.cancel_choice(t)]])


def _today(t: Turn) -> dt.date:
    return t.now.astimezone(t.tz).date()


def _example(t: Turn) -> str:
    """A day a week from today, so that the example is never in the past."""
    return format_date(_today(t) + dt.timedelta(days=7))


async def finish_extension(t: Turn, text: str) -> bool:
    """The typed «date reason» completes a pending extension; False if none is pending."""
    _ = t._
    waiting = t.member.pending_action if t.member else None
    if not waiting or waiting.get("kind") != "extend":
        return False
    assert t.member is not None
    typed, reason = split_leading_day(text)
    today = _today(t)
    example = _example(t)
    if typed is None:
        t.send("⚠️ " + _("I could not read the date. Please type the new last day (day/month, "
                         "the year may be left out) and a reason, e.g. "
                         "<code>{example} the head is on a work trip</code>.").format(
                             example=example))
        return True
    day = resolve(typed, today=today)
    if day is None:
        t.send("⚠️ " + _("There is no day {day}. Please check the day and the month, e.g. "
                         "<code>{example} the head is on a work trip</code>.").format(
                             day=f"{typed.day:02d}/{typed.month:02d}", example=example))
        return True
    if not reason:
        t.send("⚠️ " + _("Please add the reason after the date, e.g. "
                         "<code>{day} the head is on a work trip</code>.").format(
                             day=format_date(day)))
        return True
    if day < today:
        t.send("⚠️ " + _("The new last day cannot be in the past."))
        return True
    t.member.pending_action = None
    found = await _obligation_in_committee(t, int(waiting["obligation"]))
    if found is None:
        return True
    obligation, schedule, plan, agency = found
    old = obligation.effective_due_at
    obligation.extended_due_at = dt.datetime.combine(
        day + dt.timedelta(days=1), dt.time(0, 0), t.tz).astimezone(dt.UTC)
    obligation.extension_reason = reason[:500]
    record(t.session, "obligation.extend", actor=t.member, committee_id=plan.committee_id,
           agency_id=agency.id, entity=("obligation", obligation.id),
           details={"from": old.isoformat(), "to": obligation.extended_due_at.isoformat(),
                    "reason": obligation.extension_reason}, now=t.now)
    people = (await t.session.scalars(agency_people([agency.id]))).all()
    view = view_of(obligation, schedule, plan, agency.display_name)
    decisions = []
    for person in people:
        decision = Decision(_recipient(person), "extended", 0, extra={"reason": reason})
        decision.items.append(Item(
            f"extended:{obligation.id}:{day.isoformat()}:{person.id}", "extended", 0,
            obligation.id))
        decisions.append(decision)
    _fresh, written = await write_decisions(t.session, decisions, {obligation.id: view},
                                            t.now, t.tz)
    sender = t.context.application.bot_data.get("sender")
    if sender is not None and written:
        async def wake() -> None:  # told at once, not at the sender's next poll
            sender.notify()

        t.later(wake)
    t.send("📆 " + _("Deadline of {agency} extended to {day}. The agency has been told.").format(
        agency=esc(agency.display_name), day=day_with_weekday(_, day)))
    return True


# ----------------------------------------------------------------------------- wiring


@with_turn(role="committee")
async def on_list(t: Turn) -> None:
    parts = EXTEND.parse(t.data)
    schedule = callbacks.parse_id(parts[0]) if len(parts) >= 2 else None
    if schedule is None:
        t.stale()
        return
    await list_for_extension(t, schedule, parts[1])


@with_turn(role="committee")
async def on_ask(t: Turn) -> None:
    parts = ASK.parse(t.data)
    obligation = callbacks.parse_id(parts[0]) if parts else None
    if obligation is None:
        t.stale()
        return
    await ask_extension(t, obligation)


def register(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    app.add_handler(CallbackQueryHandler(on_list, pattern=EXTEND.pattern), group=FEATURES)
    app.add_handler(CallbackQueryHandler(on_ask, pattern=ASK.pattern), group=FEATURES)
    pending.register("extend", finish_extension)
