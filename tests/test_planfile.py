"""Tests of plan files: the shipped plans, the mini plan, every refusal, expressions, the CLI.

Refusals are built by editing the text of tests/data/mini-plan.yaml; the expected line of each
error is found by searching the edited text, never hard-coded.
"""

from __future__ import annotations

import functools
import subprocess
import sys
import typing
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core import expressions
from core.planfile import (
    DEFAULT_ACCEPT,
    FieldType,
    PlanFileError,
    PlanSpec,
    load_plan,
    parse_plan,
)
from core.yamlsource import SourceError

ROOT = Path(__file__).resolve().parent.parent
PLANS_DIR = ROOT / "plans"
PLAN_FILES = sorted(PLANS_DIR.glob("*.yaml"))
MINI_PATH = ROOT / "tests" / "data" / "mini-plan.yaml"
MINI = MINI_PATH.read_text(encoding="utf-8")

DONGDA_WARDS = [
    "Cát Linh", "Hàng Bột", "Khâm Thiên", "Khương Thượng", "Kim Liên", "Láng Hạ",
    "Láng Thượng", "Nam Đồng", "Ngã Tư Sở", "Ô Chợ Dừa", "Phương Liên", "Phương Mai",
    "Quang Trung", "Quốc Tử Giám", "Thịnh Quang", "Thổ Quan", "Trung Liệt", "Trung Phụng",
    "Trung Tự", "Văn Chương", "Văn Miếu",
]
ALL_FIELD_TYPES = {
    "integer", "decimal", "percent", "yes_no", "choice", "multi_choice",
    "date", "text", "long_text", "file",
}


@functools.cache
def load_cached(path: Path) -> PlanSpec:
    return load_plan(path)


def mutate(old: str, new: str, text: str = MINI) -> str:
    """Replace the one occurrence of `old` in `text`."""
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times"
    return text.replace(old, new)


def line_of(text: str, needle: str) -> int:
    """1-based line of the start of the only occurrence of `needle` in `text`."""
    assert text.count(needle) == 1, f"{needle!r} occurs {text.count(needle)} times"
    return text[: text.index(needle)].count("\n") + 1


def write(tmp_path: Path, text: str | bytes, name: str = "plan.yaml") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def refusal(path: Path) -> list[SourceError]:
    with pytest.raises(PlanFileError) as info:
        load_plan(path)
    errors = info.value.errors
    assert errors, "PlanFileError without errors"
    # The exception's text is the errors, one per line.
    assert str(info.value) == "\n".join(str(e) for e in errors)
    return errors


def describe(errors: list[SourceError]) -> str:
    return "\n".join(str(e) for e in errors)


# ------------------------------------------------------------------ the shipped plans


def test_exactly_the_five_plans_are_shipped() -> None:
    assert [p.stem for p in PLAN_FILES] == sorted(
        ["dongda-2022", "tamdiep-2023", "dongnai-2020", "laichau-2022", "hanoi-667-2020"]
    )


@pytest.mark.parametrize("path", PLAN_FILES, ids=lambda p: p.stem)
def test_shipped_plan_validates(path: Path) -> None:
    spec = load_cached(path)
    assert spec.code == path.stem
    assert spec.source == str(path)
    assert spec.agencies and spec.doc.forms and spec.doc.schedules
    # Every schedule of the plan is resolved to at least one agency, each with a real form.
    forms = {f.code for f in spec.doc.forms}
    for sched in spec.doc.schedules:
        assert spec.assignments[sched.code], sched.code
        assert set(spec.assignments[sched.code].values()) <= forms


def test_dongda_agencies_are_15_offices_and_the_21_wards() -> None:
    spec = load_cached(PLANS_DIR / "dongda-2022.yaml")
    wards = [a for a in spec.agencies if a.kind == "phuong"]
    others = [a for a in spec.agencies if a.kind != "phuong"]
    assert len(others) == 15
    assert len(spec.agencies) == 36
    assert [w.name for w in wards] == [f"UBND phường {name}" for name in DONGDA_WARDS]
    assert [w.short_name for w in wards] == [f"P. {name}" for name in DONGDA_WARDS]
    codes = {w.code for w in wards}
    assert len(codes) == 21
    assert {"p-cat-linh", "p-o-cho-dua", "p-nga-tu-so", "p-quoc-tu-giam", "p-tho-quan",
            "p-van-chuong", "p-nam-dong"} <= codes
    # Phòng LĐ-TBXH consolidates the reports; it is not the committee's standing office.
    assert spec.consolidating == "ldtbxh"
    assert spec.standing_office != "ldtbxh"


def test_dongda_reports_monthly_quarterly_and_yearly() -> None:
    spec = load_cached(PLANS_DIR / "dongda-2022.yaml")
    periods = {s.period for s in spec.doc.schedules}
    assert {"monthly", "quarterly", "yearly"} <= periods
    # Every agency, wards included, reports monthly.
    assert set(spec.assignments["thang"]) == {a.code for a in spec.agencies}


def test_every_field_type_appears_across_the_plans() -> None:
    assert set(typing.get_args(FieldType)) == ALL_FIELD_TYPES
    used = {
        field.type
        for path in PLAN_FILES
        for form in load_cached(path).doc.forms
        for field in form.fields
    }
    assert used == ALL_FIELD_TYPES


# ------------------------------------------------------------------ the mini plan


@pytest.fixture(scope="module")
def mini() -> PlanSpec:
    return load_plan(MINI_PATH)


def test_mini_plan_agency_groups_expand_with_slug_codes(mini: PlanSpec) -> None:
    by_code = {a.code: a for a in mini.agencies}
    assert list(by_code) == ["ldtbxh", "ca", "p-cat-linh", "p-hang-bot", "p-ocd"]
    assert by_code["p-cat-linh"].name == "UBND phường Cát Linh"
    assert by_code["p-cat-linh"].short_name == "P. Cát Linh"
    assert by_code["p-cat-linh"].kind == "phuong"
    assert by_code["p-hang-bot"].name == "UBND phường Hàng Bột"
    # Ô Chợ Dừa keeps the code its entry sets instead of the slug.
    assert by_code["p-ocd"].name == "UBND phường Ô Chợ Dừa"
    assert "p-o-cho-dua" not in by_code
    assert by_code["ldtbxh"].short_name == "Phòng LĐ-TBXH"
    assert by_code["ca"].short_name is None


def test_mini_plan_default_slug_code_uses_the_kind(tmp_path: Path) -> None:
    text = mutate('    code: "p-{slug}"\n', "")
    text = mutate("agency: p-cat-linh}", "agency: phuong-cat-linh}", text)
    spec = load_plan(write(tmp_path, text))
    assert [a.code for a in spec.agencies][2:] == ["phuong-cat-linh", "phuong-hang-bot", "p-ocd"]


