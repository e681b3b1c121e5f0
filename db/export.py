"""Consolidated figures: an .xlsx per schedule and period, and a completeness chart.

Both are built from the database in one place, so the bot's «Xuất Excel» button and
`python -m bot export` write the same file. The workbook is made to be printed: a cover sheet
(«Tổng hợp»: the plan, the period in words, the time of export, the figures, the colour
legend), the agencies' status, then one sheet per form named by its title; frozen and wrapped
headers, date cells, SUM totals, statuses in colours, landscape A4 one page wide. The chart
shows each kind of agency (or each period of the year) on time / late / returned / missing in
the same colours. Timeliness comes from core.lateness and core.stats, never counted here.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import lazyload

from core.calendar import DEFAULT_TZ
from core.fields import FIELD_TYPES
from core.fields.base import FieldSpec
from core.fields.numeric import NumericType
from core.formatting import format_percent
from core.i18n import N_, Gettext, ngettext, translator
from core.lateness import Lateness, last_day
from core.stats import RECEIVED, Completeness, ObligationFact, completeness
from core.texts import period_label
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

if TYPE_CHECKING:
    from matplotlib.figure import Figure


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
    cell = value if ftype is None else ftype.export_cell(value)
    if isinstance(ftype, NumericType) and isinstance(cell, str):
        try:  # a number kept as text would not add up in the totals row
            return float(cell)
        except ValueError:
            return cell
    return cell


# ----------------------------------------------------------------------------- statuses

# What a report's state is called in the workbook and on the chart, and its colour: the
# chart's colour (strong) and the cell fill (its light tint, readable when printed).
STATUS_LABELS = {
    "open": N_("Not submitted yet"), "draft": N_("Not submitted (draft)"),
    "submitted": N_("Submitted, awaiting review"), "accepted": N_("Accepted by the office"),
    "returned": N_("Returned for supplement"), "waived": N_("Waived (not expected)"),
}


@dataclass(frozen=True)
class Colour:
    chart: str  # "#rrggbb"
    fill: str  # "RRGGBB", the light tint used as a cell fill


COLOURS: dict[str, Colour] = {
    "accepted": Colour("#3a9d5d", "C6EFCE"),  # green: accepted, or on time on the chart
    "submitted": Colour("#4a86c5", "DDEBF7"),  # blue: received, not reviewed yet
    "returned": Colour("#f0a202", "FFE699"),  # amber: returned for a supplement
    "late": Colour("#e8837a", "F8CBAD"),  # light red: received late
    "missing": Colour("#c0392b", "FFC7CE"),  # red: not received
    "waived": Colour("#a6a6a6", "E7E6E6"),  # grey: not expected
}
# An obligation's status → its colour key.
STATUS_COLOUR = {"open": "missing", "draft": "missing", "submitted": "submitted",
                 "accepted": "accepted", "returned": "returned", "waived": "waived"}
# The chart's segments, in stacking order, and their colour keys.
SEGMENTS: tuple[tuple[str, str, str], ...] = (
    ("on_time", "accepted", N_("Sent on time")),
    ("late", "late", N_("Sent late")),
    ("returned", "returned", N_("Returned for supplement")),
    ("missing", "missing", N_("Not submitted yet")),
)


def segment(fact: ObligationFact) -> str | None:
    """Where a report goes on the chart; None for a waived one (not expected).

    Received and on time follow core.stats (the one decision); a returned report is shown
    apart, whatever its timeliness, so it is never drawn as a finished one."""
    if fact.status == "waived":
        return None
    if fact.status not in RECEIVED or fact.first_submitted_at is None:
        return "missing"
    if fact.status == "returned":
        return "returned"
    return "on_time" if fact.judged_on_time else "late"


def segment_counts(facts: Iterable[ObligationFact]) -> dict[str, int]:
    counts = {key: 0 for key, _colour, _label in SEGMENTS}
    for fact in facts:
        key = segment(fact)
        if key is not None:
            counts[key] += 1
    return counts


def period_title(_: Gettext, schedule: Schedule, period_key: str) -> str:
    """«Tháng 03/2022»: the period in words, capitalised as a heading."""
    label = period_label(_, schedule.period_type, period_key)
    return label[:1].upper() + label[1:]


# ----------------------------------------------------------------------------- workbook


async def build_xlsx(session: AsyncSession, data: ExportData, tz: ZoneInfo,
                     now: dt.datetime, locale: str = "vi") -> bytes:
    """The workbook an office prints: a cover sheet, the status of each agency, then one
    sheet per form (named by its title), each ready to print on landscape A4."""
    # openpyxl loads here, not at import: most processes (the bot answering updates, the
    # sweep) never build a workbook.
    from openpyxl import Workbook

    _ = translator(locale)
    book = Workbook()
    book.remove(book.active)
    stats = completeness(data.facts, now, tz)
    _cover_sheet(book, data, stats, tz, now, _)
    _status_sheet(book, data, tz, _, locale)
    by_form: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in data.rows:
        by_form[row["form"].id].append(row)
    specs = []
    for rows in by_form.values():
        form = rows[0]["form"]
        version_id = next((r["submission"].form_version_id for r in rows if r["submission"]),
                          form.current_version_id)
        spec = await form_spec(session, version_id)
        specs.append((spec.title or form.title, spec.fields, rows))
    names = sheet_titles([title for title, _fields, _rows in specs], book.sheetnames)
    for name, (title, fields, rows) in zip(names, specs, strict=True):
        _form_sheet(book, name, title, fields, rows, _)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _styles() -> dict[str, Any]:
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side

    thin = Side(style="thin", color="BFBFBF")
    return {
        "bold": Font(bold=True),
        "title": Font(bold=True, size=14),
        "header_fill": PatternFill("solid", fgColor="D9E1F2"),
        "wrap": Alignment(wrap_text=True, vertical="center", horizontal="center"),
        "top": Alignment(vertical="top", wrap_text=True),
        "border": Border(left=thin, right=thin, top=thin, bottom=thin),
    }


def fill(colour_key: str) -> Any:
    from openpyxl.styles import PatternFill

    return PatternFill("solid", fgColor=COLOURS[colour_key].fill)


def _cover_sheet(book: Any, data: ExportData, stats: Completeness, tz: ZoneInfo,
                 now: dt.datetime, _: Gettext) -> None:
    style = _styles()
    sheet = book.create_sheet(title=sheet_title(_("Summary sheet"), book.sheetnames))
    returned = sum(1 for f in data.facts if f.status == "returned")
    waived = sum(1 for f in data.facts if f.status == "waived")
    sheet.append([data.plan.title])
    sheet["A1"].font = style["title"]
    sheet.append([_("Consolidated report on reporting status")])
    sheet["A2"].font = style["bold"]
    sheet.append([])
    sheet.append([_("Reporting schedule"), data.schedule.name])
    sheet.append([_("Reporting period"), period_title(_, data.schedule, data.period_key)])
    sheet.append([_("Exported at"), _local(now, tz)])
    sheet.cell(row=sheet.max_row, column=2).number_format = "HH:MM DD/MM/YYYY"
    sheet.cell(row=sheet.max_row, column=2).alignment = _left()
    sheet.append([])
    sheet.append([_("Figures of the period"), _("Count of reports")])
    for cell in sheet[sheet.max_row]:
        cell.font = style["bold"]
        cell.fill = style["header_fill"]
    figures: list[tuple[str, int | float, str | None]] = [
        (_("Reports expected"), stats.expected, None),
        (_("Reports received"), stats.received, None),
        (_("Received on time"), stats.on_time, "accepted"),
        (_("Received late"), stats.late, "late"),
        (_("Not submitted yet"), stats.missing, "missing"),
        (_("Returned for supplement"), returned, "returned"),
        (_("Waived (not expected)"), waived, "waived"),
        (_("Completeness rate"), stats.completeness_pct / 100, None),
        (_("Timeliness rate"), stats.timeliness_pct / 100, None),
    ]
    for label, value, colour in figures:
        sheet.append([label, value])
        cell = sheet.cell(row=sheet.max_row, column=2)
        cell.alignment = _left()
        if isinstance(value, float):
            cell.number_format = "0.0%"
        if colour is not None:
            sheet.cell(row=sheet.max_row, column=1).fill = fill(colour)
    sheet.append([])
    sheet.append([_("Colour legend")])
    sheet.cell(row=sheet.max_row, column=1).font = style["bold"]
    for key, label in ((STATUS_COLOUR[s], STATUS_LABELS[s])
                       for s in ("accepted", "submitted", "returned", "open", "waived")):
        sheet.append([_(label)])
        sheet.cell(row=sheet.max_row, column=1).fill = fill(key)
    sheet.append([_("Received late (the «On time» column)")])
    sheet.cell(row=sheet.max_row, column=1).fill = fill("late")
    sheet.column_dimensions["A"].width = 42
    sheet.column_dimensions["B"].width = 48
    for row in sheet.iter_rows(min_row=4):
        for cell in row:
            if cell.column == 2 and isinstance(cell.value, str):
                cell.alignment = style["top"]
    _print_setup(sheet, repeat_header=False, landscape=False)


def _left() -> Any:
    from openpyxl.styles import Alignment

    return Alignment(horizontal="left")


def _status_sheet(book: Any, data: ExportData, tz: ZoneInfo, _: Gettext,
                  locale: str) -> None:
    sheet = book.create_sheet(title=sheet_title(_("Submission status"), book.sheetnames))
    sheet.append([_("Reporting agency"), _("Deadline (last day)"), _("First sent"), _("Last sent"),
                  _("Sent on time"), _("Versions sent"), _("Report status"), _("Receipt no."),
                  _("Sent by"), _("Days late"), _("Supplement after a return")])
    n_ = ngettext(locale)
    yes, no = _("Yes"), _("No")
    for r, fact in zip(data.rows, data.facts, strict=True):
        o, sub = r["obligation"], r["submission"]
        first_at = r["first_submitted_at"]
        verdict = data.lateness.get(o.id)
        on_time = None if first_at is None else (yes if fact.judged_on_time else no)
        supplement = None
        if verdict is not None and verdict.supplement:
            days = verdict.supplement_late_days
            supplement = (_("Sent on time") if not days
                          else n_("Late by {n} day", "Late by {n} days", days).format(n=days))
        sheet.append([
            r["agency"].name,
            # The last day to submit («hết ngày 12/03»), a date cell.
            last_day(o.effective_due_at, tz),
            _local(first_at, tz),
            _local(sub.submitted_at, tz) if sub and sub.submitted_at else None,
            on_time,
            r["versions"],
            _(STATUS_LABELS.get(o.status.value, o.status.value)),
            sub.receipt_no if sub else None,
            r["submitter"],
            verdict.late_days if verdict is not None else None,
            supplement,
        ])
        row = sheet.max_row
        sheet.cell(row=row, column=7).fill = fill(STATUS_COLOUR.get(o.status.value, "missing"))
        if on_time == no:
            sheet.cell(row=row, column=5).fill = fill("late")
        if verdict is not None and verdict.late_days:
            sheet.cell(row=row, column=10).fill = fill("late")
    last = sheet.max_row
    sheet.append([_("Total (all agencies)"), None, None, None, f'=COUNTIF(E2:E{last},"{yes}")',
                  f"=SUM(F2:F{last})"])
    _table_layout(sheet, data_rows=len(data.rows))


def _form_sheet(book: Any, name: str, title: str, fields: Sequence[FieldSpec],
                rows: list[dict[str, Any]], _: Gettext) -> None:
    from openpyxl.utils import get_column_letter

    sheet = book.create_sheet(title=name)
    sheet.append([_("Reporting agency"), _("Report status"), *[
        f"{i}. {f.label}" + (f" ({f.unit})" if f.unit else "")
        for i, f in enumerate(fields, 1)]])
    for r in rows:
        sub = r["submission"]
        status_key = r["obligation"].status.value
        status = (_("No activity to report") if sub is not None and sub.no_report
                  else _(STATUS_LABELS.get(status_key, status_key)))
        sheet.append([r["agency"].name, status, *[
            _cell(r["answers"].get(f.code), f.type) for f in fields]])
        sheet.cell(row=sheet.max_row, column=2).fill = fill(
            STATUS_COLOUR.get(status_key, "missing"))
    first_row, last_row = 2, 1 + len(rows)
    totals: list[Any] = [_("Total (all agencies)"), None]
    for i, f in enumerate(fields, start=3):
        letter = get_column_letter(i)
        ftype = FIELD_TYPES.get(f.type)
        totals.append(ftype.export_total(f"{letter}{first_row}:{letter}{last_row}")
                      if ftype is not None else None)
    sheet.append(totals)
    sheet.oddHeader.center.text = title
    _table_layout(sheet, data_rows=len(rows))


def _table_layout(sheet: Any, data_rows: int) -> None:
    """Header row bold and wrapped, first row and column frozen, dates as dates, widths
    fitted, the totals row bold, borders, and the print settings."""
    from openpyxl.utils import get_column_letter

    style = _styles()
    for cell in sheet[1]:
        cell.font = style["bold"]
        cell.alignment = style["wrap"]
        cell.fill = style["header_fill"]
    totals_row = 2 + data_rows
    for cell in sheet[totals_row]:
        cell.font = style["bold"]
    for row in sheet.iter_rows(min_row=1, max_row=totals_row):
        for cell in row:
            cell.border = style["border"]
            if isinstance(cell.value, dt.datetime):
                cell.number_format = "DD/MM/YYYY HH:MM"
            elif isinstance(cell.value, dt.date):
                cell.number_format = "DD/MM/YYYY"
    header_lines = 1
    for index, column in enumerate(sheet.iter_cols(min_row=1, max_row=totals_row), start=1):
        header = str(column[0].value or "")
        body = max((_shown_width(c.value) for c in column[1:]), default=0)
        longest_word = max((len(w) for w in header.split()), default=0)
        limit = 40 if index == 1 else 30
        width = min(limit, max(8, body + 2, longest_word + 2))
        sheet.column_dimensions[get_column_letter(index)].width = width
        header_lines = max(header_lines, -(-len(header) // max(1, int(width) - 1)))
    sheet.row_dimensions[1].height = 15 * min(header_lines, 6)
    sheet.freeze_panes = "B2"
    sheet.auto_filter.ref = f"A1:{get_column_letter(sheet.max_column)}{1 + data_rows}"
    _print_setup(sheet, repeat_header=True, landscape=True)


def _shown_width(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, dt.datetime):
        return 16
    if isinstance(value, dt.date):
        return 10
    if isinstance(value, str) and value.startswith("="):
        return 6
    return len(str(value))


def _print_setup(sheet: Any, *, repeat_header: bool, landscape: bool) -> None:
    sheet.page_setup.orientation = "landscape" if landscape else "portrait"
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0  # as many pages down as it takes
    sheet.print_options.horizontalCentered = True
    sheet.page_margins.left = sheet.page_margins.right = 0.5
    if repeat_header:
        sheet.print_title_rows = "1:1"
    sheet.oddFooter.center.text = "&P/&N"


def _local(moment: dt.datetime | None, tz: ZoneInfo) -> dt.datetime | None:
    # Excel has no time zones: write local wall time without tzinfo.
    return moment.astimezone(tz).replace(tzinfo=None) if moment else None


_FORBIDDEN = re.compile(r"[\\/?*\[\]:]")
MAX_SHEET_TITLE = 31  # Excel's limit


def _clean(title: str) -> str:
    return " ".join(_FORBIDDEN.sub("-", title).split()).strip("'") or "Sheet"


def _head(title: str) -> str:
    """The first words of a long title that fit, and «…»."""
    words, out = title.split(), ""
    for word in words:
        if len(out) + len(word) + 2 > MAX_SHEET_TITLE:
            break
        out = f"{out} {word}".strip()
    return (out or title[:MAX_SHEET_TITLE - 1]) + "…"


def _head_and_tail(title: str) -> str:
    """«Báo cáo… của Công an quận»: the first two words and the last ones that fit, for
    long titles that begin alike (one plan's forms often do)."""
    words = title.split()
    head = " ".join(words[:2]) + "… "
    tail: list[str] = []
    for word in reversed(words[2:]):
        if len(head) + len(" ".join([word, *tail])) > MAX_SHEET_TITLE:
            break
        tail.insert(0, word)
    return (head + " ".join(tail)).strip() if tail else _head(title)


def sheet_titles(titles: Sequence[str], taken: Iterable[str] = ()) -> list[str]:
    """Worksheet names for `titles`, in order: each title as it is when it fits Excel's 31
    characters, else shortened at a word (the end kept when long titles begin alike);
    none of \\ / ? * [ ] :, no apostrophe at either end, all different (as Excel compares
    them: ignoring case)."""
    clean = [_clean(t) for t in titles]
    heads = [_head(t) if len(t) > MAX_SHEET_TITLE else t for t in clean]
    alike = {h for h in heads if heads.count(h) > 1 and h.endswith("…")}
    used = {t.lower() for t in taken}
    out = []
    for title, head in zip(clean, heads, strict=True):
        name = _head_and_tail(title) if head in alike else head
        name = sheet_title(name, used)
        used.add(name.lower())
        out.append(name)
    return out


def sheet_title(title: str, taken: Iterable[str]) -> str:
    """A worksheet name Excel accepts: at most 31 characters, none of \\ / ? * [ ] :, not
    starting or ending with an apostrophe, unique (Excel compares them ignoring case)."""
    base = _clean(title)[:MAX_SHEET_TITLE].rstrip()
    used = {t.lower() for t in taken}
    name, n = base, 2
    while name.lower() in used:
        suffix = f" ({n})"
        name = base[:MAX_SHEET_TITLE - len(suffix)].rstrip() + suffix
        n += 1
    return name


# ----------------------------------------------------------------------------- charts


def by_kind(data: ExportData) -> list[tuple[str, list[ObligationFact]]]:
    """The period's reports grouped by the kind of agency (its label in the plan), in the
    order the kinds first appear."""
    groups: dict[str, list[ObligationFact]] = {}
    for row, fact in zip(data.rows, data.facts, strict=True):
        agency = row["agency"]
        groups.setdefault(agency.kind_label or agency.kind, []).append(fact)
    return list(groups.items())


def completeness_figure(data: ExportData, now: dt.datetime, tz: ZoneInfo,
                        locale: str = "vi") -> Figure:
    """The period's chart, per kind of agency: on time, late, returned, not submitted."""
    _ = translator(locale)
    stats = completeness(data.facts, now, tz)
    title = _("Reporting status {period} — {schedule}").format(
        period=period_title(_, data.schedule, data.period_key), schedule=data.schedule.name)
    return stacked_figure(title, _summary(_, stats, locale), by_kind(data), now, tz, _,
                          locale)


def periods_figure(schedule: Schedule, year: str,
                   periods: list[tuple[str, list[ObligationFact]]], now: dt.datetime,
                   tz: ZoneInfo, locale: str = "vi") -> Figure:
    """Over the periods of the year: each period's reports, `periods` as (key, facts)."""
    _ = translator(locale)
    everything = [f for _key, facts in periods for f in facts]
    title = _("Reporting status in {year} — {schedule}").format(year=year,
                                                                 schedule=schedule.name)
    rows = [(period_title(_, schedule, key), facts) for key, facts in periods]
    return stacked_figure(title, _summary(_, completeness(everything, now, tz), locale), rows,
                          now, tz, _, locale)


def _summary(_: Gettext, stats: Completeness, locale: str) -> str:
    return _("Received {received}/{expected} ({pct}), on time {on_time} ({on_time_pct})").format(
        received=stats.received, expected=stats.expected,
        pct=format_percent(stats.completeness_pct, locale), on_time=stats.on_time,
        on_time_pct=format_percent(stats.timeliness_pct, locale))


def stacked_figure(title: str, subtitle: str, groups: list[tuple[str, list[ObligationFact]]],
                   now: dt.datetime, tz: ZoneInfo, _: Gettext, locale: str) -> Figure:
    """Horizontal stacked bars, one per group, with the counts written on the segments, the
    completeness at the end of each bar, and the legend below the bars."""
    # matplotlib loads here (about a second): only a chart needs it. The Figure is built
    # without pyplot, so no display and no global state (charts are drawn in threads).
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch
    from matplotlib.ticker import MaxNLocator

    labels = [name for name, _facts in groups]
    counts = [segment_counts(facts) for _name, facts in groups]
    height = max(3.2, 0.55 * len(groups) + 2.2)
    fig = Figure(figsize=(8.5, height), dpi=120)
    FigureCanvasAgg(fig)  # the Agg canvas: drawn to PNG, never to a display
    ax = fig.add_subplot()
    positions = list(range(len(groups)))
    left = [0] * len(groups)
    for key, colour, label in SEGMENTS:
        widths = [c[key] for c in counts]
        bars = ax.barh(positions, widths, left=left, color=COLOURS[colour].chart,
                       label=_(label), height=0.6, edgecolor="white")
        ax.bar_label(bars, labels=[str(w) if w else "" for w in widths],
                     label_type="center", fontsize=8,
                     color="white" if colour in ("accepted", "missing", "submitted")
                     else "black")
        left = [a + w for a, w in zip(left, widths, strict=True)]
    for y, (_name, facts) in enumerate(groups):
        stats = completeness(facts, now, tz)
        ax.text(left[y] + 0.1, y, f" {stats.received}/{stats.expected} "
                f"({format_percent(stats.completeness_pct, locale)})", va="center", fontsize=8)
    ax.set_yticks(positions, labels=labels, fontsize=9)
    ax.invert_yaxis()
    widest = max(left, default=0)
    ax.set_xlim(0, max(1, widest) * 1.2)
    ax.set_xlabel(_("Number of reports"), fontsize=8)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fig.suptitle(title, fontsize=11, fontweight="bold")
    ax.set_title(subtitle, fontsize=9)
    ax.legend(handles=[Patch(color=COLOURS[colour].chart, label=_(label))
                       for _key, colour, label in SEGMENTS],
              loc="upper center", bbox_to_anchor=(0.5, -0.12 - 0.6 / height), ncol=4,
              fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    return buffer.getvalue()


def completeness_chart(data: ExportData, now: dt.datetime, tz: ZoneInfo,
                       locale: str = "vi") -> bytes:
    """The period's chart as a PNG (see completeness_figure)."""
    return png(completeness_figure(data, now, tz, locale))
