"""What the documents a committee signs say, from the answers the database holds (issue 15):
an agency's report for one submission, and the consolidating agency's report for a
schedule's period. core/documents.py holds their shape; core/docx_layout.py writes them.

Words are the committee's, in Vietnamese: these are administrative documents in the format
of Decree 30/2020/NĐ-CP, filed as they are, whatever language the person who downloads
them uses.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections import defaultdict
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from core.documents import Document, Section, Table
from core.fields import FIELD_TYPES
from core.fields.base import FieldSpec
from core.formatting import format_datetime, format_number
from core.i18n import translator
from core.stats import completeness, meets
from core.texts import period_label, report_title
from db.drafts import form_spec, load_state, submission_spec
from db.export import ExportData
from db.models import Agency, Committee, Obligation, Plan, Schedule, Submission
from db.targets import TargetResult, targets_progress

NUMERIC = frozenset({"integer", "decimal", "percent"})
NARRATIVE = frozenset({"text", "long_text"})
SKIP_TYPES = frozenset({"file"})
_PLACE = re.compile(r"^(?:UBND|Ủy ban nhân dân|Uỷ ban nhân dân)\s+(?:quận|huyện|thị xã|thành phố"
                    r"|tỉnh|phường|xã|thị trấn)\s+(.+)$", re.IGNORECASE)
_ = translator("vi")


def place_of(plan: Plan, committee: Committee | None) -> str:
    """«Đống Đa» from «UBND quận Đống Đa»: where the documents are dated."""
    for name in (plan.issued_by or "", committee.name if committee else ""):
        found = _PLACE.match(name.strip())
        if found:
            return found.group(1).strip()
    return (plan.issued_by or (committee.name if committee else "")).strip() or "…"


def is_people_committee(name: str) -> bool:
    return bool(re.match(r"^(UBND|Ủy ban nhân dân|Uỷ ban nhân dân)\b", name.strip(),
                         re.IGNORECASE))


def topic_of(title: str) -> str:
    """A form's or plan's title as a summary line: «Báo cáo kết quả phòng, chống mại dâm
    của UBND phường» → «Kết quả phòng, chống mại dâm»; "" when nothing is left."""
    text = re.sub(r"^(Báo cáo|Biểu mẫu|Mẫu)\b\s*", "", title.strip(), flags=re.IGNORECASE)
    text = re.sub(r"\s*\bcủa\b.*$", "", text, flags=re.IGNORECASE).strip(" ,;:-")
    return text[:1].upper() + text[1:]


def report_topic(form_title: str, plan_title: str) -> str:
    """What an agency's report is about: its form's subject, else the plan it carries out."""
    return topic_of(form_title) or f"Kết quả thực hiện {_lower_first(plan_title)}"


def _value(spec: FieldSpec, value: Any) -> str:
    kind = FIELD_TYPES.get(spec.type)
    text = kind.value_text(_, spec, value, "vi") if kind else str(value)
    return f"{text} {spec.unit}" if spec.unit and spec.type in NUMERIC else text


async def agency_report(session: AsyncSession, submission: Submission, tz: ZoneInfo
                        ) -> Document:
    """The agency's report for a submitted version, ready to sign."""
    obligation = await session.get(Obligation, submission.obligation_id)
    assert obligation is not None
    agency = await session.get(Agency, obligation.agency_id)
    schedule = await session.get(Schedule, obligation.schedule_id)
    assert agency is not None and schedule is not None
    plan = await session.get(Plan, schedule.plan_id)
    assert plan is not None
    committee = await session.get(Committee, plan.committee_id)
    consolidating = await _consolidating(session, committee)
    form = await submission_spec(session, submission)
    state = await load_state(session, submission)
    period = period_label(_, schedule.period_type, obligation.period_key)
    ubnd = is_people_committee(agency.name)

    answered = [spec for spec in form.fields
                if spec.type not in SKIP_TYPES and state.answers.get(spec.code) not in (None, "")]
    if submission.no_report:
        sections = [Section("I. KẾT QUẢ THỰC HIỆN", ("Trong kỳ không phát sinh nội dung.",))]
    elif schedule.outline:
        sections = outlined(schedule.outline, answered, state.answers)
    else:
        sections = by_form_order(answered, state.answers)
    if not submission.no_report:
        # The plan's targets this agency works towards, year to date, under the results.
        results = await targets_progress(session, plan, include_submitted=True,
                                         until=obligation.period_end, agency_id=agency.id)
        table = agency_targets_table(results, agency.id)
        if table is not None:
            sections.insert(1, Section("", (
                f"Kết quả thực hiện các chỉ tiêu của Kế hoạch, lũy kế từ đầu năm đến hết "
                f"{period}:",), table))
    sent = submission.submitted_at or dt.datetime.now(dt.UTC)
    sections.append(Section("", (
        f"Số liệu trên đã được gửi qua hệ thống báo cáo: số biên nhận "
        f"{submission.receipt_no or '—'}, lần gửi thứ {submission.version}, lúc "
        f"{format_datetime(sent, 'vi', tz)}.",)))
    through = f" (qua {consolidating.display_name})" if consolidating else ""
    return Document(
        issuer=agency.name.upper(),
        parent=None if ubnd else (plan.issued_by or "").upper() or None,
        kind="BÁO CÁO",
        summary=f"{report_topic(form.title or '', plan.title)} {period}",
        symbol="BC-UBND" if ubnd else "BC-…",
        place=place_of(plan, committee),
        date=None,
        year=int(obligation.period_key[:4]),
        addressee=f"{plan.issued_by}{through}" if plan.issued_by else None,
        intro=(f"Thực hiện {plan.title}, {agency.name} báo cáo kết quả {period} như sau:",),
        sections=tuple(sections),
        recipients=("- Như trên;", "- Lưu: VT."),
        signer_title="TM. ỦY BAN NHÂN DÂN\nCHỦ TỊCH" if ubnd else "THỦ TRƯỞNG ĐƠN VỊ",
    )


