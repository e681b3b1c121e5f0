"""Hà Nội 667: the targets count hotspots (tụ điểm), each by its own latest quarterly report,
not the districts that report on them; a district with two hotspots answers twice."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import select

from db.models import Obligation, Schedule, Subject, Submission, SubmissionState
from tests.support.harness import ROOT, BotHarness

HANOI = ROOT / "plans" / "hanoi-667-2020.yaml"
DISTRICT, OFFICE = 41, 42
NOW = dt.datetime(2020, 6, 16, 3, 0, tzinfo=dt.UTC)  # before the Q2 deadline (20/6)


def two_hotspots_in_hoan_kiem(tmp_path: Path) -> Path:
    """The appendices are placeholders, one hotspot per district; the real lists put several
    in one district. Move hotspot 02 to Hoàn Kiếm, next to hotspot 01."""
    text = HANOI.read_text(encoding="utf-8")
    moved = text.replace('kind: can-triet-xoa, agency: q-ba-dinh}',
                         'kind: can-triet-xoa, agency: q-hoan-kiem}', 1)
    assert moved != text
    path = tmp_path / "hanoi.yaml"
    path.write_text(moved, encoding="utf-8")
    return path


async def hotspot_report(bot: BotHarness, subject_code: str) -> Obligation:
    async with bot.session() as session:
        obligation = await session.scalar(
            select(Obligation)
            .join(Schedule, Schedule.id == Obligation.schedule_id)
            .join(Subject, Subject.id == Obligation.subject_id)
            .where(Schedule.code == "quy-can-triet-xoa", Subject.code == subject_code,
                   Obligation.period_key == "2020-Q2"))
    assert obligation is not None
    return obligation


async def report(bot: BotHarness, obligation: Obligation, state: str) -> int:
    """The district's Steering Committee 138 answers one hotspot's quarterly report."""
    await bot.say(DISTRICT, "Báo cáo cần nộp")
    await bot.press(DISTRICT, f"o:{obligation.id}")
    await bot.tap(DISTRICT, state)
    if state == "Đã triệt xóa":
        await bot.tap(DISTRICT, "Bỏ qua")  # ngay_triet_xoa
    for answer in ("3", "@Có", "0", "0", "@Bỏ qua", "@Tuyên truyền", "@Xong"):
        replies = (await bot.tap(DISTRICT, answer[1:]) if answer.startswith("@")
                   else await bot.say(DISTRICT, answer))
        assert "⚠️" not in replies.text, (answer, replies.text)
    if state == "Đã triệt xóa":
        await bot.tap(DISTRICT, "Bỏ qua")  # de_nghi_ban_giao
    await bot.tap(DISTRICT, "Bỏ qua")  # kho_khan
    review = await bot.send_document(DISTRICT, "bao-cao-quy-2.pdf", mime_type="application/pdf")
    assert "Xem lại báo cáo" in review.text, review.text
    await bot.tap(DISTRICT, "Gửi báo cáo")
    receipt = await bot.tap(DISTRICT, "Xác nhận gửi")
    assert "Đã nhận báo cáo" in receipt.text, receipt.text
    async with bot.session() as session:
        submission = await session.scalar(select(Submission).where(
            Submission.obligation_id == obligation.id,
            Submission.state == SubmissionState.submitted))
    assert submission is not None
    return submission.id


async def test_targets_count_hotspots_not_districts(database_url: str, tmp_path: Path) -> None:
    async with BotHarness(database_url, plan=two_hotspots_in_hoan_kiem(tmp_path),
                          fake_now=NOW) as bot:
        await bot.join(DISTRICT, "q-hoan-kiem")
        await bot.join(OFFICE, "so-ldtbxh", "standing_office")
        first = await report(bot, await hotspot_report(bot, "can-tx-01"), "Đã triệt xóa")
        second = await report(bot, await hotspot_report(bot, "can-tx-02"), "Đang xử lý")

        targets = await bot.say(OFFICE, "/targets")
        assert "Triệt xóa 13 tụ điểm" in targets.text
        # Nothing accepted yet: said in words, with the target (never «—/13» or «0/13»).
        assert "Triệt xóa 13 tụ điểm" in targets.text
        line = next(x for x in targets.text.splitlines() if "Triệt xóa 13 tụ điểm" in x)
        assert line.endswith(": chưa có số liệu (chỉ tiêu 13 tụ điểm)"), line
        for submission in (first, second):
            await bot.say(OFFICE, "Báo cáo chờ tiếp nhận")
            await bot.press(OFFICE, f"rv:{submission}")
            await bot.press(OFFICE, f"ac:{submission}")
        targets = await bot.say(OFFICE, "/targets")
        # One hotspot cleared out of the 13 of Appendix 01; Hoàn Kiếm's other one is not.
        line = next(x for x in targets.text.splitlines() if "Triệt xóa 13 tụ điểm" in x)
        assert line.endswith(": 1/13 tụ điểm (chỉ tiêu 13)"), line
        # No report on the 6 handed-over hotspots has been accepted yet.
        line = next(x for x in targets.text.splitlines() if "Duy trì" in x)
        assert line.endswith(": chưa có số liệu (chỉ tiêu 6 tụ điểm)"), line
