"""Texts every layer shows: escaping, periods, deadlines, days left, message splitting.

Used by the sweep's messages and by the conversation alike, so they sit below both. Every
user-facing word goes through gettext; the caller passes its translator.
"""

from __future__ import annotations

import datetime as dt
import html
from typing import Any
from zoneinfo import ZoneInfo

from core.formatting import format_date
from core.i18n import N_, Gettext, ngettext
from core.textlimits import TELEGRAM_LIMIT, split_html

MAX_MESSAGE = TELEGRAM_LIMIT
ROMAN = {1: "I", 2: "II", 3: "III", 4: "IV"}
WEEKDAYS = [N_("Monday"), N_("Tuesday"), N_("Wednesday"), N_("Thursday"), N_("Friday"),
            N_("Saturday"), N_("Sunday")]


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


# A schedule's name often ends with its period's word («Báo cáo tháng», «Báo cáo quý»): the
# period label then drops that word instead of repeating it («Báo cáo tháng 03/2022»).
_PERIOD_WORDS = {"monthly": "tháng", "quarterly": "quý", "yearly": "năm"}


def report_title(_: Gettext, schedule_name: str, period_type: str, period_key: str) -> str:
    """«Báo cáo tháng 03/2022», «Báo cáo 6 tháng · 6 tháng đầu năm 2022»: the schedule's
    name and its period, plain text (escape it), without «tháng tháng»."""
    period = period_label(_, period_type, period_key)
    word = _PERIOD_WORDS.get(period_type)
    name = schedule_name.strip()
    if word and name.lower().endswith(" " + word) and period.lower().startswith(word + " "):
        return f"{name} {period[len(word) + 1:]}"
    return f"{name} · {period}"


def label_value(label: str, value: str) -> str:
    """A question and its answer on one line: «Số vụ việc: <b>3</b>», but «Có phát sinh vụ
    việc không? <b>Có</b>» (no colon after a question mark or a colon). `label` is escaped
    here; `value` is HTML already."""
    label = esc(label.strip())
    sep = " " if label.endswith(("?", ":", "…")) else ": "
    return f"{label}{sep}<b>{value}</b>"


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


def split_message(lines: list[str], limit: int = MAX_MESSAGE) -> list[str]:
    """Join lines into messages within Telegram's limit, as Telegram counts it (the text
    without its tags, in UTF-16 units). A line is kept whole when it fits a message; a longer
    one (a long answer) goes on in the next message, cut at a space and never inside a tag
    or an escape: the tags open at the cut are closed and opened again."""
    return split_html("\n".join(lines), limit)
