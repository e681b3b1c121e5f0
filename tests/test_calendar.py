"""Tests of core/calendar.py: periods, cut-offs, deadlines and working days.

The expected values are computed here independently of the product code (from the rules in
docs/plan-format.md, «Periods and cut-off» and «Deadlines»), and national holidays are taken
straight from the `holidays` package, not through WorkCalendar.
"""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path
from typing import Any

import holidays
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from core.calendar import (
    DEFAULT_HOLIDAY_RULE,
    DEFAULT_TZ,
    Period,
    ScheduleRule,
    WorkCalendar,
    deadline,
    make_deadline,
    occurrences,
    occurrences_between,
    period,
    periods_of_year,
    plan_occurrences,
)
from core.planfile import PlanSpec, load_plan

ROOT = Path(__file__).resolve().parent.parent
ICT = dt.timezone(dt.timedelta(hours=7))  # Asia/Ho_Chi_Minh: UTC+7, no DST since 1975
ONE_DAY = dt.timedelta(days=1)

YEARS = range(2000, 2101)
RECURRING = ("monthly", "quarterly", "half_year", "yearly")
COUNTS = {"monthly": 12, "quarterly": 4, "half_year": 2, "yearly": 1}
MONTHS_PER_PERIOD = {"monthly": 1, "quarterly": 3, "half_year": 6, "nine_month": 9, "yearly": 12}
CUTOFFS: list[Any] = ["decree09", "end", *({"day": n} for n in range(1, 29))]
HOLIDAY_RULES = ("next_working_day", "previous_working_day")
ALL_HOLIDAY_RULES = ("keep", *HOLIDAY_RULES)

# National holidays straight from the package, for every year a test may touch.
VN = holidays.country_holidays("VN", years=range(1999, 2102))

FAST = settings(max_examples=150, deadline=None)


def cutoff_id(cutoff: Any) -> str:
    return cutoff if isinstance(cutoff, str) else f"day{cutoff['day']}"


def cutoff_day(cutoff: Any) -> int | None:
    """The cut-off day per the docs: decree09 = 14, end = calendar month end (None)."""
    if cutoff == "decree09":
        return 14
    if cutoff == "end":
        return None
    return cutoff["day"]