def test_mini_plan_assignments_resolve_selectors_and_overrides(mini: PlanSpec) -> None:
    wards = {"p-cat-linh", "p-hang-bot", "p-ocd"}
    assert mini.assignments["thang"] == {
        "ldtbxh": "chung", "ca": "chung", **{w: "phuong" for w in wards}
    }
    assert mini.assignments["quy"] == {"ldtbxh": "chung", "ca": "chung"}
    assert mini.assignments["nam"] == {"ldtbxh": "chung", "ca": "chung"}
    assert mini.assignments["tu-diem"] == {w: "chung" for w in wards}
    assert set(mini.assignments["tong-ket"]) == set(mini.assignments["dot-xuat"]) == (
        wards | {"ldtbxh", "ca"}
    )
    assert set(mini.target_agencies["kiem-tra-80"]) == wards
    assert mini.schedule("dot-xuat").due is None
    assert mini.reminders_for(mini.schedule("thang")) == [7, 3, 1, 0]
    assert [s.after_days for s in mini.escalation_for(mini.schedule("thang")).steps] == [1, 3, 7]


def test_mini_plan_defaults_dates_and_field_normalisation(mini: PlanSpec) -> None:
    import datetime as dt

    assert mini.doc.plan.starts == dt.date(2022, 1, 1)
    assert mini.doc.plan.ends == dt.date(2022, 12, 31)
    fields = {f.code: f.normalized() for f in mini.form("phuong").fields}
    assert (fields["ty_le"]["min"], fields["ty_le"]["max"]) == (0, 100)
    assert fields["van_ban"]["accept"] == DEFAULT_ACCEPT
    assert fields["van_ban"]["accept"] == ["pdf", "doc", "docx", "jpg", "jpeg", "png"]
    assert fields["van_ban"]["max_mb"] == 20
    assert fields["kho_khan"]["max_length"] == 4000
    assert fields["van_ban"]["required"] is False
    assert fields["co_vi_pham"]["required"] is True
    assert fields["xep_loai"]["options"] == [
        {"value": "tot", "label": "Tốt"}, {"value": "kha", "label": "Khá"}
    ]
    assert fields["hinh_thuc"]["options"][0] == {"value": "Hội nghị", "label": "Hội nghị"}
    chung = {f.code: f.normalized() for f in mini.form("chung").fields}
    assert chung["ghi_chu"]["max_length"] == 200


def test_explicit_percent_bounds_are_kept(tmp_path: Path) -> None:
    text = mutate("type: percent, required: false}", "type: percent, required: false, min: 10}")
    ty_le = next(f for f in load_plan(write(tmp_path, text)).form("phuong").fields
                 if f.code == "ty_le")
    assert (ty_le.normalized()["min"], ty_le.normalized()["max"]) == (10, 100)


def test_definition_hash_is_stable(mini: PlanSpec, tmp_path: Path) -> None:
    again = load_plan(MINI_PATH)
    for form in mini.doc.forms:
        assert form.definition_hash() == again.form(form.code).definition_hash()
        assert len(form.definition_hash()) == 64
    # Comments and key order are not part of the definition.
    text = mutate(
        '- {code: so_buoi, label: "Số buổi tuyên truyền", type: integer, min: 0, unit: "buổi"}',
        "# a comment\n      - "
        '{unit: "buổi", min: 0, type: integer, label: "Số buổi tuyên truyền", code: so_buoi}',
    )
    edited = load_plan(write(tmp_path, text))
    assert edited.form("chung").definition_hash() == mini.form("chung").definition_hash()
    assert edited.source_hash != mini.source_hash


def test_definition_hash_changes_with_a_label(mini: PlanSpec, tmp_path: Path) -> None:
    text = mutate('label: "Ghi chú"', 'label: "Ghi chú thêm"')
    edited = load_plan(write(tmp_path, text))
    assert edited.form("chung").definition_hash() != mini.form("chung").definition_hash()
    # The other form is untouched.
    assert edited.form("phuong").definition_hash() == mini.form("phuong").definition_hash()


def test_parse_plan_accepts_text_directly() -> None:
    spec = parse_plan(MINI, "mini.yaml")
    assert spec.code == "mini-2022"
    assert spec.source == "mini.yaml"


# ------------------------------------------------------------------ roles, escalation, holidays


def test_a_legacy_standing_office_is_also_the_consolidating_agency(mini: PlanSpec) -> None:
    # Files written before `consolidating`: the standing office received the reports.
    assert mini.doc.committee.standing_office == "ldtbxh"
    assert mini.consolidating == "ldtbxh" and mini.standing_office == "ldtbxh"
    assert mini.role_label("chair") is None


def test_consolidating_and_standing_office_are_separate_roles(tmp_path: Path) -> None:
    text = mutate(
        "  standing_office: ldtbxh\n",
        "  consolidating: ldtbxh\n"
        "  standing_office: ca\n"
        "  labels:\n"
        '    consolidating: "Phòng LĐ-TBXH (cơ quan tổng hợp)"\n'
        '    standing_office: "Thường trực Ban Chỉ đạo"\n'
        '    chair: "Trưởng Ban Chỉ đạo"\n'
        '    head: "Thủ trưởng đơn vị"\n'
        '    reporter: "Cán bộ đầu mối"\n',
    )
    spec = load_plan(write(tmp_path, text))
    assert (spec.consolidating, spec.standing_office) == ("ldtbxh", "ca")
    assert spec.role_label("consolidating") == "Phòng LĐ-TBXH (cơ quan tổng hợp)"
    assert spec.role_label("standing_office") == "Thường trực Ban Chỉ đạo"
    assert spec.role_label("chair") == "Trưởng Ban Chỉ đạo"
    assert spec.role_label("head") == "Thủ trưởng đơn vị"
    assert spec.role_label("reporter") == "Cán bộ đầu mối"


def test_a_standing_office_that_is_no_agency_is_named_by_its_label(tmp_path: Path) -> None:
    text = mutate(
        "  standing_office: ldtbxh\n",
        "  consolidating: ldtbxh\n  labels:\n"
        '    standing_office: "Thường trực Ban Chỉ đạo 138 quận"\n',
    )
    # The default chain escalates to the standing office: valid, since the plan names it.
    spec = load_plan(write(tmp_path, text))
    assert spec.standing_office is None
    assert spec.role_label("standing_office") == "Thường trực Ban Chỉ đạo 138 quận"
    steps = spec.escalation_for(spec.schedule("thang")).steps
    assert any("standing_office" in s.to for s in steps)


def test_kind_entries_may_carry_options_and_stay_labels(tmp_path: Path) -> None:
    text = mutate('  phuong: "Phường"\n', '  phuong: {label: "Phường", escalate: false}\n')
    text = mutate('    name: "Công an quận"\n', '    name: "Công an quận"\n    escalate: false\n',
                  text)
    spec = load_plan(write(tmp_path, text))
    # After validation every kind is its label again (the importer stores it as text).
    assert spec.doc.kinds == {"phong-ban": "Phòng, ban, ngành", "phuong": "Phường"}
    assert spec.doc.kind_escalates == {"phong-ban": True, "phuong": False}
    escalates = {a.code: a.escalate for a in spec.agencies}
    assert escalates == {"ldtbxh": True, "ca": False, "p-cat-linh": False, "p-hang-bot": False,
                         "p-ocd": False}
    assert spec.escalates("ldtbxh") and not spec.escalates("p-ocd")


def test_an_agency_can_be_escalated_although_its_kind_is_not(tmp_path: Path) -> None:
    text = mutate('  phuong: "Phường"\n', '  phuong: {label: "Phường", escalate: false}\n')
    text = mutate("  - kind: phuong\n", "  - kind: phuong\n    escalate: true\n", text)
    spec = load_plan(write(tmp_path, text))
    assert all(a.escalate for a in spec.agencies)


