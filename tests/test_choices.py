"""Choices as a numbered list for a channel without buttons (core.choices)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.choices import (
    NOT_A_CHOICE,
    Ambiguous,
    Choice,
    NotAChoice,
    OutOfRange,
    Picked,
    listed_label,
    match_reply,
    normalise,
    render_numbered,
    reply_number,
    shown_label,
)
from core.fields.parsing import fold

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

YES, NO, SKIP = Choice("Có", "yn:1"), Choice("Không", "yn:0"), Choice("Bỏ qua", "skip")
GOOD, FAIR, AVERAGE = Choice("Tốt", "r:3"), Choice("Khá", "r:2"), Choice("Trung bình", "r:1")
OFFERED = [YES, NO, SKIP]


# Rendering -------------------------------------------------------------------------------

def test_rows_become_one_numbered_list_under_a_blank_line() -> None:
    message, flat = render_numbered("Bạn có đi họp không?", [[YES, NO], [SKIP]])
    assert message == "Bạn có đi họp không?\n\n1. Có\n2. Không\n3. Bỏ qua"
    assert flat == [YES, NO, SKIP]


def test_one_row_and_a_flat_list_render_alike() -> None:
    rows = render_numbered("Đánh giá?", [[GOOD, FAIR, AVERAGE]])
    assert rows == render_numbered("Đánh giá?", [GOOD, FAIR, AVERAGE])
    assert rows[0].endswith("\n\n1. Tốt\n2. Khá\n3. Trung bình")


def test_trailing_space_of_the_text_and_empty_text() -> None:
    assert render_numbered("Chọn:\n\n", [YES])[0] == "Chọn:\n\n1. Có"
    assert render_numbered("", [YES, NO]) == ("1. Có\n2. Không", [YES, NO])
    assert render_numbered("Không có gì để chọn.", []) == ("Không có gì để chọn.", [])


def test_leading_markers_go_unless_nothing_else_is_left() -> None:
    marked = [Choice("✅ Có", "y"), Choice("❌  Không", "n"), Choice("👍", "t"),
              Choice("← Quay lại", "back"), Choice("< 5 người", "lt5"), Choice("-1", "m")]
    message, flat = render_numbered("?", marked)
    assert message == "?\n\n1. Có\n2. Không\n3. 👍\n4. Quay lại\n5. < 5 người\n6. -1"
    assert flat == marked  # kept as given: the data and the label the buttons had
    assert shown_label("• Khá\nhơn") == "Khá hơn"


def test_only_the_text_is_shortened_and_it_says_so() -> None:
    text = "Xin vui lòng cho biết đánh giá của bạn về buổi họp hôm nay. " * 10
    message, _flat = render_numbered(text, [GOOD, FAIR, AVERAGE], limit=120)
    head, listing = message.split("\n\n")
    assert listing == "1. Tốt\n2. Khá\n3. Trung bình"
    assert len(message) <= 120 and head.endswith(" đánh giá…")
    assert text.startswith(head[:-1]) and text[len(head) - 1] == " "  # after a whole word


def test_a_list_that_cannot_fit_is_refused_rather_than_cut() -> None:
    with pytest.raises(ValueError):
        render_numbered("Chọn", [YES, NO, SKIP], limit=20)
    with pytest.raises(ValueError):
        render_numbered("", [YES, NO, SKIP], limit=10)


# Matching --------------------------------------------------------------------------------

@pytest.mark.parametrize("reply", ["2", " 2. ", "số 2", "Số 2", "so 2", "số2", "2)", "#2",
                                   "chọn 2", "02", "２"])
def test_a_number_picks_by_position(reply: str) -> None:
    assert match_reply(reply, OFFERED) == Picked(NO, 2)


@pytest.mark.parametrize(("reply", "choice", "number"), [
    ("co", YES, 1), ("CÓ", YES, 1), ("Có.", YES, 1), ("  có!  ", YES, 1), ("«Có»", YES, 1),
    ("khong", NO, 2), ("KHÔNG", NO, 2), ("bo qua", SKIP, 3), ("Bỏ   qua", SKIP, 3),
])
def test_a_label_picks_whatever_the_case_diacritics_and_punctuation(
        reply: str, choice: Choice, number: int) -> None:
    assert match_reply(reply, OFFERED) == Picked(choice, number)


def test_ratings() -> None:
    ratings = [GOOD, FAIR, AVERAGE]
    assert match_reply("tot", ratings) == Picked(GOOD, 1)
    assert match_reply("KHA", ratings) == Picked(FAIR, 2)
    assert match_reply("trung binh.", ratings) == Picked(AVERAGE, 3)
    assert match_reply("trung", ratings) == NOT_A_CHOICE


def test_a_number_outside_the_list_is_out_of_range() -> None:
    assert match_reply("4", OFFERED) == OutOfRange(4, 3)
    assert match_reply("số 0", OFFERED) == OutOfRange(0, 3)


def test_anything_else_is_typed_text() -> None:
    for reply in ["", "  ", "có lẽ", "1.5", "1,5", "-1", "1 2", "12 người", "?"]:
        assert isinstance(match_reply(reply, OFFERED), NotAChoice), reply
    assert match_reply("2", []) == NOT_A_CHOICE  # nothing offered: nothing to pick


def test_a_line_copied_back_picks_its_choice() -> None:
    assert match_reply("2. Không", OFFERED) == Picked(NO, 2)
    assert match_reply("3) bo qua", OFFERED) == Picked(SKIP, 3)
    assert match_reply("2. Có", OFFERED) == Ambiguous((1, 2))  # number and label disagree
    assert match_reply("2. đồng ý", OFFERED) == NOT_A_CHOICE


def test_numbers_come_before_labels_and_equal_labels_are_ambiguous() -> None:
    years = [Choice("2", "a"), Choice("1", "b"), Choice("2024", "c")]
    assert match_reply("2", years) == Picked(years[1], 2)  # the number rule wins
    assert match_reply("2024", years) == Picked(years[2], 3)  # no 2024th: the label
    twice = [Choice("Có", "a"), Choice("có ", "b"), NO]
    assert match_reply("co", twice) == Ambiguous((1, 2))
    assert match_reply("1", twice) == Picked(twice[0], 1)
    assert match_reply("2. Có", twice) == Picked(twice[1], 2)  # the line tells them apart


def test_emoji_labels_are_matched_by_their_emoji_or_their_words() -> None:
    offered = [Choice("✅ Có", "y"), Choice("👍", "t"), Choice("❌ Không", "n")]
    assert match_reply("có", offered) == Picked(offered[0], 1)
    assert match_reply("👍️", offered) == Picked(offered[1], 2)  # with a variation selector
    assert match_reply("Không", offered) == Picked(offered[2], 3)


def test_normalise_and_reply_number() -> None:
    assert normalise("  Trung Bình. ") == "trung binh" == normalise("trung binh")
    assert normalise("Đúng!") == "dung"
    assert reply_number(" số 12. ") == 12 and reply_number("12a") is None


# Properties ------------------------------------------------------------------------------

VI_LETTERS = ("aăâbcdđeêghiklmnoôơpqrstuưvxy"
              "áàảãạắằẳẵặấầẩẫậéèẻẽẹếềểễệíìỉĩịóòỏõọốồổỗộớờởỡợúùủũụứừửữựýỳỷỹỵ")
vi_words = st.text(alphabet=VI_LETTERS + VI_LETTERS.upper(), min_size=1, max_size=8)
vi_labels = st.lists(vi_words, min_size=1, max_size=3).map(" ".join)
any_labels = st.text(max_size=20)
choices = st.builds(Choice, label=any_labels, data=st.text(max_size=10))
rows = st.lists(st.lists(choices, min_size=1, max_size=4), min_size=1, max_size=4)


def _case_and_diacritics(label: str) -> list[str]:
    return [label, label.upper(), label.lower(), label.swapcase(), fold(label),
            fold(label).upper(), f"  {label}. ", f"{label}!", f"«{label}»"]


@FAST
@given(st.lists(vi_labels, min_size=1, max_size=8, unique_by=fold))
def test_every_choice_is_picked_by_its_own_label_in_any_case(labels: list[str]) -> None:
    offered = [Choice(label, str(i)) for i, label in enumerate(labels)]
    for number, choice in enumerate(offered, 1):
        for reply in _case_and_diacritics(choice.label):
            assert match_reply(reply, offered) == Picked(choice, number), reply


@FAST
@given(st.lists(choices.filter(lambda c: normalise(c.label) != ""), min_size=1, max_size=12,
                unique_by=lambda c: normalise(c.label)))
def test_any_label_picks_its_choice_unless_it_reads_as_a_number_in_range(
        offered: list[Choice]) -> None:
    for number, choice in enumerate(offered, 1):
        said = reply_number(choice.label)
        if said is not None and 1 <= said <= len(offered):
            assert match_reply(choice.label, offered) == Picked(offered[said - 1], said)
        else:
            assert match_reply(choice.label, offered) == Picked(choice, number)


@settings(FAST, max_examples=80)
@given(st.text(max_size=200), rows)
def test_render_then_reply_with_each_number_round_trips(text: str,
                                                         buttons: list[list[Choice]]) -> None:
    message, flat = render_numbered(text, buttons)
    assert flat == [choice for row in buttons for choice in row]
    lines = message.split("\n")[-len(flat):]
    for number, (line, choice) in enumerate(zip(lines, flat, strict=True), 1):
        assert line == f"{number}. {listed_label(choice.label, number)}".rstrip()
        for reply in (str(number), f" {number}. ", f"số {number}"):
            assert match_reply(reply, flat) == Picked(choice, number)
    beyond = str(len(flat) + 1)
    if all(normalise(choice.label) != beyond for choice in flat):  # else that label is picked
        assert match_reply(beyond, flat) == OutOfRange(len(flat) + 1, len(flat))


@FAST
@given(st.text(max_size=100), st.lists(vi_labels, min_size=1, max_size=8, unique_by=fold))
def test_a_line_of_the_list_copied_back_picks_its_choice(text: str, labels: list[str]) -> None:
    offered = [Choice(label, str(i)) for i, label in enumerate(labels)]
    message, flat = render_numbered(text, offered)
    for number, line in enumerate(message.split("\n")[-len(flat):], 1):
        assert match_reply(line, flat) == Picked(offered[number - 1], number)


@FAST
@given(st.text(alphabet=VI_LETTERS + " \n.,", max_size=400), st.lists(vi_labels, min_size=1,
       max_size=6), st.integers(min_value=60, max_value=400))
def test_text_is_shortened_only_when_needed_and_the_list_never(
        text: str, labels: list[str], limit: int) -> None:
    offered = [Choice(label, label) for label in labels]
    listing = "\n".join(f"{n}. {label}" for n, label in enumerate(labels, 1))
    head = text.rstrip()
    whole = f"{head}\n\n{listing}" if head else listing
    if len(whole) > limit and (not head or len(listing) + 3 > limit):
        with pytest.raises(ValueError):
            render_numbered(text, offered, limit=limit)
        return
    message, flat = render_numbered(text, offered, limit=limit)
    assert flat == offered
    assert len(message) <= limit
    if len(whole) <= limit:
        assert message == whole
    else:
        assert message.endswith(f"…\n\n{listing}")
        shortened = message[: -len(listing) - 2]
        assert head.startswith(shortened[:-1])
        assert len(shortened) < len(head)


# ----------------------------------------------------------------------------- lettered lists
# (a message that also waits for typed text: a typed number is the answer, not a choice)

def test_lettered_lists_leave_numbers_to_the_typed_answer() -> None:
    from core.choices import match_marked, render_marked

    back, skip, cancel = Choice("« Quay lại", "b"), Choice("Bỏ qua", "s"), Choice("Hủy", "x")
    message, flat = render_marked("Số vụ?", [[back, skip], [cancel]], lettered=True)
    assert message == "Số vụ?\n\na. « Quay lại\nb. Bỏ qua\nc. Hủy" and flat == [back, skip, cancel]
    for reply, wanted in (("b", skip), ("B.", skip), ("(c)", cancel), ("bo qua", skip),
                          ("HỦY", cancel)):
        assert match_marked(reply, flat, lettered=True) == Picked(wanted, flat.index(wanted) + 1)
    for typed in ("1", "2", "0", "12", "d", "bỏ", "hai vụ"):
        assert match_marked(typed, flat, lettered=True) == NotAChoice(), typed
    # Not lettered: the numbered reading.
    assert match_marked("2", flat, lettered=False) == Picked(skip, 2)


def test_a_label_that_repeats_its_own_number_is_listed_once() -> None:
    first, second = Choice("1. Báo cáo tháng 01/2022", "o:1"), Choice("2. Báo cáo quý I", "o:2")
    message, _flat = render_numbered("Chọn:", [[first], [second]])
    assert message == "Chọn:\n\n1. Báo cáo tháng 01/2022\n2. Báo cáo quý I"
    other = Choice("5. Năm", "o:5")  # a number that is not its place stays
    assert render_numbered("", [other])[0] == "1. 5. Năm"


def test_ticks_stay_on_the_line_and_names_without_their_number_pick() -> None:
    from core.choices import match_marked

    ticked, open_ = Choice("☑️ Hội nghị", "t:1"), Choice("⬜ Tờ rơi", "t:2")
    edit = Choice("✏️ 3", "e:3")
    message, flat = render_numbered("Hình thức?", [[ticked], [open_], [edit]])
    assert message.endswith("1. ☑️ Hội nghị\n2. ⬜ Tờ rơi\n3. ✏️ 3"), message
    assert match_reply("hoi nghi", flat) == Picked(ticked, 1)
    questions = [Choice("1. Số cơ sở đang quản lý", "q:1"),
                 Choice("2. Số cơ sở đã kiểm tra", "q:2")]
    assert match_marked("so co so da kiem tra", questions, lettered=True) == Picked(questions[1], 2)


def test_a_screen_that_numbers_its_items_gets_its_list_once() -> None:
    from core.choices import not_yet_shown

    text = "Báo cáo cần nộp\n\n1. Báo cáo tháng 01/2022\n   Hạn nộp: 12/01\n2. Báo cáo quý I/2022"
    listing = "1. Báo cáo tháng 01/2022\n2. Báo cáo quý I/2022\n3. Hủy"
    assert not_yet_shown(text, listing) == "3. Hủy"
    assert not_yet_shown("Chọn:", listing) == listing
    assert not_yet_shown(text, "a. Bỏ qua") == "a. Bỏ qua"