def month_end(year: int, month: int) -> dt.date:
    return dt.date(year + month // 12, month % 12 + 1, 1) - ONE_DAY


def cutoff_date(cutoff: Any, year: int, month: int) -> dt.date:
    """The day a period whose last month is `year`-`month` ends."""
    day = cutoff_day(cutoff)
    return month_end(year, month) if day is None else dt.date(year, month, day)


def expected_keys(ptype: str, year: int) -> list[str]:
    return {
        "monthly": [f"{year}-{m:02d}" for m in range(1, 13)],
        "quarterly": [f"{year}-Q{q}" for q in range(1, 5)],
        "half_year": [f"{year}-H1", f"{year}-H2"],
        "yearly": [f"{year}"],
    }[ptype]


def is_working(
    day: dt.date,
    extra: frozenset[dt.date] = frozenset(),
    lieu: frozenset[dt.date] = frozenset(),
) -> bool:
    """Oracle: weekdays that are not a national or plan holiday, plus làm bù days."""
    if day in lieu:
        return True
    return day.weekday() < 5 and day not in VN and day not in extra


def oracle_shift(day: dt.date, step: int, **kw: Any) -> dt.date:
    while not is_working(day, **kw):
        day += dt.timedelta(days=step)
    return day


def expected_shift(raw: dt.date, holiday: str, **kw: Any) -> tuple[dt.date, dt.date | None]:
    """(last day, shifted_from) for an unshifted last day under a holiday rule, by the oracle:
    next_working_day is the default (Bộ luật Dân sự 2015, art. 148(5))."""
    if holiday == "keep":
        return raw, None
    moved = oracle_shift(raw, 1 if holiday == "next_working_day" else -1, **kw)
    return moved, (raw if moved != raw else None)


def due_at_for(last: dt.date, time: str | None) -> dt.datetime:
    if time:
        hh, mm = (int(x) for x in time.split(":"))
        return dt.datetime.combine(last, dt.time(hh, mm), ICT)
    return dt.datetime.combine(last + ONE_DAY, dt.time(0, 0), ICT)


def rule(period_type: str, cutoff: Any = "decree09", **kw: Any) -> ScheduleRule:
    return ScheduleRule(period=period_type, cutoff=cutoff, **kw)


# --------------------------------------------------------------------------------------------
# Periods tile the reporting year
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cutoff", CUTOFFS, ids=cutoff_id)
@pytest.mark.parametrize("ptype", RECURRING)
def test_periods_tile_the_reporting_year(ptype: str, cutoff: Any) -> None:
    r = rule(ptype, cutoff)
    months = MONTHS_PER_PERIOD[ptype]
    previous = periods_of_year(r, YEARS[0] - 1)
    for year in YEARS:
        ps = periods_of_year(r, year)
        assert len(ps) == COUNTS[ptype]
        assert [p.key for p in ps] == expected_keys(ptype, year)
        assert [p.index for p in ps] == list(range(1, COUNTS[ptype] + 1))
        assert all(p.type == ptype and p.year == year for p in ps)
        # No gap, no overlap with the previous reporting year...
        assert ps[0].start == previous[-1].end + ONE_DAY
        # ...nor between consecutive periods.
        for a, b in itertools.pairwise(ps):
            assert b.start == a.end + ONE_DAY
        for p in ps:
            assert p.start <= p.end
            assert p.first_month == (p.index - 1) * months + 1
            assert p.last_month == p.index * months
            assert p.end == cutoff_date(cutoff, year, p.last_month)
            assert period(r, year, p.index) == p
        # The reporting year: from the day after last year's December cut-off to this one's.
        assert ps[0].start == cutoff_date(cutoff, year - 1, 12) + ONE_DAY
        assert ps[-1].end == cutoff_date(cutoff, year, 12)
        previous = ps


@pytest.mark.parametrize("cutoff", CUTOFFS, ids=cutoff_id)
def test_nine_month_is_one_period_to_the_september_cutoff(cutoff: Any) -> None:
    for year in YEARS:
        (p,) = periods_of_year(rule("nine_month", cutoff), year)
        first_month = periods_of_year(rule("monthly", cutoff), year)[0]
        assert p.key == f"{year}-9M"
        assert p.type == "nine_month"
        assert p.index == 1
        assert p.start == first_month.start
        assert p.end == cutoff_date(cutoff, year, 9)
        assert (p.first_month, p.last_month) == (1, 9)


@pytest.mark.parametrize("ptype", [*RECURRING, "nine_month"])
def test_period_index_out_of_range(ptype: str) -> None:
    r = rule(ptype)
    count = COUNTS.get(ptype, 1)
    with pytest.raises(ValueError):
        period(r, 2022, 0)
    with pytest.raises(ValueError):
        period(r, 2022, count + 1)


def test_ad_hoc_has_no_periods() -> None:
    assert periods_of_year(rule("ad_hoc"), 2022) == []


# --------------------------------------------------------------------------------------------
# Decree 09 default and calendar periods
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cutoff", ["decree09", None, {"day": 14}])
def test_decree09_periods(cutoff: Any) -> None:
    r = ScheduleRule(period="monthly") if cutoff is None else rule("monthly", cutoff)
    if cutoff is None:
        assert r.cutoff == "decree09"  # the default
    p = period(r, 2022, 3)
    assert (p.key, p.start, p.end) == ("2022-03", dt.date(2022, 2, 15), dt.date(2022, 3, 14))
    p = period(r, 2022, 1)
    assert (p.start, p.end) == (dt.date(2021, 12, 15), dt.date(2022, 1, 14))

    q1 = period(rule("quarterly", cutoff or "decree09"), 2022, 1)
    assert (q1.key, q1.start, q1.end) == ("2022-Q1", dt.date(2021, 12, 15), dt.date(2022, 3, 14))
    q3 = period(rule("quarterly", cutoff or "decree09"), 2022, 3)
    assert (q3.start, q3.end) == (dt.date(2022, 6, 15), dt.date(2022, 9, 14))

    h2 = period(rule("half_year", cutoff or "decree09"), 2022, 2)
    assert (h2.key, h2.start, h2.end) == ("2022-H2", dt.date(2022, 6, 15), dt.date(2022, 12, 14))

    (y,) = periods_of_year(rule("yearly", cutoff or "decree09"), 2022)
    assert (y.key, y.start, y.end) == ("2022", dt.date(2021, 12, 15), dt.date(2022, 12, 14))


def test_cutoff_end_gives_calendar_periods() -> None:
    m = periods_of_year(rule("monthly", "end"), 2022)
    assert (m[0].start, m[0].end) == (dt.date(2022, 1, 1), dt.date(2022, 1, 31))
    assert (m[1].start, m[1].end) == (dt.date(2022, 2, 1), dt.date(2022, 2, 28))
    assert (m[11].start, m[11].end) == (dt.date(2022, 12, 1), dt.date(2022, 12, 31))
    feb_2024 = period(rule("monthly", "end"), 2024, 2)
    assert (feb_2024.start, feb_2024.end) == (dt.date(2024, 2, 1), dt.date(2024, 2, 29))
    q = periods_of_year(rule("quarterly", "end"), 2022)
    assert [(p.start, p.end) for p in q] == [
        (dt.date(2022, 1, 1), dt.date(2022, 3, 31)),
        (dt.date(2022, 4, 1), dt.date(2022, 6, 30)),
        (dt.date(2022, 7, 1), dt.date(2022, 9, 30)),
        (dt.date(2022, 10, 1), dt.date(2022, 12, 31)),
    ]
    h = periods_of_year(rule("half_year", "end"), 2022)
    assert [(p.start, p.end) for p in h] == [
        (dt.date(2022, 1, 1), dt.date(2022, 6, 30)),
        (dt.date(2022, 7, 1), dt.date(2022, 12, 31)),
    ]
    (y,) = periods_of_year(rule("yearly", "end"), 2022)
    assert (y.start, y.end) == (dt.date(2022, 1, 1), dt.date(2022, 12, 31))
    (nm,) = periods_of_year(rule("nine_month", "end"), 2022)
    assert (nm.key, nm.start, nm.end) == ("2022-9M", dt.date(2022, 1, 1), dt.date(2022, 9, 30))


# --------------------------------------------------------------------------------------------
# Deadlines
# --------------------------------------------------------------------------------------------


def expected_last_day(p: Period, due: dict[str, Any]) -> dt.date:
    """The rule of docs/plan-format.md «Deadlines», for `{day, before, month}`."""
    last_month = p.index * MONTHS_PER_PERIOD[p.type]
    month = due.get("month", "last")
    if month == "last":
        y, m = p.year, last_month
    elif month == "next":
        y, m = (p.year + 1, 1) if last_month == 12 else (p.year, last_month + 1)
    else:
        y, m = p.year, int(month)
    last = dt.date(y, m, due["day"])
    return last - ONE_DAY if due.get("before") else last


def check_deadline(r: ScheduleRule, p: Period) -> None:
    d = deadline(r, p)
    due = r.due or {}
    assert (d.last_day, d.shifted_from) == expected_shift(expected_last_day(p, due), r.holiday)
    expected = due_at_for(d.last_day, due.get("time"))
    assert d.due_at == expected
    assert d.due_at.utcoffset() == dt.timedelta(hours=7)
    assert d.due_at.isoformat() == expected.isoformat()
    assert d.due_at.tzinfo == DEFAULT_TZ


@pytest.mark.parametrize("holiday", ALL_HOLIDAY_RULES)
@pytest.mark.parametrize("cutoff", ["decree09", "end", {"day": 12}], ids=cutoff_id)
@pytest.mark.parametrize("ptype", [*RECURRING, "nine_month"])
def test_every_day_before_month_combination(ptype: str, cutoff: Any, holiday: str) -> None:
    months: list[Any] = ["last", "next"]
    if ptype in ("yearly", "half_year"):
        months += list(range(1, 13))
    for year in (2022, 2024):  # a leap year: «trước ngày 1/3» is 29/02
        ps = periods_of_year(rule(ptype, cutoff), year)
        for day in range(1, 29):
            for before in (False, True):
                for month in months:
                    r = rule(ptype, cutoff, due={"day": day, "before": before, "month": month},
                             holiday=holiday)
                    for p in ps:
                        check_deadline(r, p)


def test_month_defaults_to_last_and_before_to_false() -> None:
    r_default = rule("quarterly", due={"day": 20}, holiday="keep")
    r_explicit = rule("quarterly", due={"day": 20, "before": False, "month": "last"},
                      holiday="keep")
    for p in periods_of_year(r_default, 2022):
        assert deadline(r_default, p) == deadline(r_explicit, p)
        assert deadline(r_default, p).last_day == dt.date(2022, p.index * 3, 20)


def test_before_day_one_is_the_last_day_of_the_previous_month() -> None:
    r = rule("monthly", due={"day": 1, "before": True, "month": "next"}, holiday="keep")
    assert deadline(r, period(r, 2022, 2)).last_day == dt.date(2022, 2, 28)
    assert deadline(r, period(r, 2024, 2)).last_day == dt.date(2024, 2, 29)
    assert deadline(r, period(r, 2022, 12)).last_day == dt.date(2022, 12, 31)


def test_day_past_month_end_is_clamped_to_the_month_end() -> None:
    r = rule("monthly", "end", due={"day": 31}, holiday="keep")
    assert deadline(r, period(r, 2022, 2)).last_day == dt.date(2022, 2, 28)
    assert deadline(r, period(r, 2022, 4)).last_day == dt.date(2022, 4, 30)
    assert deadline(r, period(r, 2022, 5)).last_day == dt.date(2022, 5, 31)


times = st.builds(lambda h, m: f"{h:02d}:{m:02d}", st.integers(0, 23), st.integers(0, 59))


@st.composite
def due_rules(draw: st.DrawFn) -> ScheduleRule:
    ptype = draw(st.sampled_from([*RECURRING, "nine_month"]))
    months: list[Any] = [None, "last", "next"]
    if ptype in ("yearly", "half_year"):
        months += list(range(1, 13))
    due: dict[str, Any] = {"day": draw(st.integers(1, 28))}
    holiday = draw(st.sampled_from([None, *ALL_HOLIDAY_RULES]))  # None: the default
    before = draw(st.sampled_from([None, False, True]))
    if before is not None:
        due["before"] = before
    month = draw(st.sampled_from(months))
    if month is not None:
        due["month"] = month
    time = draw(st.none() | times)
    if time is not None:
        due["time"] = time
    extra = {} if holiday is None else {"holiday": holiday}
    return rule(ptype, draw(st.sampled_from(CUTOFFS)), due=due, **extra)


@FAST
@given(r=due_rules(), year=st.integers(2000, 2100))
def test_deadline_property(r: ScheduleRule, year: int) -> None:
    for p in periods_of_year(r, year):
        check_deadline(r, p)


@FAST
@given(
    ptype=st.sampled_from([*RECURRING, "nine_month"]),
    cutoff=st.sampled_from(CUTOFFS),
    year=st.integers(2000, 2100),
    days=st.integers(0, 90),
    time=st.none() | times,
    holiday=st.sampled_from(ALL_HOLIDAY_RULES),
)
def test_after_cutoff_days(ptype: str, cutoff: Any, year: int, days: int, time: str | None,
                           holiday: str) -> None:
    due: dict[str, Any] = {"after_cutoff_days": days}
    if time:
        due["time"] = time
    r = rule(ptype, cutoff, due=due, holiday=holiday)
    for p in periods_of_year(r, year):
        d = deadline(r, p)
        assert (d.last_day, d.shifted_from) == expected_shift(
            p.end + dt.timedelta(days=days), holiday)
        assert d.due_at == due_at_for(d.last_day, time)


def test_time_of_day() -> None:
    r = rule("monthly", {"day": 12}, due={"day": 12, "time": "17:00"})
    d = deadline(r, period(r, 2022, 12))
    assert d.last_day == dt.date(2022, 12, 12)
    assert d.due_at.isoformat() == "2022-12-12T17:00:00+07:00"


def test_other_time_zone() -> None:
    r = rule("monthly", {"day": 12}, due={"day": 13, "before": True})
    d = deadline(r, period(r, 2022, 12), tz=dt.UTC)
    assert d.due_at.isoformat() == "2022-12-13T00:00:00+00:00"


@pytest.mark.parametrize("due_date", ["2023-11-30", dt.date(2023, 11, 30)])
def test_one_off(due_date: Any) -> None:
    r = ScheduleRule(period="one_off", due={"date": due_date}, start=dt.date(2023, 1, 1))
    assert dt.date(2023, 11, 30).weekday() == 3  # a Thursday: no holiday rule moves it
    assert periods_of_year(r, 2022) == []
    assert periods_of_year(r, 2024) == []
    (p,) = periods_of_year(r, 2023)
    assert (p.type, p.key, p.start, p.end) == (
        "one_off",
        "2023-once",
        dt.date(2023, 1, 1),
        dt.date(2023, 11, 30),
    )
    d = deadline(r, p)
    assert d.last_day == dt.date(2023, 11, 30)
    assert d.due_at.isoformat() == "2023-12-01T00:00:00+07:00"
    assert d.shifted_from is None
    # Without `start` the period opens on 1 January.
    (p,) = periods_of_year(ScheduleRule(period="one_off", due={"date": due_date}), 2023)
    assert p.start == dt.date(2023, 1, 1)
    # Without a date there is nothing to schedule.
    assert periods_of_year(ScheduleRule(period="one_off"), 2023) == []


def test_one_off_with_time() -> None:
    r = ScheduleRule(period="one_off", due={"date": "2023-06-30", "time": "16:30"})
    (occ,) = occurrences(r, [2023])
    assert occ.deadline.due_at.isoformat() == "2023-06-30T16:30:00+07:00"


# --------------------------------------------------------------------------------------------
# The Đống Đa plan: «báo cáo tháng trước ngày 13 hàng tháng; báo cáo quý trước ngày 13 tháng
# cuối quý; báo cáo năm trước ngày 13/12»
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dongda() -> PlanSpec:
    return load_plan(ROOT / "plans" / "dongda-2022.yaml")


def dongda_rule(plan: PlanSpec, code: str, holiday: str | None = None) -> ScheduleRule:
    """A schedule's rule; `holiday` None: the rule the plan file chooses (or its default)."""
    s = plan.schedule(code)
    return ScheduleRule(
        period=s.period,
        cutoff=s.cutoff if isinstance(s.cutoff, str) else s.cutoff.model_dump(),
        due=s.due.model_dump(mode="json", exclude_defaults=True) if s.due else None,
        holiday=holiday or s.holiday,
        calendar=WorkCalendar.from_dict(plan.doc.calendar.model_dump(mode="json")),
    )


DONGDA = {"thang": "monthly", "quy": "quarterly", "nam": "yearly"}


def test_dongda_rules_are_the_seed_wording(dongda: PlanSpec) -> None:
    by_code = {s.code: s for s in dongda.doc.schedules}
    assert by_code["thang"].wording == "báo cáo tháng trước ngày 13 hàng tháng"
    assert by_code["quy"].wording == "báo cáo quý trước ngày 13 tháng cuối quý"
    assert by_code["nam"].wording == "báo cáo năm trước ngày 13/12"
    raw_doc = yaml.safe_load(Path(dongda.source).read_text("utf-8"))
    raw = {s["code"]: s for s in raw_doc["schedules"]}
    for code, ptype in DONGDA.items():
        s = by_code[code]
        assert s.period == ptype
        assert s.cutoff.model_dump() == {"day": 12}  # type: ignore[union-attr]
        assert s.due is not None and s.due.day == 13 and s.due.before is True
        assert s.due.month == "last"
        # The plan says which rule it follows, for the schedule or for all (`defaults`), and
        # why in a comment next to it; what it says is what the schedule gets.
        stated = raw[code].get("holiday", raw_doc.get("defaults", {}).get("holiday"))
        assert stated in ALL_HOLIDAY_RULES
        assert s.holiday == stated


def test_dongda_monthly(dongda: PlanSpec) -> None:
    occs = list(occurrences(dongda_rule(dongda, "thang", "keep"), [2022]))
    assert len(occs) == 12
    assert [o.period.key for o in occs] == [f"2022-{m:02d}" for m in range(1, 13)]
    assert [o.deadline.due_at.isoformat() for o in occs] == [
        f"2022-{m:02d}-13T00:00:00+07:00" for m in range(1, 13)
    ]
    assert [o.deadline.last_day for o in occs] == [dt.date(2022, m, 12) for m in range(1, 13)]
    assert all(o.deadline.shifted_from is None for o in occs)
    # Data cut-off on the 12th: 13/12/2021–12/01/2022, …, 13/11–12/12/2022.
    assert (occs[0].period.start, occs[0].period.end) == (
        dt.date(2021, 12, 13),
        dt.date(2022, 1, 12),
    )
    assert (occs[-1].period.start, occs[-1].period.end) == (
        dt.date(2022, 11, 13),
        dt.date(2022, 12, 12),
    )


def test_dongda_quarterly(dongda: PlanSpec) -> None:
    occs = list(occurrences(dongda_rule(dongda, "quy", "keep"), [2022]))
    assert [o.period.key for o in occs] == ["2022-Q1", "2022-Q2", "2022-Q3", "2022-Q4"]
    assert [o.deadline.due_at.isoformat() for o in occs] == [
        "2022-03-13T00:00:00+07:00",
        "2022-06-13T00:00:00+07:00",
        "2022-09-13T00:00:00+07:00",
        "2022-12-13T00:00:00+07:00",
    ]
    assert [o.deadline.last_day for o in occs] == [
        dt.date(2022, 3, 12),
        dt.date(2022, 6, 12),
        dt.date(2022, 9, 12),
        dt.date(2022, 12, 12),
    ]


def test_dongda_yearly(dongda: PlanSpec) -> None:
    (occ,) = occurrences(dongda_rule(dongda, "nam", "keep"), [2022])
    assert occ.period.key == "2022"
    assert (occ.period.start, occ.period.end) == (dt.date(2021, 12, 13), dt.date(2022, 12, 12))
    assert occ.deadline.last_day == dt.date(2022, 12, 12)
    assert occ.deadline.due_at.isoformat() == "2022-12-13T00:00:00+07:00"
    assert occ.deadline.due_at == dt.datetime(2022, 12, 12, 17, 0, tzinfo=dt.UTC)


def test_dongda_under_the_plans_own_rule(dongda: PlanSpec) -> None:
    """Whatever rule the plan file chooses, each last day is the 12th moved by that rule."""
    extra = frozenset(dongda.doc.calendar.holidays)
    lieu = frozenset(dongda.doc.calendar.working_days)
    for code in DONGDA:
        r = dongda_rule(dongda, code)
        for occ in occurrences(r, [2022]):
            raw = dt.date(2022, occ.period.last_month, 12)
            got = (occ.deadline.last_day, occ.deadline.shifted_from)
            assert got == expected_shift(raw, r.holiday, extra=extra, lieu=lieu), occ
            if r.holiday != "keep":
                assert is_working(occ.deadline.last_day, extra, lieu)


def test_a_saturday_deadline_under_each_rule(dongda: PlanSpec) -> None:
    # 12/03/2022 is a Saturday: keep leaves it, the default moves it to Monday 14/03 (late
    # from Tuesday 00:00), previous_working_day to Friday 11/03.
    assert dt.date(2022, 3, 12).weekday() == 5
    expected = {
        "keep": (dt.date(2022, 3, 12), None, "2022-03-13T00:00:00+07:00"),
        "next_working_day": (dt.date(2022, 3, 14), dt.date(2022, 3, 12),
                             "2022-03-15T00:00:00+07:00"),
        "previous_working_day": (dt.date(2022, 3, 11), dt.date(2022, 3, 12),
                                 "2022-03-12T00:00:00+07:00"),
    }
    for holiday, want in expected.items():
        (q1, *_rest) = occurrences(dongda_rule(dongda, "quy", holiday), [2022])
        d = q1.deadline
        assert (d.last_day, d.shifted_from, d.due_at.isoformat()) == want


def test_dongda_weekend_deadlines_figures(dongda: PlanSpec) -> None:
    """Issue 11 §2: with keep, 216 of Đống Đa's 612 obligations (35%) fall due on a Saturday
    or a Sunday; with the default rule none falls on a non-working day."""
    def last_days(holiday: str) -> list[dt.date]:
        return [occ.deadline.last_day
                for code in DONGDA
                for occ in occurrences(dongda_rule(dongda, code, holiday), [2022])
                for _agency in dongda.assignments[code]]

    kept = last_days("keep")
    assert len(kept) == 612
    assert sum(d.weekday() >= 5 for d in kept) == 216
    moved = last_days(DEFAULT_HOLIDAY_RULE)
    assert len(moved) == 612
    assert not any(d.weekday() >= 5 or d in VN for d in moved)
    assert sum(a != b for a, b in zip(kept, moved, strict=True)) == 216
    assert DEFAULT_HOLIDAY_RULE == "next_working_day"


# --------------------------------------------------------------------------------------------
# Holidays and working days
# --------------------------------------------------------------------------------------------


def test_oracle_agrees_with_work_calendar_on_2022() -> None:
    cal = WorkCalendar()
    day = dt.date(2022, 1, 1)
    while day.year == 2022:
        assert cal.is_working_day(day) == is_working(day), day
        day += ONE_DAY


def test_tet_2022() -> None:
    tet = dt.date(2022, 2, 1)
    assert tet in VN  # Lunar New Year
    assert not WorkCalendar().is_working_day(tet)
    assert WorkCalendar().holiday_name(tet) == VN.get(tet)
    first_after = tet + ONE_DAY
    while first_after.weekday() >= 5 or first_after in VN:
        first_after += ONE_DAY
    # 31/01–04/02 are holidays, 05–06/02 the weekend.
    assert first_after == dt.date(2022, 2, 7)
    last_before = tet - ONE_DAY
    while last_before.weekday() >= 5 or last_before in VN:
        last_before -= ONE_DAY
    assert last_before == dt.date(2022, 1, 28)

    d = make_deadline(tet, None, "next_working_day", WorkCalendar())
    assert (d.last_day, d.shifted_from) == (first_after, tet)
    assert d.due_at.isoformat() == "2022-02-08T00:00:00+07:00"
    d = make_deadline(tet, "17:00", "previous_working_day", WorkCalendar())
    assert (d.last_day, d.shifted_from) == (last_before, tet)
    assert d.due_at.isoformat() == "2022-01-28T17:00:00+07:00"
    d = make_deadline(tet, None, "keep", WorkCalendar())
    assert (d.last_day, d.shifted_from) == (tet, None)

    # Through a rule: a monthly report due «ngày 1 tháng sau» for January 2022.
    r = rule("monthly", "end", due={"day": 1, "month": "next"}, holiday="next_working_day")
    d = deadline(r, period(r, 2022, 1))
    assert (d.last_day, d.shifted_from) == (dt.date(2022, 2, 7), tet)


def test_plan_holidays_are_honoured() -> None:
    # 01/09 and 02/09/2022 are national holidays (Thu, Fri); then a weekend.
    national_day = dt.date(2022, 9, 1)
    d = make_deadline(national_day, None, "next_working_day", WorkCalendar())
    assert d.last_day == dt.date(2022, 9, 5)
    cal = WorkCalendar.from_dict({"holidays": ["2022-09-05", dt.date(2022, 9, 6)]})
    assert cal.is_holiday(dt.date(2022, 9, 5))
    assert cal.holiday_name(dt.date(2022, 9, 5)) == "plan holiday"
    assert not cal.is_working_day(dt.date(2022, 9, 6))
    d = make_deadline(national_day, None, "next_working_day", cal)
    assert (d.last_day, d.shifted_from) == (dt.date(2022, 9, 7), national_day)
    # A plan holiday on an ordinary Wednesday moves a deadline too.
    d = make_deadline(dt.date(2022, 9, 6), None, "previous_working_day", cal)
    assert (d.last_day, d.shifted_from) == (dt.date(2022, 8, 31), dt.date(2022, 9, 6))


def test_lieu_working_days_are_honoured() -> None:
    saturday = dt.date(2022, 1, 8)
    assert saturday.weekday() == 5
    cal = WorkCalendar.from_dict({"working_days": ["2022-01-08"]})
    assert cal.is_working_day(saturday)
    assert not WorkCalendar().is_working_day(saturday)
    d = make_deadline(saturday, None, "next_working_day", cal)
    assert (d.last_day, d.shifted_from) == (saturday, None)
    d = make_deadline(saturday, None, "next_working_day", WorkCalendar())
    assert (d.last_day, d.shifted_from) == (dt.date(2022, 1, 10), saturday)
    sunday = dt.date(2022, 1, 9)
    d = make_deadline(sunday, None, "previous_working_day", cal)
    assert (d.last_day, d.shifted_from) == (saturday, sunday)
    d = make_deadline(sunday, None, "previous_working_day", WorkCalendar())
    assert (d.last_day, d.shifted_from) == (dt.date(2022, 1, 7), sunday)


def test_from_dict_empty() -> None:
    assert WorkCalendar.from_dict(None) == WorkCalendar()
    assert WorkCalendar.from_dict({}) == WorkCalendar()


dates = st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2100, 12, 31))
extra_days = st.frozensets(dates, max_size=5)


