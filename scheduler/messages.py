"""Text of unprompted messages, rendered at sweep time in each recipient's language.

The outbox stores the rendered text and buttons, so the sender only delivers.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.formatting import format_date
from bot.i18n import translator
from db.models import Agency, Member, OutboxItem, OutboxMessage
from handlers.render import days_left_text, deadline_text, esc, period_label
from scheduler.sweep import Decision, ObligationView

MAX_BUTTONS = 8


def button(text: str, data: str) -> dict[str, str]:
    return {"text": text[:60], "data": data}


async def render_decision(
    session: AsyncSession, decision: Decision, obligations: dict[int, ObligationView],
    now: dt.datetime, tz: ZoneInfo,
) -> dict[str, Any]:
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
    lines: list[str] = []
    buttons = []
    for header_kind, kinds in sections:
        chosen = [i for i in decision.items if i.kind in kinds]
        if not chosen:
            continue
        if lines:
            lines.append("")
        lines += [headers[header_kind], ""]
        for item in chosen:
            o = obligations.get(item.obligation_id or -1)
            if o is None:
                continue
            period = period_label(_, o.period_type, o.period_key)
            lines.append(f"• <b>{esc(o.schedule_name)}</b> · {esc(period)}")
            lines.append("   " + _("Deadline: {deadline}").format(
                deadline=deadline_text(_, o.due_at, tz))
                + f" — <b>{days_left_text(locale, _, o.due_at, now, tz)}</b>")
            if len(buttons) < MAX_BUTTONS:
                buttons.append([button(f"{o.schedule_name} · {period}", f"o:{o.id}")])
    lines.append("")
    if any(i.kind in ("overdue", "nudge") for i in decision.items):
        lines.append(_("Please send it as soon as possible; the committee is informed of "
                       "late reports. Late reports are still accepted."))
    else:
        lines.append(_("Tap a report to answer it."))
    return {"text": "\n".join(lines), "parse_mode": "HTML", "buttons": buttons}


def render_outcome(decision: Decision, obligations: dict[int, ObligationView], header: str,
                   now: dt.datetime, tz: ZoneInfo) -> dict[str, Any]:
    """A review outcome or an extension, about one report."""
    locale = decision.recipient.language
    _ = translator(locale)
    o = obligations[decision.items[0].obligation_id or -1]
    period = period_label(_, o.period_type, o.period_key)
    lines = [header, f"{esc(o.schedule_name)} · {esc(period)}"]
    extra = decision.extra
    if decision.kind == "returned":
        if extra.get("comment"):
            lines.append(_("Comment: «{comment}»").format(comment=esc(extra["comment"])))
        if extra.get("fields"):
            lines.append(_("Questions to fix: {fields}").format(
                fields="; ".join(esc(f) for f in extra["fields"])))
        lines.append(_("Open the report, change what is asked and send it again; the "
                       "earlier version is kept."))
        buttons = [[button("✏️ " + _("Open the report"), f"o:{o.id}")]]
    elif decision.kind == "extended":
        lines.append(_("New deadline: {deadline}").format(deadline=deadline_text(_, o.due_at, tz)))
        if extra.get("reason"):
            lines.append(_("Reason: {reason}").format(reason=esc(extra["reason"])))
        buttons = [[button(_("Open the report"), f"o:{o.id}")]]
    else:
        buttons = []
    return {"text": "\n".join(lines), "parse_mode": "HTML", "buttons": buttons}


async def render_digest(
    session: AsyncSession, decision: Decision, obligations: dict[int, ObligationView],
    now: dt.datetime, tz: ZoneInfo,
) -> dict[str, Any]:
    _ = translator(decision.recipient.language)
    today = now.astimezone(tz).date()
    by_agency: dict[int, list[tuple[ObligationView, int]]] = defaultdict(list)
    for obligation_id, late in decision.lines:
        o = obligations.get(obligation_id)
        if o is not None:
            by_agency[o.agency_id].append((o, late))
    title = (_("<b>Weekly summary of long-overdue reports</b>") if decision.kind == "weekly"
             else _("<b>Overdue reports</b> — digest of {date}").format(date=format_date(today)))
    lines = ["📊 " + title, _("{agencies} agencies have {reports} overdue reports.").format(
        agencies=len(by_agency), reports=sum(len(v) for v in by_agency.values())), ""]
    ranked = sorted(by_agency.items(), key=lambda kv: -max(late for _o, late in kv[1]))
    budget = 3300  # stay well under Telegram's 4096 characters; «Details» lists the rest
    for shown, (_agency_id, entries) in enumerate(ranked):
        worst = max(late for _o, late in entries)
        line = _("• <b>{agency}</b>: {count} report(s), up to {days} days late").format(
            agency=esc(entries[0][0].agency_name), count=len(entries), days=worst)
        if sum(len(x) + 1 for x in lines) + len(line) > budget:
            lines.append(_("… and {n} more agencies (tap «Details»).").format(
                n=len(ranked) - shown))
            break
        lines.append(line)
    if decision.orphans:
        names = (await session.scalars(
            select(Agency.name).where(Agency.id.in_(decision.orphans)).order_by(Agency.name)
        )).all()
        lines += ["", "⚠️ " + _("No active member at: {agencies}. They cannot be reminded; "
                                "please invite someone.").format(
                                    agencies=", ".join(esc(n) for n in names))]
    if decision.blocked:
        people = (await session.execute(
            select(Member.full_name, Agency.short_name, Agency.name)
            .join(Agency, Agency.id == Member.agency_id, isouter=True)
            .where(Member.id.in_(decision.blocked))
        )).all()
        who = ", ".join(f"{esc(n)} ({esc(s or a or '?')})" for n, s, a in people)
        lines += ["", "🚫 " + _("These members blocked the bot and no longer receive messages: "
                               "{members}.").format(members=who)]
    committee = decision.committee_id
    stamp = today.strftime("%Y%m%d")
    buttons = [
        [button("📣 " + _("Remind everyone"), f"ra:{committee}"),
         button("🔎 " + _("Details"), f"dd:{committee}")],
        [button("👁 " + _("Seen"), f"ack:{committee}:{stamp}")],
    ]
    return {"text": "\n".join(lines), "parse_mode": "HTML", "buttons": buttons}


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
    return {oid: sent for oid, sent in rows}