def test_exempt_agencies_are_reminded_but_not_escalated_above_the_consolidating_agency(
    tmp_path: Path,
) -> None:
    text = mutate('  phuong: "Phường"\n', '  phuong: {label: "Phường", escalate: false}\n')
    text = mutate(
        "  holiday: keep\n",
        "  holiday: keep\n  escalation:\n    steps:\n"
        "      - {after_days: 1, to: [reporter, head]}\n"
        "      - {after_days: 3, to: [consolidating, standing_office]}\n"
        "      - {after_days: 7, to: [chair]}\n"
        '      - {after_days: 15, to: [external], label: "Phó Chủ tịch UBND Thành phố"}\n',
        text,
    )
    spec = load_plan(write(tmp_path, text))
    thang = spec.schedule("thang")
    full = [(s.after_days, list(s.to), s.label) for s in spec.escalation_targets_for(thang, "ca")]
    assert full == [
        (1, ["reporter", "head"], None), (3, ["consolidating", "standing_office"], None),
        (7, ["chair"], None), (15, ["external"], "Phó Chủ tịch UBND Thành phố"),
    ]
    exempt = [(s.after_days, list(s.to))
              for s in spec.escalation_targets_for(thang, "p-cat-linh")]
    assert exempt == [(1, ["reporter", "head"]), (3, ["consolidating"])]
    assert spec.reminders_for(thang) == [7, 3, 1, 0]  # reminders are the same for everyone


def test_an_external_escalation_level_is_explicit_data(tmp_path: Path) -> None:
    text = mutate(
        "  holiday: keep\n",
        "  holiday: keep\n  escalation:\n    steps:\n"
        "      - {after_days: 1, to: [reporter, head]}\n"
        '      - {after_days: 10, to: [chair, external], label: "Phó Chủ tịch UBND Thành phố"}\n',
    )
    spec = load_plan(write(tmp_path, text))
    (_, step) = spec.doc.defaults.escalation.steps
    assert step.to == ["chair", "external"] and step.label == "Phó Chủ tịch UBND Thành phố"
    # The default chain has no external level: it is never implied.
    assert all("external" not in s.to for s in load_plan(MINI_PATH).doc.defaults.escalation.steps)


def test_the_default_holiday_rule_is_the_next_working_day(tmp_path: Path) -> None:
    # Bộ luật Dân sự 2015, art. 148(5).
    text = mutate("  # The tests count on the March 2022 last day staying on Saturday 12/03.\n"
                  "  holiday: keep\n", "")
    spec = load_plan(write(tmp_path, text))
    assert spec.doc.defaults.holiday == "next_working_day"
    assert spec.schedule("thang").holiday == "next_working_day"
    assert spec.schedule("quy").holiday == "next_working_day"  # set on the schedule itself


def test_defaults_holiday_applies_unless_a_schedule_sets_its_own(mini: PlanSpec,
                                                                tmp_path: Path) -> None:
    assert mini.schedule("thang").holiday == "keep"
    assert mini.schedule("quy").holiday == "next_working_day"
    text = mutate("  holiday: keep\n", "  holiday: previous_working_day\n")
    spec = load_plan(write(tmp_path, text))
    assert spec.schedule("thang").holiday == "previous_working_day"
    assert spec.schedule("nam").holiday == "previous_working_day"
    assert spec.schedule("quy").holiday == "next_working_day"


@pytest.mark.parametrize("rule", ["required", "optional", "none"])
def test_a_schedule_can_require_the_signed_report_file(rule: str, tmp_path: Path) -> None:
    text = mutate(MONTHLY_DUE, MONTHLY_DUE + f"    signed_file: {rule}\n")
    # The common form gets its signed report field; the ward form already has one.
    text = mutate('{code: ghi_chu, label: "Ghi chú", type: text, required: false}',
                  '{code: ghi_chu, label: "Ghi chú", type: text, required: false}\n'
                  '      - {code: van_ban, label: "Văn bản có chữ ký", type: file, '
                  "required: false}", text)
    spec = load_plan(write(tmp_path, text))
    assert spec.signed_file_rule(spec.schedule("thang")) == rule
    assert spec.signed_file_rule(spec.schedule("quy")) is None  # the form's field decides
    assert spec.signed_file_field("chung") == spec.signed_file_field("phuong") == "van_ban"


def test_signed_file_needs_exactly_one_file_field(tmp_path: Path) -> None:
    text = mutate(MONTHLY_DUE, MONTHLY_DUE + "    signed_file: required\n")
    text = mutate('{code: ghi_chu, label: "Ghi chú", type: text, required: false}',
                  '{code: ghi_chu, label: "Ghi chú", type: text, required: false}\n'
                  '      - {code: van_ban, label: "Văn bản", type: file, required: false}\n'
                  '      - {code: bien_ban, label: "Biên bản", type: file, required: false}',
                  text)
    path = write(tmp_path, text)
    errors = refusal(path)
    assert [(e.line, e.path) for e in errors] == [
        (line_of(text, "signed_file: required"), "schedules[0].signed_file")
    ]
    assert "form 'chung' has 2 file fields (van_ban, bien_ban)" in errors[0].reason


def test_a_subjects_selector_picks_the_agencies_that_hold_them(tmp_path: Path) -> None:
    text = mutate("    per_subject: tu-diem\n    form: chung\n    agencies: {kind: phuong}",
                  "    per_subject: tu-diem\n    form: chung\n    agencies: {subjects: tu-diem}")
    spec = load_plan(write(tmp_path, text))
    assert spec.assignments["tu-diem"] == {"p-cat-linh": "chung"}


def test_a_per_subject_target_counts_subjects(tmp_path: Path) -> None:
    text = mutate(
        "    agencies: {kind: phuong}\n    values:\n      khong_te_nan:",
        "    per_subject: tu-diem\n    values:\n      khong_te_nan:",
    )
    text = mutate("{field: phuong.khong_te_nan, aggregate: latest}",
                  "{field: chung.so_buoi, aggregate: latest, schedule: tu-diem}", text)
    text = mutate('count_where: "khong_te_nan"', 'count_where: "khong_te_nan > 0"', text)
    spec = load_plan(write(tmp_path, text))
    target = next(t for t in spec.doc.targets if t.code == "khong-te-nan")
    assert target.per_subject == "tu-diem"
    # By default a per-subject target covers the agencies that hold such subjects.
    assert spec.target_agencies["khong-te-nan"] == ["p-cat-linh"]


# ------------------------------------------------------------------ personal data


PERSONAL = '{code: ghi_chu, label: "Ghi chú", type: text, required: false}'


@pytest.mark.parametrize(
    ("label", "terms"),
    [
        ("Họ và tên người vi phạm", ["họ và tên"]),
        ("Họ tên, số điện thoại người lập báo cáo", ["họ tên", "số điện thoại"]),
        ("Địa chỉ các tụ điểm chưa triệt xóa", ["địa chỉ"]),
        ("Danh sách, địa chỉ người bán dâm", ["danh sách", "địa chỉ"]),
        ("Số CCCD của người bị xử phạt", ["cccd"]),
        ("Ngày sinh, quê quán", ["ngày sinh", "quê quán"]),
        ("Ho ten nguoi vi pham", ["ho ten"]),
    ],
)
def test_a_field_asking_for_personal_data_warns_but_validates(
    label: str, terms: list[str], tmp_path: Path
) -> None:
    text = mutate(PERSONAL, f'{{code: ghi_chu, label: "{label}", type: text, required: false}}')
    path = write(tmp_path, text)
    spec = load_plan(path)  # still valid
    (warning,) = spec.warnings
    assert (warning.file, warning.line, warning.path) == (
        str(path), line_of(text, label), "forms[0].fields[1].label"
    )
    assert warning.reason.startswith("warning: asks for personal data")
    assert all(f"«{t}»" in warning.reason for t in terms), warning.reason
    assert "13/2023" in warning.reason
    assert str(warning).startswith(f"{path}:{line_of(text, label)}: forms[0].fields[1].label: ")