@st.composite
def calendars(draw: st.DrawFn) -> tuple[WorkCalendar, frozenset[dt.date], frozenset[dt.date]]:
    """A plan calendar, with extra holidays and làm bù days near a drawn anchor."""
    anchor = draw(dates)
    near = st.integers(-10, 10).map(lambda n: anchor + dt.timedelta(days=n))
    extra = draw(st.frozensets(near, max_size=4))
    lieu = draw(st.frozensets(near.filter(lambda d: d.weekday() >= 5), max_size=2)) - extra
    cal = WorkCalendar.from_dict(
        {"holidays": [d.isoformat() for d in extra], "working_days": sorted(lieu)}
    )
    return cal, extra, lieu


def check_shift(
    original: dt.date,
    holiday: str,
    d: Any,
    cal: WorkCalendar,
    extra: frozenset[dt.date] = frozenset(),
    lieu: frozenset[dt.date] = frozenset(),
) -> None:
    step = 1 if holiday == "next_working_day" else -1
    moved = d.last_day
    # Lands on a working day, by the calendar and by the oracle.
    assert cal.is_working_day(moved)
    assert is_working(moved, extra, lieu)
    if moved not in lieu:
        assert moved.weekday() < 5
        assert moved not in VN
        assert moved not in extra
    # In the right direction, and the nearest one.
    assert (moved - original).days * step >= 0
    day = original
    while day != moved:
        assert not is_working(day, extra, lieu), day
        day += dt.timedelta(days=step)
    assert moved == oracle_shift(original, step, extra=extra, lieu=lieu)
    # shifted_from is set iff the day moved.
    if moved == original:
        assert d.shifted_from is None
        assert is_working(original, extra, lieu)
    else:
        assert d.shifted_from == original
        assert not is_working(original, extra, lieu)


