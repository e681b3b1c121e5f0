"""Year-to-date figures (issue 15 §4): a quarterly report proposes what the same agency
already reported monthly — the sum of the months for a flow, the latest month for a stock —
and one tap uses it; a figure typed instead wins. The Đống Đa plan declares which fields
accumulate and how (`accumulate: sum | last | max`)."""

from __future__ import annotations

from typing import Any

import pytest

from core.planfile import PlanFileError, load_plan
from db.models import Answer, Submission
from tests.support.harness import DONGDA_PLAN, BotHarness

LAN = 4001
# Q1 2022 in Đống Đa (data cut on the 12th): months of Jan, Feb, Mar lie within it.
MONTHS = {"2022-01": (10, 3), "2022-02": (11, 4), "2022-03": (12, 4)}  # managed, inspected


@pytest.fixture
async def bot(sqlite_url: str) -> Any:
    async with BotHarness(sqlite_url, plan=DONGDA_PLAN) as h:
        await h.join(LAN, "p-cat-linh", "reporter", first_name="Lan")
        yield h


async def _answer_month(h: BotHarness, period: str, managed: int, inspected: int) -> None:
    """The month's report as the database holds it once sent: two figures (the form itself
    is tested elsewhere; this is about what the quarter reads)."""
    from db import drafts
    from db.models import Member, Obligation, ObligationStatus, SubmissionState

    obligation = await h.obligation("p-cat-linh", "thang", period)
    async with h.session() as session:
        member = await session.get(Member, (await h.member(LAN)).id)  # type: ignore[union-attr]
        assert member is not None
        submission = (await drafts.open_draft(session, obligation, member, h.now)).submission
        assert submission is not None
        submission.state = SubmissionState.submitted
        submission.receipt_no = f"T-{period}"
        row = await session.get(Obligation, obligation.id)
        assert row is not None
        row.status = ObligationStatus.submitted
        for code, value in (("co_so_quan_ly", managed), ("co_so_kiem_tra", inspected)):
            session.add(Answer(submission_id=submission.id, field_code=code, value=value,
                               value_number=value, skipped=False))


async def test_the_quarter_proposes_the_months_and_one_tap_uses_it(bot: BotHarness) -> None:
    h = bot
    for period, (managed, inspected) in MONTHS.items():
        await _answer_month(h, period, managed, inspected)
    quarter = await h.obligation("p-cat-linh", "quy", "2022-Q1")
    await h.say(LAN, "Báo cáo cần nộp")
    first = await h.press(LAN, f"o:{quarter.id}")
    # Managed establishments are a stock: the latest month's figure.
    assert "Đề xuất: <b>12</b> (số của kỳ gần nhất trong 3 tháng)" in first.last["source_text"] \
        or "Đề xuất: 12 (số của kỳ gần nhất trong 3 tháng)" in first.text, first.text
    use = next(d for label, d in first.buttons if label == "✔️ Dùng 12")
    second = await h.press(LAN, use)
    # Inspections are a flow: the sum of the three months, «chọn để dùng hoặc nhập số khác».
    assert "Đề xuất: 11 (cộng 3 tháng) — chọn để dùng hoặc nhập số khác." in second.text, \
        second.text
    assert ("✔️ Dùng 11", use.replace(use.split(":")[-1], "1")) in second.buttons
    third = await h.say(LAN, "10")  # a figure typed instead wins
    assert "Câu 3/" in third.text, third.text
    [draft] = await h.rows(Submission, Submission.obligation_id == quarter.id)
    answers = {a.field_code: a.value for a in await h.rows(Answer,
                                                           Answer.submission_id == draft.id)}
    assert answers["co_so_quan_ly"] == 12 and answers["co_so_kiem_tra"] == 10, answers


async def test_a_month_proposes_nothing(bot: BotHarness) -> None:
    h = bot
    march = await h.obligation("p-cat-linh", "thang", "2022-03")
    await h.say(LAN, "Báo cáo cần nộp")
    first = await h.press(LAN, f"o:{march.id}")
    assert "Đề xuất" not in first.text and not any(
        label.startswith("✔️ Dùng") for label, _d in first.buttons)


def test_accumulate_is_for_numbers_only(tmp_path: Any) -> None:
    text = DONGDA_PLAN.read_text(encoding="utf-8").replace(
        "        type: yes_no\n", "        type: yes_no\n        accumulate: sum\n", 1)
    broken = tmp_path / "plan.yaml"
    broken.write_text(text, encoding="utf-8")
    with pytest.raises(PlanFileError) as refused:
        load_plan(broken)
    assert "accumulate applies to number fields only" in str(refused.value.errors)


def _plan_with(tmp_path: Any, old: str, new: str) -> Any:
    text = DONGDA_PLAN.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "dongda.yaml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def test_a_target_counts_a_field_by_the_fields_own_rule(tmp_path: Any) -> None:
    """A target value without `aggregate` takes the field's `accumulate` (a stock: its
    latest figure), so the forms' proposals and the targets add up the same way."""
    path = _plan_with(tmp_path, "co_so: {field: phuong.co_so_quan_ly, aggregate: latest}",
                      "co_so: {field: phuong.co_so_quan_ly}")
    spec = load_plan(path)
    target = next(t for t in spec.doc.targets if t.code == "phuong-kiem-tra-80")
    assert target.values["co_so"].aggregate == "latest"
    assert target.values["kiem_tra"].aggregate == "sum"


def test_a_target_that_adds_a_stock_up_is_refused_with_its_line(tmp_path: Any) -> None:
    path = _plan_with(tmp_path, "co_so: {field: phuong.co_so_quan_ly, aggregate: latest}",
                      "co_so: {field: phuong.co_so_quan_ly, aggregate: sum}")
    line = next(n for n, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                if "co_so: {field: phuong.co_so_quan_ly, aggregate: sum}" in text)
    with pytest.raises(PlanFileError) as refused:
        load_plan(path)
    [error] = [e for e in refused.value.errors if "accumulates by last" in str(e)]
    assert f":{line}" in str(error) and "aggregate: latest" in str(error), str(error)


async def test_the_targets_view_counts_a_stock_by_its_latest_month(
        sqlite_url: str, tmp_path: Any) -> None:
    """Cát Linh inspected 3 + 4 + 4 = 11 of the 12 establishments it manages (the latest
    month's stock, not 10 + 11 + 12): 91,67%, above the 80% target."""
    path = _plan_with(tmp_path, "co_so: {field: phuong.co_so_quan_ly, aggregate: latest}",
                      "co_so: {field: phuong.co_so_quan_ly}")
    async with BotHarness(sqlite_url, plan=path) as h:
        await h.join(LAN, "p-cat-linh", "reporter", first_name="Lan")
        await h.join(4002, "ldtbxh", "standing_office", first_name="Minh")
        for period, (managed, inspected) in MONTHS.items():
            await _answer_month(h, period, managed, inspected)
        await h.say(4002, "Tình hình báo cáo")
        await h.press(4002, "tg:")
        shown = await h.press(4002, "tg:all")
        line = next(x for x in shown.text.splitlines() if "Cát Linh" in x)
        assert "91,67%" in line and "✅" in line, line