def test_personal_data_in_the_help_line_warns_too(tmp_path: Path) -> None:
    text = mutate(PERSONAL, '{code: ghi_chu, label: "Ghi chú", type: text, required: false, '
                            'help: "Ghi rõ nơi ở của người vi phạm"}')
    spec = load_plan(write(tmp_path, text))
    assert [(w.path, "«nơi ở»" in w.reason) for w in spec.warnings] == [
        ("forms[0].fields[1].help", True)
    ]


@pytest.mark.parametrize(
    "label",
    [
        "Số nam sinh, nữ sinh được tuyên truyền",  # «nam sinh» is not «năm sinh»
        "Số người vi phạm bị xử phạt hành chính",
        "Tên chuyên trang, chuyên mục",
        "Địa bàn (xã, phường) có tụ điểm phát sinh",
        "Số điểm, tụ điểm đã triệt xóa",
    ],
)
def test_counts_and_place_names_do_not_warn(label: str, tmp_path: Path) -> None:
    text = mutate(PERSONAL, f'{{code: ghi_chu, label: "{label}", type: text, required: false}}')
    assert load_plan(write(tmp_path, text)).warnings == []


def test_a_refused_file_still_reports_its_warnings(tmp_path: Path) -> None:
    text = mutate(PERSONAL, '{code: ghi_chu, label: "Họ tên", type: text, required: false}')
    text = mutate("agencies: [ldtbxh, ca]", "agencies: [ldtbxh, cax]", text)
    with pytest.raises(PlanFileError) as info:
        load_plan(write(tmp_path, text))
    assert [e.path for e in info.value.errors] == ["schedules[1].agencies[1]"]
    assert [w.path for w in info.value.warnings] == ["forms[0].fields[1].label"]
    assert "Họ tên" not in str(info.value)  # the message is the errors only



# ------------------------------------------------------------------ refusals


@dataclass
class Case:
    text: str
    needle: str  # found in `text`; its line is the expected error line
    path: str  # the expected key path
    reason: tuple[str, ...]  # fragments the reason must contain


def case(old: str, new: str, needle: str, path: str, *reason: str) -> Case:
    return Case(mutate(old, new), needle, path, reason)


DATE_DUE = "due: {date: 2022-11-30}"
FIELD_KINH_PHI = "type: decimal, required: false, min: 0}"
MONTHLY_DUE = "    due: {day: 13, before: true}\n"

