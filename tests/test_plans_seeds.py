"""The five shipped plans say what their seeds say (../shared/seeds/000–004), role by role and
form by form: who consolidates the reports and who is the committee's standing office, who is
only requested («đề nghị») and so not escalated, the forms each agency answers, the signed
report file, deadlines that never fall on a weekend or a public holiday, and no form that asks
for personal data.
"""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path

import pytest
import yaml

from core.calendar import ScheduleRule, WorkCalendar, occurrences
from core.planfile import ABOVE_CONSOLIDATING, PlanSpec, load_plan

ROOT = Path(__file__).resolve().parent.parent
PLANS = ROOT / "plans"
PLAN_FILES = sorted(PLANS.glob("*.yaml"))


@functools.cache
def plan(code: str) -> PlanSpec:
    return load_plan(PLANS / f"{code}.yaml")


@functools.cache
def raw(code: str) -> dict:
    return yaml.safe_load((PLANS / f"{code}.yaml").read_text(encoding="utf-8"))


def fields(spec: PlanSpec, form: str) -> dict[str, str]:
    """Field code → label of one form."""
    return {f.code: f.label for f in spec.form(form).fields}


def form_of(spec: PlanSpec, schedule: str, agency: str) -> str:
    return spec.assignments[schedule][agency]


TOPICS = {"tuyen_truyen": "tuyên truyền", "kiem_tra": "kiểm tra cơ sở", "kinh_phi": "kinh phí"}


def asks_about(spec: PlanSpec, form: str) -> set[str]:
    """Which of the common topics (propaganda, inspections, budget) a form's field codes
    cover: a quick way to see that a form does not ask about work its agency was not given."""
    codes = [f.code for f in spec.form(form).fields]
    return {topic for topic in TOPICS if any(topic in c or (topic == "tuyen_truyen" and
                                                          c.endswith("_tt")) for c in codes)}


# ------------------------------------------------------------------ every plan


@pytest.mark.parametrize("path", PLAN_FILES, ids=lambda p: p.stem)
def test_validates_without_personal_data_warnings(path: Path) -> None:
    spec = load_plan(path)
    assert spec.warnings == [], "\n".join(str(w) for w in spec.warnings)


@pytest.mark.parametrize("path", PLAN_FILES, ids=lambda p: p.stem)
def test_roles_are_explicit_and_labelled(path: Path) -> None:
    committee = raw(path.stem)["committee"]
    # The shipped plans use the explicit key, not the legacy meaning of standing_office.
    assert "consolidating" in committee
    spec = plan(path.stem)
    assert spec.role_label("consolidating") and spec.role_label("chair")
    assert spec.role_label("head")
    if spec.standing_office is None:
        # Escalating to a standing office needs one the plan names.
        named = spec.role_label("standing_office") is not None
        steps = [s for sched in spec.doc.schedules for s in spec.escalation_for(sched).steps]
        assert named or all("standing_office" not in s.to for s in steps)


