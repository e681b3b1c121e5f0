"""core.versions: what changed between two versions of a report, question by question."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from core.fields.base import FieldSpec
from core.versions import SKIPPED, ChangeKind, diff, unchanged_count, version_answers

FIELDS = [FieldSpec("so_buoi", "Số buổi", "integer"), FieldSpec("co", "Có vi phạm?", "yes_no"),
          FieldSpec("ghi_chu", "Ghi chú", "text", required=False),
          FieldSpec("van_ban", "Văn bản", "file", required=False)]
CODES = [f.code for f in FIELDS]
PDF = {"file_name": "bao-cao.pdf", "mime_type": "application/pdf", "size": 120}

values = st.one_of(st.integers(-3, 3), st.booleans(), st.sampled_from(["", "a", "b"]),
                   st.just(SKIPPED), st.just(PDF), st.just({**PDF, "file_name": "v2.pdf"}))
versions = st.dictionaries(st.sampled_from([*CODES, "cu"]), values)


def test_one_changed_answer_among_unchanged_ones() -> None:
    old = version_answers({"so_buoi": 17, "ghi_chu": "x", "van_ban": PDF})
    new = version_answers({"so_buoi": 20, "ghi_chu": "x", "van_ban": PDF})
    [change] = diff(FIELDS, old, new)
    assert (change.label, change.kind, change.old, change.new) == (
        "Số buổi", ChangeKind.changed, 17, 20)
    assert unchanged_count(old, new) == 2


def test_skipped_added_removed_and_files_by_name() -> None:
    old = version_answers({"so_buoi": 1, "co": True, "van_ban": PDF}, skipped=["ghi_chu"])
    new = version_answers({"so_buoi": 1, "ghi_chu": "đã bổ sung",
                           "van_ban": {**PDF, "file_name": "ban-ky.pdf"}}, skipped=[])
    changes = {c.code: (c.kind, c.old, c.new) for c in diff(FIELDS, old, new)}
    assert changes == {
        "co": (ChangeKind.removed, True, None),
        "ghi_chu": (ChangeKind.changed, SKIPPED, "đã bổ sung"),
        "van_ban": (ChangeKind.changed, PDF, {**PDF, "file_name": "ban-ky.pdf"}),
    }
    assert [c.code for c in diff(FIELDS, old, new)] == ["co", "ghi_chu", "van_ban"]  # form order


def test_a_yes_is_not_the_number_one_and_an_unknown_code_comes_last() -> None:
    [yes] = diff(FIELDS, {"co": 1}, {"co": True})
    assert yes.kind == ChangeKind.changed
    [gone] = diff(FIELDS, {"cu": 3, "so_buoi": 1}, {"so_buoi": 1})
    assert (gone.code, gone.label, gone.kind) == ("cu", "cu", ChangeKind.removed)


@given(versions)
def test_a_version_against_itself_changes_nothing(answers: dict[str, Any]) -> None:
    assert diff(FIELDS, answers, dict(answers)) == []
    assert unchanged_count(answers, answers) == len(answers)


@given(versions, versions)
def test_every_question_is_changed_or_unchanged_and_swapping_mirrors(
        old: dict[str, Any], new: dict[str, Any]) -> None:
    changes = diff(FIELDS, old, new)
    assert len(changes) + unchanged_count(old, new) == len(set(old) | set(new))
    assert len({c.code for c in changes}) == len(changes)
    order = [*CODES, "cu"]
    assert [order.index(c.code) for c in changes] == sorted(order.index(c.code) for c in changes)
    mirror = {ChangeKind.added: ChangeKind.removed, ChangeKind.removed: ChangeKind.added,
              ChangeKind.changed: ChangeKind.changed}
    back = diff(FIELDS, new, old)
    assert [(c.code, mirror[c.kind]) for c in changes] == [(c.code, c.kind) for c in back]
    for c in changes:
        assert (c.old is None) == (c.kind == ChangeKind.added)
        assert (c.new is None) == (c.kind == ChangeKind.removed)