CASES: dict[str, Case] = {
    # unknown keys
    "unknown-key-top-level": Case(MINI + "extra: 1\n", "extra: 1", "extra", ("'extra'",)),
    "unknown-key-in-field": case(
        'unit: "buổi"}', 'unit: "buổi", colour: red}', "colour: red",
        "forms[0].fields[0].colour", "unknown key", "'colour'",
    ),
    "unknown-key-in-agency-group": case(
        "  - kind: phuong\n", "  - kind: phuong\n    colour: red\n", "colour: red",
        "agencies[2].colour", "unknown key", "'colour'",
    ),
    # broken references
    "schedule-form-missing": case(
        "    form: chung\n    agencies: [ldtbxh, ca]", "    form: nope\n    agencies: [ldtbxh, ca]",
        "form: nope", "schedules[1].form", "unknown form", "'nope'",
    ),
    "agency-in-list-missing": case(
        "agencies: [ldtbxh, ca]", "agencies: [ldtbxh, p-cat-lin]", "agencies: [ldtbxh, p-cat-lin]",
        "schedules[1].agencies[1]", "unknown agency", "'p-cat-lin'",
    ),
    "kind-selector-unknown-kind": case(
        "agencies: {kinds: [phong-ban]}", "agencies: {kind: quan}", "agencies: {kind: quan}",
        "schedules[2].agencies", "unknown kind", "'quan'",
    ),
    "kinds-selector-unknown-kind": case(
        "agencies: {kinds: [phong-ban]}", "agencies: {kinds: [phong-ban, so-nganh]}",
        "agencies: {kinds: [phong-ban, so-nganh]}", "schedules[2].agencies", "'so-nganh'",
    ),
    "override-form-missing": case(
        "{agencies: {kind: phuong}, form: phuong}", "{agencies: {kind: phuong}, form: phuongx}",
        "form: phuongx", "schedules[0].overrides[0].form", "unknown form", "'phuongx'",
    ),
    "override-agency-missing": case(
        "{agencies: {kind: phuong}, form: phuong}", "{agencies: [ca, p-xyz], form: phuong}",
        "[ca, p-xyz]", "schedules[0].overrides[0].agencies[1]", "unknown agency", "'p-xyz'",
    ),
    "standing-office-missing": case(
        "standing_office: ldtbxh", "standing_office: vhtt", "standing_office: vhtt",
        "committee.standing_office", "unknown agency", "'vhtt'",
    ),
    "target-value-form-missing": case(
        "field: phuong.co_so_kiem_tra", "field: phuongx.co_so_kiem_tra", "phuongx.co_so_kiem_tra",
        "targets[0].values.kiem_tra.field", "unknown form", "'phuongx'",
    ),
    "target-choice-summed": case(
        "co_so: {field: phuong.co_so_quan_ly, aggregate: latest}",
        "co_so: {field: phuong.xep_loai, aggregate: sum}", "phuong.xep_loai, aggregate: sum",
        "targets[0].values.co_so.aggregate", "is a choice", "aggregate: latest",
    ),
    "target-value-field-missing": case(
        "field: phuong.co_so_kiem_tra", "field: phuong.co_so_kt", "phuong.co_so_kt",
        "targets[0].values.kiem_tra.field", "'co_so_kt'",
    ),
    "subject-agency-missing": case(
        "agency: p-cat-linh}", "agency: p-cat-lin}", "agency: p-cat-lin}",
        "subjects[0].agency", "unknown agency", "'p-cat-lin'",
    ),
    "parent-agency-missing": case(
        '    name: "Công an quận"\n', '    name: "Công an quận"\n    parent: ubnd-quan\n',
        "parent: ubnd-quan", "agencies[1].parent", "'ubnd-quan'",
    ),
    # impossible dates
    "impossible-date-holiday": case(
        "holidays: [2022-09-01]", "holidays: [2022-02-30]", "2022-02-30",
        "calendar.holidays[0]", "2022-02-30",
    ),
    "impossible-date-due": case(
        DATE_DUE, "due: {date: 2022-02-30}", "2022-02-30", "schedules[4].due.date", "2022-02-30",
    ),
    "impossible-date-plan-start": case(
        "  year: 2022\n", "  year: 2022\n  starts: 2022-02-30\n", "2022-02-30", "plan.starts",
        "2022-02-30",
    ),
    "impossible-date-field-min": case(
        "min: 2022-01-01", "min: 2022-02-30", "2022-02-30", "forms[1].fields[8].min",
        "2022-02-30",
    ),
    # The error is about `starts` and `ends` together, so it points at `plan`.
    "plan-ends-before-it-starts": case(
        "  year: 2022\n", "  year: 2022\n  starts: 2022-06-01\n  ends: 2022-03-01\n",
        "plan:", "plan", "2022-03-01", "2022-06-01",
    ),
    "one-off-due-before-the-plan": case(
        DATE_DUE, "due: {date: 2021-06-30}", "2021-06-30", "schedules[4].due.date",
        "2021-06-30", "outside the plan",
    ),
    "one-off-due-long-after-the-plan": case(
        DATE_DUE, "due: {date: 2024-06-30}", "2024-06-30", "schedules[4].due.date",
        "2024-06-30", "outside the plan",
    ),
    # duplicate codes
    "duplicate-agency-code": case(
        '  - code: ca\n    name: "Công an quận"', '  - code: ldtbxh\n    name: "Công an quận"',
        '- code: ldtbxh\n    name: "Công an quận"', "agencies[1]",
        "duplicate agency code", "'ldtbxh'",
    ),
    "duplicate-list-entry-code-vs-single-agency": case(
        "{name: \"Ô Chợ Dừa\", code: p-ocd}", "{name: \"Ô Chợ Dừa\", code: ca}",
        "code: ca}", "agencies[2].list[2]", "duplicate agency code", "'ca'",
    ),
    "duplicate-list-entry-code-vs-slug": case(
        "{name: \"Ô Chợ Dừa\", code: p-ocd}", "{name: \"Ô Chợ Dừa\", code: p-hang-bot}",
        "code: p-hang-bot}", "agencies[2].list[2]", "duplicate agency code", "'p-hang-bot'",
    ),
    "duplicate-form-code": case(
        '  - code: phuong\n    title: "Báo cáo của UBND phường"',
        '  - code: chung\n    title: "Báo cáo của UBND phường"',
        '- code: chung\n    title: "Báo cáo của UBND phường"', "forms[1]",
        "duplicate form code", "'chung'",
    ),
    "duplicate-field-code": case(
        "{code: ghi_chu,", "{code: so_buoi,", '{code: so_buoi, label: "Ghi chú"',
        "forms[0].fields[1]", "duplicate field code", "'so_buoi'",
    ),
    "duplicate-schedule-code": case(
        "  - code: quy\n", "  - code: thang\n", '- code: thang\n    name: "Báo cáo quý"',
        "schedules[1]", "duplicate schedule code", "'thang'",
    ),
    "duplicate-target-code": case(
        "  - code: khong-te-nan\n", "  - code: kiem-tra-80\n",
        '- code: kiem-tra-80\n    name: "Phường không có tệ nạn"', "targets[1]",
        "duplicate target code", "'kiem-tra-80'",
    ),
    "duplicate-agency-in-selector": case(
        "agencies: [ldtbxh, ca]", "agencies: [ldtbxh, ldtbxh]", "agencies: [ldtbxh, ldtbxh]",
        "schedules[1].agencies[1]", "duplicate agency code", "'ldtbxh'",
    ),
    # duplicate YAML keys
    "duplicate-yaml-key-block": case(
        "  year: 2022\n", "  year: 2022\n  year: 2023\n", "year: 2023", "plan.year",
        "duplicate key", "'year'",
    ),
    "duplicate-yaml-key-flow": case(
        "{code: td-01,", "{code: td-01, code: td-02,", "{code: td-01, code: td-02,",
        "subjects[0].code", "duplicate key", "'code'",
    ),
    "duplicate-yaml-key-top-level": Case(
        MINI + "format: 1  # again\n", "format: 1  # again", "format",
        ("duplicate key", "'format'"),
    ),
    # bad expressions
    "expression-syntax-error": case(
        'rule: "co_so_kiem_tra <= co_so_quan_ly"', 'rule: "co_so_kiem_tra <= "',
        'rule: "co_so_kiem_tra <= "', "forms[1].checks[0].rule", "cannot parse",
    ),
    "expression-function-call": case(
        'rule: "co_so_kiem_tra <= co_so_quan_ly"', "rule: \"__import__('os')\"",
        "__import__", "forms[1].checks[0].rule", "call is not allowed", "__import__",
    ),
    "expression-attribute-access": case(
        'show_if: "co_vi_pham"', 'show_if: "co_vi_pham.__class__"', "co_vi_pham.__class__",
        "forms[1].fields[3].show_if", "attribute is not allowed",
    ),
    "expression-unknown-name-in-check": case(
        'rule: "co_so_vi_pham <= co_so_kiem_tra"', 'rule: "so_vu_viec <= co_so_kiem_tra"',
        "so_vu_viec", "forms[1].checks[1].rule", "unknown name", "so_vu_viec",
    ),
    "show-if-refers-to-a-later-field": case(
        'show_if: "co_vi_pham"', 'show_if: "khong_te_nan"', 'show_if: "khong_te_nan"',
        "forms[1].fields[3].show_if", "unknown name", "khong_te_nan",
    ),
    "show-if-refers-to-itself": case(
        'show_if: "co_vi_pham"', 'show_if: "co_so_vi_pham > 0"', "co_so_vi_pham > 0",
        "forms[1].fields[3].show_if", "co_so_vi_pham",
    ),
    "target-value-unknown-name": case(
        'value: "kiem_tra / co_so * 100"', 'value: "kiem_tra / so_co_so * 100"',
        "so_co_so", "targets[0].value", "unknown name", "so_co_so",
    ),
    # field definitions
    "choice-without-options": case(
        '        options: [{value: tot, label: "Tốt"}, {value: kha, label: "Khá"}]\n', "",
        "code: xep_loai", "forms[1].fields[7]", "choice", "options",
    ),
    "min-greater-than-max": case(
        FIELD_KINH_PHI, "type: decimal, required: false, min: 10, max: 5}",
        "code: kinh_phi", "forms[1].fields[5]", "min 10", "max 5",
    ),
    # due rules
    "monthly-without-due": case(
        MONTHLY_DUE, "", "- code: thang", "schedules[0]", "monthly", "due",
    ),
    "one-off-without-date": case(
        DATE_DUE, "due: {day: 30}", "- code: tong-ket", "schedules[4]", "one_off", "date",
    ),
    "ad-hoc-with-due": case(
        "    period: ad_hoc\n", "    period: ad_hoc\n    due: {day: 5}\n", "- code: dot-xuat",
        "schedules[5]", "ad_hoc",
    ),
    "fixed-month-on-monthly": case(
        MONTHLY_DUE, "    due: {day: 13, before: true, month: 12}\n", "- code: thang",
        "schedules[0]", "fixed due month",
    ),
    "due-day-31": case(
        MONTHLY_DUE, "    due: {day: 31}\n", "due: {day: 31}", "schedules[0].due.day", "31",
    ),
    # roles: the consolidating agency, the standing office, their labels
    "consolidating-unknown-agency": case(
        "  standing_office: ldtbxh\n", "  consolidating: ldtbxhx\n", "consolidating: ldtbxhx",
        "committee.consolidating", "unknown agency", "'ldtbxhx'",
    ),
    "standing-office-unknown-next-to-consolidating": case(
        "  standing_office: ldtbxh\n", "  consolidating: ldtbxh\n  standing_office: bcd\n",
        "standing_office: bcd", "committee.standing_office", "unknown agency", "'bcd'",
    ),
    "committee-without-any-role": case(
        "  standing_office: ldtbxh\n", "", "committee:", "committee", "consolidating",
    ),
    "label-for-an-unknown-role": case(
        "  standing_office: ldtbxh\n",
        "  standing_office: ldtbxh\n  labels:\n    deputy: \"Phó Trưởng ban\"\n",
        "deputy:", "committee.labels.deputy", "unknown key", "'deputy'",
    ),
    "label-empty": case(
        "  standing_office: ldtbxh\n",
        "  standing_office: ldtbxh\n  labels:\n    chair: \"\"\n",
        "chair: \"\"", "committee.labels.chair", "at least 1 character",
    ),
    # escalation exemption per kind and per agency
    "kind-option-unknown-key": case(
        '  phuong: "Phường"\n', '  phuong: {label: "Phường", escalate: false, colour: red}\n',
        "colour: red", "kinds.phuong.colour", "unknown key", "'colour'",
    ),
    "kind-option-without-label": case(
        '  phuong: "Phường"\n', "  phuong: {escalate: false}\n", "phuong: {escalate",
        "kinds.phuong.label", "missing required key 'label'",
    ),
    "agency-escalate-not-a-boolean": case(
        '    name: "Công an quận"\n', '    name: "Công an quận"\n    escalate: sometimes\n',
        "escalate: sometimes", "agencies[1].escalate", "boolean",
    ),
    # escalation targets
    "escalation-to-admin-is-refused": case(
        "  holiday: keep\n",
        "  holiday: keep\n  escalation:\n    steps:\n      - {after_days: 1, to: [admin]}\n",
        "to: [admin]", "defaults.escalation.steps[0].to[0]", "'consolidating'", "'external'",
    ),
    "escalation-external-without-label": case(
        "  holiday: keep\n",
        "  holiday: keep\n  escalation:\n    steps:\n      - {after_days: 9, to: [external]}\n",
        "after_days: 9", "defaults.escalation.steps[0]", "external step needs a label",
    ),
    "escalation-label-without-external": case(
        "  holiday: keep\n",
        "  holiday: keep\n  escalation:\n    steps:\n"
        "      - {after_days: 9, to: [chair], label: \"Phó Chủ tịch\"}\n",
        "after_days: 9", "defaults.escalation.steps[0]", "committee.labels",
    ),
    "escalation-to-a-standing-office-the-plan-does-not-name": Case(
        mutate(
            "  holiday: keep\n",
            "  holiday: keep\n  escalation:\n    steps:\n"
            "      - {after_days: 3, to: [standing_office]}\n",
            mutate("  standing_office: ldtbxh\n", "  consolidating: ldtbxh\n"),
        ),
        "to: [standing_office]", "defaults.escalation.steps[0].to", ("names no standing office",),
    ),
    "default-escalation-to-a-standing-office-the-plan-does-not-name": case(
        "  standing_office: ldtbxh\n", "  consolidating: ldtbxh\n", "committee:", "committee",
        "default escalation chain goes to the standing office",
    ),
    # holidays
    "holiday-rule-unknown": case(
        "  holiday: keep\n", "  holiday: weekend_ok\n", "holiday: weekend_ok",
        "defaults.holiday", "'next_working_day'",
    ),
    # the signed report file
    "signed-file-unknown-value": case(
        MONTHLY_DUE, MONTHLY_DUE + "    signed_file: always\n", "signed_file: always",
        "schedules[0].signed_file", "'required'",
    ),
    "signed-file-on-a-form-without-a-file-field": case(
        MONTHLY_DUE, MONTHLY_DUE + "    signed_file: required\n", "signed_file: required",
        "schedules[0].signed_file", "form 'chung' has 0 file fields",
    ),
    # subjects: who holds them, and targets that count them
    "subjects-selector-unknown-kind": case(
        "    per_subject: tu-diem\n    form: chung\n    agencies: {kind: phuong}",
        "    per_subject: tu-diem\n    form: chung\n    agencies: {subjects: tu-diemx}",
        "{subjects: tu-diemx}", "schedules[3].agencies", "no subject of kind 'tu-diemx'",
    ),
    "target-per-subject-needs-count-where": case(
        "    per_agency: true\n", "    per_subject: tu-diem\n", "- code: kiem-tra-80",
        "targets[0]", "needs count_where",
    ),
    "target-per-subject-needs-a-per-subject-schedule": case(
        "    agencies: {kind: phuong}\n    values:\n      khong_te_nan:",
        "    per_subject: tu-diem\n    values:\n      khong_te_nan:",
        "khong_te_nan: {field", "targets[1].values.khong_te_nan", "per_subject: tu-diem",
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_refusal(name: str, tmp_path: Path) -> None:
    c = CASES[name]
    path = write(tmp_path, c.text, f"{name}.yaml")
    errors = refusal(path)
    line = line_of(c.text, c.needle)
    matching = [
        e for e in errors
        if e.file == str(path) and e.line == line and e.path == c.path
        and all(fragment in e.reason for fragment in c.reason)
    ]
    assert matching, (
        f"expected {path}:{line}: {c.path}: …{c.reason}…, got:\n{describe(errors)}"
    )


# File-level refusals have no key path.


@pytest.mark.parametrize(
    ("old", "new", "needle"),
    [
        ("  code: mini-2022\n", "  code: mini-2022: x\n", "mini-2022: x"),
        ("  year: 2022\n", "\tyear: 2022\n", "\tyear"),
        ("  title: \"Báo cáo chung\"\n", "  title: [\"Báo cáo chung\"}\n", "[\"Báo cáo chung\"}"),
    ],
    ids=["mapping-in-scalar", "tab", "unbalanced-bracket"],
)
def test_yaml_syntax_error(old: str, new: str, needle: str, tmp_path: Path) -> None:
    text = mutate(old, new)
    path = write(tmp_path, text)
    errors = refusal(path)
    assert [(e.file, e.line, e.path) for e in errors] == [(str(path), line_of(text, needle), "")]
    assert "YAML syntax error" in errors[0].reason


@pytest.mark.parametrize(
    "text", ["", "\n\n", "# only a comment\n"], ids=["empty", "blank", "comment"]
)
def test_empty_file(text: str, tmp_path: Path) -> None:
    path = write(tmp_path, text)
    errors = refusal(path)
    assert [(e.file, e.line, e.path) for e in errors] == [(str(path), 1, "")]
    assert "empty" in errors[0].reason


def test_not_a_mapping(tmp_path: Path) -> None:
    path = write(tmp_path, "- just\n- a list\n")
    errors = refusal(path)
    assert [(e.file, e.line) for e in errors] == [(str(path), 1)]
    assert "mapping" in errors[0].reason


def _latin1_plan() -> tuple[bytes, int]:
    """The mini plan with one line in Latin-1; returns the bytes and that line."""
    raw = MINI.encode("utf-8")
    good = 'name: "Ban Chỉ đạo thử nghiệm"'.encode()
    bad = 'name: "Ban Chỉ đạo thử nghiệm"'.replace("Chỉ đạo thử nghiệm", "Ch\xe9").encode("latin-1")
    assert raw.count(good) == 1
    line = raw[: raw.index(good)].count(b"\n") + 1
    return raw.replace(good, bad), line


def test_non_utf8_bytes_are_refused(tmp_path: Path) -> None:
    raw, _ = _latin1_plan()
    path = write(tmp_path, raw)
    errors = refusal(path)
    assert len(errors) == 1
    assert errors[0].file == str(path)
    assert "UTF-8" in errors[0].reason


def test_non_utf8_error_names_the_line(tmp_path: Path) -> None:
    raw, line = _latin1_plan()
    path = write(tmp_path, raw)
    errors = refusal(path)
    assert errors[0].line == line


@pytest.mark.parametrize(
    ("old", "new", "needle", "path", "culprit"),
    [
        ("  - kind: phuong\n", "  - kind: phuong\n    parent: ubnd-quan\n",
         "parent: ubnd-quan", "agencies[2].parent", "'ubnd-quan'"),
        ("  - kind: phuong\n", "  - kind: phuongx\n",
         "kind: phuongx", "agencies[2].kind", "'phuongx'"),
    ],
    ids=["parent", "kind"],
)
def test_agency_group_reference_points_at_the_group_key(
    old: str, new: str, needle: str, path: str, culprit: str, tmp_path: Path
) -> None:
    text = mutate(old, new)
    file = write(tmp_path, text)
    errors = refusal(file)
    mine = [e for e in errors if culprit in e.reason]
    assert mine
    assert all((e.line, e.path) == (line_of(text, needle), path) for e in mine), describe(mine)


def test_agency_group_with_missing_parent_is_refused(tmp_path: Path) -> None:
    """The refusal names the group's own key once, not each list entry."""
    text = mutate("  - kind: phuong\n", "  - kind: phuong\n    parent: ubnd-quan\n")
    errors = refusal(write(tmp_path, text))
    assert any("unknown parent agency 'ubnd-quan'" in e.reason for e in errors)


def test_several_independent_reference_errors_are_all_reported(tmp_path: Path) -> None:
    text = mutate("agencies: [ldtbxh, ca]", "agencies: [ldtbxh, cax]")
    text = mutate("form: phuong}", "form: phuongx}", text)
    text = mutate('show_if: "co_vi_pham"', 'show_if: "co_vi_pham()"', text)
    text = mutate("standing_office: ldtbxh", "standing_office: vhtt", text)
    text = mutate(MONTHLY_DUE, "    due: {day: 30}\n", text)
    path = write(tmp_path, text)
    errors = refusal(path)
    got = {(e.line, e.path) for e in errors}
    assert {
        (line_of(text, "[ldtbxh, cax]"), "schedules[1].agencies[1]"),
        (line_of(text, "form: phuongx"), "schedules[0].overrides[0].form"),
        (line_of(text, "co_vi_pham()"), "forms[1].fields[3].show_if"),
        (line_of(text, "standing_office: vhtt"), "committee.standing_office"),
        (line_of(text, "due: {day: 30}"), "schedules[0].due.day"),
    } <= got, describe(errors)
    assert all(e.file == str(path) for e in errors)


def test_several_independent_schema_errors_are_all_reported(tmp_path: Path) -> None:
    text = mutate(FIELD_KINH_PHI, "type: decimal, required: false, min: 10, max: 5}")
    text = mutate('unit: "buổi"}', 'unit: "buổi", colour: red}', text)
    text = mutate("    period: ad_hoc\n", "    period: ad_hoc\n    due: {day: 5}\n", text)
    text += "extra: 1\n"
    errors = refusal(write(tmp_path, text))
    got = {(e.line, e.path) for e in errors}
    assert {
        (line_of(text, "code: kinh_phi"), "forms[1].fields[5]"),
        (line_of(text, "colour: red"), "forms[0].fields[0].colour"),
        (line_of(text, "- code: dot-xuat"), "schedules[5]"),
        (line_of(text, "extra: 1"), "extra"),
    } <= got, describe(errors)
    # Sorted by line.
    assert [e.line for e in errors] == sorted(e.line or 0 for e in errors)


def test_several_yaml_level_errors_are_all_reported(tmp_path: Path) -> None:
    text = mutate("  year: 2022\n", "  year: 2022\n  year: 2023\n")
    text = mutate("holidays: [2022-09-01]", "holidays: [2022-09-31]", text)
    text = mutate("{code: td-01,", "{code: td-01, code: td-02,", text)
    errors = refusal(write(tmp_path, text))
    got = {(e.line, e.path) for e in errors}
    assert got == {
        (line_of(text, "year: 2023"), "plan.year"),
        (line_of(text, "2022-09-31"), "calendar.holidays[0]"),
        (line_of(text, "code: td-02"), "subjects[0].code"),
    }, describe(errors)


# ------------------------------------------------------------------ expressions


def ev(source: str, **values: object) -> object:
    return expressions.parse(source).evaluate(values)


@pytest.mark.parametrize(
    ("source", "values", "expected"),
    [
        ("1 + 2 * 3", {}, 7),
        ("(1 + 2) * 3", {}, 9),
        ("7 - 10", {}, -3),
        ("7 / 2", {}, 3.5),
        ("7 % 3", {}, 1),
        ("-a + +b", {"a": 2, "b": 5}, 3),
        ("kiem_tra / co_so * 100", {"kiem_tra": 9, "co_so": 10}, 90.0),
        ("a <= b", {"a": 1, "b": 2}, True),
        ("a < b", {"a": 2, "b": 2}, False),
        ("a >= b", {"a": 2, "b": 2}, True),
        ("a > b", {"a": 3, "b": 2}, True),
        ("a == b", {"a": 2, "b": 2}, True),
        ("a != b", {"a": 2, "b": 2}, False),
        ("1 < a < 3", {"a": 2}, True),
        ("1 < a < 3", {"a": 3}, False),
        ("1 < a <= 3 < 4", {"a": 3}, True),
        ("3 > a > 1", {"a": 1}, False),
        ("x in [1, 2, 3]", {"x": 2}, True),
        ("x in [1, 2, 3]", {"x": 4}, False),
        ("x not in [1, 2]", {"x": 4}, True),
        ("x in ['tot', 'kha']", {"x": "kha"}, True),
        ("'Hội nghị' in hinh_thuc", {"hinh_thuc": ["Hội nghị", "Tờ rơi"]}, True),
        ("a and b", {"a": True, "b": False}, False),
        ("a and b", {"a": True, "b": True}, True),
        ("a or b", {"a": False, "b": True}, True),
        ("a or b", {"a": False, "b": False}, False),
        ("not a", {"a": False}, True),
        ("not a and b or c", {"a": True, "b": True, "c": False}, False),
        ("true and not false", {}, True),
        ("co_vi_pham == true", {"co_vi_pham": True}, True),
        ("a / b", {"a": 1, "b": 0}, None),
        ("a % b", {"a": 1, "b": 0}, None),
        ("1 / (a - a) > 0", {"a": 3}, None),
        ("a <= b", {"a": 1}, None),
        ("a + 1", {}, None),
        ("a in [b, 2]", {"a": 2}, None),
        ("a <= b", {"a": None, "b": 3}, None),
        ("a < 'x'", {"a": 1}, None),
    ],
)
def test_expression_evaluation(source: str, values: dict, expected: object) -> None:
    assert expressions.parse(source).evaluate(values) == expected
    if expected is None:
        assert expressions.parse(source).evaluate(values) is None


def test_holds_is_none_when_a_value_is_missing() -> None:
    rule = expressions.parse("co_so_kiem_tra <= co_so_quan_ly")
    assert rule.holds({"co_so_kiem_tra": 3, "co_so_quan_ly": 5}) is True
    assert rule.holds({"co_so_kiem_tra": 6, "co_so_quan_ly": 5}) is False
    assert rule.holds({"co_so_kiem_tra": 3}) is None
    assert rule.holds({}) is None
    assert rule.evaluate({"co_so_quan_ly": 5}) is None
    show = expressions.parse("co_vi_pham")
    assert show.holds({"co_vi_pham": False}) is False
    assert show.holds({"co_vi_pham": 0}) is False
    assert show.holds({}) is None
    assert expressions.parse("a / b > 1").holds({"a": 1, "b": 0}) is None
    # Short-circuit: a decided `and`/`or` does not need the missing value.
    assert expressions.parse("a and b").holds({"a": False}) is False
    assert expressions.parse("a or b").holds({"a": True}) is True
    assert expressions.parse("a or b").holds({"a": False}) is None


def test_expression_names() -> None:
    expr = expressions.parse("  a + b > c and true or x in [d, 1] ")
    assert expr.names == frozenset({"a", "b", "c", "x", "d"})
    assert expr.source == "a + b > c and true or x in [d, 1]"
    assert expressions.parse("a <= b", {"a", "b", "c"}).names == {"a", "b"}
    with pytest.raises(expressions.ExpressionError, match=r"unknown name.*z"):
        expressions.parse("a <= z", {"a", "b"})


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ("__import__('os')", "call"),
        ("len(a)", "call"),
        ("a.real", "attribute"),
        ("().__class__", "attribute"),
        ("lambda: 1", "lambda"),
        ("(lambda x: x)(1)", "call"),
        ("a[0]", "subscript"),
        ("[x for x in a]", "listcomp"),
        ("{x for x in a}", "setcomp"),
        ("{x: 1 for x in a}", "dictcomp"),
        ("sum(x for x in a)", "call"),
        ("a if b else c", "ifexp"),
        ("a ** 2", "pow"),
        ("a // 2", "floordiv"),
        ("~a", "invert"),
        ("{1: 2}", "dict"),
        ("(a := 1)", "namedexpr"),
        ("f'{a}'", "joinedstr"),
        ("None", "None"),
        ("b'x'", "b'x'"),
        ("a is b", "is"),
        ("", "empty"),
        ("   ", "empty"),
        ("a <=", "cannot parse"),
        ("a = 1", "cannot parse"),
        ("import os", "cannot parse"),
    ],
)
def test_expression_refusals(source: str, fragment: str) -> None:
    with pytest.raises(expressions.ExpressionError) as info:
        expressions.parse(source)
    assert fragment.lower() in str(info.value).lower()


