"""Text of unprompted messages, rendered at sweep time in each recipient's language.

The outbox stores the rendered text and buttons, so the sender only delivers. Every text is
built within Telegram's limit (4096, counted as Telegram counts: see core.textlimits): long
lists end with «and N others» and the «Details» button, and a last guard shortens anything
still over. The sweep puts everything one person gets in one sweep in one message (the digest
and their own reports, joined by a blank line: scheduler.sweeper.write_decisions), so a person
who may get both has the limit shared: PERSONAL_SHARE for their own reports, the rest for the
digest.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import lazyload

from core.collation import vi_key
from core.formatting import format_date
from core.i18n import Gettext, ngettext, translator
from core.textlimits import TELEGRAM_LIMIT, button_label, clip_html, join_within, telegram_len
from core.texts import days_left_text, deadline_text, esc, report_title
from db.models import (
    OPEN_STATUSES,
    Agency,
    Committee,
    Member,
    Obligation,
    OutboxItem,
    OutboxMessage,
    Plan,
    Schedule,
)
from db.queries import agency_people, member_levels
from scheduler import levels
from scheduler.buttons import DETAILS, OPEN_REPORT, ORPHANS, REMIND_ALL, SEEN, URGE
from scheduler.sweep import Decision, ObligationView, Recipient, last_day

MAX_BUTTONS = 8
# A person who may get both their own reminders and a digest in one sweep (the sweep joins
# them with a blank line) has PERSONAL_SHARE for the first and the rest for the second.
PERSONAL_SHARE = 1200
JOINED_BY = 2  # "\n\n"
# At most this much of a digest for the names of agencies without a member, and as much
# again for the members who blocked the bot; the rest is «and N others».
NAMES_SHARE = 800
# Questions to fix, in a returned report's notice.
FIELDS_SHARE = 1500


def role_name(_: Gettext, labels: dict[str, str], role: str, label: str | None = None) -> str:
    """What a message calls a role: `label` (an external step's own), else the plan's word
    for it (committee.labels), else the level's generic name (Level.title), translated.
    Plain text: escape it."""
    return label or labels.get(role) or _(levels.level(role).title)


def informed_levels(_: Gettext, labels: dict[str, str],
                    reports: list[ObligationView]) -> list[str]:
    """Who hears of these reports once they are late, above the agency itself, in the order
    the chain climbs, by the plan's words: the consolidating agency (which always lists a late
    report the chain takes to the committee) and the levels of the chain the agency reaches
    (an agency that does not escalate stops at the consolidating agency)."""
    found: dict[tuple[int, str], str] = {}
    desk = levels.desk()
    for o in reports:
        if o.policy.desk_after() is not None:
            found[(desk.rank, "")] = role_name(_, labels, desk.name)
        for name in o.policy.levels():
            level = levels.level(name)
            if level.audience == "committee" and not level.desk and o.reaches(name):
                found[(level.rank, "")] = role_name(_, labels, name)
            elif level.audience == "outside" and o.reaches(name):
                for _after, label in o.policy.steps_to(name):
                    found[(level.rank, label or "")] = role_name(_, labels, name, label)
    return list(dict.fromkeys(found[key] for key in sorted(found)))


async def committee_labels(session: AsyncSession, committee_id: int) -> dict[str, str]:
    """The committee's role labels (Committee.role_labels), read once per session."""
    cache: dict[int, dict[str, str]] = session.info.setdefault("committee_labels", {})
    if committee_id not in cache:
        labels = await session.scalar(
            select(Committee.role_labels).where(Committee.id == committee_id))
        cache[committee_id] = {str(k): str(v) for k, v in (labels or {}).items() if v}
    return cache[committee_id]


def button(text: str, data: str) -> dict[str, str]:
    return {"text": button_label(text), "data": data}


def personal_budget(recipient: Recipient) -> int:
    """Room for a person's own reports: all of it, unless a digest may join them."""
    if recipient.roles & {"standing_office", "chair"}:
        return PERSONAL_SHARE
    return TELEGRAM_LIMIT