@pytest.mark.parametrize("path", PLAN_FILES, ids=lambda p: p.stem)
def test_every_plan_states_its_holiday_rule(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    data = raw(path.stem)
    rule = data["defaults"]["holiday"]
    assert rule in ("next_working_day", "previous_working_day")
    # … with a comment that says why (Bộ luật Dân sự 2015, art. 148(5), or the plan's wording).
    assert "148" in text and "holiday" in text
    # No schedule keeps a deadline on a day off.
    assert all(s.get("holiday", rule) != "keep" for s in data["schedules"])


@pytest.mark.parametrize("path", PLAN_FILES, ids=lambda p: p.stem)
def test_no_obligation_falls_due_on_a_weekend_or_a_public_holiday(path: Path) -> None:
    spec = plan(path.stem)
    doc = spec.doc
    calendar = WorkCalendar.from_dict(doc.calendar.model_dump(mode="json"))
    starts, ends = doc.plan.starts, doc.plan.ends
    assert starts is not None and ends is not None
    checked = 0
    for sched in doc.schedules:
        if sched.period == "ad_hoc":
            continue
        rule = ScheduleRule(
            period=sched.period,
            cutoff=sched.cutoff if isinstance(sched.cutoff, str) else sched.cutoff.model_dump(),
            due=sched.due.model_dump(mode="json", exclude_defaults=True) if sched.due else None,
            holiday=sched.holiday or "next_working_day",
            start=sched.start or starts,
            calendar=calendar,
        )
        years = range(starts.year, ends.year + 2)
        for occ in occurrences(rule, years, within=(starts, ends)):
            last = occ.deadline.last_day
            assert calendar.is_working_day(last), (
                f"{spec.code} {sched.code} {occ.period.key}: last day {last} "
                f"({calendar.holiday_name(last) or last.strftime('%A')}) is not a working day"
            )
            checked += 1
    assert checked > 0


@pytest.mark.parametrize("path", PLAN_FILES, ids=lambda p: p.stem)
def test_requested_bodies_are_reminded_but_never_taken_to_the_chair(path: Path) -> None:
    spec = plan(path.stem)
    for agency in spec.agencies:
        for sched in spec.doc.schedules:
            if agency.code not in spec.assignments[sched.code]:
                continue
            levels = {t for s in spec.escalation_targets_for(sched, agency.code) for t in s.to}
            if agency.escalate:
                assert "chair" in levels or "external" in levels, (agency.code, sched.code)
            else:
                assert not levels & ABOVE_CONSOLIDATING, (agency.code, sched.code)
                assert "consolidating" in levels  # the consolidating agency still sees them
            assert spec.reminders_for(sched)  # everyone is reminded


@pytest.mark.parametrize("path", PLAN_FILES, ids=lambda p: p.stem)
def test_the_consolidating_agency_does_not_escalate_to_itself(path: Path) -> None:
    spec = plan(path.stem)
    for sched in spec.doc.schedules:
        assert spec.consolidating not in spec.assignments[sched.code] or any(
            "chair" in s.to for s in spec.escalation_for(sched).steps
        )


def exempt(spec: PlanSpec) -> set[str]:
    return {a.code for a in spec.agencies if not a.escalate}


# ------------------------------------------------------------------ 000 Đống Đa 2022


def test_dongda_roles() -> None:
    spec = plan("dongda-2022")
    # «báo cáo … (qua phòng Lao động Thương binh và Xã hội)»; the Phòng reports in turn to
    # «Thường trực Ban chỉ đạo 138 Quận» (§V.1), which the plan does not name as an agency.
    assert spec.consolidating == "ldtbxh"
    assert spec.standing_office != "ldtbxh"
    assert spec.standing_office is None
    assert spec.role_label("standing_office") == "Thường trực Ban Chỉ đạo 138 quận"
    assert "LĐ-TBXH" in (spec.role_label("consolidating") or "")
    assert "thường trực" not in (spec.role_label("consolidating") or "").lower()
    chain = [(s.after_days, s.to) for s in spec.doc.defaults.escalation.steps]
    assert chain == [(1, ["reporter", "head"]), (3, ["consolidating"]),
                     (5, ["standing_office"]), (7, ["chair"])]


def test_dongda_requested_bodies_are_not_escalated() -> None:
    # §V.10, §V.11 and the closing paragraph: «đề nghị Ủy ban MTTQ Việt nam Quận, các đoàn thể
    # Quận và yêu cầu thủ trưởng các phòng ban, ngành …, Chủ tịch UBND 21 Phường».
    spec = plan("dongda-2022")
    assert exempt(spec) == {"vksnd", "tand", "mttq", "hlhpn", "ldld", "doantn"}


def test_dongda_procuracy_and_court_report_prosecutions_and_trials() -> None:
    spec = plan("dongda-2022")
    for sched in ("thang", "quy"):
        assert form_of(spec, sched, "vksnd") == "vien-kiem-sat"
        assert form_of(spec, sched, "tand") == "toa-an"
    vks = fields(spec, "vien-kiem-sat")
    assert "vu_an_truy_to" in vks and "bi_can_truy_to" in vks
    toa = fields(spec, "toa-an")
    assert {"vu_an_xet_xu", "bi_cao_xet_xu", "xet_xu_luu_dong"} <= toa.keys()
    for labels in (vks, toa):
        assert not any("tuyên truyền" in label for label in labels.values())


def test_dongda_each_office_answers_about_its_own_tasks() -> None:
    spec = plan("dongda-2022")
    forms = {code: form_of(spec, "thang", code) for code in spec.assignments["thang"]}
    # One form per office of §V (wards share theirs).
    offices = [a.code for a in spec.agencies if a.kind != "phuong"]
    assert len({forms[c] for c in offices}) == len(offices)
    assert {forms[a.code] for a in spec.agencies if a.kind == "phuong"} == {"phuong"}
    # §V.6 gives the finance office the budget only.
    assert asks_about(spec, forms["tckh"]) == {"kinh_phi"}
    # The yearly budget questions (§IV.5) go to the district's offices and wards only.
    yearly = spec.assignments["nam"]
    assert yearly["tand"] == yearly["mttq"] == yearly["ca"] == "tong-ket-nam"
    assert yearly["tckh"] == yearly["p-cat-linh"] == "tong-ket-nam-kinh-phi"
    assert yearly["ldtbxh"] == yearly["noivu"] == "tong-ket-nam-khen-thuong"


def test_dongda_deadlines_keep_before_the_13th() -> None:
    # «trước ngày 13»: a last day on a day off moves back, never past the 13th.
    spec = plan("dongda-2022")
    assert spec.doc.defaults.holiday == "previous_working_day"
    assert all(s.holiday == "previous_working_day" for s in spec.doc.schedules)
    assert all(s.signed_file == "required" for s in spec.doc.schedules)


# ------------------------------------------------------------------ 001 Tam Điệp 2023


def test_tamdiep_roles_and_requested_bodies() -> None:
    spec = plan("tamdiep-2023")
    # «báo cáo kết quả thực hiện về Phòng Lao động - Thương binh và Xã hội»; the Phòng reports
    # to «UBND thành phố, Thường trực Ban Chỉ đạo 138 thành phố, Sở …».
    assert spec.consolidating == "ldtbxh" and spec.standing_office is None
    assert spec.role_label("standing_office") == "Thường trực Ban Chỉ đạo 138 thành phố"
    assert exempt(spec) == {"vks", "toa-an", "mttq", "hlhpn", "ldld", "doan-tn"}


def test_tamdiep_signed_file_where_the_report_goes_to_the_authorities() -> None:
    spec = plan("tamdiep-2023")
    rules = {s.code: s.signed_file for s in spec.doc.schedules}
    assert rules == {"sau-thang": "optional", "nam": "optional", "tong-hop-sau-thang": "required",
                     "tong-hop-nam": "required", "dot-xuat": "optional"}


def test_tamdiep_months_are_decree09_months() -> None:
    spec = plan("tamdiep-2023")
    field = next(f for f in spec.form("truyen-thanh").fields if f.code == "so_thang_co_tin")
    assert field.max == 6 and "09/2019" in (field.help or "")
    # The half-year periods are Decree 09's: 15/12–14/6 and 15/6–14/12, six such months each.
    assert spec.schedule("sau-thang").cutoff == "decree09"


def test_tamdiep_forms_follow_the_tasks_of_section_v() -> None:
    spec = plan("tamdiep-2023")
    forms = spec.assignments["sau-thang"]
    assert forms["qs"] == "quan-su" and forms["tckh"] == "tai-chinh"
    assert asks_about(spec, "quan-su") == set()
    assert asks_about(spec, "tai-chinh") == {"kinh_phi"}
    assert "chung" not in {f.code for f in spec.doc.forms}


# ------------------------------------------------------------------ 002 Đồng Nai 2020


def test_dongnai_roles_and_requested_bodies() -> None:
    spec = plan("dongnai-2020")
    # Reports «về UBND tỉnh (qua Sở Lao động - Thương binh và Xã hội)»; the Sở reports to the
    # «Thường trực Ban Chỉ đạo Phòng, chống AIDS; tội phạm và tệ nạn xã hội tỉnh».
    assert spec.consolidating == "ldtbxh" and spec.standing_office is None
    assert "Thường trực Ban Chỉ đạo" in (spec.role_label("standing_office") or "")
    # III.12–III.16 «Đề nghị …».
    assert exempt(spec) == {"vks", "tand", "mttq", "ldld", "phunu", "tinhdoan"}
    assert spec.escalates("ca") and spec.escalates("haiquan")


def test_dongnai_customs_and_finance_answer_about_their_own_tasks() -> None:
    spec = plan("dongnai-2020")
    for sched in ("sau-thang", "nam"):
        assert form_of(spec, sched, "haiquan") == "hai-quan"
        assert form_of(spec, sched, "taichinh") == "tai-chinh"
    customs = " ".join(fields(spec, "hai-quan").values())
    assert "văn hóa phẩm" in customs and "xuất nhập cảnh" in customs
    assert "tuyên truyền" not in customs
    assert asks_about(spec, "tai-chinh") == {"kinh_phi"}
    assert asks_about(spec, "hai-quan") == set()
    assert "so-nganh" not in {f.code for f in spec.doc.forms}


def test_dongnai_inspection_teams_are_apart_and_team_814_is_there() -> None:
    spec = plan("dongnai-2020")
    ldtbxh = fields(spec, "ldtbxh")
    # The provincial inter-agency team (I.2.d, 30 establishments) …
    assert "Đội kiểm tra liên ngành tỉnh" in ldtbxh["doi_tinh_co_so_kiem_tra"]
    # … is not the labour-law inspection team that the Sở chairs (III.1.e).
    assert "Đoàn kiểm tra" in ldtbxh["doan_ld_so_cuoc"]
    target = next(t for t in spec.doc.targets if t.target == 30 and t.unit == "cơ sở")
    assert [v.field for v in target.values.values()] == ["ldtbxh.doi_tinh_co_so_kiem_tra"]
    # Team 814 is the culture department's (III.4.d).
    assert form_of(spec, "sau-thang", "vhttdl") == "vhttdl"
    assert any("814" in label for label in fields(spec, "vhttdl").values())


def test_dongnai_signed_file() -> None:
    spec = plan("dongnai-2020")
    rules = {s.code: s.signed_file for s in spec.doc.schedules}
    assert rules["sau-thang"] == rules["nam"] == "required"  # «về UBND tỉnh»
    assert {rules[c] for c in ("ca-thang", "ca-quy", "huyen-thang", "huyen-quy", "dot-xuat")} == {
        "optional"
    }


# ------------------------------------------------------------------ 003 Lai Châu 2022


def test_laichau_roles_and_requested_bodies() -> None:
    spec = plan("laichau-2022")
    # «báo cáo UBND tỉnh (qua Sở Lao động - Thương binh và Xã hội để tổng hợp)»; the plan never
    # mentions a standing office.
    assert spec.consolidating == "ldtbxh" and spec.standing_office is None
    assert spec.role_label("standing_office") is None
    # V.11 Ban Tuyên giáo (a Party body), V.12 Viện Kiểm sát, Tòa án, V.14 Mặt trận: «Đề nghị».
    assert exempt(spec) == {"btg", "vks", "tand", "mttq"}


def test_laichau_police_form_counts_and_never_takes_the_list_of_people() -> None:
    spec = plan("laichau-2022")
    police = spec.form("cong-an")
    assert [f.code for f in police.fields if f.type == "file"] == ["van_ban"]
    assert "danh_sach_nguoi_ban_dam" not in {f.code for f in police.fields}


def test_laichau_quarters_are_decree09_quarters() -> None:
    spec = plan("laichau-2022")
    for form in ("huyen", "bao-chi"):
        field = next(f for f in spec.form(form).fields if f.code == "quy_co_tin_bai")
        assert "09/2019" in (field.help or "") and "15/12–14/3" in (field.help or "")
        assert field.max == 4 and "lũy kế" in field.label
    for code in ("tin-bai-cap-tinh", "tin-bai-cap-huyen"):
        target = next(t for t in spec.doc.targets if t.code == code)
        assert [v.aggregate for v in target.values.values()] == ["latest"]


# ------------------------------------------------------------------ 004 Hà Nội 667/2020


def test_hanoi_the_department_is_the_standing_office() -> None:
    spec = plan("hanoi-667-2020")
    # «Sở Lao động - Thương binh và Xã hội (Cơ quan thường trực về công tác phòng chống mại dâm)»
    assert spec.standing_office == "so-ldtbxh"
    assert spec.consolidating == "so-ldtbxh"


def test_hanoi_escalates_to_an_explicit_external_level() -> None:
    spec = plan("hanoi-667-2020")
    steps = spec.doc.defaults.escalation.steps
    external = [s for s in steps if "external" in s.to]
    assert len(external) == 1
    assert external[0].label is not None and "Phó Chủ tịch UBND Thành phố" in external[0].label
    assert external[0].after_days > max(s.after_days for s in steps if "chair" in s.to)


def test_hanoi_has_no_monthly_report() -> None:
    # The dispatch orders a monthly meeting (giao ban), not a monthly report.
    spec = plan("hanoi-667-2020")
    assert {s.period for s in spec.doc.schedules} == {"quarterly"}
    assert [f.code for f in spec.doc.forms] == ["tu-diem"]


def test_hanoi_only_districts_with_hotspots_report_and_targets_count_hotspots() -> None:
    spec = plan("hanoi-667-2020")
    for sched in spec.doc.schedules:
        assert sched.per_subject is not None
        holders = {s.agency for s in spec.doc.subjects if s.kind == sched.per_subject}
        assert set(spec.assignments[sched.code]) == holders
    for target in spec.doc.targets:
        assert target.per_subject is not None
        count = sum(1 for s in spec.doc.subjects if s.kind == target.per_subject)
        assert count == target.target  # 13 to clear, 6 to keep clean
    assert all(s.signed_file == "required" for s in spec.doc.schedules)


def test_hanoi_placeholders_are_marked() -> None:
    text = (PLANS / "hanoi-667-2020.yaml").read_text(encoding="utf-8")
    assert "DỮ LIỆU GIỮ CHỖ" in text
    assert all("theo Phụ lục" in s.name for s in plan("hanoi-667-2020").doc.subjects)


def test_deadline_examples_in_the_comments_are_right() -> None:
    cal = WorkCalendar()
    # dongda: 12/03/2022 is a Saturday → Friday 11/03 (previous working day).
    assert cal.next_working_day(dt.date(2022, 3, 12), -1) == dt.date(2022, 3, 11)
    # tamdiep: 25/06/2023 is a Sunday → Monday 26/06.
    assert cal.next_working_day(dt.date(2023, 6, 25)) == dt.date(2023, 6, 26)
    # dongnai: 17/05/2020 is a Sunday → 18/05. laichau: 17/12/2022 Saturday → 19/12.
    assert cal.next_working_day(dt.date(2020, 5, 17)) == dt.date(2020, 5, 18)
    assert cal.next_working_day(dt.date(2022, 12, 17)) == dt.date(2022, 12, 19)
    # hanoi: 20/06/2020 is a Saturday → Monday 22/06.
    assert cal.next_working_day(dt.date(2020, 6, 20)) == dt.date(2020, 6, 22)