# Random arithmetic: the evaluator must agree with Python itself.

NAMES = ("a", "b", "c")
_leaf = st.one_of(
    st.integers(min_value=-50, max_value=50).map(lambda n: f"({n})" if n < 0 else str(n)),
    st.sampled_from(NAMES),
)
_arith = st.recursive(
    _leaf,
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(["+", "-", "*", "/", "%"]), inner).map(
            lambda t: f"({t[0]} {t[1]} {t[2]})"
        ),
        inner.map(lambda s: f"(-{s})"),
        inner.map(lambda s: f"(+{s})"),
    ),
    max_leaves=12,
)


def _python(source: str, values: dict[str, int]) -> object:
    try:
        return eval(source, {"__builtins__": {}}, dict(values))
    except ZeroDivisionError:
        return None


@settings(max_examples=300, deadline=None)
@given(
    source=_arith,
    values=st.fixed_dictionaries({n: st.integers(-1000, 1000) for n in NAMES}),
)
def test_arithmetic_matches_python(source: str, values: dict[str, int]) -> None:
    assert expressions.parse(source, set(NAMES)).evaluate(values) == _python(source, values)


@settings(max_examples=200, deadline=None)
@given(
    left=_arith,
    ops=st.lists(st.sampled_from(["<", "<=", ">", ">=", "==", "!="]), min_size=1, max_size=3),
    rights=st.lists(_arith, min_size=3, max_size=3),
    logic=st.sampled_from(["and", "or"]),
    negate=st.booleans(),
    values=st.fixed_dictionaries({n: st.integers(-5, 5) for n in NAMES}),
)
def test_comparisons_and_logic_match_python(
    left: str, ops: list[str], rights: list[str], logic: str, negate: bool,
    values: dict[str, int],
) -> None:
    chain = left + "".join(f" {op} {right}" for op, right in zip(ops, rights, strict=False))
    source = f"{'not ' if negate else ''}({chain}) {logic} (a == b)"
    assert expressions.parse(source, set(NAMES)).evaluate(values) == _python(source, values)