async def written(document: Document) -> bytes:
    """A document as .docx bytes, written off the event loop (python-docx is loaded on the
    first document, not by every process that imports this module)."""
    from core.docx_layout import render_docx

    return await asyncio.to_thread(render_docx, document)


async def report_docx(session: AsyncSession, submission: Submission, tz: ZoneInfo) -> bytes:
    """The agency's report as .docx bytes."""
    return await written(await agency_report(session, submission, tz))


def report_filename(agency_code: str, period_key: str, version: int) -> str:
    return f"bao-cao_{agency_code}_{period_key}" + (f"_v{version}" if version > 1 else "") \
        + ".docx"


async def consolidated_docx(session: AsyncSession, data: ExportData, now: dt.datetime,
                            tz: ZoneInfo, workbook: str | None = None) -> bytes:
    return await written(await consolidated_report(session, data, now, tz, workbook))


async def consolidated_files(session: AsyncSession, data: ExportData, now: dt.datetime,
                             tz: ZoneInfo, stem: str) -> list[tuple[str, bytes]]:
    """The consolidated report and its annex, the workbook of the same period (the one
    `export` writes): `stem`.docx and `stem`.xlsx, the report naming the workbook."""
    from db.export import build_xlsx

    workbook = f"{stem}.xlsx"
    return [(f"{stem}.docx", await consolidated_docx(session, data, now, tz, workbook)),
            (workbook, await build_xlsx(session, data, tz, now, "vi"))]


def _answer_line(spec: FieldSpec, value: Any) -> str:
    joint = " " if spec.label.rstrip().endswith("?") else ": "
    return f"- {spec.label}{joint}{_value(spec, value)}."


def _is_narrative(spec: FieldSpec, value: Any) -> bool:
    return spec.type in NARRATIVE and isinstance(value, str) and (
        len(value) > 80 or "\n" in value)


def _paragraphs(value: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in value.splitlines() if p.strip())


def by_form_order(answered: list[FieldSpec], answers: dict[str, Any]) -> list[Section]:
    """Without an outline: the figures and short answers under «I. KẾT QUẢ THỰC HIỆN», then
    each narrative answer as its own section, in the form's order."""
    figures = [_answer_line(f, answers[f.code]) for f in answered
               if not _is_narrative(f, answers[f.code])]
    sections = [Section("I. KẾT QUẢ THỰC HIỆN",
                        tuple(figures) or ("Trong kỳ không phát sinh nội dung.",))]
    for n, f in enumerate([f for f in answered if _is_narrative(f, answers[f.code])], start=2):
        sections.append(Section(f"{_roman(n)}. {f.label.upper()}",
                                _paragraphs(answers[f.code])))
    return sections


def outlined(outline: list[Any], answered: list[FieldSpec], answers: dict[str, Any]
             ) -> list[Section]:
    """The plan's outline: each section's answers in its order (a narrative answer as its
    paragraphs, headed by its question when the section has several); answers the outline
    does not place go under its first section."""
    by_code = {f.code: f for f in answered}
    placed = {code for part in outline for code in part.get("fields", [])}
    sections = []
    for k, part in enumerate(outline):
        codes = [c for c in part.get("fields", []) if c in by_code]
        if k == 0:
            codes += [f.code for f in answered if f.code not in placed]
        lines: list[str] = []
        for code in codes:
            spec, value = by_code[code], answers[code]
            if _is_narrative(spec, value):
                if len(codes) > 1:
                    lines.append(f"- {spec.label}:")
                lines.extend(_paragraphs(value))
            else:
                lines.append(_answer_line(spec, value))
        sections.append(Section(str(part.get("heading", "")),
                                tuple(lines) or ("Không có nội dung.",)))
    return sections


