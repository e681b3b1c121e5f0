"""Tests of core/formatting.py: Vietnamese (and English) dates, numbers and percentages."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.formatting import (
    format_date,
    format_date_long,
    format_datetime,
    format_number,
    format_percent,
    to_local,
)

ICT = dt.timezone(dt.timedelta(hours=7))
FAST = settings(max_examples=150, deadline=None)

VI_WEEKDAYS = {
    dt.date(2022, 12, 12): "Thứ Hai",
    dt.date(2022, 12, 13): "Thứ Ba",
    dt.date(2022, 12, 14): "Thứ Tư",
    dt.date(2022, 12, 15): "Thứ Năm",
    dt.date(2022, 12, 16): "Thứ Sáu",
    dt.date(2022, 12, 17): "Thứ Bảy",
    dt.date(2022, 12, 18): "Chủ Nhật",
}
EN_WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]

dates = st.dates(min_value=dt.date(1000, 1, 1), max_value=dt.date(9999, 12, 31))


# --------------------------------------------------------------------------------------------
# Dates
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("locale", ["vi", "en", "vi_VN", "en_US"])
def test_format_date(locale: str) -> None:
    assert format_date(dt.date(2022, 12, 13), locale) == "13/12/2022"
    assert format_date(dt.date(2022, 1, 5), locale) == "05/01/2022"


def test_format_date_default_locale() -> None:
    assert format_date(dt.date(2022, 12, 13)) == "13/12/2022"


@FAST
@given(day=dates)
def test_format_date_property(day: dt.date) -> None:
    text = format_date(day)
    dd, mm, yyyy = text.split("/")
    assert (len(dd), len(mm)) == (2, 2)
    assert dt.date(int(yyyy), int(mm), int(dd)) == day


def test_format_date_long_example() -> None:
    assert format_date_long(dt.date(2022, 12, 13)) == "Thứ Ba, 13/12/2022"
    assert format_date_long(dt.date(2022, 12, 13), "en") == "Tuesday, 13/12/2022"


@pytest.mark.parametrize(("day", "name"), VI_WEEKDAYS.items(), ids=VI_WEEKDAYS.values())
def test_format_date_long_every_weekday_vi(day: dt.date, name: str) -> None:
    assert format_date_long(day, "vi") == f"{name}, {format_date(day)}"
    assert format_date_long(day) == f"{name}, {day:%d/%m/%Y}"


@pytest.mark.parametrize("day", VI_WEEKDAYS)
def test_format_date_long_every_weekday_en(day: dt.date) -> None:
    assert format_date_long(day, "en") == f"{EN_WEEKDAYS[day.weekday()]}, {day:%d/%m/%Y}"


@FAST
@given(day=dates)
def test_format_date_long_property(day: dt.date) -> None:
    # Same weekday as a day in the reference week, seven days apart.
    reference = dt.date(2022, 12, 12) + dt.timedelta(days=day.weekday())
    assert format_date_long(day) == f"{VI_WEEKDAYS[reference]}, {format_date(day)}"


# --------------------------------------------------------------------------------------------
# Date and time
# --------------------------------------------------------------------------------------------


def test_format_datetime_converts_utc() -> None:
    moment = dt.datetime(2022, 12, 12, 17, 30, tzinfo=dt.UTC)
    assert format_datetime(moment) == "00:30 13/12/2022"
    assert format_datetime(moment, "en") == "00:30 13/12/2022"
    assert to_local(moment).isoformat() == "2022-12-13T00:30:00+07:00"


def test_format_datetime_other_offsets() -> None:
    tokyo = dt.datetime(2022, 12, 13, 10, 5, tzinfo=dt.timezone(dt.timedelta(hours=9)))
    assert format_datetime(tokyo) == "08:05 13/12/2022"
    local = dt.datetime(2022, 12, 13, 8, 30, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh"))
    assert format_datetime(local) == "08:30 13/12/2022"
    assert format_datetime(local, tz=ZoneInfo("UTC")) == "01:30 13/12/2022"


def test_naive_datetimes_raise() -> None:
    naive = dt.datetime(2022, 12, 13, 8, 30)
    with pytest.raises(ValueError):
        format_datetime(naive)
    with pytest.raises(ValueError):
        to_local(naive)


@FAST
@given(
    moment=st.datetimes(
        min_value=dt.datetime(1980, 1, 1),
        max_value=dt.datetime(2100, 12, 31),
        timezones=st.just(dt.UTC),
    )
)
def test_format_datetime_property(moment: dt.datetime) -> None:
    local = moment + dt.timedelta(hours=7)
    expected = f"{local:%H:%M} {local:%d/%m/%Y}"
    assert format_datetime(moment) == expected
    assert to_local(moment).utcoffset() == dt.timedelta(hours=7)
    assert to_local(moment) == moment


# --------------------------------------------------------------------------------------------
# Numbers
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "vi", "en"),
    [
        (1234.5, "1.234,5", "1,234.5"),
        (1234, "1.234", "1,234"),
        (0, "0", "0"),
        (7, "7", "7"),
        (1234567, "1.234.567", "1,234,567"),
        (1234567.891, "1.234.567,89", "1,234,567.89"),  # at most two decimals
        (1234.0, "1.234", "1,234"),  # no trailing decimals
        (0.5, "0,5", "0.5"),
        (-1234.5, "-1.234,5", "-1,234.5"),
        (-1234, "-1.234", "-1,234"),
        (-0.25, "-0,25", "-0.25"),
        (Decimal("1234.50"), "1.234,5", "1,234.5"),
        (Decimal("-9876543.21"), "-9.876.543,21", "-9,876,543.21"),
        (0.1 + 0.2, "0,3", "0.3"),
    ],
)
def test_format_number(value: float | Decimal, vi: str, en: str) -> None:
    assert format_number(value) == vi
    assert format_number(value, "vi") == vi
    assert format_number(value, "vi_VN") == vi
    assert format_number(value, "en") == en


def test_format_number_digits() -> None:
    assert format_number(1234.5678, digits=0) == "1.235"
    assert format_number(1234.5678, digits=3) == "1.234,568"
    assert format_number(1234.5678, "en", digits=1) == "1,234.6"


@FAST
@given(n=st.integers(-(10**15), 10**15))
def test_format_integers_property(n: int) -> None:
    assert format_number(n, "en") == f"{n:,}"
    assert format_number(n, "vi") == f"{n:,}".replace(",", ".")
    assert "," not in format_number(n, "vi")


@FAST
@given(value=st.decimals(min_value=-(10**9), max_value=10**9, places=2))
def test_format_two_decimals_property(value: Decimal) -> None:
    whole, _, frac = f"{abs(value):.2f}".partition(".")
    frac = frac.rstrip("0")
    sign = "-" if value < 0 else ""
    en = f"{sign}{int(whole):,}" + (f".{frac}" if frac else "")
    vi = en.replace(",", "\0").replace(".", ",").replace("\0", ".")
    assert format_number(value, "en") == en
    assert format_number(value, "vi") == vi


def test_negative_value_rounding_to_zero_has_no_sign() -> None:
    assert format_number(-0.004) == "0"
    assert format_percent(-0.04) == "0%"


# --------------------------------------------------------------------------------------------
# Percentages
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "vi", "en"),
    [
        (80, "80%", "80%"),
        (66.666, "66,7%", "66.7%"),
        (66.67, "66,7%", "66.7%"),
        (0, "0%", "0%"),
        (100, "100%", "100%"),
        (100.0, "100%", "100%"),
        (12.5, "12,5%", "12.5%"),
        (0.35, "0,4%", "0.4%"),  # the float's decimal text, not its binary value 0.3499…
        (Decimal("33.33"), "33,3%", "33.3%"),
        (-5, "-5%", "-5%"),
        (1234.5, "1.234,5%", "1,234.5%"),
    ],
)
def test_format_percent(value: float | Decimal, vi: str, en: str) -> None:
    assert format_percent(value) == vi
    assert format_percent(value, "vi") == vi
    assert format_percent(value, "en") == en


def test_format_percent_digits() -> None:
    assert format_percent(66.666, digits=0) == "67%"
    assert format_percent(66.666, digits=2) == "66,67%"


@FAST
@given(n=st.integers(0, 10**6))
def test_format_percent_integers_property(n: int) -> None:
    assert format_percent(n, "en") == f"{n:,}%"
    assert format_percent(n, "vi") == f"{n:,}%".replace(",", ".")