@FAST
@given(day=dates, holiday=st.sampled_from(HOLIDAY_RULES), time=st.none() | times)
def test_shift_property_national(day: dt.date, holiday: str, time: str | None) -> None:
    cal = WorkCalendar()
    d = make_deadline(day, time, holiday, cal)
    check_shift(day, holiday, d, cal)
    assert d.due_at == due_at_for(d.last_day, time)


@FAST
@given(cal_etc=calendars(), offset=st.integers(-10, 10), holiday=st.sampled_from(HOLIDAY_RULES))
def test_shift_property_plan_calendar(
    cal_etc: tuple[WorkCalendar, frozenset[dt.date], frozenset[dt.date]],
    offset: int,
    holiday: str,
) -> None:
    cal, extra, lieu = cal_etc
    pivot = min(extra | lieu, default=dt.date(2022, 2, 1))
    day = pivot + dt.timedelta(days=offset)
    d = make_deadline(day, None, holiday, cal)
    check_shift(day, holiday, d, cal, extra, lieu)


@FAST
@given(r=due_rules(), year=st.integers(2000, 2100), holiday=st.sampled_from(HOLIDAY_RULES))
def test_shift_property_through_rules(r: ScheduleRule, year: int, holiday: str) -> None:
    shifting = ScheduleRule(period=r.period, cutoff=r.cutoff, due=r.due, holiday=holiday)
    keeping = ScheduleRule(period=r.period, cutoff=r.cutoff, due=r.due, holiday="keep")
    for p in periods_of_year(r, year):
        kept = deadline(keeping, p)
        d = deadline(shifting, p)
        check_shift(kept.last_day, holiday, d, shifting.calendar)
        assert d.due_at == due_at_for(d.last_day, (r.due or {}).get("time"))


