"""Consolidated figures: an .xlsx per schedule and period, and a completeness chart.

Both are built from the database in one place, so the bot's «Xuất Excel» button and
`python -m bot export` write the same file.
"""

from __future__ import annotations

import datetime as dt
import io
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import lazyload

from core.calendar import DEFAULT_TZ
from core.fields import FIELD_TYPES
from core.lateness import Lateness, last_day
from core.stats import ObligationFact, completeness
from db.drafts import form_spec, lateness_by_obligation
from db.models import (
    Agency,
    Answer,
    Form,
    Member,
    Obligation,
    Plan,
    Schedule,
    Submission,
    SubmissionState,
)


@dataclass
class ExportData:
    plan: Plan
    schedule: Schedule
    period_key: str
    rows: list[dict[str, Any]]  # one per obligation, with its latest submission
    facts: list[ObligationFact]
    # Per obligation with a version sent: its lateness (core.lateness decides it).
    lateness: dict[int, Lateness] = field(default_factory=dict)


async def find_schedule(session: AsyncSession, plan_code: str, schedule_code: str
                        ) -> tuple[Plan, Schedule]:
    plan = await session.scalar(select(Plan).options(lazyload("*")).where(Plan.code == plan_code))
    if plan is None:
        raise LookupError(f"no plan '{plan_code}' in the database")
    schedule = await session.scalar(
        select(Schedule).options(lazyload("*"))
        .where(Schedule.plan_id == plan.id, Schedule.code == schedule_code))
    if schedule is None:
        raise LookupError(f"plan '{plan_code}' has no schedule '{schedule_code}'")
    return plan, schedule


async def collect(session: AsyncSession, plan: Plan, schedule: Schedule, period_key: str,
                  tz: ZoneInfo = DEFAULT_TZ) -> ExportData:
    first = (
        select(Submission.obligation_id, func.min(Submission.submitted_at).label("first"),
               func.count(Submission.id).label("versions"))
        .where(Submission.submitted_at.is_not(None))
        .group_by(Submission.obligation_id).subquery()
    )
    result = (await session.execute(
        select(Obligation, Agency, first.c.first, first.c.versions)
        .options(lazyload("*"))
        .join(Agency, Agency.id == Obligation.agency_id)
        .outerjoin(first, first.c.obligation_id == Obligation.id)
        .where(Obligation.schedule_id == schedule.id, Obligation.period_key == period_key)
        .order_by(Agency.id)
    )).all()
    if not result:
        raise LookupError(f"schedule '{schedule.code}' has no period '{period_key}'")
    rows: list[dict[str, Any]] = []
    facts: list[ObligationFact] = []
    lateness = await lateness_by_obligation(session, [r[0] for r in result], tz)
    for obligation, agency, first_at, versions in result:
        if first_at is not None and first_at.tzinfo is None:
            first_at = first_at.replace(tzinfo=dt.UTC)
        latest = await session.scalar(
            select(Submission).where(Submission.obligation_id == obligation.id,
                                     Submission.state != SubmissionState.draft)
            .order_by(Submission.version.desc()).limit(1))
        answers: dict[str, Any] = {}
        submitter = None
        if latest is not None:
            answers = {a.field_code: a.value for a in (await session.scalars(
                select(Answer).where(Answer.submission_id == latest.id,
                                     Answer.skipped.is_(False)))).all()}
            if latest.submitted_by_member_id:
                submitter = await session.get(Member, latest.submitted_by_member_id)
        form = await session.get(Form, obligation.form_id)
        rows.append({
            "obligation": obligation, "agency": agency, "form": form, "submission": latest,
            "answers": answers, "versions": versions or 0, "first_submitted_at": first_at,
            "submitter": submitter.full_name if submitter else None,
        })
        verdict = lateness.get(obligation.id)
        facts.append(ObligationFact(obligation.id, agency.id, agency.display_name,
                                    obligation.status.value, obligation.effective_due_at,
                                    first_at, verdict.on_time if verdict else None))
    return ExportData(plan, schedule, period_key, rows, facts, lateness)


def _cell(value: Any, field_type: str) -> Any:
    if value is None:
        return None
    ftype = FIELD_TYPES.get(field_type)
    return value if ftype is None else ftype.export_cell(value)


