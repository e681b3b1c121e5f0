"""The main menu: reports due, reporting calendar, help, language (/lang).

Callback data: L:{code} (choose a language; works before an invite too). The report buttons
of «Reports due» are the form's (o:{obligation}).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import and_, or_, select
from telegram.ext import Application, CallbackQueryHandler, CommandHandler

from core import callbacks
from core.choices import Choice
from core.i18n import SUPPORTED, translator
from core.textlimits import button_label
from core.texts import (
    day_with_weekday,
    days_left_text,
    deadline_text,
    esc,
    last_day,
    report_title,
)
from db.models import Obligation, ObligationStatus, Schedule
from handlers.context import Turn, with_turn
from handlers.groups import FEATURES
from handlers.render import STATUS, STATUS_ICON
from handlers.screens import (
    CALENDAR,
    DUE,
    HELP,
    LANGUAGE,
    menu_button,
    menu_for,
    show_help,
)
from scheduler.buttons import OPEN_REPORT

LANG = callbacks.route("L")
MAX_LISTED = 15


async def open_obligations(t: Turn) -> list[Obligation]:
    """The agency's reports that matter now: every unsubmitted one whose period has begun,
    and those submitted for deadlines that are not long past."""
    assert t.member is not None and t.member.agency_id is not None
    today = t.now.astimezone(t.tz).date()
    recent = t.now - dt.timedelta(days=7)
    rows = (
        await t.session.scalars(
            select(Obligation)
            .join(Schedule, Schedule.id == Obligation.schedule_id)
            .where(
                Obligation.agency_id == t.member.agency_id,
                Schedule.active.is_(True),
                or_(
                    and_(
                        Obligation.status.in_([ObligationStatus.open, ObligationStatus.draft,
                                               ObligationStatus.returned]),
                        Obligation.period_start <= today,
                    ),
                    and_(
                        Obligation.status.in_([ObligationStatus.submitted,
                                               ObligationStatus.accepted]),
                        Obligation.due_at >= recent,
                        Obligation.period_start <= today,
                    ),
                ),
            )
            .order_by(Obligation.due_at, Schedule.position, Obligation.id)
        )
    ).all()
    return list(rows)


async def show_due(t: Turn) -> None:
    _ = t._
    assert t.member is not None
    if t.member.agency_id is None:
        t.send(_("Your account is not attached to an agency, so you have no reports to send."))
        return
    obligations = await open_obligations(t)
    agency = t.member.agency
    header = _("<b>Reports due</b> — {agency}").format(
        agency=esc(agency.display_name if agency else "")
    )
    if not obligations:
        t.send(header + "\n\n" + _("Nothing is due right now. 🎉"))
        return
    lines = [header, ""]
    buttons = []
    for number, o in enumerate(obligations[:MAX_LISTED], start=1):
        due = o.effective_due_at
        title = report_title(_, o.schedule.name, o.period_type, o.period_key)
        lines.append(f"{number}. <b>{esc(title)}</b>")
        state = f"{STATUS_ICON[o.status]} {_(STATUS[o.status])}"
        if o.status in (ObligationStatus.submitted, ObligationStatus.accepted):
            lines.append("   " + _("Deadline: {deadline}").format(
                deadline=deadline_text(_, due, t.tz)) + f" — {state}")
        else:
            lines.append("   " + _("Deadline: {deadline}").format(
                deadline=deadline_text(_, due, t.tz))
                + f" — <b>{days_left_text(t.locale, _, due, t.now, t.tz)}</b>")
            lines.append(f"   {state}")
        buttons.append([Choice(button_label(f"{number}. {title}"), OPEN_REPORT.data(o.id))])
    if len(obligations) > MAX_LISTED:
        lines.append("")
        lines.append(_("… and {n} more.").format(n=len(obligations) - MAX_LISTED))
    lines.append("")
    lines.append(_("Tap a report to open it."))
    t.send("\n".join(lines), choices=buttons)


async def show_calendar(t: Turn) -> None:
    _ = t._
    assert t.member is not None
    if t.member.agency_id is None:
        t.send(_("Your account is not attached to an agency, so you have no reports to send."))
        return
    rows = (
        await t.session.scalars(
            select(Obligation)
            .join(Schedule, Schedule.id == Obligation.schedule_id)
            .where(Obligation.agency_id == t.member.agency_id, Obligation.due_at > t.now,
                   Schedule.active.is_(True))
            .order_by(Obligation.due_at, Schedule.position)
            .limit(12)
        )
    ).all()
    if not rows:
        t.send(_("No coming deadlines."))
        return
    lines = [_("<b>Coming deadlines</b>"), ""]
    for o in rows:
        lines.append(
            f"• {day_with_weekday(_, last_day(o.effective_due_at, t.tz))} — "
            f"{esc(report_title(_, o.schedule.name, o.period_type, o.period_key))}"
        )
    lines += ["", _("<b>When you are reminded</b>")]
    seen_policies = set()
    for o in rows:
        schedule = o.schedule
        offsets = tuple(sorted(schedule.reminder_offsets or [], reverse=True))
        escalation = schedule.escalation_policy or {}
        key = (schedule.name, offsets, escalation.get("repeat_every"))
        if key in seen_policies:
            continue
        seen_policies.add(key)
        before = ", ".join(str(d) for d in offsets if d > 0)
        parts = []
        if before:
            parts.append(_("{days} days before the last day").format(days=before))
        if 0 in offsets:
            parts.append(_("the morning of the last day"))
        text = "; ".join(parts) or _("no reminders")
        lines.append(f"• {esc(schedule.name)}: {text}.")
        if escalation.get("repeat_every"):
            lines.append("   " + _("If late: the morning after the deadline, then every "
                                  "{n} working days; the committee is informed.").format(
                                      n=escalation["repeat_every"]))
    quiet = str((rows[0].schedule.plan.calendar or {}).get("quiet_hours", "21:00-07:00"))
    start, _sep, end = quiet.partition("-")
    lines.append(_("Reminders are sent on working days, not between {start} and {end}.").format(
        start=start, end=end))
    wordings = {o.schedule.name: o.schedule.wording for o in rows if o.schedule.wording}
    if wordings:
        lines.append("")
        lines.append(_("As the plan says:"))
        lines.extend(f"• <i>{esc(w)}</i>" for w in wordings.values())
    t.send("\n".join(lines))


def language_keyboard() -> list[list[Choice]]:
    return [[
        Choice("🇻🇳 Tiếng Việt", LANG.data("vi")),
        Choice("🇬🇧 English", LANG.data("en")),
    ]]


async def ask_language(t: Turn) -> None:
    t.send(t._("Choose your language:"), choices=language_keyboard())


@with_turn(members_only=False)
async def set_language(t: Turn) -> None:
    code = ":".join(LANG.parse(t.data))
    if code not in SUPPORTED:
        t.stale()
        return
    if t.member is not None:
        t.member.language = code
    t.locale, t._ = code, translator(code)
    text = t._("Language set to English.") if code == "en" else t._("Language set to Vietnamese.")
    if t.bound:
        t.send(text, menu=menu_for(t))
    else:
        t.send(text)


def register(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    app.add_handler(CommandHandler(["lang", "language"], with_turn(ask_language,
                                                                  members_only=False)),
                    group=FEATURES)
    app.add_handler(CallbackQueryHandler(set_language, pattern=LANG.pattern), group=FEATURES)
    menu_button(DUE, show_due)
    menu_button(CALENDAR, show_calendar)
    menu_button(HELP, show_help)
    menu_button(LANGUAGE, ask_language)