@FAST
@given(day=dates, time=st.none() | times, cal_etc=calendars())
def test_keep_never_moves(
    day: dt.date,
    time: str | None,
    cal_etc: tuple[WorkCalendar, frozenset[dt.date], frozenset[dt.date]],
) -> None:
    for cal in (WorkCalendar(), cal_etc[0]):
        d = make_deadline(day, time, "keep", cal)
        assert (d.last_day, d.shifted_from) == (day, None)
        assert d.due_at == due_at_for(day, time)


def test_keep_on_tet_and_on_a_sunday() -> None:
    for day in (dt.date(2022, 2, 1), dt.date(2022, 2, 6)):
        r = rule("monthly", "end", due={"day": day.day, "month": "next"}, holiday="keep")
        d = deadline(r, period(r, 2022, 1))
        assert (d.last_day, d.shifted_from) == (day, None)


# --------------------------------------------------------------------------------------------
# The default rule (issue 11 §2): Bộ luật Dân sự 2015, article 148(5)
# --------------------------------------------------------------------------------------------


def test_the_default_rule_is_the_next_working_day() -> None:
    assert DEFAULT_HOLIDAY_RULE == "next_working_day"
    assert ScheduleRule(period="monthly").holiday == "next_working_day"
    # Without a holiday rule, a last day on Sunday 12/06/2022 moves to Monday 13/06.
    r = ScheduleRule(period="monthly", cutoff={"day": 12}, due={"day": 12})
    d = deadline(r, period(r, 2022, 6))
    assert (d.last_day, d.shifted_from) == (dt.date(2022, 6, 13), dt.date(2022, 6, 12))
    assert d.due_at.isoformat() == "2022-06-14T00:00:00+07:00"