def digest_budget(recipient: Recipient) -> int:
    """Room for a digest: all of it, unless the person's own reports may come first."""
    if recipient.roles & {"reporter", "head"}:
        return TELEGRAM_LIMIT - PERSONAL_SHARE - JOINED_BY
    return TELEGRAM_LIMIT


async def render_decision(
    session: AsyncSession, decision: Decision, obligations: dict[int, ObligationView],
    now: dt.datetime, tz: ZoneInfo,
) -> dict[str, Any]:
    names_roles = decision.kind in ("digest", "weekly") or any(
        i.kind in ("overdue", "nudge") for i in decision.items)
    if names_roles and not decision.labels:
        # Written outside the sweep («Remind everyone»): the plan's words for its roles
        # from the committee.
        committee_id = decision.committee_id or next(
            (obligations[i.obligation_id].committee_id for i in decision.items
             if i.obligation_id in obligations), None)
        if committee_id is not None:
            decision.labels = await committee_labels(session, committee_id)
    if decision.kind in ("digest", "weekly"):
        return await render_digest(session, decision, obligations, now, tz)
    return render_personal(decision, obligations, now, tz)


def render_personal(decision: Decision, obligations: dict[int, ObligationView],
                    now: dt.datetime, tz: ZoneInfo) -> dict[str, Any]:
    locale = decision.recipient.language
    _ = translator(locale)
    headers = {
        "notice": "📅 " + _("<b>New reporting period</b>"),
        "reminder": "🔔 " + _("<b>Reminder: reports due</b>"),
        "overdue": "⏰ " + _("<b>Overdue reports</b>"),
        "accepted": "✅ " + _("<b>Report accepted</b>"),
        "returned": "↩️ " + _("<b>Report returned for changes</b>"),
        "extended": "📆 " + _("<b>Deadline extended</b>"),
    }
    if decision.kind in ("accepted", "returned", "extended"):
        return render_outcome(decision, obligations, headers[decision.kind], now, tz)
    headers["nudge"] = "📣 <b>" + nudge_request(_, decision.extra) + "</b>"
    # One message, a section per kind: a leader's request first, then overdue, then
    # reminders, then new periods.
    sections = (("nudge", ("nudge",)), ("overdue", ("overdue",)), ("reminder", ("reminder",)),
                ("notice", ("notice",)))
    late = [obligations[i.obligation_id] for i in decision.items
            if i.kind in ("overdue", "nudge") and i.obligation_id in obligations]
    informed = informed_levels(_, decision.labels, late)
    if not late:
        footer = ["", _("Tap a report to answer it.")]
    elif informed:
        footer = ["", _("Please send it as soon as possible; overdue reports are reported to "
                        "{levels}. Late reports are still accepted.").format(
                            levels="; ".join(esc(name) for name in informed))]
    else:
        footer = ["", _("Please send it as soon as possible. Late reports are still "
                        "accepted.")]
    entries: list[tuple[str, str, ObligationView]] = []  # (section header, lines, report)
    for header_kind, kinds in sections:
        for item in decision.items:
            o = obligations.get(item.obligation_id or -1)
            if item.kind not in kinds or o is None:
                continue
            title = report_title(_, o.schedule_name, o.period_type, o.period_key)
            entries.append((headers[header_kind], "\n".join([
                f"• <b>{esc(title)}</b>",
                "   " + _("Deadline: {deadline}").format(deadline=deadline_text(_, o.due_at, tz))
                + f" — <b>{days_left_text(locale, _, o.due_at, now, tz)}</b>"]), o))
    # As many reports as fit (the most urgent first), then «… and N more.»: the buttons and
    # «Reports due» list them all.
    budget = personal_budget(decision.recipient)

    def more(n: int) -> str:
        return "\n" + _("… and {n} more.").format(n=n)

    room = (budget - telegram_len("\n".join(footer)) - 1
            - telegram_len(more(len(entries))))
    lines: list[str] = []
    shown = 0
    section = None
    for header, text, _o in entries:
        head = ([""] if lines else []) + [header, ""] if header != section else []
        cost = telegram_len("\n".join([*head, text])) + (1 if lines else 0)
        if room - cost < 0 and shown:
            break
        room -= cost
        lines += [*head, text]
        section = header
        shown += 1
    buttons = [[button(report_title(_, o.schedule_name, o.period_type, o.period_key),
                       OPEN_REPORT.data(o.id))] for _h, _t, o in entries[:MAX_BUTTONS]]
    if shown < len(entries):
        lines.append(more(len(entries) - shown).lstrip("\n"))
    lines += footer
    return {"text": clip_html("\n".join(lines), budget), "parse_mode": "HTML",
            "buttons": buttons}


