"""core.lateness: one decision for whether a report is late, and by how many days.

A report's timeliness is that of its first submission; a correction after a return is a
supplement («bổ sung»), on time within the working days the return gave (or before the
report's own deadline), late by the days beyond them otherwise.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from core.calendar import WorkCalendar
from core.lateness import (
    SUPPLEMENT_WORKING_DAYS,
    days_late,
    decide,
    last_day,
    supplement_due,
)

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
CAL = WorkCalendar()
START = dt.datetime(2021, 1, 1, tzinfo=TZ)


def local(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=TZ)


# Instants over two years, to the minute; deadlines are the start of a local day.
instants = st.integers(0, 2 * 365 * 24 * 60).map(lambda m: START + dt.timedelta(minutes=m))
deadlines = st.integers(0, 2 * 365).map(lambda d: START + dt.timedelta(days=d))
gaps = st.integers(0, 60 * 24 * 60).map(lambda m: dt.timedelta(minutes=m))


# ----------------------------------------------------------------------------- examples


def test_the_march_report_returned_and_corrected_within_the_time_given_is_on_time() -> None:
    # Last day Friday 11/03; sent Saturday 05/03; returned Monday 14/03 (after the last day);
    # corrected Friday 18/03, within 5 working days of the return (to the end of 21/03).
    due = local("2022-03-12T00:00")
    verdict = decide(due_at=due, first_submitted_at=local("2022-03-05T08:00"),
                     returned_at=local("2022-03-14T09:00"),
                     submitted_at=local("2022-03-18T10:00"), tz=TZ)
    assert verdict.on_time and verdict.supplement and verdict.late_days == 0
    assert verdict.last_day(TZ) == dt.date(2022, 3, 21)
    # The old rule counted it against the original deadline: 7 days late.
    assert days_late(due, local("2022-03-18T10:00"), TZ) == 7


def test_a_correction_after_the_time_given_is_late_by_the_days_beyond_it() -> None:
    verdict = decide(due_at=local("2022-03-12T00:00"),
                     first_submitted_at=local("2022-03-05T08:00"),
                     returned_at=local("2022-03-14T09:00"),
                     submitted_at=local("2022-03-24T10:00"), tz=TZ)
    assert verdict.supplement and verdict.late_days == 3 and verdict.supplement_late_days == 3


def test_the_time_given_skips_weekends_and_holidays() -> None:
    # Returned Friday 29/04/2022: 30/04 and 01/05 are holidays, 02/05 and 03/05 days off in
    # lieu, so 5 working days run from Wednesday 04/05 to Tuesday 10/05.
    due = supplement_due(local("2022-04-29T16:00"), TZ, CAL)
    assert last_day(due, TZ) == dt.date(2022, 5, 10)
    plan = WorkCalendar(extra_holidays=frozenset({dt.date(2022, 5, 10)}))
    assert last_day(supplement_due(local("2022-04-29T16:00"), TZ, plan), TZ) == dt.date(2022, 5, 11)


def test_a_first_submission_is_never_a_supplement() -> None:
    verdict = decide(due_at=local("2022-03-12T00:00"), submitted_at=local("2022-03-14T10:00"),
                     tz=TZ)
    assert (verdict.late_days, verdict.supplement, verdict.supplement_due_at) == (3, False, None)
    # Returned before it was ever sent (cannot happen) changes nothing either.
    same = decide(due_at=local("2022-03-12T00:00"), submitted_at=local("2022-03-14T10:00"),
                  returned_at=local("2022-03-13T10:00"), tz=TZ)
    assert same == verdict


# ----------------------------------------------------------------------------- properties


@settings(max_examples=300, deadline=None)
@given(deadlines, instants)
def test_a_first_submission_is_late_exactly_from_the_deadline(due: dt.datetime,
                                                              sent: dt.datetime) -> None:
    verdict = decide(due_at=due, submitted_at=sent, tz=TZ)
    assert not verdict.supplement and verdict.first_late_days == verdict.late_days
    assert verdict.on_time == (sent < due)
    if not verdict.on_time:
        assert verdict.late_days == (sent.date() - last_day(due, TZ)).days >= 1


@settings(max_examples=300, deadline=None)
@given(deadlines, instants, gaps, gaps)
def test_a_supplement_is_judged_by_the_time_the_return_gave(
        due: dt.datetime, first: dt.datetime, to_return: dt.timedelta,
        to_correction: dt.timedelta) -> None:
    returned = first + to_return
    sent = returned + to_correction + dt.timedelta(minutes=1)
    verdict = decide(due_at=due, first_submitted_at=first, returned_at=returned,
                     submitted_at=sent, tz=TZ, calendar=CAL)
    window = max(due, supplement_due(returned, TZ, CAL))
    assert verdict.supplement and verdict.supplement_due_at == window
    # The first submission decides the report's timeliness ...
    assert verdict.first_late_days == days_late(due, first, TZ)
    assert verdict.late_days >= verdict.first_late_days
    # ... and the supplement is late only beyond the time the return gave.
    assert (verdict.supplement_late_days == 0) == (sent < window)
    if verdict.first_late_days == 0:
        assert verdict.on_time == (sent < window)
        assert verdict.late_days == verdict.supplement_late_days
    # Never judged more harshly than against the report's own deadline.
    assert verdict.supplement_late_days <= days_late(due, sent, TZ)


@settings(max_examples=200, deadline=None)
@given(instants)
def test_the_time_given_is_the_working_days_after_the_return(returned: dt.datetime) -> None:
    end = last_day(supplement_due(returned, TZ, CAL), TZ)
    day = returned.astimezone(TZ).date()
    between = [day + dt.timedelta(days=i) for i in range(1, (end - day).days + 1)]
    assert CAL.is_working_day(end)
    assert sum(CAL.is_working_day(d) for d in between) == SUPPLEMENT_WORKING_DAYS


@settings(max_examples=200, deadline=None)
@given(deadlines, instants, gaps, gaps, gaps)
def test_later_is_never_less_late(due: dt.datetime, first: dt.datetime, to_return: dt.timedelta,
                                  to_correction: dt.timedelta, more: dt.timedelta) -> None:
    returned = first + to_return
    sent = returned + to_correction + dt.timedelta(minutes=1)

    def late(at: dt.datetime) -> int:
        return decide(due_at=due, first_submitted_at=first, returned_at=returned,
                      submitted_at=at, tz=TZ, calendar=CAL).late_days

    assert late(sent) <= late(sent + more)