def test_an_unknown_holiday_rule_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown holiday rule"):
        make_deadline(dt.date(2022, 6, 12), None, "nearest_working_day", WorkCalendar())


def test_every_day_of_2020_to_2030_under_each_rule() -> None:
    """Exhaustive: each day as a last day, each rule, national holidays only."""
    cal = WorkCalendar()
    day = dt.date(2020, 1, 1)
    while day <= dt.date(2030, 12, 31):
        for holiday in ALL_HOLIDAY_RULES:
            d = make_deadline(day, None, holiday, cal)
            assert (d.last_day, d.shifted_from) == expected_shift(day, holiday), (day, holiday)
            if holiday == "keep":
                continue
            assert cal.is_working_day(d.last_day)
            assert d.last_day.weekday() < 5 and d.last_day not in VN
            if holiday == "next_working_day":
                assert d.last_day >= day
            else:
                assert d.last_day <= day
            assert d.due_at == due_at_for(d.last_day, None)
        day += ONE_DAY


def named_days(year: int, *words: str) -> list[dt.date]:
    return sorted(d for d, name in VN.items()
                  if d.year == year and any(w in name for w in words))


@pytest.mark.parametrize("year", range(2020, 2031))
def test_tet_30_4_1_5_and_2_9_each_year(year: int) -> None:
    """The national holidays come from the `holidays` package: Tết (several days), 30/4 and
    1/5, 2/9 (and the days observed in lieu) are never a last day under either shift."""
    cal = WorkCalendar()
    tet = named_days(year, "Lunar New Year")
    assert len(tet) >= 4
    fixed = [dt.date(year, 4, 30), dt.date(year, 5, 1), dt.date(year, 9, 2)]
    observed = named_days(year, "observed")
    for day in [*tet, *fixed, *observed]:
        assert day in VN and not cal.is_working_day(day)
        after = make_deadline(day, None, "next_working_day", cal)
        before = make_deadline(day, None, "previous_working_day", cal)
        assert after.shifted_from == before.shifted_from == day
        assert before.last_day < day < after.last_day
        for moved, step in ((after, 1), (before, -1)):
            assert is_working(moved.last_day)
            gap = day
            while gap != moved.last_day:  # only days off in between
                assert not is_working(gap)
                gap += dt.timedelta(days=step)
    # The whole Tết break moves to the first working day after it.
    first_after = max(tet) + ONE_DAY
    while not is_working(first_after):
        first_after += ONE_DAY
    assert {make_deadline(d, None, "next_working_day", cal).last_day for d in tet} == {
        first_after}


