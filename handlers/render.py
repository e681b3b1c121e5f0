"""Text for the chat: periods, deadlines, statuses, questions, review, receipts.

Everything user-facing goes through gettext; plan content (labels, agency names) is data and
is HTML-escaped because messages use HTML formatting.
"""

from __future__ import annotations

import datetime as dt
import html
from typing import Any
from zoneinfo import ZoneInfo

from bot.formatting import format_date, format_number, format_percent
from bot.i18n import N_, Gettext, ngettext
from core.answers import FieldSpec
from core.textlimits import TELEGRAM_LIMIT, split_html
from db.models import Committee, ObligationStatus, Role
from db.queries import member_levels

MAX_MESSAGE = TELEGRAM_LIMIT
ROMAN = {1: "I", 2: "II", 3: "III", 4: "IV"}
WEEKDAYS = [N_("Monday"), N_("Tuesday"), N_("Wednesday"), N_("Thursday"), N_("Friday"),
            N_("Saturday"), N_("Sunday")]

STATUS = {
    ObligationStatus.open: N_("not started"),
    ObligationStatus.draft: N_("draft in progress"),
    ObligationStatus.submitted: N_("submitted"),
    ObligationStatus.accepted: N_("accepted"),
    ObligationStatus.returned: N_("returned for changes"),
    ObligationStatus.waived: N_("waived"),
}
STATUS_ICON = {
    ObligationStatus.open: "⚪",
    ObligationStatus.draft: "📝",
    ObligationStatus.submitted: "✅",
    ObligationStatus.accepted: "✅",
    ObligationStatus.returned: "↩️",
    ObligationStatus.waived: "➖",
}
ROLE = {
    Role.reporter: N_("reporting official"),
    Role.head: N_("head of agency"),
    Role.standing_office: N_("standing office"),
    Role.chair: N_("committee chair"),
    Role.admin: N_("admin"),
}


def member_role_name(_: Gettext, role: Role, committee: Committee | None,
                     agency_id: int | None) -> str:
    """What a person is called in their committee, in the plan's own words: a member with the
    office role works for the consolidating agency (cơ quan tổng hợp), or for the
    committee's standing office when they belong to that agency (db.queries.member_levels)."""
    # Imported here: scheduler.messages still imports this module (issue 12 untangles it).
    from scheduler.messages import role_name

    if role == Role.admin or committee is None:
        return _(ROLE[role])
    labels = committee.role_labels or {}
    levels = member_levels([role], agency_id, committee.consolidating_id,
                           committee.standing_office_id)
    order = ("reporter", "head", "consolidating", "standing_office", "chair")
    names = [role_name(_, labels, level) for level in order if level in levels]
    return ", ".join(dict.fromkeys(names)) or _(ROLE[role])


TYPE_HINT = {
    "integer": N_("Type a whole number, e.g. 12 or 1.234."),
    "decimal": N_("Type a number; use a comma for decimals, e.g. 12,5."),
    "percent": N_("Type a percentage, e.g. 80 or 80%."),
    "date": N_("Type a date as dd/mm/yyyy, e.g. 13/12/2022."),
    "yes_no": N_("Tap Yes or No."),
    "choice": N_("Tap one option."),
    "multi_choice": N_("Tap every option that applies, then Done."),
    "text": N_("Type your answer."),
    "long_text": N_("Type your answer."),
    "file": N_("Send the file as a document (or a photo). Accepted: {types}; up to {mb} MB."),
}


def esc(text: Any) -> str:
    return html.escape(str(text), quote=False)


def weekday(_: Gettext, day: dt.date) -> str:
    return _(WEEKDAYS[day.weekday()])


def day_with_weekday(_: Gettext, day: dt.date) -> str:
    return f"{format_date(day)} ({weekday(_, day)})"


def period_label(_: Gettext, period_type: str, period_key: str) -> str:
    year = period_key[:4]
    match period_type:
        case "monthly":
            return _("month {month}/{year}").format(month=period_key[5:7], year=year)
        case "quarterly":
            return _("quarter {quarter}/{year}").format(
                quarter=ROMAN.get(int(period_key[-1]), period_key[-1]), year=year
            )
        case "half_year":
            if period_key.endswith("H1"):
                return _("first half of {year}").format(year=year)
            return _("second half of {year}").format(year=year)
        case "nine_month":
            return _("first nine months of {year}").format(year=year)
        case "yearly":
            return _("year {year}").format(year=year)
        case "one_off":
            return _("one-off report {year}").format(year=year)
    return _("ad hoc request")


def last_day(due_at: dt.datetime, tz: ZoneInfo) -> dt.date:
    """The last local day on which a report is on time."""
    return (due_at.astimezone(tz) - dt.timedelta(microseconds=1)).date()


def deadline_text(_: Gettext, due_at: dt.datetime, tz: ZoneInfo) -> str:
    local = due_at.astimezone(tz)
    if local.time() == dt.time(0, 0):
        return _("by the end of {date}").format(date=day_with_weekday(_, last_day(due_at, tz)))
    return _("by {time} on {date}").format(
        time=f"{local:%H:%M}", date=day_with_weekday(_, local.date())
    )


def days_left_text(locale: str, _: Gettext, due_at: dt.datetime, now: dt.datetime,
                   tz: ZoneInfo) -> str:
    n_ = ngettext(locale)
    today = now.astimezone(tz).date()
    last = last_day(due_at, tz)
    if now >= due_at:
        days = max(1, (today - last).days)
        return n_("{n} day overdue", "{n} days overdue", days).format(n=days)
    if last == today:
        return _("due today")
    days = (last - today).days
    return n_("{n} day left", "{n} days left", days).format(n=days)


def value_text(_: Gettext, spec: FieldSpec, value: Any, locale: str = "vi") -> str:
    if value is None:
        return "—"
    match spec.type:
        case "yes_no":
            return _("Yes") if value else _("No")
        case "integer" | "decimal":
            return format_number(value, locale)
        case "percent":
            return format_percent(value, locale)
        case "date":
            return format_date(dt.date.fromisoformat(value))
        case "choice":
            return esc(dict(spec.options).get(value, value))
        case "multi_choice":
            labels = dict(spec.options)
            return esc("; ".join(labels.get(v, v) for v in value))
        case "file":
            if isinstance(value, dict):
                return "📎 " + esc(value.get("file_name") or _("attached file"))
            return "📎"
    return esc(value)


def split_message(lines: list[str], limit: int = MAX_MESSAGE) -> list[str]:
    """Join lines into messages within Telegram's limit, as Telegram counts it (the text
    without its tags, in UTF-16 units). A line is kept whole when it fits a message; a longer
    one (a long answer) goes on in the next message, cut at a space and never inside a tag
    or an escape: the tags open at the cut are closed and opened again."""
    return split_html("\n".join(lines), limit)
