"""A plan may require the signed report file for one schedule and not for another
(`signed_file: required | optional | none`), on the same form."""

from __future__ import annotations

from sqlalchemy import select

from core.answers import FieldSpec
from core.formengine import FormSpec
from db.drafts import open_draft, signed_file_applied, submission_spec
from db.models import Member, Obligation, Schedule
from tests.support.harness import ROOT, BotHarness

DONGNAI_PLAN = ROOT / "plans" / "dongnai-2020.yaml"

SPEC = FormSpec(
    title="Báo cáo",
    fields=(
        FieldSpec("so_vu", "Số vụ", "integer"),
        FieldSpec("van_ban", "Văn bản báo cáo có chữ ký", "file", required=False),
    ),
)


def test_required_makes_the_file_question_required() -> None:
    spec = signed_file_applied(SPEC, "required")
    assert spec.field("van_ban").required and spec.field("so_vu").required
    assert [f.code for f in spec.fields] == ["so_vu", "van_ban"]


def test_optional_lets_the_reporter_skip_it() -> None:
    required = signed_file_applied(SPEC, "required")
    assert not signed_file_applied(required, "optional").field("van_ban").required
    assert signed_file_applied(SPEC, "optional") is SPEC


def test_none_drops_the_question() -> None:
    assert [f.code for f in signed_file_applied(SPEC, "none").fields] == ["so_vu"]


def test_no_rule_or_no_single_file_field_leaves_the_form_as_it_is() -> None:
    assert signed_file_applied(SPEC, None) is SPEC
    two = FormSpec("x", (*SPEC.fields, FieldSpec("phu_luc", "Phụ lục", "file", required=False)))
    assert signed_file_applied(two, "required") is two


async def test_dong_nai_six_month_report_requires_the_file_the_monthly_one_does_not(
    sqlite_url: str,
) -> None:
    """Đồng Nai: districts answer the same form monthly (to the LĐ-TBXH department, file if
    any) and half-yearly (to the provincial People's Committee: the signed report)."""
    async with BotHarness(sqlite_url, plan=DONGNAI_PLAN) as bot:
        await bot.join(5, "tp-bien-hoa")
        member = await bot.member(5)
        assert member is not None
        async with bot.session() as session:
            rows = (await session.execute(
                select(Schedule.code, Obligation)
                .join(Obligation, Obligation.schedule_id == Schedule.id)
                .where(Obligation.agency_id == member.agency_id,
                       Schedule.code.in_(["huyen-thang", "sau-thang"]))
                .order_by(Obligation.due_at))).all()
            first: dict[str, Obligation] = {}
            for code, obligation in rows:
                first.setdefault(code, obligation)
            assert set(first) == {"huyen-thang", "sau-thang"}
            me = await session.get(Member, member.id)
            assert me is not None
            required = {}
            for code, obligation in first.items():
                opened = await open_draft(session, obligation, me, bot.now)
                assert opened.submission is not None
                spec = await submission_spec(session, opened.submission)
                required[code] = spec.field("van_ban").required
                assert obligation.form_id == first["huyen-thang"].form_id  # one form
        assert required == {"huyen-thang": False, "sau-thang": True}


async def test_dong_da_file_question_cannot_be_skipped(sqlite_url: str) -> None:
    """Đống Đa's reports go to the district People's Committee as signed documents: the last
    question offers no «Bỏ qua», and a typed «bỏ qua» does not skip it."""
    async with BotHarness(sqlite_url, plan=ROOT / "plans" / "dongda-2022.yaml") as bot:
        await bot.join(7, "ca")
        march = await bot.obligation("ca", "thang", "2022-03")
        await bot.say(7, "Báo cáo cần nộp")
        await bot.press(7, f"o:{march.id}")
        for answer in ("2", "0"):
            await bot.say(7, answer)
        await bot.tap(7, "Bỏ qua")  # chuyen_an
        await bot.say(7, "0")
        await bot.say(7, "0")
        question = await bot.tap(7, "Bỏ qua")  # kho_khan
        assert "Văn bản" in question.text and "(không bắt buộc)" not in question.text
        assert "Bỏ qua" not in [label for label, _data in question.buttons]
        refused = await bot.say(7, "bỏ qua")
        assert "⚠️" in refused.text, refused.text
        review = await bot.send_document(7, "bao-cao.pdf", mime_type="application/pdf")
        assert "Xem lại báo cáo" in review.text, review.text


