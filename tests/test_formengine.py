"""core.formengine: the form state machine (pure transitions over a draft's answers)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from core.answers import FieldSpec, Ok, Problem, parse
from core.formengine import (
    CHECK,
    REVIEW,
    CheckFailure,
    CheckSpec,
    FormSpec,
    FormState,
    answer,
    back,
    check_for_submit,
    edit,
    effective_answers,
    failing_checks,
    progress,
    review,
    skip,
    start,
    visible_fields,
)

REQUIRED = "This question is required and cannot be skipped."
FIRST = "This is the first question."
NOT_ASKED = "This question is not asked any more."

MSG_KIEM_TRA = "Số cơ sở được kiểm tra không thể lớn hơn số cơ sở đang quản lý."
MSG_VI_PHAM = "Số cơ sở vi phạm không thể lớn hơn số cơ sở được kiểm tra."


def f(code: str, type_: str = "integer", required: bool = True, **settings_: Any) -> FieldSpec:
    return FieldSpec(code, code.replace("_", " "), type_, required=required, settings=settings_)


# The docs' «phuong» form, shortened: a yes/no gate, skip logic and two cross-field checks.
PHUONG = FormSpec(
    title="Báo cáo phường",
    fields=(
        f("co_so_quan_ly", min=0),
        f("co_so_kiem_tra", min=0),
        f("co_vi_pham", "yes_no"),
        f("co_so_vi_pham", min=0, show_if="co_vi_pham"),
        f("ty_le", "percent", required=False),
        f("kho_khan", "long_text", required=False),
    ),
    checks=(
        CheckSpec("co_so_kiem_tra <= co_so_quan_ly", MSG_KIEM_TRA),
        CheckSpec("co_so_vi_pham <= co_so_kiem_tra", MSG_VI_PHAM),
    ),
)
CODES = [x.code for x in PHUONG.fields]
NO_GATE = ["co_so_quan_ly", "co_so_kiem_tra", "co_vi_pham", "ty_le", "kho_khan"]


def ok(result: FormState | Problem) -> FormState:
    assert isinstance(result, FormState), result
    return result


def run(form: FormSpec, state: FormState, *steps: tuple[str, Any]) -> FormState:
    """Answer the current question with each value in turn, checking the code asked."""
    for code, value in steps:
        assert state.current == code, (state.current, code)
        state = ok(answer(form, state, code, value))
    return state


def codes_of(fields: list[FieldSpec]) -> list[str]:
    return [x.code for x in fields]


# --------------------------------------------------------------------------- FormSpec


def test_form_spec_lookup() -> None:
    assert PHUONG.field("co_vi_pham").type == "yes_no"
    assert PHUONG.position("co_so_quan_ly") == 0
    assert PHUONG.position("kho_khan") == 5
    with pytest.raises(KeyError):
        PHUONG.field("nope")
    with pytest.raises(KeyError):
        PHUONG.position("nope")


# --------------------------------------------------------------------------- start


def test_start_on_a_fresh_draft_asks_the_first_question() -> None:
    state = start(PHUONG, FormState())
    assert state.current == "co_so_quan_ly"
    assert state.editing is False
    assert state.answers == {}


def test_start_resumes_at_the_stored_question() -> None:
    stored = FormState(answers={"co_so_quan_ly": 10}, current="co_vi_pham")
    assert start(PHUONG, stored) == stored
    editing = FormState(answers={"co_so_quan_ly": 10}, current="co_so_quan_ly", editing=True)
    assert start(PHUONG, editing) == editing


def test_start_without_stored_question_picks_the_first_open_one() -> None:
    state = start(PHUONG, FormState(answers={"co_so_quan_ly": 10, "co_so_kiem_tra": 5}))
    assert state.current == "co_vi_pham"
    # Skipped questions are not open; hidden ones are not asked.
    state = start(PHUONG, FormState(
        answers={"co_so_quan_ly": 10, "co_so_kiem_tra": 5, "co_vi_pham": False},
        skipped=frozenset({"ty_le"})))
    assert state.current == "kho_khan"


def test_start_when_stored_question_is_hidden_now() -> None:
    stored = FormState(answers={"co_so_quan_ly": 1, "co_so_kiem_tra": 1, "co_vi_pham": False},
                       current="co_so_vi_pham", editing=True)
    state = start(PHUONG, stored)
    assert state.current == "ty_le"
    assert state.editing is False


def test_start_when_stored_question_no_longer_exists() -> None:
    state = start(PHUONG, FormState(answers={"co_so_quan_ly": 1}, current="removed_field"))
    assert state.current == "co_so_kiem_tra"


def test_start_all_answered_goes_to_review() -> None:
    answers = {"co_so_quan_ly": 3, "co_so_kiem_tra": 2, "co_vi_pham": False, "ty_le": 50,
               "kho_khan": "Không"}
    assert start(PHUONG, FormState(answers=answers)).current == REVIEW
    at_review = FormState(answers={}, current=REVIEW)
    assert start(PHUONG, at_review) == at_review


def test_start_on_an_empty_form() -> None:
    empty = FormSpec("empty", ())
    assert start(empty, FormState()).current == REVIEW
    assert progress(empty, FormState(current=REVIEW)) == (0, 0)
    assert back(empty, FormState(current=REVIEW)) == Problem(FIRST)
    assert check_for_submit(empty, FormState()).ok


# --------------------------------------------------------------------------- answer and show_if


def test_answer_walks_the_form_and_ends_at_review() -> None:
    state = start(PHUONG, FormState())
    state = run(PHUONG, state, ("co_so_quan_ly", 10), ("co_so_kiem_tra", 8),
                ("co_vi_pham", False), ("ty_le", 80), ("kho_khan", "Thiếu kinh phí"))
    assert state.current == REVIEW
    assert state.editing is False
    assert check_for_submit(PHUONG, state).ok
    assert "co_so_vi_pham" not in state.answers


def test_yes_no_gate_reveals_the_dependent_question() -> None:
    state = start(PHUONG, FormState())
    state = run(PHUONG, state, ("co_so_quan_ly", 10), ("co_so_kiem_tra", 8),
                ("co_vi_pham", True))
    assert state.current == "co_so_vi_pham"
    assert codes_of(visible_fields(PHUONG, state.answers)) == CODES
    state = run(PHUONG, state, ("co_so_vi_pham", 2), ("ty_le", 80), ("kho_khan", "-"))
    assert state.current == REVIEW
    assert check_for_submit(PHUONG, state).ok


def test_visible_fields_follow_show_if() -> None:
    assert codes_of(visible_fields(PHUONG, {})) == NO_GATE  # unanswered gate: hidden
    assert codes_of(visible_fields(PHUONG, {"co_vi_pham": False})) == NO_GATE
    assert codes_of(visible_fields(PHUONG, {"co_vi_pham": True})) == CODES


def test_effective_answers_drop_hidden_fields() -> None:
    state = FormState(answers={"co_so_quan_ly": 1, "co_vi_pham": False, "co_so_vi_pham": 7})
    assert effective_answers(PHUONG, state) == {"co_so_quan_ly": 1, "co_vi_pham": False}
    shown = replace(state, answers={**state.answers, "co_vi_pham": True})
    assert effective_answers(PHUONG, shown)["co_so_vi_pham"] == 7


def test_hiding_a_question_keeps_its_answer_but_it_no_longer_counts() -> None:
    state = FormState(answers={"co_so_quan_ly": 10, "co_so_kiem_tra": 8, "co_vi_pham": True,
                               "co_so_vi_pham": 2}, current="co_vi_pham")
    state = ok(answer(PHUONG, state, "co_vi_pham", False))
    assert state.current == "ty_le"
    assert state.answers["co_so_vi_pham"] == 2
    assert "co_so_vi_pham" not in effective_answers(PHUONG, state)
    # Hidden answers don't count for checks: 2 > 1 would fail if co_so_vi_pham were shown.
    state = ok(answer(PHUONG, replace(state, current="co_so_kiem_tra"), "co_so_kiem_tra", 1))
    assert check_for_submit(PHUONG, state).failures == ()


def test_show_if_on_numbers_and_negation() -> None:
    form = FormSpec("f", (
        f("n"),
        f("many", "text", show_if="n > 5"),
        f("none", "text", show_if="not n"),
        f("last", "text", required=False),
    ))
    state = start(form, FormState())
    assert ok(answer(form, state, "n", 6)).current == "many"
    assert ok(answer(form, state, "n", 0)).current == "none"
    assert ok(answer(form, state, "n", 3)).current == "last"


def test_answer_of_a_skipped_field_clears_the_skip() -> None:
    state = FormState(skipped=frozenset({"ty_le"}), current="ty_le")
    state = ok(answer(PHUONG, state, "ty_le", 50))
    assert "ty_le" not in state.skipped
    assert state.answers["ty_le"] == 50


def test_answer_does_not_mutate_the_old_state() -> None:
    before = FormState(answers={"co_so_quan_ly": 1}, current="co_so_kiem_tra")
    snapshot = dict(before.answers)
    ok(answer(PHUONG, before, "co_so_kiem_tra", 1))
    assert before.answers == snapshot
    assert before.current == "co_so_kiem_tra"


def test_answer_when_current_field_was_last_visible_goes_to_review() -> None:
    form = FormSpec("f", (f("a"), f("b", show_if="a > 1")))
    state = ok(answer(form, start(form, FormState()), "a", 1))
    assert state.current == REVIEW


def test_answer_of_a_now_hidden_field_continues_after_its_position() -> None:
    # The field answered hides itself only in a contrived form, but _after must cope.
    form = FormSpec("f", (f("g", "yes_no"), f("x", show_if="g"), f("y")))
    state = FormState(answers={"g": False}, current="x")
    assert ok(answer(form, state, "x", 1)).current == "y"
    form2 = FormSpec("f", (f("g", "yes_no"), f("x", show_if="g")))
    assert ok(answer(form2, state, "x", 1)).current == REVIEW


# --------------------------------------------------------------------------- checks


def test_cross_field_check_fires_as_soon_as_its_fields_are_answered() -> None:
    state = start(PHUONG, FormState())
    state = run(PHUONG, state, ("co_so_quan_ly", 10))
    result = answer(PHUONG, state, "co_so_kiem_tra", 11)
    assert result == Problem(CHECK, {"message": MSG_KIEM_TRA,
                                     "fields": ("co_so_quan_ly", "co_so_kiem_tra")})
    # The state is not changed by a refused answer; a good value goes through.
    assert state.current == "co_so_kiem_tra"
    assert ok(answer(PHUONG, state, "co_so_kiem_tra", 10)).current == "co_vi_pham"


def test_check_fields_are_in_form_order_not_rule_order() -> None:
    state = FormState(answers={"co_so_quan_ly": 10, "co_so_kiem_tra": 3, "co_vi_pham": True},
                      current="co_so_vi_pham")
    result = answer(PHUONG, state, "co_so_vi_pham", 4)
    assert result == Problem(CHECK, {"message": MSG_VI_PHAM,
                                     "fields": ("co_so_kiem_tra", "co_so_vi_pham")})


def test_check_does_not_fire_before_all_its_fields_are_answered() -> None:
    form = FormSpec("f", (f("a"), f("b"), f("c")), checks=(
        CheckSpec("c <= a", "c ≤ a"),
    ))
    state = start(form, FormState())
    state = run(form, state, ("a", 1), ("b", 100))  # b is in no check
    result = answer(form, state, "c", 2)
    assert result == Problem(CHECK, {"message": "c ≤ a", "fields": ("a", "c")})
    # Answered in another order: the check waits for its last field.
    later = FormSpec("f", (f("c"), f("a")), checks=(CheckSpec("c <= a", "m"),))
    state = ok(answer(later, start(later, FormState()), "c", 5))
    assert state.current == "a"
    assert answer(later, state, "a", 4) == Problem(CHECK, {"message": "m", "fields": ("c", "a")})


def test_check_with_a_skipped_field_passes() -> None:
    form = FormSpec("f", (f("a"), f("b", required=False), f("c")),
                    checks=(CheckSpec("b <= a", "b ≤ a"), CheckSpec("c <= b", "c ≤ b")))
    state = run(form, start(form, FormState()), ("a", 1))
    state = ok(skip(form, state, "b"))
    state = ok(answer(form, state, "c", 100))
    assert state.current == REVIEW
    assert check_for_submit(form, state).ok


def test_check_on_a_hidden_field_does_not_fire() -> None:
    state = FormState(answers={"co_so_quan_ly": 10, "co_so_kiem_tra": 8, "co_vi_pham": False,
                               "co_so_vi_pham": 9}, current="co_so_kiem_tra")
    # co_so_vi_pham (9) > 1 but it is hidden.
    assert isinstance(answer(PHUONG, state, "co_so_kiem_tra", 1), FormState)


def test_first_failing_check_is_reported() -> None:
    form = FormSpec("f", (f("a"), f("b")), checks=(
        CheckSpec("b < a", "first"), CheckSpec("b != a", "second"),
    ))
    state = FormState(answers={"a": 1}, current="b")
    assert answer(form, state, "b", 1) == Problem(CHECK, {"message": "first",
                                                          "fields": ("a", "b")})


def test_failing_checks() -> None:
    answers = {"co_so_quan_ly": 1, "co_so_kiem_tra": 2, "co_so_vi_pham": 3}
    assert failing_checks(PHUONG, answers) == [
        CheckFailure(MSG_KIEM_TRA, ("co_so_quan_ly", "co_so_kiem_tra")),
        CheckFailure(MSG_VI_PHAM, ("co_so_kiem_tra", "co_so_vi_pham")),
    ]
    assert failing_checks(PHUONG, answers, only_with="co_so_quan_ly") == [
        CheckFailure(MSG_KIEM_TRA, ("co_so_quan_ly", "co_so_kiem_tra")),
    ]
    assert failing_checks(PHUONG, answers, only_with="ty_le") == []
    assert failing_checks(PHUONG, {"co_so_kiem_tra": 5}) == []


def test_check_with_uncomparable_values_does_not_fail() -> None:
    form = FormSpec("f", (f("a", "text"), f("b")), checks=(CheckSpec("a < b", "m"),))
    assert failing_checks(form, {"a": "x", "b": 1}) == []


# --------------------------------------------------------------------------- skip


def test_skip_refuses_required() -> None:
    state = start(PHUONG, FormState())
    assert skip(PHUONG, state, "co_so_quan_ly") == Problem(REQUIRED)


def test_skip_optional_records_it_and_moves_on() -> None:
    state = FormState(answers={"co_so_quan_ly": 1, "co_so_kiem_tra": 1, "co_vi_pham": False},
                      current="ty_le")
    state = ok(skip(PHUONG, state, "ty_le"))
    assert state.skipped == {"ty_le"}
    assert "ty_le" not in state.answers
    assert state.current == "kho_khan"
    state = ok(skip(PHUONG, state, "kho_khan"))
    assert state.current == REVIEW
    assert state.skipped == {"ty_le", "kho_khan"}
    assert check_for_submit(PHUONG, state).ok


def test_skip_removes_a_previous_answer() -> None:
    state = FormState(answers={"ty_le": 40}, current="ty_le")
    state = ok(skip(PHUONG, state, "ty_le"))
    assert "ty_le" not in state.answers and "ty_le" in state.skipped


def test_skip_of_unknown_field_raises_keyerror() -> None:
    with pytest.raises(KeyError):
        skip(PHUONG, FormState(), "nope")


# --------------------------------------------------------------------------- back


def test_back_from_the_first_question_is_a_problem() -> None:
    assert back(PHUONG, start(PHUONG, FormState())) == Problem(FIRST)


def test_back_goes_to_the_previous_visible_question() -> None:
    state = FormState(answers={"co_vi_pham": False}, current="ty_le")
    assert ok(back(PHUONG, state)).current == "co_vi_pham"
    state = FormState(answers={"co_vi_pham": True}, current="ty_le")
    assert ok(back(PHUONG, state)).current == "co_so_vi_pham"
    state = FormState(answers={}, current="co_so_kiem_tra", editing=True)
    back_state = ok(back(PHUONG, state))
    assert back_state.current == "co_so_quan_ly"
    assert back_state.editing is False


def test_back_from_review_goes_to_the_last_visible_question() -> None:
    assert ok(back(PHUONG, FormState(current=REVIEW))).current == "kho_khan"
    gated = FormSpec("f", (f("g", "yes_no"), f("x", show_if="g")))
    assert ok(back(gated, FormState(answers={"g": True}, current=REVIEW))).current == "x"
    assert ok(back(gated, FormState(answers={"g": False}, current=REVIEW))).current == "g"


def test_back_keeps_answers() -> None:
    state = FormState(answers={"co_so_quan_ly": 1}, current="co_so_kiem_tra")
    assert ok(back(PHUONG, state)).answers == {"co_so_quan_ly": 1}


# --------------------------------------------------------------------------- edit and review


def _full_state(gate: bool = False) -> FormState:
    state = start(PHUONG, FormState())
    steps: list[tuple[str, Any]] = [("co_so_quan_ly", 10), ("co_so_kiem_tra", 8),
                                    ("co_vi_pham", gate)]
    if gate:
        steps.append(("co_so_vi_pham", 1))
    steps += [("ty_le", 80), ("kho_khan", "ok")]
    state = run(PHUONG, state, *steps)
    assert state.current == REVIEW
    return state


def test_edit_then_answer_returns_to_review() -> None:
    state = ok(edit(PHUONG, _full_state(), "co_so_kiem_tra"))
    assert state.current == "co_so_kiem_tra"
    assert state.editing is True
    state = ok(answer(PHUONG, state, "co_so_kiem_tra", 9))
    assert state.current == REVIEW
    assert state.editing is False
    assert state.answers["co_so_kiem_tra"] == 9


def test_edit_that_reveals_a_question_asks_it_first() -> None:
    state = ok(edit(PHUONG, _full_state(gate=False), "co_vi_pham"))
    state = ok(answer(PHUONG, state, "co_vi_pham", True))
    assert state.current == "co_so_vi_pham"
    assert state.editing is True
    assert progress(PHUONG, state) == (4, 6)
    state = ok(answer(PHUONG, state, "co_so_vi_pham", 3))
    assert state.current == REVIEW
    assert state.editing is False
    assert check_for_submit(PHUONG, state).ok


def test_edit_that_hides_a_question_returns_to_review() -> None:
    state = ok(edit(PHUONG, _full_state(gate=True), "co_vi_pham"))
    state = ok(answer(PHUONG, state, "co_vi_pham", False))
    assert state.current == REVIEW
    assert codes_of(visible_fields(PHUONG, state.answers)) == NO_GATE
    assert check_for_submit(PHUONG, state).ok


def test_edit_then_skip_returns_to_review() -> None:
    state = ok(edit(PHUONG, _full_state(), "ty_le"))
    state = ok(skip(PHUONG, state, "ty_le"))
    assert state.current == REVIEW and state.editing is False
    assert "ty_le" in state.skipped


def test_edit_with_a_failing_check_is_refused() -> None:
    state = ok(edit(PHUONG, _full_state(), "co_so_quan_ly"))
    result = answer(PHUONG, state, "co_so_quan_ly", 7)
    assert result == Problem(CHECK, {"message": MSG_KIEM_TRA,
                                     "fields": ("co_so_quan_ly", "co_so_kiem_tra")})


def test_edit_of_a_hidden_field_is_a_problem() -> None:
    assert edit(PHUONG, _full_state(gate=False), "co_so_vi_pham") == Problem(NOT_ASKED)
    assert edit(PHUONG, _full_state(), "removed") == Problem(NOT_ASKED)


def test_revealing_a_stale_answer_is_caught_at_submit() -> None:
    """A hidden answer comes back when its gate opens again; the check is not run for the
    gate, but check_for_submit reports it."""
    state = _full_state(gate=True)  # kiem_tra 8, vi_pham 1
    state = ok(answer(PHUONG, ok(edit(PHUONG, state, "co_vi_pham")), "co_vi_pham", False))
    state = ok(answer(PHUONG, replace(state, answers={**state.answers, "co_so_vi_pham": 9}),
                      "co_so_kiem_tra", 8))
    state = ok(answer(PHUONG, ok(edit(PHUONG, state, "co_vi_pham")), "co_vi_pham", True))
    assert state.current == REVIEW  # co_so_vi_pham already has an answer
    submit = check_for_submit(PHUONG, state)
    assert submit.failures == (CheckFailure(MSG_VI_PHAM, ("co_so_kiem_tra", "co_so_vi_pham")),)
    assert not submit.ok


def test_review_transition() -> None:
    state = review(PHUONG, FormState(current="co_so_kiem_tra", editing=True))
    assert state.current == REVIEW
    assert state.editing is False


# --------------------------------------------------------------------------- progress


def test_progress_numbers() -> None:
    assert progress(PHUONG, start(PHUONG, FormState())) == (1, 5)
    assert progress(PHUONG, FormState(current="co_vi_pham")) == (3, 5)
    assert progress(PHUONG, FormState(answers={"co_vi_pham": True},
                                      current="co_so_vi_pham")) == (4, 6)
    assert progress(PHUONG, FormState(answers={"co_vi_pham": True}, current="ty_le")) == (5, 6)
    assert progress(PHUONG, FormState(current="ty_le")) == (4, 5)
    assert progress(PHUONG, FormState(current=REVIEW)) == (5, 5)
    assert progress(PHUONG, FormState(current=None)) == (5, 5)


# --------------------------------------------------------------------------- check_for_submit


def test_check_for_submit_lists_missing_required_visible_fields() -> None:
    submit = check_for_submit(PHUONG, FormState())
    assert submit.missing == ("co_so_quan_ly", "co_so_kiem_tra", "co_vi_pham")
    assert not submit.ok
    submit = check_for_submit(PHUONG, FormState(answers={"co_vi_pham": True}))
    assert submit.missing == ("co_so_quan_ly", "co_so_kiem_tra", "co_so_vi_pham")
    submit = check_for_submit(PHUONG, FormState(
        answers={"co_so_quan_ly": 1, "co_so_kiem_tra": 1, "co_vi_pham": False}))
    assert submit.ok  # optional fields may stay unanswered
    assert submit.missing == () and submit.failures == ()


def test_check_for_submit_lists_failing_checks() -> None:
    state = FormState(answers={"co_so_quan_ly": 1, "co_so_kiem_tra": 2, "co_vi_pham": True,
                               "co_so_vi_pham": 3})
    submit = check_for_submit(PHUONG, state)
    assert submit.missing == ()
    assert submit.failures == (
        CheckFailure(MSG_KIEM_TRA, ("co_so_quan_ly", "co_so_kiem_tra")),
        CheckFailure(MSG_VI_PHAM, ("co_so_kiem_tra", "co_so_vi_pham")),
    )
    assert not submit.ok
    hidden = replace(state, answers={**state.answers, "co_vi_pham": False})
    assert check_for_submit(PHUONG, hidden).failures == (
        CheckFailure(MSG_KIEM_TRA, ("co_so_quan_ly", "co_so_kiem_tra")),
    )


def test_parsed_answers_feed_the_engine() -> None:
    """Typed text goes through answers.parse, then into the engine."""
    state = start(PHUONG, FormState())
    for code, text in [("co_so_quan_ly", "1.234"), ("co_so_kiem_tra", "1 000"),
                       ("co_vi_pham", "Có"), ("co_so_vi_pham", "12"), ("ty_le", "81,5%"),
                       ("kho_khan", "Không có")]:
        assert state.current == code
        parsed = parse(PHUONG.field(code), text)
        assert isinstance(parsed, Ok)
        state = ok(answer(PHUONG, state, code, parsed.value))
    assert state.current == REVIEW
    assert state.answers == {"co_so_quan_ly": 1234, "co_so_kiem_tra": 1000, "co_vi_pham": True,
                             "co_so_vi_pham": 12, "ty_le": 81.5, "kho_khan": "Không có"}
    assert check_for_submit(PHUONG, state).ok


# --------------------------------------------------------------------------- property tests

TYPES = ("integer", "yes_no", "text", "choice")
OPTIONS = [{"value": "a", "label": "A"}, {"value": "b", "label": "B"}]


@st.composite
def forms(draw: st.DrawFn, with_checks: bool = True) -> FormSpec:
    n = draw(st.integers(min_value=1, max_value=6))
    fields: list[FieldSpec] = []
    for i in range(n):
        type_ = draw(st.sampled_from(TYPES))
        settings_: dict[str, Any] = {}
        if type_ == "choice":
            settings_["options"] = OPTIONS
        earlier = [x for x in fields if x.type in ("yes_no", "integer", "choice")]
        if earlier and draw(st.booleans()):
            gate = draw(st.sampled_from(earlier))
            settings_["show_if"] = {
                "yes_no": draw(st.sampled_from([gate.code, f"not {gate.code}"])),
                "integer": f"{gate.code} > {draw(st.integers(0, 5))}",
                "choice": f"{gate.code} == 'a'",
            }[gate.type]
        fields.append(FieldSpec(f"q{i}", f"Q{i}", type_, required=draw(st.booleans()),
                                settings=settings_))
    checks: list[CheckSpec] = []
    ints = [x.code for x in fields if x.type == "integer"]
    if with_checks and len(ints) >= 2:
        for _ in range(draw(st.integers(0, 2))):
            a, b = draw(st.lists(st.sampled_from(ints), min_size=2, max_size=2, unique=True))
            op = draw(st.sampled_from(["<=", ">=", "!="]))
            checks.append(CheckSpec(f"{a} {op} {b}", f"{a} {op} {b}"))
    return FormSpec("random", tuple(fields), tuple(checks))


def value_for(spec: FieldSpec) -> st.SearchStrategy[Any]:
    return {
        "integer": st.integers(0, 10),
        "yes_no": st.booleans(),
        "text": st.sampled_from(["x", "Không có"]),
        "choice": st.sampled_from(["a", "b"]),
    }[spec.type]


def assert_invariants(form: FormSpec, state: FormState) -> None:
    shown = codes_of(visible_fields(form, state.answers))
    assert state.current == REVIEW or state.current in shown
    index, total = progress(form, state)
    assert total == len(shown)
    assert 0 <= index <= total
    if state.current in shown:
        assert index >= 1
    if state.current == REVIEW:
        assert state.editing is False
    assert not (state.skipped & state.answers.keys())
    assert all(not form.field(code).required for code in state.skipped)


ACTIONS = ("answer", "answer", "answer", "skip", "back", "edit", "review", "restart")


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(forms(), st.data())
def test_random_transitions_keep_the_state_consistent(form: FormSpec, data: st.DataObject) -> None:
    state = start(form, FormState())
    assert_invariants(form, state)
    for _ in range(data.draw(st.integers(1, 25), label="steps")):
        action = data.draw(st.sampled_from(ACTIONS), label="action")
        shown = codes_of(visible_fields(form, state.answers))
        result: FormState | Problem
        if action in ("answer", "skip") and state.current == REVIEW:
            action = "back"
        if action == "answer":
            code = state.current
            assert code is not None
            value = data.draw(value_for(form.field(code)), label=f"value {code}")
            result = answer(form, state, code, value)
            if isinstance(result, Problem):
                assert result.key == CHECK
                trial = effective_answers(form, replace(state, answers={**state.answers,
                                                                        code: value}))
                assert failing_checks(form, trial, only_with=code)
                assert code in result.params["fields"]
            else:
                assert result.answers[code] == value
                assert not failing_checks(form, effective_answers(form, result),
                                          only_with=code)
        elif action == "skip":
            code = state.current
            assert code is not None
            result = skip(form, state, code)
            assert isinstance(result, Problem) == form.field(code).required
        elif action == "back":
            result = back(form, state)
            if isinstance(result, Problem):
                assert state.current == shown[0] if shown else True
        elif action == "edit":
            code = data.draw(st.sampled_from([x.code for x in form.fields]), label="edit")
            result = edit(form, state, code)
            assert isinstance(result, Problem) == (code not in shown)
            if isinstance(result, FormState):
                assert result.current == code and result.editing
        elif action == "review":
            result = review(form, state)
        else:
            result = start(form, state)
            assert result == state  # the stored question is always still asked
        if isinstance(result, FormState):
            state = result
        assert_invariants(form, state)


@settings(max_examples=150, deadline=None)
@given(forms(), st.data())
def test_answering_every_question_in_order_ends_at_review(
    form: FormSpec, data: st.DataObject
) -> None:
    state = start(form, FormState())
    asked: list[str] = []
    while state.current != REVIEW:
        assert len(asked) <= len(form.fields)
        code = state.current
        assert code is not None and code not in asked
        # Questions are asked in form order.
        assert all(form.position(code) > form.position(c) for c in asked)
        asked.append(code)
        result = answer(form, state, code, data.draw(value_for(form.field(code)), label=code))
        if isinstance(result, Problem):
            assert result.key == CHECK
            assume(False)  # a check failed: not the case this property is about
        state = result
        assert_invariants(form, state)
    shown = codes_of(visible_fields(form, state.answers))
    assert asked == shown  # every visible question was asked, and only those
    submit = check_for_submit(form, state)
    assert submit.ok, submit
    assert progress(form, state) == (len(shown), len(shown))


@settings(max_examples=100, deadline=None)
@given(forms(with_checks=False), st.data())
def test_answering_or_skipping_in_order_ends_at_review_ok(
    form: FormSpec, data: st.DataObject
) -> None:
    state = start(form, FormState())
    for _ in range(len(form.fields) + 1):
        if state.current == REVIEW:
            break
        code = state.current
        assert code is not None
        spec = form.field(code)
        if not spec.required and data.draw(st.booleans(), label=f"skip {code}"):
            state = ok(skip(form, state, code))
        else:
            state = ok(answer(form, state, code, data.draw(value_for(spec), label=code)))
    assert state.current == REVIEW
    assert check_for_submit(form, state).ok
    # Walking back from review visits every visible question in reverse order.
    shown = codes_of(visible_fields(form, state.answers))
    seen = []
    result: FormState | Problem = state
    while isinstance(result, FormState):
        seen.append(result.current)
        result = back(form, result)
    assert result == Problem(FIRST)
    assert seen[1:] == list(reversed(shown))


@settings(max_examples=100, deadline=None)
@given(forms(with_checks=False), st.data())
def test_edit_then_answer_returns_to_review_or_an_open_question(
    form: FormSpec, data: st.DataObject
) -> None:
    state = start(form, FormState())
    while state.current != REVIEW:
        code = state.current
        assert code is not None
        state = ok(answer(form, state, code, data.draw(value_for(form.field(code)))))
    for _ in range(data.draw(st.integers(1, 5))):
        shown = codes_of(visible_fields(form, state.answers))
        code = data.draw(st.sampled_from(shown))
        state = ok(edit(form, state, code))
        state = ok(answer(form, state, code, data.draw(value_for(form.field(code)))))
        # Answer any question the edit revealed, then we are back at review.
        while state.current != REVIEW:
            assert state.editing
            revealed = state.current
            assert revealed is not None
            assert revealed not in state.answers and revealed not in state.skipped
            state = ok(answer(form, state, revealed,
                              data.draw(value_for(form.field(revealed)))))
        assert not state.editing
        assert check_for_submit(form, state).ok
