"""Digest buttons for chairs and the standing office: remind everyone, details, seen.

Callback data (written by the scheduler's digests): ra:{committee} remind all ·
dd:{committee}[:{page}] details, paged · ack:{committee}:{digest} seen ·
na:{committee}[:{page}] agencies nobody can be reminded at, paged.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import func, select
from telegram.ext import Application, CallbackQueryHandler

from core import callbacks
from core.choices import Choice
from core.formatting import format_datetime
from core.i18n import ngettext
from core.textlimits import TELEGRAM_LIMIT, clip_html
from core.texts import esc, report_title
from db.audit import record
from db.models import Committee, Member, Plan, Role, Schedule
from db.queries import agency_people, member_levels
from handlers.context import COMMITTEE_ONLY, Turn, with_turn
from handlers.groups import FEATURES
from scheduler import levels as escalation_levels
from scheduler.buttons import DETAILS, ORPHANS, REMIND_ALL, SEEN
from scheduler.messages import (
    PAGE_SIZE,
    Tally,
    counts_line,
    last_reminders,
    late_tally,
    role_name,
    sees_exempt,
)
from scheduler.sweep import Decision, Item, ObligationView
from scheduler.sweeper import _recipient, recent_overdue, view_of, write_decisions

COMMITTEE_ROLES = {Role.chair, Role.standing_office, Role.admin}


def may_oversee(t: Turn, committee_id: int) -> bool:
    member = t.member
    return bool(
        member and member.active and member.committee_id == committee_id
        and member.role_set & COMMITTEE_ROLES
    )


async def sees_exempt_agencies(t: Turn, committee_id: int) -> bool:
    """Agencies the plan only requests are seen by the consolidating agency's staff and
    admins only (scheduler.messages.sees_exempt, the digest's own rule)."""
    member = t.member
    if member is None:
        return False
    return await sees_exempt(t.session, member.role_set, member.agency_id, committee_id)


async def tally_for(t: Turn, committee_id: int) -> Tally:
    """The late reports and figures this member sees: the same as their digest's."""
    return await late_tally(t.session, committee_id, t.now, t.tz,
                            exempt_too=await sees_exempt_agencies(t, committee_id))


@with_turn
async def on_digest_button(t: Turn) -> None:
    """ra:/dd:/ack:/na: buttons, each naming the committee whose digest it came with."""
    route = next(r for r in (REMIND_ALL, DETAILS, SEEN, ORPHANS) if r.matches(t.data))
    parts = route.parse(t.data)
    committee_id = callbacks.parse_id(parts[0]) if parts else None
    if committee_id is None:
        t.stale()
        return
    if not may_oversee(t, committee_id):
        t.send(t._(COMMITTEE_ONLY))
        return
    page = callbacks.parse_id(parts[1]) if len(parts) > 1 else None
    if route is REMIND_ALL:
        await remind_all(t, committee_id)
    elif route is DETAILS:
        await details(t, committee_id, page)
    elif route is ORPHANS:
        await orphans(t, committee_id, page)
    else:
        await acknowledge(t, committee_id, parts[1] if len(parts) > 1 else "")


def register(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    for route in (REMIND_ALL, DETAILS, SEEN, ORPHANS):
        app.add_handler(CallbackQueryHandler(on_digest_button, pattern=route.pattern),
                        group=FEATURES)


def asker_role(t: Turn, committee: Committee | None) -> str | None:
    """The plan's word for the role of the member who asks (a chair: «Trưởng Ban Chỉ đạo
    138 quận»), the highest of their levels; None for an admin with none."""
    member = t.member
    if member is None or committee is None:
        return None
    held = member_levels(member.role_set, member.agency_id, committee.consolidating_id,
                         committee.standing_office_id)
    labels = {str(k): str(v) for k, v in (committee.role_labels or {}).items() if v}
    for level in sorted(escalation_levels.with_audience("committee"), key=lambda lv: -lv.rank):
        if level.name in held:
            return role_name(t._, labels, level.name)
    return None


async def remind_all(t: Turn, committee_id: int) -> None:
    """Queue an urgent reminder to every overdue agency now, through the outbox, in the name
    of the member who asks («Comrade <name>, <role> asks your agency…»).

    Never two overdue messages to one person within the hour (issue §3): a person who was
    sent an overdue message or a nudge (about any report) within OVERDUE_WINDOW is skipped,
    and the reply says so; the other way round, the sweep folds its overdue notice about
    reports a nudge named within the hour into that nudge (scheduler.sweeper.write_decisions).
    The reply counts the agencies and people actually reached, under the same figures as the
    digest and «Details» (scheduler.messages.counts_line)."""
    _ = t._
    n_ = ngettext(t.locale)
    tally = await tally_for(t, committee_id)
    if not tally.late:
        t.send(_("No report is overdue right now; nobody to remind."))
        return
    agency_ids = {r.agency_id for r in tally.late}
    people = (await t.session.scalars(agency_people(agency_ids))).all()
    by_agency: dict[int, list[Member]] = defaultdict(list)
    for person in people:
        if person.agency_id is not None:  # agency_people selects by agency
            by_agency[person.agency_id].append(person)
    told = await recent_overdue(t.session, [p.id for p in people], t.now)
    committee = await t.session.get(Committee, committee_id)
    extra = {"asker": t.member.full_name if t.member else "",
             "asker_role": asker_role(t, committee)}
    labels = {str(k): str(v) for k, v in ((committee.role_labels if committee else None)
                                           or {}).items() if v}
    stamp = t.now.astimezone(t.tz).strftime("%Y%m%dT%H")
    decisions: dict[int, Decision] = {}
    views: dict[int, ObligationView] = {}
    plans: dict[int, Plan] = {}
    skipped: dict[int, set[int]] = defaultdict(set)  # agency -> people told within the hour
    for report in tally.late:
        obligation = report.obligation
        schedule = await t.session.get(Schedule, obligation.schedule_id)
        assert schedule is not None
        if schedule.plan_id not in plans:
            plan = await t.session.get(Plan, schedule.plan_id)
            assert plan is not None  # a schedule belongs to a plan (foreign key)
            plans[schedule.plan_id] = plan
        views[obligation.id] = view_of(obligation, schedule, plans[schedule.plan_id],
                                       report.agency_name)
        for person in by_agency.get(obligation.agency_id, []):
            if person.id in told:
                skipped[obligation.agency_id].add(person.id)
                continue
            decision = decisions.setdefault(person.id, Decision(
                _recipient(person), "overdue", 1, committee_id=committee_id,
                extra=dict(extra), labels=labels))
            # One nudge per report, person and hour: a double tap sends nothing twice.
            decision.items.append(Item(f"nudge:{obligation.id}:{person.id}:{stamp}", "nudge", 1,
                                       obligation.id))
    _fresh, written = await write_decisions(t.session, list(decisions.values()), views,
                                            t.now, t.tz)
    reached_people = {m.member_id for m in written}
    reached = {aid for aid, members in by_agency.items()
               if any(m.id in reached_people for m in members)}
    skipped_people = {pid for ids in skipped.values() for pid in ids} - reached_people
    orphan_count = len(tally.orphans)
    record(t.session, "committee.remind_all", actor=t.member, committee_id=committee_id,
           details={"agencies": len(reached), "messages": len(written),
                    "skipped": len(skipped_people), "unreachable": orphan_count}, now=t.now)
    if written:
        sender = t.context.application.bot_data.get("sender")
        if sender is not None:
            async def wake_sender() -> None:
                sender.notify()

            t.later(wake_sender)
    # What was done first (the chat list shows the first line), the figures after.
    lines: list[str] = []
    if written:
        lines.append("📣 " + n_("Reminder queued for {people} person at {agencies} agencies.",
                               "Reminder queued for {people} people at {agencies} agencies.",
                               len(reached_people)).format(people=len(reached_people),
                                                           agencies=len(reached)))
    if skipped_people:
        lines.append("🕐 " + n_("{n} person was sent an overdue message less than an hour ago "
                               "and is not reminded twice.",
                               "{n} people were sent an overdue message less than an hour "
                               "ago and are not reminded twice.",
                               len(skipped_people)).format(n=len(skipped_people)))
    if orphan_count:
        lines.append("⚠️ " + n_("{n} agency has no active member and cannot be reminded.",
                               "{n} agencies have no active member and cannot be reminded.",
                               orphan_count).format(n=orphan_count))
    if not written and not skipped_people:
        lines.append(_("Nobody could be reminded: no late agency has an active member in "
                       "the bot."))
    lines.append(counts_line(_, n_, tally))
    t.send("\n".join(lines))


def show_page(t: Turn, text: str, route: callbacks.Route, committee_id: int, page: int,
              pages: int, edit: bool) -> None:
    """A page of a paged view with «‹ Previous» / «Next ›»: a new message (pressed from the
    digest: no page in the data), or the pressed message edited in place (a page number)."""
    _ = t._
    nav = []
    if page > 1:
        nav.append(Choice("‹ " + _("Previous"), route.data(committee_id, page - 1)))
    if page < pages:
        nav.append(Choice(_("Next") + " ›", route.data(committee_id, page + 1)))
    choices = [nav] if nav else None
    text = clip_html(text, TELEGRAM_LIMIT)
    if edit:  # a message that cannot be edited gets the page as a new message (Turn.edit)
        t.edit(text, choices=choices)
    else:
        t.send(text, choices=choices)


async def details(t: Turn, committee_id: int, page: int | None = None) -> None:
    """The late agencies in Vietnamese alphabetical order, PAGE_SIZE a page, each with its
    late reports and days late: dd:{committee} sends page 1; ‹ / › edit it (dd:{c}:{page})."""
    _ = t._
    n_ = ngettext(t.locale)
    tally = await tally_for(t, committee_id)
    if not tally.late:
        t.send(_("No report is overdue right now."))
        return
    groups = tally.agencies("name")
    pages = max(1, -(-len(groups) // PAGE_SIZE))
    current = min(max(page or 1, 1), pages)
    shown = groups[(current - 1) * PAGE_SIZE:current * PAGE_SIZE]
    agency_ids = {reports[0].agency_id for reports in shown}
    counts = dict((await t.session.execute(
        select(Member.agency_id, func.count()).where(Member.agency_id.in_(agency_ids),
                                                     Member.active.is_(True))
        .group_by(Member.agency_id)
    )).all())
    last = await last_reminders(t.session, [r.obligation.id for g in shown for r in g])
    lines = ["🔎 " + _("<b>Overdue agencies in detail</b>") + " — " + _(
        "page {page}/{pages}").format(page=current, pages=pages), counts_line(_, n_, tally)]
    for reports in shown:
        agency_id = reports[0].agency_id
        reminded = [last[r.obligation.id] for r in reports if last.get(r.obligation.id)]
        when = format_datetime(max(reminded), t.locale, t.tz) if reminded else _("never")
        lines += ["", _("<b>{agency}</b> — active members: {members}; last reminder: {when}")
                  .format(agency=esc(reports[0].agency_name),
                          members=counts.get(agency_id, 0), when=when)]
        for r in reports:
            o = r.obligation
            lines.append("   • " + _("{report}: {days} days late").format(
                report=esc(report_title(_, r.schedule_name, o.period_type, o.period_key)),
                days=r.days_late))
    show_page(t, "\n".join(lines), DETAILS, committee_id, current, pages,
              edit=page is not None)


async def orphans(t: Turn, committee_id: int, page: int | None = None) -> None:
    """The late agencies that have no active reporter or head (nobody can be reminded
    there), PAGE_SIZE a page, with the hint to ask an admin for invites."""
    _ = t._
    n_ = ngettext(t.locale)
    tally = await tally_for(t, committee_id)
    if not tally.orphans:
        t.send(_("Every late agency has an active member in the bot."))
        return
    pages = max(1, -(-len(tally.orphans) // PAGE_SIZE))
    current = min(max(page or 1, 1), pages)
    late: dict[int, int] = defaultdict(int)
    for r in tally.late:
        late[r.agency_id] += 1
    lines = ["⚠️ " + n_("<b>{n} agency not using the bot</b>",
                       "<b>{n} agencies not using the bot</b>",
                       len(tally.orphans)).format(n=len(tally.orphans)) + " — " + _(
        "page {page}/{pages}").format(page=current, pages=pages), ""]
    for agency_id, name in tally.orphans[(current - 1) * PAGE_SIZE:current * PAGE_SIZE]:
        lines.append("• " + n_("<b>{agency}</b>: {n} late report",
                              "<b>{agency}</b>: {n} late reports",
                              late[agency_id]).format(agency=esc(name), n=late[agency_id]))
    lines += ["", _("Nobody there can be reminded. Please ask an admin to create invites for "
                    "these agencies (/admin → Invites).")]
    show_page(t, "\n".join(lines), ORPHANS, committee_id, current, pages,
              edit=page is not None)


async def acknowledge(t: Turn, committee_id: int, stamp: str) -> None:
    _ = t._
    record(t.session, "digest.ack", actor=t.member, committee_id=committee_id,
           details={"digest": stamp}, now=t.now)
    t.edit_choices(None)  # seen: the digest's buttons go
    t.send("👁 " + _("Noted: you have seen this digest."))