# ------------------------------------------------------------------ the CLI


def run_cli(*files: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", "plan", "validate", *map(str, files)],
        cwd=str(ROOT), capture_output=True, text=True, timeout=60, check=False,
    )


def test_cli_validates_all_plans() -> None:
    names = [f"plans/{p.name}" for p in PLAN_FILES]
    result = run_cli(*names)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    for name in names:
        assert f"{name}: OK" in result.stdout
    assert "dongda-2022: 36 agencies" in result.stdout


def test_cli_reports_a_broken_file(tmp_path: Path) -> None:
    text = mutate("agencies: [ldtbxh, ca]", "agencies: [ldtbxh, p-cat-lin]")
    path = write(tmp_path, text, "broken.yaml")
    result = run_cli(path)
    assert result.returncode == 1
    line = line_of(text, "[ldtbxh, p-cat-lin]")
    assert f"{path}:{line}: schedules[1].agencies[1]: unknown agency 'p-cat-lin'" in (
        result.stderr.splitlines()
    )
    assert "OK" not in result.stdout


def test_cli_mixing_good_and_bad_files(tmp_path: Path) -> None:
    bad_text = MINI + "extra: 1\n"
    bad = write(tmp_path, bad_text, "bad.yaml")
    result = run_cli("plans/dongda-2022.yaml", bad, MINI_PATH)
    assert result.returncode == 1
    assert "plans/dongda-2022.yaml: OK — dongda-2022" in result.stdout
    assert f"{MINI_PATH}: OK — mini-2022" in result.stdout
    assert f"{bad}: OK" not in result.stdout
    assert result.stderr.splitlines() == [
        f"{bad}:{line_of(bad_text, 'extra: 1')}: extra: unknown key 'extra'"
    ]


def test_cli_reports_every_error_of_a_file(tmp_path: Path) -> None:
    text = mutate("agencies: [ldtbxh, ca]", "agencies: [ldtbxh, cax]")
    text = mutate("standing_office: ldtbxh", "standing_office: vhtt", text)
    path = write(tmp_path, text, "two.yaml")
    result = run_cli(path)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert f"{path}:{line_of(text, 'vhtt')}: committee.standing_office: unknown agency 'vhtt'" in (
        lines
    )
    assert f"{path}:{line_of(text, 'cax')}: schedules[1].agencies[1]: unknown agency 'cax'" in lines