@FAST
@given(cal_etc=calendars(), offset=st.integers(-10, 10), holiday=st.sampled_from(HOLIDAY_RULES),
       year=st.integers(2020, 2030))
def test_plan_holidays_and_lieu_days_2020_2030(
    cal_etc: tuple[WorkCalendar, frozenset[dt.date], frozenset[dt.date]],
    offset: int,
    holiday: str,
    year: int,
) -> None:
    """Plan holidays and làm bù days, moved into 2020–2030 around a day near Tết."""
    _cal, extra, lieu = cal_etc
    anchor = min(extra | lieu, default=dt.date(2000, 1, 1))
    shift = dt.date(year, 1, 20) - anchor
    extra = frozenset(d + shift for d in extra)
    lieu = frozenset(d + shift for d in lieu if (d + shift).weekday() >= 5) - extra
    cal = WorkCalendar.from_dict({"holidays": sorted(extra), "working_days": sorted(lieu)})
    day = dt.date(year, 1, 20) + dt.timedelta(days=offset)
    d = make_deadline(day, None, holiday, cal)
    check_shift(day, holiday, d, cal, extra, lieu)
    assert (d.last_day, d.shifted_from) == expected_shift(day, holiday, extra=extra, lieu=lieu)


# --------------------------------------------------------------------------------------------
# plan_occurrences: what a plan has (the importer and `plan calendar` both use it)
# --------------------------------------------------------------------------------------------


def test_plan_occurrences_respect_the_plan_start() -> None:
    """Hà Nội's dispatch 667 was signed on 06/03/2020: no report for January or February."""
    r = rule("monthly", due={"day": 20, "month": "last"})
    occs = plan_occurrences(r, dt.date(2020, 3, 6), dt.date(2020, 12, 31))
    assert [o.period.key for o in occs] == [f"2020-{m:02d}" for m in range(3, 13)]
    # March (15/02–14/03) overlaps the plan; it is due on Friday 20/03/2020.
    assert occs[0].period.start == dt.date(2020, 2, 15)
    assert occs[0].deadline.last_day == dt.date(2020, 3, 20)
    q = plan_occurrences(rule("quarterly", due={"day": 20}), dt.date(2020, 3, 6),
                         dt.date(2020, 12, 31))
    assert [o.period.key for o in q] == ["2020-Q1", "2020-Q2", "2020-Q3", "2020-Q4"]


def test_plan_occurrences_respect_a_schedule_start_and_the_plan_end() -> None:
    r = rule("monthly", "end", due={"day": 5, "month": "next"}, start=dt.date(2022, 7, 1))
    occs = plan_occurrences(r, dt.date(2022, 1, 1), dt.date(2022, 10, 31))
    assert [o.period.key for o in occs] == [f"2022-{m:02d}" for m in range(7, 11)]
    late = rule("monthly", "end", due={"day": 5, "month": "next"}, start=dt.date(2023, 2, 1))
    assert plan_occurrences(late, dt.date(2022, 1, 1), dt.date(2022, 12, 31)) == []
    # Periods labelled with a year after the plan's are not the plan's, even if they overlap.
    r = rule("monthly", due={"day": 20})
    keys = [o.period.key for o in plan_occurrences(r, dt.date(2022, 1, 1), dt.date(2022, 12, 31))]
    assert keys == [f"2022-{m:02d}" for m in range(1, 13)]


def test_plan_occurrences_of_one_off_and_ad_hoc() -> None:
    plan = (dt.date(2023, 1, 1), dt.date(2023, 12, 31))
    # A one-off due after the plan ends (the plan file allows up to a year) is the plan's.
    r = ScheduleRule(period="one_off", due={"date": "2024-01-15"}, start=dt.date(2023, 1, 1))
    (occ,) = plan_occurrences(r, *plan)
    assert (occ.period.key, occ.period.start, occ.deadline.last_day) == (
        "2024-once", dt.date(2023, 1, 1), dt.date(2024, 1, 15))
    r = ScheduleRule(period="one_off", due={"date": "2023-11-30"}, start=dt.date(2023, 1, 1))
    assert [o.period.key for o in plan_occurrences(r, *plan)] == ["2023-once"]
    assert plan_occurrences(ScheduleRule(period="ad_hoc"), *plan) == []