def _goal(result: TargetResult) -> str:
    sign = {">=": "", ">": "trên ", "<=": "không quá ", "<": "dưới ", "==": ""}
    return (sign.get(result.spec.comparison, "") + format_number(result.spec.target, "vi")
            + _unit(result.spec.unit))


def _unit(unit: str | None) -> str:
    return "" if not unit else "%" if unit == "%" else f" {unit}"


def agency_targets_table(results: Sequence[TargetResult], agency_id: int) -> Table | None:
    """The agency's own figure for each target it works towards (its share of a
    committee-wide figure; whether it meets a target set for each agency)."""
    rows: list[tuple[str, ...]] = []
    for result in results:
        if not result.has_figures:
            continue
        spec, progress = result.spec, result.progress
        if spec.count_where is not None:
            met = progress.per_agency.get(agency_id) == 1.0
            figure, verdict = ("Có" if met else "Chưa"), ("Đạt" if met else "Chưa đạt")
        elif spec.per_agency:
            value = progress.per_agency.get(agency_id)
            figure = "—" if value is None else format_number(value, "vi") + _unit(spec.unit)
            verdict = "—" if value is None else (
                "Đạt" if meets(value, spec.comparison, spec.target) else "Chưa đạt")
        else:
            if progress.actual is None:
                continue
            figure = format_number(progress.actual, "vi") + _unit(spec.unit)
            verdict = "—"  # a share of the committee's figure: the office judges the whole
        rows.append((str(len(rows) + 1), result.target.name, _goal(result), figure, verdict))
    if not rows:
        return None
    return Table(("STT", "Chỉ tiêu", "Chỉ tiêu Kế hoạch", "Kết quả của đơn vị", "Đánh giá"),
                 tuple(rows))


def committee_targets_table(results: Sequence[TargetResult]) -> Table | None:
    """Progress against each target, committee-wide, year to date."""
    rows: list[tuple[str, ...]] = []
    for n, result in enumerate(results, start=1):
        spec, progress = result.spec, result.progress
        if not result.has_figures or (progress.actual is None and spec.count_where is None
                                      and not spec.per_agency):
            figure, verdict = "Chưa có số liệu", "—"
        elif spec.count_where is not None or spec.per_agency:
            figure = (f"{progress.agencies_met}/{progress.agencies_total} đơn vị đạt"
                      if spec.per_agency else
                      f"{progress.agencies_met}/{progress.agencies_total}{_unit(spec.unit)}")
            verdict = "Đạt" if progress.met else "Chưa đạt"
        else:
            assert progress.actual is not None
            figure = format_number(progress.actual, "vi") + _unit(spec.unit)
            if spec.comparison in (">=", ">") and progress.pct is not None:
                figure += f" ({format_number(progress.pct, 'vi', 1)}%)"
            verdict = "Đạt" if progress.met else "Chưa đạt"
        rows.append((str(n), result.target.name, _goal(result), figure, verdict))
    if not rows:
        return None
    return Table(("STT", "Chỉ tiêu", "Chỉ tiêu Kế hoạch", "Kết quả lũy kế", "Đánh giá"),
                 tuple(rows))


def _roman(n: int) -> str:
    return ["", "I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII"][n] \
        if n < 13 else str(n)


async def _consolidating(session: AsyncSession, committee: Committee | None) -> Agency | None:
    if committee is None or committee.consolidating_id is None:
        return None
    return await session.get(Agency, committee.consolidating_id)


