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
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.collation import vi_key
from core.formatting import format_date
from core.i18n import Gettext, ngettext, translator
from core.textlimits import TELEGRAM_LIMIT, clip_html, join_within, telegram_len
from core.texts import days_left_text, deadline_text, esc, period_label
from db.models import Agency, Committee, Member, OutboxItem, OutboxMessage
from scheduler import levels
from scheduler.buttons import DETAILS, OPEN_REPORT, REMIND_ALL, SEEN
from scheduler.sweep import Decision, ObligationView, Recipient

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
    return {"text": text[:60], "data": data}


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
    # One message, a section per kind: overdue first, then reminders, then new periods.
    sections = (("overdue", ("overdue", "nudge")), ("reminder", ("reminder",)),
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
            period = period_label(_, o.period_type, o.period_key)
            entries.append((headers[header_kind], "\n".join([
                f"• <b>{esc(o.schedule_name)}</b> · {esc(period)}",
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
    buttons = [[button(f"{o.schedule_name} · {period_label(_, o.period_type, o.period_key)}",
                       OPEN_REPORT.data(o.id))] for _h, _t, o in entries[:MAX_BUTTONS]]
    if shown < len(entries):
        lines.append(more(len(entries) - shown).lstrip("\n"))
    lines += footer
    return {"text": clip_html("\n".join(lines), budget), "parse_mode": "HTML",
            "buttons": buttons}


def render_outcome(decision: Decision, obligations: dict[int, ObligationView], header: str,
                   now: dt.datetime, tz: ZoneInfo) -> dict[str, Any]:
    """A review outcome or an extension, about one report."""
    locale = decision.recipient.language
    _ = translator(locale)
    n_ = ngettext(locale)
    o = obligations[decision.items[0].obligation_id or -1]
    period = period_label(_, o.period_type, o.period_key)
    lines = [header, f"{esc(o.schedule_name)} · {esc(period)}"]
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


async def render_digest(
    session: AsyncSession, decision: Decision, obligations: dict[int, ObligationView],
    now: dt.datetime, tz: ZoneInfo,
) -> dict[str, Any]:
    """The consolidating agency's (or the standing office's, or a chair's) digest, built
    within the limit: the lines about levels nobody in the bot is (the reports now due to be
    reported there, by the plan's label, NAMES_SHARE for all of them), agencies nobody can be
    reminded at and members who blocked the bot first (their names up to NAMES_SHARE each,
    then «and N others»), then as many late agencies, worst first, as the rest allows, then
    «… and N more agencies (tap «Details»)»."""
    locale = decision.recipient.language
    _ = translator(locale)
    n_ = ngettext(locale)
    budget = digest_budget(decision.recipient)
    today = now.astimezone(tz).date()
    by_agency: dict[int, list[tuple[ObligationView, int]]] = defaultdict(list)
    for obligation_id, late in decision.lines:
        o = obligations.get(obligation_id)
        if o is not None:
            by_agency[o.agency_id].append((o, late))
    title = (_("<b>Weekly summary of long-overdue reports</b>") if decision.kind == "weekly"
             else _("<b>Overdue reports</b> — digest of {date}").format(date=format_date(today)))
    head = ["📊 " + title, _("{agencies} agencies have {reports} overdue reports.").format(
        agencies=len(by_agency), reports=sum(len(v) for v in by_agency.values())), ""]
    tail: list[str] = []
    # Reports now due to be reported to a level nobody in the bot is: one line per level.
    outside: dict[tuple[int, str], list[str]] = defaultdict(list)
    for level, label, obligation_id in decision.outside:
        o = obligations.get(obligation_id)
        if o is None:
            continue
        name = role_name(_, decision.labels, level, label)
        key = (levels.rank(level), name)
        if o.agency_name not in outside[key]:
            outside[key].append(o.agency_name)
    for (_level, name), agencies in sorted(outside.items()):
        # NAMES_SHARE for all such lines together (a plan has one or two such levels).
        tail += ["", "⤴️ " + _("Due to be reported to {level} (outside the bot): "
                               "{agencies}.").format(
            level=esc(name), agencies=join_within(
                [esc(a) for a in sorted(agencies, key=vi_key)], NAMES_SHARE // len(outside),
                more=lambda n: n_("and {n} other agency", "and {n} other agencies",
                                  n).format(n=n)))]
    if decision.orphans:
        names = sorted((await session.scalars(
            select(Agency.name).where(Agency.id.in_(decision.orphans)))).all(), key=vi_key)
        tail += ["", "⚠️ " + _("No active member at: {agencies}. They cannot be reminded; "
                               "please invite someone.").format(agencies=join_within(
                                   [esc(n) for n in names], NAMES_SHARE,
                                   more=lambda n: n_("and {n} other agency",
                                                     "and {n} other agencies", n).format(n=n)))]
    if decision.blocked:
        people = (await session.execute(
            select(Member.full_name, Agency.short_name, Agency.name)
            .join(Agency, Agency.id == Member.agency_id, isouter=True)
            .where(Member.id.in_(decision.blocked))
            .order_by(Member.id)
        )).all()
        people = sorted(people, key=lambda p: (vi_key(p[2] or ""), vi_key(p[0])))
        who = join_within([f"{esc(n)} ({esc(s or a or '?')})" for n, s, a in people],
                          NAMES_SHARE,
                          more=lambda n: n_("and {n} other member", "and {n} other members",
                                            n).format(n=n))
        tail += ["", "🚫 " + _("These members blocked the bot and no longer receive messages: "
                               "{members}.").format(members=who)]
    ranked = sorted(by_agency.values(), key=lambda entries: -max(late for _o, late in entries))
    lines = []
    for entries in ranked:
        worst = max(late for _o, late in entries)
        lines.append(_("• <b>{agency}</b>: {count} report(s), up to {days} days late").format(
            agency=esc(entries[0][0].agency_name), count=len(entries), days=worst))
    room = budget - telegram_len("\n".join(head + tail)) - 1
    listed = join_within(
        lines, room, sep="\n", more_sep="\n",
        more=lambda n: _("… and {n} more agencies (tap «Details»).").format(n=n))
    committee = decision.committee_id
    stamp = today.strftime("%Y%m%d")
    buttons = [
        [button("📣 " + _("Remind everyone"), REMIND_ALL.data(committee)),
         button("🔎 " + _("Details"), DETAILS.data(committee))],
        [button("👁 " + _("Seen"), SEEN.data(committee, stamp))],
    ]
    text = "\n".join([*head, listed, *tail]) if listed else "\n".join([*head[:-1], *tail])
    return {"text": clip_html(text, budget), "parse_mode": "HTML", "buttons": buttons}


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