@FAST
@given(r=due_rules(), a=dates, b=dates)
def test_plan_occurrences_property(r: ScheduleRule, a: dt.date, b: dt.date) -> None:
    """Recurring: the periods labelled with the plan's years that overlap the plan."""
    start, end = min(a, b), max(a, b)
    start = max(start, end - dt.timedelta(days=800))
    years = range(start.year, end.year + 1)
    expected = [o for o in occurrences(r, years)
                if o.period.end >= start and o.period.start <= end]
    assert plan_occurrences(r, start, end) == expected


# --------------------------------------------------------------------------------------------
# add_working_days
# --------------------------------------------------------------------------------------------


@FAST
@given(day=dates, count=st.integers(-40, 40).filter(bool), cal_etc=calendars())
def test_add_working_days_property(
    day: dt.date,
    count: int,
    cal_etc: tuple[WorkCalendar, frozenset[dt.date], frozenset[dt.date]],
) -> None:
    for cal, extra, lieu in ((WorkCalendar(), frozenset(), frozenset()), cal_etc):
        result = cal.add_working_days(day, count)
        assert cal.is_working_day(result)
        assert is_working(result, extra, lieu)
        if count > 0:
            assert result > day
            crossed = [day + dt.timedelta(days=i) for i in range(1, (result - day).days + 1)]
        else:
            assert result < day
            crossed = [result + dt.timedelta(days=i) for i in range((day - result).days)]
        assert sum(is_working(d, extra, lieu) for d in crossed) == abs(count)


def test_add_working_days_examples() -> None:
    cal = WorkCalendar()
    assert cal.add_working_days(dt.date(2022, 1, 28), 1) == dt.date(2022, 2, 7)  # Tết
    assert cal.add_working_days(dt.date(2022, 2, 7), -1) == dt.date(2022, 1, 28)
    assert cal.add_working_days(dt.date(2022, 12, 12), 5) == dt.date(2022, 12, 19)
    assert cal.add_working_days(dt.date(2022, 12, 12), 0) == dt.date(2022, 12, 12)


# --------------------------------------------------------------------------------------------
# occurrences(within=...) and occurrences_between
# --------------------------------------------------------------------------------------------


def test_occurrences_within_a_plan() -> None:
    r = rule("monthly", "end", due={"day": 5, "month": "next"})
    plan = (dt.date(2022, 4, 1), dt.date(2022, 9, 30))
    occs = list(occurrences(r, [2021, 2022, 2023], within=plan))
    assert [o.period.key for o in occs] == [f"2022-{m:02d}" for m in range(4, 10)]
    for o in occs:
        assert o.deadline == deadline(r, o.period)


def test_occurrences_within_keeps_periods_that_overlap_the_plan() -> None:
    # Decree 09: 2023-01 runs 15/12/2022–14/01/2023 and so overlaps a 2022 plan.
    r = rule("monthly", due={"day": 20})
    plan = (dt.date(2022, 1, 1), dt.date(2022, 12, 31))
    keys = [o.period.key for o in occurrences(r, [2021, 2022, 2023], within=plan)]
    assert keys == [f"2022-{m:02d}" for m in range(1, 13)] + ["2023-01"]
    keys = [o.period.key for o in occurrences(r, [2022], within=plan)]
    assert keys == [f"2022-{m:02d}" for m in range(1, 13)]


@st.composite
def any_rules(draw: st.DrawFn) -> ScheduleRule:
    r = draw(due_rules())
    kind = draw(st.sampled_from(["day", "after", "one_off"]))
    holiday = draw(st.sampled_from(["keep", *HOLIDAY_RULES]))
    if kind == "after":
        due = {"after_cutoff_days": draw(st.integers(0, 60))}
        return ScheduleRule(period=r.period, cutoff=r.cutoff, due=due, holiday=holiday)
    if kind == "one_off":
        return ScheduleRule(period="one_off", due={"date": draw(dates)}, holiday=holiday)
    return ScheduleRule(period=r.period, cutoff=r.cutoff, due=r.due, holiday=holiday)


@FAST
@given(r=any_rules(), a=dates, b=dates)
def test_occurrences_within_property(r: ScheduleRule, a: dt.date, b: dt.date) -> None:
    start, end = min(a, b), max(a, b)
    start = max(start, end - dt.timedelta(days=800))  # keep the run short
    years = range(start.year - 1, end.year + 2)
    everything = list(occurrences(r, years))
    inside = list(occurrences(r, years, within=(start, end)))
    assert inside == [o for o in everything if o.period.end >= start and o.period.start <= end]


@FAST
@given(r=any_rules(), a=dates, b=dates)
def test_occurrences_between_property(r: ScheduleRule, a: dt.date, b: dt.date) -> None:
    start, end = min(a, b), max(a, b)
    start = max(start, end - dt.timedelta(days=800))
    # Brute force over a wider span of years than a deadline can stray from its period.
    wide = occurrences(r, range(start.year - 3, end.year + 4))
    expected = [o for o in wide if start <= o.deadline.last_day <= end]
    assert occurrences_between(r, start, end) == expected


def test_occurrences_between_examples() -> None:
    r = rule("monthly", {"day": 12}, due={"day": 13, "before": True})
    occs = occurrences_between(r, dt.date(2022, 3, 1), dt.date(2022, 5, 31))
    assert [o.period.key for o in occs] == ["2022-03", "2022-04", "2022-05"]
    # A December period due in January of the next year is found from January's side.
    r = rule("monthly", "end", due={"day": 10, "month": "next"})
    occs = occurrences_between(r, dt.date(2023, 1, 1), dt.date(2023, 1, 31))
    assert [o.period.key for o in occs] == ["2022-12"]
    assert occs[0].deadline.last_day == dt.date(2023, 1, 10)
    assert occurrences_between(r, dt.date(2023, 1, 11), dt.date(2023, 2, 9)) == []