async def build_xlsx(session: AsyncSession, data: ExportData, tz: ZoneInfo,
                     now: dt.datetime) -> bytes:
    # openpyxl and matplotlib load here, not at import: most processes (the bot answering
    # updates, the sweep) never build a workbook, and matplotlib alone takes about a second.
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    bold = Font(bold=True)
    book = Workbook()
    book.remove(book.active)
    by_form: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in data.rows:
        by_form[row["form"].id].append(row)
    for _form_id, rows in by_form.items():
        form = rows[0]["form"]
        version_id = next((r["submission"].form_version_id for r in rows if r["submission"]),
                          form.current_version_id)
        spec = await form_spec(session, version_id)
        sheet = book.create_sheet(title=_sheet_title(form.code, book.sheetnames))
        headers = ["Đơn vị", "Trạng thái", *[
            f"{i}. {f.label}" + (f" ({f.unit})" if f.unit else "")
            for i, f in enumerate(spec.fields, 1)]]
        sheet.append([spec.title])
        sheet["A1"].font = bold
        sheet.append(headers)
        for cell in sheet[2]:
            cell.font = bold
        for r in rows:
            sub = r["submission"]
            status = "Không phát sinh" if sub is not None and sub.no_report else _STATUS_VI.get(
                r["obligation"].status.value, r["obligation"].status.value)
            sheet.append([r["agency"].name, status, *[
                _cell(r["answers"].get(f.code), f.type) for f in spec.fields]])
        first_row, last_row = 3, 2 + len(rows)
        totals: list[Any] = ["Tổng cộng", ""]
        for i, f in enumerate(spec.fields, start=3):
            letter = get_column_letter(i)
            ftype = FIELD_TYPES.get(f.type)
            totals.append(ftype.export_total(f"{letter}{first_row}:{letter}{last_row}")
                          if ftype is not None else None)
        sheet.append(totals)
        for cell in sheet[sheet.max_row]:
            cell.font = bold
        sheet.column_dimensions["A"].width = 32
        sheet.freeze_panes = "C3"
    status = book.create_sheet(title="Tình hình nộp", index=0)
    stats = completeness(data.facts, now, tz)
    status.append([f"{data.plan.title}"])
    status["A1"].font = bold
    status.append([f"{data.schedule.name} — kỳ {data.period_key}"])
    status.append(["Phải nộp", stats.expected, "Đã nộp", stats.received, "Đúng hạn",
                   stats.on_time, "Tỷ lệ nộp (%)", round(stats.completeness_pct, 1),
                   "Tỷ lệ đúng hạn (%)", round(stats.timeliness_pct, 1)])
    status.append([])
    status.append(["Đơn vị", "Hạn nộp", "Gửi lần đầu", "Gửi lần cuối", "Đúng hạn", "Số lần gửi",
                   "Trạng thái", "Số biên nhận", "Người gửi", "Số ngày trễ", "Bổ sung"])
    for cell in status[status.max_row]:
        cell.font = bold
    for r, fact in zip(data.rows, data.facts, strict=True):
        o, sub = r["obligation"], r["submission"]
        first_at = r["first_submitted_at"]
        verdict = data.lateness.get(o.id)
        on_time = None if first_at is None else ("Có" if fact.judged_on_time else "Không")
        supplement = None
        if verdict is not None and verdict.supplement:
            supplement = ("Đúng hạn" if not verdict.supplement_late_days
                          else f"Trễ {verdict.supplement_late_days} ngày")
        status.append([
            r["agency"].name,
            # The last day to submit («hết ngày 12/03»), a date cell.
            last_day(o.effective_due_at, tz),
            _local(first_at, tz),
            _local(sub.submitted_at, tz) if sub and sub.submitted_at else None,
            on_time,
            r["versions"],
            _STATUS_VI.get(o.status.value, o.status.value),
            sub.receipt_no if sub else None,
            r["submitter"],
            verdict.late_days if verdict is not None else None,
            supplement,
        ])
        status.cell(row=status.max_row, column=2).number_format = "DD/MM/YYYY"
        for index in (3, 4):
            status.cell(row=status.max_row, column=index).number_format = "DD/MM/YYYY HH:MM"

    status.column_dimensions["A"].width = 32
    for column in "BCD":
        status.column_dimensions[column].width = 18
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


_STATUS_VI = {
    "open": "Chưa nộp", "draft": "Đang soạn", "submitted": "Đã nộp",
    "accepted": "Đã tiếp nhận", "returned": "Trả lại để bổ sung", "waived": "Được miễn",
}


def _local(moment: dt.datetime | None, tz: ZoneInfo) -> dt.datetime | None:
    # Excel has no time zones: write local wall time without tzinfo.
    return moment.astimezone(tz).replace(tzinfo=None) if moment else None


def _sheet_title(code: str, taken: list[str]) -> str:
    title = code[:28]
    n = 2
    while title in taken:
        title = f"{code[:25]}-{n}"
        n += 1
    return title


def completeness_chart(data: ExportData, now: dt.datetime, tz: ZoneInfo) -> bytes:
    """A PNG bar chart: which agencies have reported (green), late (orange), missing (red)."""
    import matplotlib  # loaded when a chart is drawn (see build_xlsx)

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    names, colours = [], []
    for fact in data.facts:
        names.append(fact.agency_name)
        if fact.first_submitted_at is None or fact.status not in ("submitted", "accepted",
                                                                  "returned"):
            colours.append("#d9534f")
        elif fact.judged_on_time:
            colours.append("#5cb85c")
        else:
            colours.append("#f0ad4e")
    stats = completeness(data.facts, now, tz)
    height = max(3.0, 0.28 * len(names) + 1.2)
    fig, ax = plt.subplots(figsize=(7, height), dpi=110)
    ax.barh(range(len(names)), [1] * len(names), color=colours)
    ax.set_yticks(range(len(names)), labels=names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xticks([])
    ax.set_title(f"{data.schedule.name} {data.period_key}: nộp {stats.received}/{stats.expected} "
                 f"({stats.completeness_pct:.0f}%), đúng hạn {stats.timeliness_pct:.0f}%",
                 fontsize=10)
    for spine in ax.spines.values():
        spine.set_visible(False)
    from matplotlib.patches import Patch  # after matplotlib.use("Agg") above

    ax.legend(handles=[Patch(color="#5cb85c", label="Đúng hạn"),
                       Patch(color="#f0ad4e", label="Quá hạn"),
                       Patch(color="#d9534f", label="Chưa nộp")],
              loc="lower right", fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()