async def consolidated_report(session: AsyncSession, data: ExportData, now: dt.datetime,
                              tz: ZoneInfo, workbook: str | None = None) -> Document:
    """The consolidating agency's report of a schedule's period to the committee: what came
    in, the totals of every figure, a table per form, the narrative answers by question,
    and the late and missing agencies in an annex; `workbook` names the .xlsx sent with it
    (its annex of every agency's figures). Figures are the latest version sent by
    each agency, as in the workbook (db/export.py), whose totals they equal."""
    plan, schedule = data.plan, data.schedule
    committee = await session.get(Committee, plan.committee_id)
    consolidating = await _consolidating(session, committee)
    period = period_label(_, schedule.period_type, data.period_key)
    stats = completeness(data.facts, now, tz)
    received = [r for r in data.rows if r["submission"] is not None]
    late = [r for r in received if (v := data.lateness.get(r["obligation"].id)) is not None
            and not v.on_time]
    missing = [r for r in data.rows if r["submission"] is None]
    summary_lines = (
        f"Số đơn vị phải báo cáo: {stats.expected}; đã nhận: {stats.received} "
        f"({stats.on_time} đúng hạn, {stats.late} quá hạn); chưa nhận: {stats.missing}.",
        f"Tỷ lệ đã nhận: {format_number(stats.completeness_pct, 'vi', 1)}%.",
    )
    sections = [Section("I. TÌNH HÌNH BÁO CÁO", summary_lines)]

    by_form: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in data.rows:
        by_form[row["form"].id].append(row)
    totals: list[str] = []
    tables: list[Section] = []
    narrative: dict[str, list[str]] = defaultdict(list)
    for rows in by_form.values():
        form = rows[0]["form"]
        version_id = next((r["submission"].form_version_id for r in rows if r["submission"]),
                          form.current_version_id)
        spec = await form_spec(session, version_id)
        numeric = [f for f in spec.fields if f.type in NUMERIC]
        sent_rows = [r for r in rows if r["submission"] is not None]
        for f in numeric:
            values = [r["answers"][f.code] for r in sent_rows
                      if isinstance(r["answers"].get(f.code), int | float)]
            if values and f.type != "percent":
                total = sum(values)
                totals.append(f"- {f.label}: {format_number(total, 'vi')}"
                              + (f" {f.unit}" if f.unit else "") + ".")
        if numeric and sent_rows:
            header = ("STT", "Đơn vị", *(_short(f) for f in numeric))
            body = [
                (str(n), r["agency"].display_name,
                 *(_cell(r["answers"].get(f.code)) for f in numeric))
                for n, r in enumerate(sent_rows, start=1)]
            total_row = ("", "Tổng cộng", *(_total(f, sent_rows) for f in numeric))
            tables.append(Section(
                f"Biểu: {spec.title or form.title}", (),
                Table(header, (*body, total_row))))
        for f in spec.fields:
            if f.type in NARRATIVE:
                for r in sent_rows:
                    text = r["answers"].get(f.code)
                    if isinstance(text, str) and text.strip():
                        narrative[f.label].append(f"- {r['agency'].display_name}: "
                                                  f"{' '.join(text.split())}")
    attached = (f"Số liệu chi tiết của từng đơn vị: bảng tính kèm theo ({workbook}), mỗi "
                "biểu mẫu một trang tính.",) if workbook else ()
    sections.append(Section("II. TỔNG HỢP SỐ LIỆU",
                            (*(totals or ["Chưa có số liệu."]), *attached)))
    sections.extend(tables)
    ends = [r["obligation"].period_end for r in data.rows]
    targets = committee_targets_table(await targets_progress(
        session, plan, include_submitted=True, until=max(ends) if ends else None))
    if targets is not None:
        sections.append(Section(
            f"{_roman(len(_numbered(sections)) + 1)}. TIẾN ĐỘ THỰC HIỆN CHỈ TIÊU",
            (f"Kết quả thực hiện các chỉ tiêu của Kế hoạch, lũy kế từ đầu năm đến hết "
             f"{period}:",), targets))
    if narrative:
        sections.append(Section(f"{_roman(len(_numbered(sections)) + 1)}. KHÓ KHĂN, VƯỚNG "
                                "MẮC VÀ ĐỀ XUẤT, KIẾN NGHỊ"))
        for label, lines in narrative.items():
            sections.append(Section(label, tuple(lines)))
    annex_rows = [
        (str(n), r["agency"].display_name,
         "Quá hạn" if r in late else "Chưa nhận",
         format_datetime(r["obligation"].effective_due_at, "vi", tz))
        for n, r in enumerate([*late, *missing], start=1)]
    annexes = (Section("Danh sách đơn vị báo cáo quá hạn, chưa báo cáo", (), Table(
        ("STT", "Đơn vị", "Tình trạng", "Hạn nộp"), tuple(annex_rows)))
        if annex_rows else Section("Danh sách đơn vị báo cáo quá hạn, chưa báo cáo",
                                   ("Không có.",)),)
    issuer = consolidating.name if consolidating else (committee.name if committee else "")
    return Document(
        issuer=issuer.upper(),
        parent=(plan.issued_by or "").upper() or None,
        kind="BÁO CÁO",
        summary=f"Tổng hợp kết quả thực hiện {_lower_first(topic_of(plan.title))} {period}",
        symbol="BC-…",
        place=place_of(plan, committee),
        date=None,
        year=int(data.period_key[:4]),
        addressee=committee.name if committee else None,
        intro=(f"Thực hiện {plan.title}, trên cơ sở báo cáo của các đơn vị, "
               f"{consolidating.name if consolidating else 'cơ quan tổng hợp'} tổng hợp kết "
               f"quả {period} như sau:",),
        sections=tuple(sections),
        recipients=("- Như trên;", "- Lưu: VT."),
        signer_title="THỦ TRƯỞNG ĐƠN VỊ",
        annexes=annexes,
    )