def nudge_request(_: Gettext, extra: dict[str, Any]) -> str:
    """Who asks, in a nudge («Remind everyone»): «Comrade <name>, <the plan's word for their
    role> asks your agency to send these reports now:» (Decision.extra "asker", "asker_role",
    set by handlers.committee.remind_all). Escaped."""
    name, role = extra.get("asker"), extra.get("asker_role")
    if name and role:
        return _("Comrade {name}, {role}, asks your agency to send the following reports "
                 "now:").format(name=esc(name), role=esc(role))
    if name or role:
        return _("{who} asks your agency to send the following reports now:").format(
            who=esc(_("Comrade {name}").format(name=name) if name else role))
    return _("The steering committee asks your agency to send the following reports now:")


def render_outcome(decision: Decision, obligations: dict[int, ObligationView], header: str,
                   now: dt.datetime, tz: ZoneInfo) -> dict[str, Any]:
    """A review outcome or an extension, about one report."""
    locale = decision.recipient.language
    _ = translator(locale)
    n_ = ngettext(locale)
    o = obligations[decision.items[0].obligation_id or -1]
    lines = [header, esc(report_title(_, o.schedule_name, o.period_type, o.period_key))]
    extra = decision.extra
    if decision.kind == "returned":
        if extra.get("comment"):
            lines.append(_("Comment: «{comment}»").format(comment=esc(extra["comment"])))
        if extra.get("fields"):
            lines.append(_("Questions to fix: {fields}").format(fields=join_within(
                [esc(f) for f in extra["fields"]], FIELDS_SHARE, sep="; ",
                more=lambda n: n_("and {n} other question", "and {n} other questions",
                                  n).format(n=n))))
        lines.append(_("Open the report, change what is asked and send it again; the "
                       "earlier version is kept."))
        buttons = [[button("✏️ " + _("Open the report"), OPEN_REPORT.data(o.id))]]
    elif decision.kind == "extended":
        lines.append(_("New deadline: {deadline}").format(deadline=deadline_text(_, o.due_at, tz)))
        if extra.get("reason"):
            lines.append(_("Reason: {reason}").format(reason=esc(extra["reason"])))
        buttons = [[button(_("Open the report"), OPEN_REPORT.data(o.id))]]
    else:
        buttons = []
    # Written on its own (a review, an extension), never joined with a digest.
    return {"text": clip_html("\n".join(lines), TELEGRAM_LIMIT), "parse_mode": "HTML",
            "buttons": buttons}


# A leader's digest fits one phone screen: the counts, the few agencies most overdue, «and N
# other agencies», the buttons. The detail view pages through the rest.
DIGEST_TOP = 5
DIGEST_TARGET = 1000
NAME_CHARS = 60  # an agency's name in a digest line, at most
BLOCKED_SHARE = 160  # the names of the members who blocked the bot, in the office's digest
OUTSIDE_SHARE = 120  # the agencies' names in a line about a level outside the bot
PAGE_SIZE = 10  # agencies per page of the detail view and of the list of unreachable ones


@dataclass(frozen=True)
class LateReport:
    """One overdue report (open, its effective deadline passed)."""

    obligation: Obligation
    agency_id: int
    agency_name: str
    schedule_name: str
    days_late: int


