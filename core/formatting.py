"""Vietnamese (and English) formats for dates, numbers and percentages.

Numbers and percentages use Babel's CLDR data (vi: 1.234,5); dates use the dd/mm/yyyy form
that Vietnamese officials write, with the weekday spelled out («Thứ Ba, 13/12/2022»).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

from babel.numbers import format_decimal as _format_decimal
from babel.numbers import format_percent as _format_percent

from core.calendar import DEFAULT_TZ

_VI_WEEKDAYS = ["Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy", "Chủ Nhật"]
_EN_WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def _locale(locale: str) -> str:
    return "vi_VN" if locale.startswith("vi") else "en_US"


def format_date(day: dt.date, locale: str = "vi") -> str:
    """13/12/2022 (both languages: the committee's documents use day/month/year)."""
    return f"{day.day:02d}/{day.month:02d}/{day.year}"


def format_date_long(day: dt.date, locale: str = "vi") -> str:
    """«Thứ Ba, 13/12/2022»."""
    names = _VI_WEEKDAYS if locale.startswith("vi") else _EN_WEEKDAYS
    return f"{names[day.weekday()]}, {format_date(day, locale)}"


def to_local(moment: dt.datetime, tz: ZoneInfo = DEFAULT_TZ) -> dt.datetime:
    if moment.tzinfo is None:
        raise ValueError("naive datetime")
    return moment.astimezone(tz)


def format_datetime(moment: dt.datetime, locale: str = "vi", tz: ZoneInfo = DEFAULT_TZ) -> str:
    """«08:30 13/12/2022» in the committee's time zone."""
    local = to_local(moment, tz)
    return f"{local:%H:%M} {format_date(local.date(), locale)}"


def format_number(value: int | float | Decimal, locale: str = "vi", digits: int = 2) -> str:
    """1.234,5 in Vietnamese, 1,234.5 in English; at most `digits` decimals."""
    pattern = "#,##0" + ("." + "#" * digits if digits else "")
    if round(Decimal(str(value)), digits) == 0:
        value = 0  # Babel would print «-0» for a tiny negative number
    return _format_decimal(value, format=pattern, locale=_locale(locale))


def format_percent(value: float | Decimal, locale: str = "vi", digits: int = 1) -> str:
    """`value` is a percentage already (80 → «80%», 66.67 → «66,7%»)."""
    pattern = "#,##0" + ("." + "#" * digits if digits else "") + "%"
    if round(Decimal(str(value)), digits) == 0:
        value = 0
    return _format_percent(Decimal(str(value)) / 100, format=pattern, locale=_locale(locale))