def _numbered(sections: Sequence[Section]) -> list[Section]:
    """The sections headed «I. …», «II. …» (not the tables and groups under them)."""
    return [s for s in sections if re.match(r"^[IVX]+\. ", s.heading)]


def _total(spec: FieldSpec, rows: list[dict[str, Any]]) -> str:
    """The column's sum; nothing for a percentage or a column nobody filled in."""
    values = [v for r in rows if isinstance(v := r["answers"].get(spec.code), int | float)
              and not isinstance(v, bool)]
    return "" if spec.type == "percent" or not values else _cell(sum(values))


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:] if text[:2] != text[:2].upper() else text


def _short(spec: FieldSpec) -> str:
    label = spec.label if len(spec.label) <= 60 else spec.label[:57].rstrip() + "…"
    return f"{label} ({spec.unit})" if spec.unit else label


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "Có" if value else "Không"
    if isinstance(value, int | float):
        return format_number(value, "vi")
    return "" if value is None else str(value)



async def urging_letter(session: AsyncSession, committee_id: int, late: Sequence[Any],
                        deadline: dt.date, tz: ZoneInfo) -> Document:
    """The consolidating agency's letter urging the agencies of `late` (overdue reports:
    scheduler.messages.LateReport) to send them by `deadline`: addressed to each agency,
    a table of the reports missing and their deadlines."""
    committee = await session.get(Committee, committee_id)
    consolidating = await _consolidating(session, committee)
    obligations = [r.obligation for r in late]
    schedules = {o.schedule_id: await session.get(Schedule, o.schedule_id) for o in obligations}
    plan = None
    for schedule in schedules.values():
        if schedule is not None:
            plan = await session.get(Plan, schedule.plan_id)
            break
    names = list(dict.fromkeys(r.agency_name for r in late))
    rows: list[tuple[str, ...]] = []
    for n, report in enumerate(late, start=1):
        o = report.obligation
        schedule = schedules.get(o.schedule_id)
        rows.append((str(n), report.agency_name,
                     report_title(_, schedule.name if schedule else "", o.period_type,
                                  o.period_key),
                     format_datetime(o.effective_due_at - dt.timedelta(seconds=1), "vi", tz)))
    issuer = consolidating.name if consolidating else (committee.name if committee else "")
    issued_by = (plan.issued_by if plan else None) or ""
    day = f"{deadline.day:02d}/{deadline.month:02d}/{deadline.year}"
    plan_title = plan.title if plan else ""
    return Document(
        issuer=issuer.upper(),
        parent=issued_by.upper() or None,
        kind="CÔNG VĂN",
        summary="Đôn đốc gửi báo cáo" + (f" thực hiện {_lower_first(plan_title)}"
                                           if plan_title else ""),
        symbol="…",
        place=place_of(plan, committee) if plan else "…",
        date=None,
        year=deadline.year,
        addressee="\n".join(names),
        intro=(f"Thực hiện {plan_title}, {issuer} đề nghị các đơn vị gửi báo cáo định kỳ "
               "theo kế hoạch. Đến nay, các đơn vị sau chưa gửi báo cáo đúng hạn:"
               if plan_title else
               f"{issuer} đề nghị các đơn vị gửi các báo cáo đã quá hạn sau:",),
        sections=(
            Section("", (), Table(("STT", "Đơn vị", "Báo cáo còn thiếu", "Hạn nộp"),
                                  tuple(rows))),
            Section("", (f"Đề nghị các đơn vị khẩn trương hoàn thành và gửi báo cáo về {issuer} "
                         f"(qua hệ thống báo cáo) trước ngày {day}./.",)),
        ),
        recipients=("- Như trên;", *((f"- {committee.name} (để báo cáo);",) if committee
                                       else ()), "- Lưu: VT."),
        signer_title="THỦ TRƯỞNG ĐƠN VỊ",
    )


async def urging_docx(session: AsyncSession, committee_id: int, late: Sequence[Any],
                      deadline: dt.date, tz: ZoneInfo) -> bytes:
    return await written(await urging_letter(session, committee_id, late, deadline, tz))