@dataclass(frozen=True)
class Tally:
    """The figures every view of the late reports shows (the digest, «Details», the reply to
    «Remind everyone»), from one query (late_tally), for one person's view of a committee:

    - late: the overdue reports (not received, deadline passed), `agencies` the agencies
      they are from;
    - received: the reports of the same periods (schedule and period of a late one) that
      were received (sent, accepted);
    - missing: the reports of those periods not received yet (the late ones, and any whose
      deadline was extended and has not passed);
    - orphans: the agencies with late reports that have no active reporter or head, so
      nobody can be reminded there."""

    late: list[LateReport]
    received: int
    missing: int
    orphans: list[tuple[int, str]]

    def agencies(self, order: str = "worst") -> list[list[LateReport]]:
        """The late reports by agency: worst first ("worst": most days late, then name), or
        in Vietnamese alphabetical order ("name")."""
        by_agency: dict[int, list[LateReport]] = defaultdict(list)
        for report in self.late:
            by_agency[report.agency_id].append(report)
        groups = list(by_agency.values())
        if order == "name":
            return sorted(groups, key=lambda g: vi_key(g[0].agency_name))
        return sorted(groups, key=lambda g: (-max(r.days_late for r in g),
                                             vi_key(g[0].agency_name)))


def days_late(due_at: dt.datetime, now: dt.datetime, tz: ZoneInfo) -> int:
    """Days late as the sweep counts them (scheduler.sweep._days_late)."""
    return max(1, (now.astimezone(tz).date() - last_day(due_at, tz)).days)


async def sees_exempt(session: AsyncSession, roles: Iterable[str | Enum],
                      agency_id: int | None, committee_id: int) -> bool:
    """Agencies the plan only requests (court, procuracy, Front…) are never escalated above
    the consolidating agency: only its staff (the sweep's own mapping of roles to levels,
    db.queries.member_levels) and admins see them among the late."""
    names = {r.value if isinstance(r, Enum) else str(r) for r in roles}
    if "admin" in names:
        return True
    committee = await session.get(Committee, committee_id)
    return committee is not None and "consolidating" in member_levels(
        names, agency_id, committee.consolidating_id, committee.standing_office_id)


async def late_tally(session: AsyncSession, committee_id: int, now: dt.datetime,
                     tz: ZoneInfo, *, exempt_too: bool) -> Tally:
    """The committee's late reports and the figures about them (Tally), as a person who
    sees the agencies the plan only requests (`exempt_too`) or not sees them."""
    visible = [Agency.active.is_(True), Schedule.active.is_(True),
               Plan.committee_id == committee_id]
    if not exempt_too:
        visible.append(Agency.escalate.is_(True))
    rows = (await session.execute(
        select(Obligation, Agency.short_name, Agency.name, Schedule.name)
        .options(lazyload("*"))
        .join(Schedule, Schedule.id == Obligation.schedule_id)
        .join(Plan, Plan.id == Schedule.plan_id)
        .join(Agency, Agency.id == Obligation.agency_id)
        .where(*visible, Obligation.status.in_(OPEN_STATUSES), Obligation.due_at <= now)
    )).all()
    late = [LateReport(o, o.agency_id, short or name, schedule_name,
                       days_late(o.effective_due_at, now, tz))
            for o, short, name, schedule_name in rows if o.effective_due_at <= now]
    late.sort(key=lambda r: (vi_key(r.agency_name), r.obligation.due_at, r.obligation.id))
    received = missing = 0
    periods = sorted({(r.obligation.schedule_id, r.obligation.period_key) for r in late})
    for start in range(0, len(periods), 200):
        chunk = periods[start:start + 200]
        counts = (await session.execute(
            select(Obligation.status, func.count())
            .join(Schedule, Schedule.id == Obligation.schedule_id)
            .join(Plan, Plan.id == Schedule.plan_id)
            .join(Agency, Agency.id == Obligation.agency_id)
            .where(*visible, or_(*(and_(Obligation.schedule_id == sid,
                                        Obligation.period_key == key)
                                   for sid, key in chunk)))
            .group_by(Obligation.status)
        )).all()
        for status, n in counts:
            if status in OPEN_STATUSES:
                missing += n
            else:
                received += n
    agency_ids = {r.agency_id for r in late}
    reachable = set((await session.scalars(
        select(Member.agency_id).where(Member.id.in_(
            agency_people(agency_ids).with_only_columns(Member.id))))).all()) if agency_ids \
        else set()
    names = {r.agency_id: r.agency_name for r in late}
    orphans = sorted(((aid, names[aid]) for aid in agency_ids - reachable),
                     key=lambda pair: vi_key(pair[1]))
    return Tally(late, received, missing, orphans)


