"""Pure statistics (core/stats.py): completeness and timeliness as DHIS2 computes them
(«reporting rate» and «reporting rate on time»), and progress against the plan's targets.

Completeness = received / expected, timeliness = received on time / expected, in percent.
Waived reports are not expected; a returned report was received (its first submission
decides on time or late); missing agencies come with their days late, worst first.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.stats import (
    AnswerFact,
    ObligationFact,
    TargetSpec,
    aggregate,
    completeness,
    group_by_agency,
    target_progress,
)

TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


# «trước ngày 13/3»: late from 2022-03-13T00:00 +07:00, the last day to submit is 12/03.
DUE = at("2022-03-13T00:00:00+07:00")
NOW = at("2022-03-21T09:00:00+07:00")  # nine days after the last day


def fact(oid: int, name: str, status: str, first: str | None = None,
         due: dt.datetime = DUE) -> ObligationFact:
    return ObligationFact(oid, 100 + oid, name, status, due, at(first) if first else None)


# ----------------------------------------------------------------------------- completeness


def test_completeness_and_timeliness_follow_dhis2_reporting_rates() -> None:
    facts = [
        fact(1, "P. Cát Linh", "accepted", "2022-03-10T09:00:00+07:00"),  # on time
        fact(2, "P. Hàng Bột", "submitted", "2022-03-12T23:59:00+07:00"),  # on time, last minute
        fact(3, "P. Kim Liên", "submitted", "2022-03-13T00:00:00+07:00"),  # late: at the deadline
        fact(4, "P. Láng Hạ", "open"),
        fact(5, "P. Nam Đồng", "draft"),
    ]
    stats = completeness(facts, NOW, TZ)
    assert (stats.expected, stats.received, stats.on_time, stats.late, stats.missing) == (
        5, 3, 2, 1, 2)
    assert stats.completeness_pct == pytest.approx(60.0)
    assert stats.timeliness_pct == pytest.approx(40.0)
    assert stats.missing_agencies == [("P. Láng Hạ", 9), ("P. Nam Đồng", 9)]


def test_waived_reports_are_not_expected() -> None:
    facts = [
        fact(1, "P. Cát Linh", "accepted", "2022-03-10T09:00:00+07:00"),
        fact(2, "P. Hàng Bột", "waived"),
        fact(3, "P. Kim Liên", "waived"),
        fact(4, "P. Láng Hạ", "open"),
    ]
    stats = completeness(facts, NOW, TZ)
    assert (stats.expected, stats.received, stats.missing) == (2, 1, 1)
    assert stats.completeness_pct == pytest.approx(50.0)
    assert [name for name, _days in stats.missing_agencies] == ["P. Láng Hạ"]


def test_a_returned_report_counts_as_received_and_its_first_submission_decides_on_time() -> None:
    facts = [
        # Sent on time, returned, not yet sent again: the agency did report, on time.
        fact(1, "P. Cát Linh", "returned", "2022-03-11T10:00:00+07:00"),
        # Sent late the first time, returned, then accepted: still late.
        fact(2, "P. Hàng Bột", "accepted", "2022-03-15T10:00:00+07:00"),
    ]
    stats = completeness(facts, NOW, TZ)
    assert (stats.expected, stats.received, stats.on_time, stats.late, stats.missing) == (
        2, 2, 1, 1, 0)
    assert stats.missing_agencies == []
    assert stats.completeness_pct == pytest.approx(100.0)
    assert stats.timeliness_pct == pytest.approx(50.0)


def test_missing_agencies_carry_days_late_worst_first_then_by_name() -> None:
    extended = at("2022-03-19T00:00:00+07:00")  # extension: last day 18/03 → 3 days late
    not_yet = at("2022-03-26T00:00:00+07:00")  # extended beyond now: not yet due
    facts = [
        fact(1, "P. Văn Miếu", "open", due=extended),
        fact(2, "P. Trung Tự", "open"),
        fact(3, "P. Cát Linh", "draft"),
        fact(4, "P. Kim Liên", "open", due=not_yet),
        fact(5, "Công an quận", "open", due=at("2022-02-13T00:00:00+07:00")),  # a month late
    ]
    stats = completeness(facts, NOW, TZ)
    assert stats.missing_agencies == [
        ("Công an quận", 37),
        ("P. Cát Linh", 9),
        ("P. Trung Tự", 9),
        ("P. Văn Miếu", 3),
        ("P. Kim Liên", 0),
    ]


def test_days_late_count_local_calendar_days() -> None:
    # 00:30 on 14/03 in Hà Nội (still 13/03 in UTC): two local days after the last day.
    just_after = at("2022-03-14T00:30:00+07:00")
    stats = completeness([fact(1, "P. Cát Linh", "open")], just_after, TZ)
    assert stats.missing_agencies == [("P. Cát Linh", 2)]
    on_the_deadline = completeness([fact(1, "P. Cát Linh", "open")], DUE, TZ)
    assert on_the_deadline.missing_agencies == [("P. Cát Linh", 1)]
    before = completeness([fact(1, "P. Cát Linh", "open")],
                          DUE - dt.timedelta(seconds=1), TZ)
    assert before.missing_agencies == [("P. Cát Linh", 0)]


def test_nothing_expected_gives_zero_rates_not_a_division_error() -> None:
    for facts in ([], [fact(1, "P. Cát Linh", "waived")]):
        stats = completeness(facts, NOW, TZ)
        assert stats.expected == 0
        assert stats.completeness_pct == 0.0 and stats.timeliness_pct == 0.0


def test_group_by_agency() -> None:
    facts = [fact(1, "A", "open"), fact(2, "B", "open"),
             ObligationFact(3, 101, "A", "accepted", DUE, at("2022-03-01T00:00:00+07:00"))]
    grouped = group_by_agency(facts)
    assert sorted(grouped) == [101, 102]
    assert [f.obligation_id for f in grouped[101]] == [1, 3]


# ----------------------------------------------------------------------------- targets

MONTHLY, QUARTERLY = 1, 2
WARDS = tuple(range(1, 22))  # 21 wards, ids 1..21
POLICE = 50


def month_end(month: int) -> dt.date:
    return dt.date(2022, month, 12)


def spec(**fields) -> TargetSpec:
    base = dict(code="t", name="t", values={}, value=None, count_where=None, comparison=">=",
                target=0.0, unit=None, per_agency=False, agencies=())
    base.update(fields)
    return TargetSpec(**base)


CASES = spec(
    code="vu-an", name="Vụ án hình sự",
    values={"vu_an": {"field": "cong-an.vu_an_xu_ly", "aggregate": "sum"}},
    value="vu_an", target=5.0, unit="vụ án", agencies=(POLICE,),
)


def test_sum_against_five_gives_three_of_five_sixty_percent() -> None:
    facts = [
        AnswerFact(POLICE, "cong-an.vu_an_xu_ly", MONTHLY, month_end(1), 1.0),
        AnswerFact(POLICE, "cong-an.vu_an_xu_ly", MONTHLY, month_end(2), 2.0),
        # The quarterly report repeats the same cases: it must not be added again.
        AnswerFact(POLICE, "cong-an.vu_an_xu_ly", QUARTERLY, month_end(3), 3.0),
        # Another field of the same form does not count.
        AnswerFact(POLICE, "cong-an.vu_an_phat_hien", MONTHLY, month_end(1), 9.0),
    ]
    progress = target_progress(CASES, facts, {"vu_an": MONTHLY})
    assert progress.actual == 3.0
    assert progress.pct == pytest.approx(60.0)
    assert not progress.met
    assert f"{progress.name}: {progress.actual:g}/{progress.target:g} ({progress.pct:.0f}%)" \
        == "Vụ án hình sự: 3/5 (60%)"
    # Without a schedule filter every answer is added (the handler always passes one).
    assert target_progress(CASES, facts, {"vu_an": None}).actual == 6.0
    more = [*facts, AnswerFact(POLICE, "cong-an.vu_an_xu_ly", MONTHLY, month_end(4), 2.0)]
    reached = target_progress(CASES, more, {"vu_an": MONTHLY})
    assert (reached.actual, reached.met, reached.pct) == (5.0, True, pytest.approx(100.0))


def test_no_answers_yet_gives_no_figure() -> None:
    progress = target_progress(CASES, [], {"vu_an": MONTHLY})
    assert progress.actual is None and progress.pct is None and not progress.met


def test_latest_takes_the_figure_of_the_last_period_per_agency() -> None:
    managed = spec(
        values={"co_so": {"field": "phuong.co_so_quan_ly", "aggregate": "latest"}},
        value="co_so", target=100.0, agencies=(1, 2),
    )
    facts = [
        AnswerFact(1, "phuong.co_so_quan_ly", MONTHLY, month_end(3), 40.0),
        AnswerFact(1, "phuong.co_so_quan_ly", MONTHLY, month_end(1), 10.0),
        AnswerFact(1, "phuong.co_so_quan_ly", MONTHLY, month_end(2), 30.0),
        AnswerFact(2, "phuong.co_so_quan_ly", MONTHLY, month_end(1), 25.0),
    ]
    # Committee-wide: each ward's latest figure, added up (40 + 25), not the one latest row.
    assert target_progress(managed, facts, {"co_so": MONTHLY}).actual == 65.0
    one = spec(values=managed.values, value="co_so", target=100.0, agencies=(1,))
    assert target_progress(one, facts, {"co_so": MONTHLY}).actual == 40.0


def test_aggregates() -> None:
    values = [(month_end(2), 5.0), (month_end(1), 7.0), (month_end(3), 3.0)]
    assert aggregate(values, "sum") == 15.0
    assert aggregate(values, "latest") == 3.0
    assert aggregate(values, "max") == 7.0
    assert aggregate(values, "min") == 3.0
    assert aggregate(values, "average") == 5.0
    assert aggregate([], "sum") is None
    with pytest.raises(ValueError):
        aggregate(values, "median")


RATIO = spec(
    code="phuong-kiem-tra-80", name="Phường kiểm tra trên 80% cơ sở", per_agency=True,
    values={"kiem_tra": {"field": "phuong.co_so_kiem_tra", "aggregate": "sum"},
            "co_so": {"field": "phuong.co_so_quan_ly", "aggregate": "latest"}},
    value="kiem_tra / co_so * 100", comparison=">", target=80.0, unit="%", agencies=WARDS,
)
RATIO_SCHEDULES = {"kiem_tra": MONTHLY, "co_so": MONTHLY}


def ratio_facts() -> list[AnswerFact]:
    facts = []
    for ward in WARDS[:17]:  # 17 wards inspected 9 of their 10 venues over two months
        facts += [AnswerFact(ward, "phuong.co_so_quan_ly", MONTHLY, month_end(1), 12.0),
                  AnswerFact(ward, "phuong.co_so_quan_ly", MONTHLY, month_end(2), 10.0),
                  AnswerFact(ward, "phuong.co_so_kiem_tra", MONTHLY, month_end(1), 4.0),
                  AnswerFact(ward, "phuong.co_so_kiem_tra", MONTHLY, month_end(2), 5.0)]
    # Ward 18: exactly 80% is not «trên 80%».
    facts += [AnswerFact(18, "phuong.co_so_quan_ly", MONTHLY, month_end(2), 10.0),
              AnswerFact(18, "phuong.co_so_kiem_tra", MONTHLY, month_end(2), 8.0)]
    # Ward 19 manages no venue: 0/0 must not crash, and is not met.
    facts += [AnswerFact(19, "phuong.co_so_quan_ly", MONTHLY, month_end(2), 0.0),
              AnswerFact(19, "phuong.co_so_kiem_tra", MONTHLY, month_end(2), 0.0)]
    # Ward 20 only reported quarterly (another schedule); ward 21 reported nothing.
    facts += [AnswerFact(20, "phuong.co_so_quan_ly", QUARTERLY, month_end(3), 10.0),
              AnswerFact(20, "phuong.co_so_kiem_tra", QUARTERLY, month_end(3), 10.0)]
    return facts


def test_per_agency_ratio_above_eighty_percent_counts_the_wards_that_meet_it() -> None:
    progress = target_progress(RATIO, ratio_facts(), RATIO_SCHEDULES)
    assert (progress.agencies_met, progress.agencies_total) == (17, 21)
    assert f"{progress.agencies_met}/{progress.agencies_total}" == "17/21"
    assert not progress.met  # met only when every ward meets it
    assert progress.per_agency[1] == pytest.approx(90.0)  # (4 + 5) / latest 10
    assert progress.per_agency[18] == pytest.approx(80.0)
    assert progress.per_agency[19] is None  # division by zero → no figure
    assert progress.per_agency[20] is None and progress.per_agency[21] is None
    assert set(progress.per_agency) == set(WARDS)


def test_per_agency_met_when_every_agency_meets_it() -> None:
    facts = [f for f in ratio_facts() if f.agency_id <= 17]
    three = spec(**{**RATIO.__dict__, "agencies": WARDS[:17]})
    progress = target_progress(three, facts, RATIO_SCHEDULES)
    assert (progress.agencies_met, progress.agencies_total, progress.met) == (17, 17, True)
    nobody = spec(**{**RATIO.__dict__, "agencies": ()})
    assert not target_progress(nobody, facts, RATIO_SCHEDULES).met


MODEL = spec(
    code="mo-hinh-cap-xa", name="Duy trì Mô hình cấp xã tại 21 phường",
    values={"duy_tri": {"field": "phuong.duy_tri_mo_hinh", "aggregate": "latest"}},
    count_where="duy_tri", target=21.0, unit="phường", agencies=WARDS,
)


def test_count_where_counts_agencies_against_twenty_one() -> None:
    facts = []
    for ward in WARDS[:19]:
        facts.append(AnswerFact(ward, "phuong.duy_tri_mo_hinh", MONTHLY, month_end(1), 0.0))
        facts.append(AnswerFact(ward, "phuong.duy_tri_mo_hinh", MONTHLY, month_end(2), 1.0))
    # Ward 20 kept it in January but not in February (the latest answer counts).
    facts.append(AnswerFact(20, "phuong.duy_tri_mo_hinh", MONTHLY, month_end(1), 1.0))
    facts.append(AnswerFact(20, "phuong.duy_tri_mo_hinh", MONTHLY, month_end(2), 0.0))
    progress = target_progress(MODEL, facts, {"duy_tri": MONTHLY})
    assert (progress.actual, progress.agencies_met, progress.agencies_total) == (19.0, 19, 21)
    assert not progress.met
    assert progress.per_agency[20] == 0.0 and progress.per_agency[21] == 0.0
    everyone = facts + [AnswerFact(w, "phuong.duy_tri_mo_hinh", MONTHLY, month_end(3), 1.0)
                        for w in (20, 21)]
    done = target_progress(MODEL, everyone, {"duy_tri": MONTHLY})
    assert (done.agencies_met, done.met) == (21, True)


def test_division_by_zero_gives_none_not_a_crash() -> None:
    committee_ratio = spec(**{**RATIO.__dict__, "per_agency": False, "agencies": (19,)})
    facts = [f for f in ratio_facts() if f.agency_id == 19]
    progress = target_progress(committee_ratio, facts, RATIO_SCHEDULES)
    assert progress.actual is None and progress.pct is None and not progress.met
    # A target of 0 («phải về 0»): no percentage of zero, but met when the figure is 0.
    cleared = spec(
        values={"phat_sinh": {"field": "phuong.so_diem_phat_sinh", "aggregate": "sum"},
                "triet_xoa": {"field": "phuong.so_diem_triet_xoa", "aggregate": "sum"}},
        value="phat_sinh - triet_xoa", comparison="<=", target=0.0, agencies=(1, 2),
    )
    facts = [AnswerFact(1, "phuong.so_diem_phat_sinh", MONTHLY, month_end(1), 2.0),
             AnswerFact(1, "phuong.so_diem_triet_xoa", MONTHLY, month_end(2), 2.0)]
    progress = target_progress(cleared, facts, {"phat_sinh": MONTHLY, "triet_xoa": MONTHLY})
    assert progress.actual == 0.0 and progress.pct is None and progress.met


# ----------------------------------------------------------------------------- properties

STATUSES = ["open", "draft", "submitted", "accepted", "returned", "waived"]
moments = st.integers(min_value=-40 * 24 * 60, max_value=40 * 24 * 60).map(
    lambda minutes: DUE + dt.timedelta(minutes=minutes))


@st.composite
def obligation_facts(draw: st.DrawFn) -> list[ObligationFact]:
    count = draw(st.integers(min_value=0, max_value=25))
    facts = []
    for i in range(count):
        status = draw(st.sampled_from(STATUSES))
        received = status in ("submitted", "accepted", "returned")
        first = draw(moments) if received else None
        due = draw(moments)
        facts.append(ObligationFact(i, i, f"Đơn vị {i:02d}", status, due, first))
    return facts


@settings(max_examples=150, deadline=None)
@given(facts=obligation_facts(), now=moments)
def test_completeness_properties(facts: list[ObligationFact], now: dt.datetime) -> None:
    stats = completeness(facts, now, TZ)
    assert stats.expected == sum(1 for f in facts if f.status != "waived")
    assert stats.received + stats.missing == stats.expected
    assert stats.on_time + stats.late == stats.received
    assert 0.0 <= stats.timeliness_pct <= stats.completeness_pct <= 100.0
    assert len(stats.missing_agencies) == stats.missing
    assert all(days >= 0 for _name, days in stats.missing_agencies)
    days = [d for _name, d in stats.missing_agencies]
    assert days == sorted(days, reverse=True)


@settings(max_examples=150, deadline=None)
@given(inspected=st.lists(st.integers(min_value=0, max_value=50), min_size=1, max_size=21),
       managed=st.lists(st.integers(min_value=0, max_value=50), min_size=1, max_size=21))
def test_per_agency_ratio_properties(inspected: list[int], managed: list[int]) -> None:
    wards = tuple(range(1, min(len(inspected), len(managed)) + 1))
    facts = []
    for ward in wards:
        facts.append(AnswerFact(ward, "phuong.co_so_kiem_tra", MONTHLY, month_end(1),
                                float(inspected[ward - 1])))
        facts.append(AnswerFact(ward, "phuong.co_so_quan_ly", MONTHLY, month_end(1),
                                float(managed[ward - 1])))
    ratio = spec(**{**RATIO.__dict__, "agencies": wards})
    progress = target_progress(ratio, facts, RATIO_SCHEDULES)
    assert 0 <= progress.agencies_met <= progress.agencies_total == len(wards)
    expected = sum(1 for w in wards if managed[w - 1] and
                   inspected[w - 1] / managed[w - 1] * 100 > 80)
    assert progress.agencies_met == expected


@settings(max_examples=150, deadline=None)
@given(values=st.lists(st.integers(min_value=0, max_value=100), max_size=12),
       target=st.integers(min_value=1, max_value=1000))
def test_percentage_of_a_sum_target_is_never_negative(values: list[int], target: int) -> None:
    facts = [AnswerFact(POLICE, "cong-an.vu_an_xu_ly", MONTHLY, month_end(1 + i % 12), float(v))
             for i, v in enumerate(values)]
    progress = target_progress(spec(**{**CASES.__dict__, "target": float(target)}), facts,
                               {"vu_an": MONTHLY})
    if not values:
        assert progress.pct is None
        return
    assert progress.actual == float(sum(values))
    assert progress.pct is not None and progress.pct >= 0
    assert progress.met == (sum(values) >= target)
    assert (progress.pct >= 100) == progress.met


# ----------------------------------------------------------------- per subject (hotspots)

DISTRICT = 7
HOTSPOTS = (101, 102, 103)  # two in the same district, one elsewhere
CLEARED = spec(
    code="triet-xoa", name="Triệt xóa tụ điểm", per_subject=True, agencies=HOTSPOTS,
    values={"tinh_trang": {"field": "tu-diem.tinh_trang", "aggregate": "latest"}},
    count_where='tinh_trang == "da_triet_xoa"', target=13.0, unit="tụ điểm",
)


def hotspot(subject: int, month: int, state: str, agency: int = DISTRICT) -> AnswerFact:
    return AnswerFact(agency, "tu-diem.tinh_trang", QUARTERLY, month_end(month), state, subject)


def test_per_subject_counts_each_hotspot_by_its_own_latest_report() -> None:
    facts = [
        hotspot(101, 3, "dang_xu_ly"), hotspot(101, 6, "da_triet_xoa"),
        # Same district, still open: the district as a whole must not count as cleared.
        hotspot(102, 6, "dang_xu_ly"),
        # Cleared in Q1, active again in Q2: the latest report decides.
        hotspot(103, 3, "da_triet_xoa", agency=8), hotspot(103, 6, "tai_hoat_dong", agency=8),
    ]
    progress = target_progress(CLEARED, facts, {"tinh_trang": QUARTERLY})
    assert (progress.actual, progress.agencies_met, progress.agencies_total) == (1.0, 1, 3)
    assert progress.per_agency == {101: 1.0, 102: 0.0, 103: 0.0}


def test_a_choice_has_a_latest_but_no_sum() -> None:
    values: list[tuple[dt.date, float | str]] = [(month_end(3), "a"), (month_end(6), "b")]
    assert aggregate(values, "latest") == "b"
    assert aggregate(values, "sum") is None
    assert aggregate([*values, (month_end(1), 2.0)], "sum") == 2.0


def test_a_verdict_from_core_lateness_decides_on_time() -> None:
    """A report first sent on time whose correction after a return came past the time the
    return gave is late: the verdict (ObligationFact.on_time) wins over the first submission."""
    sent = at("2022-03-10T09:00:00+07:00")  # before the last day, 12/03
    facts = [ObligationFact(1, 101, "P. Cát Linh", "submitted", DUE, sent, on_time=False),
             ObligationFact(2, 102, "P. Hàng Bột", "submitted", DUE, sent)]
    stats = completeness(facts, NOW, TZ)
    assert (stats.received, stats.on_time, stats.late) == (2, 1, 1)
