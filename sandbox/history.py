"""The demo's past: what P. Cát Linh already reported before the sandbox's Monday 07/03/2022
(January and February, sent on time and accepted), so that what builds on history can be
tried — the quarterly report proposes the months' figures (lũy kế), the targets view and
the documents count them year to date."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from db.audit import record
from db.drafts import receipt_number
from db.models import (
    Agency,
    Answer,
    Form,
    Member,
    Obligation,
    ObligationStatus,
    Schedule,
    Submission,
    SubmissionState,
)

AGENCY = "p-cat-linh"
SCHEDULE = "thang"
# period → (day it was sent, the answers): a stock of managed establishments and the month's
# flows, as a ward reports them.
MONTHS: dict[str, tuple[dt.date, dict[str, Any]]] = {
    "2022-01": (dt.date(2022, 1, 10), {
        "co_so_quan_ly": 10, "co_so_kiem_tra": 3, "co_so_vi_pham": 0, "buoi_tuyen_truyen": 2,
        "nguoi_xu_phat_hc": 0, "co_diem_phat_sinh": False, "so_diem_triet_xoa": 0,
        "duy_tri_mo_hinh": True, "nguoi_co_nhu_cau": 0, "khong_te_nan": True}),
    "2022-02": (dt.date(2022, 2, 10), {
        "co_so_quan_ly": 11, "co_so_kiem_tra": 4, "co_so_vi_pham": 1, "buoi_tuyen_truyen": 1,
        "nguoi_xu_phat_hc": 1, "co_diem_phat_sinh": False, "so_diem_triet_xoa": 0,
        "duy_tri_mo_hinh": True, "nguoi_co_nhu_cau": 0, "khong_te_nan": True}),
}


async def seed_history(session: AsyncSession, plan_id: int, member_id: int,
                       reviewer_id: int | None, tz: ZoneInfo) -> int:
    """January and February of P. Cát Linh, sent by `member_id` and accepted by
    `reviewer_id`; returns how many reports it wrote (none when they exist already)."""
    member = await session.get(Member, member_id)
    assert member is not None
    rows = (await session.execute(
        select(Obligation, Form.current_version_id)
        .join(Agency, Agency.id == Obligation.agency_id)
        .join(Schedule, Schedule.id == Obligation.schedule_id)
        .join(Form, Form.id == Obligation.form_id)
        .where(Schedule.plan_id == plan_id, Schedule.code == SCHEDULE, Agency.code == AGENCY,
               Obligation.period_key.in_(list(MONTHS)))
    )).all()
    written = 0
    for obligation, version_id in rows:
        if obligation.status != ObligationStatus.open or version_id is None:
            continue
        day, answers = MONTHS[obligation.period_key]
        sent = dt.datetime.combine(day, dt.time(9, 30), tz)
        submission = Submission(
            obligation_id=obligation.id, version=1, form_version_id=version_id,
            state=SubmissionState.accepted, created_by_member_id=member_id,
            last_editor_member_id=member_id, last_edited_at=sent, created_at=sent,
            submitted_by_member_id=member_id, submitted_at=sent, late_days=0,
            reviewed_by_member_id=reviewer_id, reviewed_at=sent + dt.timedelta(hours=2),
            receipt_no=await receipt_number(session, sent, tz))
        session.add(submission)
        await session.flush()
        for code, value in answers.items():
            session.add(Answer(submission_id=submission.id, field_code=code, value=value,
                               value_number=float(value), skipped=False,
                               answered_by_member_id=member_id, answered_at=sent))
        obligation.status = ObligationStatus.accepted
        obligation.submitted_at = sent
        record(session, "submission.submit", actor=member, committee_id=member.committee_id,
               agency_id=obligation.agency_id, entity=("submission", submission.id),
               details={"obligation": obligation.id, "version": 1, "late_days": 0,
                        "receipt": submission.receipt_no, "seeded": True}, now=sent)
        written += 1
    return written