def counts_line(_: Gettext, n_: Callable[[str, str, int], str], tally: Tally) -> str:
    """The one line of figures, the same in the digest, «Details» and «Remind everyone»."""
    agencies = len({r.agency_id for r in tally.late})
    return "⏰ " + n_("Late: {reports} report at {agencies} agencies",
                     "Late: {reports} reports at {agencies} agencies",
                     len(tally.late)).format(reports=len(tally.late), agencies=agencies) \
        + " · " + _("received {received} of {expected}").format(
            received=tally.received, expected=tally.received + tally.missing) \
        + ("" if tally.missing <= len(tally.late) else " · " + _(
            "extended, not yet due: {n}").format(n=tally.missing - len(tally.late)))


def agency_line(_: Gettext, name: str, count: int, worst: int) -> str:
    """One agency in a digest: its late reports and the most days late."""
    if len(name) > NAME_CHARS:
        name = name[:NAME_CHARS - 1] + "…"
    return _("• <b>{agency}</b>: {count} report(s), up to {days} days late").format(
        agency=esc(name), count=count, days=worst)


def sees_enrolment(recipient: Recipient) -> bool:
    """Whether a digest tells this person about enrolment (agencies without a member,
    members who blocked the bot): the committee's office and admins; never a chair alone,
    who is not asked to fix enrolment."""
    return bool(recipient.roles & {"standing_office", "admin"})


async def render_digest(
    session: AsyncSession, decision: Decision, obligations: dict[int, ObligationView],
    now: dt.datetime, tz: ZoneInfo,
) -> dict[str, Any]:
    """A leader's digest, on one phone screen (about DIGEST_TARGET characters whatever the
    number of agencies): the title and date, one line of figures (counts_line, the same as
    «Details» and «Remind everyone» show), the DIGEST_TOP agencies most overdue, «and N other
    agencies», a short line per level outside the bot the late reports are now due to be
    reported to; for the office and admins only, the number of agencies nobody can be
    reminded at (with a button that lists them) and of members who blocked the bot."""
    locale = decision.recipient.language
    _ = translator(locale)
    n_ = ngettext(locale)
    budget = digest_budget(decision.recipient)
    today = now.astimezone(tz).date()
    committee = decision.committee_id
    assert committee is not None  # digests are written per committee (scheduler.sweep)
    recipient = decision.recipient
    tally = await late_tally(session, committee, now, tz, exempt_too=await sees_exempt(
        session, recipient.roles, recipient.agency_id, committee))
    title = (_("<b>Weekly summary of long-overdue reports</b>") if decision.kind == "weekly"
             else _("<b>Overdue reports</b> — digest of {date}").format(date=format_date(today)))
    # Named: the agencies the chain has taken to this person's level by now (the sweep's
    # lines: the desk hears of an agency its people can be told about only after its step),
    # worst first; counted: every late agency, as «Details» and «Remind everyone» count them.
    listed: dict[int, tuple[str, list[int]]] = {}
    for obligation_id, late in decision.lines:
        o = obligations.get(obligation_id)
        if o is not None:
            listed.setdefault(o.agency_id, (o.agency_name, []))[1].append(late)
    named = sorted(listed.items(), key=lambda item: (-max(item[1][1]), vi_key(item[1][0])))
    named = named[:DIGEST_TOP]
    others = len({r.agency_id for r in tally.late} - {agency_id for agency_id, _v in named})
    lines = ["📊 " + title, counts_line(_, n_, tally), ""]
    lines += [agency_line(_, name, len(lates), max(lates)) for _id, (name, lates) in named]
    if others:
        lines.append(n_("and {n} other agency", "and {n} other agencies", others).format(
            n=others))
    # Reports now due to be reported to a level nobody in the bot is: one short line per
    # level, with the number of agencies.
    outside: dict[tuple[int, str], list[str]] = defaultdict(list)
    for level, label, obligation_id in decision.outside:
        o = obligations.get(obligation_id)
        if o is None:
            continue
        key = (levels.rank(level), role_name(_, decision.labels, level, label))
        if o.agency_name not in outside[key]:
            outside[key].append(o.agency_name)
    tail: list[str] = []
    for (_level, name), agencies in sorted(outside.items()):
        # A short line: the first few agencies, then «and N other agencies».
        tail.append("⤴️ " + _("Due to be reported to {level} (outside the bot): "
                              "{agencies}.").format(
            level=esc(name), agencies=join_within(
                [esc(a[:NAME_CHARS]) for a in sorted(agencies, key=vi_key)], OUTSIDE_SHARE,
                more=lambda n: n_("and {n} other agency", "and {n} other agencies",
                                  n).format(n=n))))
    enrolment = sees_enrolment(recipient)
    if enrolment and tally.orphans:
        tail.append("⚠️ " + n_("{n} agency with late reports has no active member: nobody "
                               "there can be reminded.",
                               "{n} agencies with late reports have no active member: "
                               "nobody there can be reminded.",
                               len(tally.orphans)).format(n=len(tally.orphans)))
    if enrolment and decision.blocked:
        # Usually one or two people: their names (to ask them to unblock), then «and N
        # other members» within BLOCKED_SHARE.
        people = (await session.execute(
            select(Member.full_name, Agency.short_name, Agency.name)
            .join(Agency, Agency.id == Member.agency_id, isouter=True)
            .where(Member.id.in_(decision.blocked))
            .order_by(Member.id)
        )).all()
        people = sorted(people, key=lambda p: (vi_key(p[2] or ""), vi_key(p[0])))
        who = join_within(
            [f"{esc(n[:NAME_CHARS])} ({esc((s or a or '?')[:NAME_CHARS])})"
             for n, s, a in people], BLOCKED_SHARE,
            more=lambda n: n_("and {n} other member", "and {n} other members",
                              n).format(n=n))
        tail.append("🚫 " + _("These members blocked the bot and no longer receive messages: "
                              "{members}.").format(members=who))
    if tail:
        lines += ["", *tail]
    stamp = today.strftime("%Y%m%d")
    buttons = [
        [button("📣 " + _("Remind everyone"), REMIND_ALL.data(committee)),
         button("🔎 " + _("Details"), DETAILS.data(committee))],
        [button("👁 " + _("Seen"), SEEN.data(committee, stamp))],
    ]
    if enrolment:  # the office (and admins) write the urging letter
        buttons[1].append(button("📨 " + _("Urging letter"), URGE.data("c", committee)))
    if enrolment and tally.orphans:
        buttons.append([button("⚠️ " + n_("{n} agency not using the bot",
                                          "{n} agencies not using the bot",
                                          len(tally.orphans)).format(n=len(tally.orphans)),
                               ORPHANS.data(committee))])
    return {"text": clip_html("\n".join(lines), budget), "parse_mode": "HTML",
            "buttons": buttons}


async def last_reminders(session: AsyncSession, obligation_ids: list[int]) -> dict[int, Any]:
    """When each obligation's agency was last sent something about it."""
    if not obligation_ids:
        return {}
    rows = (await session.execute(
        select(OutboxItem.obligation_id, func.max(OutboxMessage.sent_at))
        .join(OutboxMessage, OutboxMessage.id == OutboxItem.outbox_id)
        .where(OutboxItem.obligation_id.in_(obligation_ids),
               OutboxItem.kind.in_(["notice", "reminder", "overdue", "nudge"]))
        .group_by(OutboxItem.obligation_id)
    )).all()
    return {oid: sent for oid, sent in rows if oid is not None}
