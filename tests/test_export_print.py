"""Issue 7: the Excel file and the chart are things an office would print, and §8: a target
with nothing reported yet is said in words.

The workbook: a cover sheet, the status sheet, one sheet per form named by its title; header
rows bold, wrapped and frozen with the first column; dates as date cells; totals as formulas;
statuses in colours (legend on the cover); landscape, fit to width, header repeated on every
page. The chart: a Vietnamese title naming the period, a bar per kind of agency, a returned
report never drawn in the colour of an accepted one, the legend below the bars.
Mini plan (tests/data/mini-plan.yaml); the bot's clock starts on Saturday 05/03/2022 08:00.
"""

from __future__ import annotations

import datetime as dt
import io
import warnings
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex
from openpyxl import load_workbook

from core.stats import ObligationFact
from db.export import (
    COLOURS,
    ExportData,
    completeness_figure,
    periods_figure,
    png,
    sheet_titles,
)
from db.models import Obligation, Plan, Schedule, Submission
from tests.support.harness import DONGDA_PLAN, BotHarness, Replies

LAN, MINH, MAI = 3101, 3102, 3103  # P. Cát Linh, P. Hàng Bột, the standing office
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
TZ = ZoneInfo("Asia/Ho_Chi_Minh")


@pytest.fixture
async def bot(database_url: str) -> AsyncIterator[BotHarness]:
    async with BotHarness(database_url, send_per_chat_seconds=0) as h:
        await h.join(LAN, "p-cat-linh", "reporter", first_name="Lan")
        await h.join(MINH, "p-hang-bot", "reporter", first_name="Minh")
        await h.join(MAI, "ldtbxh", "standing_office", first_name="Mai")
        yield h


async def send_ward_report(h: BotHarness, uid: int, obligation: Obligation, managed: int,
                           inspected: int, meeting: str | None = None) -> Submission:
    await h.say(uid, "Báo cáo cần nộp")
    await h.press(uid, f"o:{obligation.id}")
    await h.say(uid, str(managed))
    await h.say(uid, str(inspected))
    await h.tap(uid, "Không")  # co_vi_pham
    await h.tap(uid, "Bỏ qua")  # ty_le
    await h.tap(uid, "Bỏ qua")  # kinh_phi
    await h.tap(uid, "Hội nghị")
    await h.tap(uid, "Xong")
    await h.tap(uid, "Tốt")
    if meeting:
        await h.say(uid, meeting)  # ngay_hop
    else:
        await h.tap(uid, "Bỏ qua")
    await h.tap(uid, "Có")  # khong_te_nan
    await h.tap(uid, "Bỏ qua")  # kho_khan
    review = await h.tap(uid, "Bỏ qua")  # van_ban
    assert "Xem lại báo cáo" in review.text, review.text
    await h.tap(uid, "Gửi báo cáo")
    receipt = await h.tap(uid, "Xác nhận gửi")
    assert "Đã nhận báo cáo" in receipt.text, receipt.text
    [submission] = await h.rows(Submission, Submission.obligation_id == obligation.id)
    assert isinstance(submission, Submission)
    return submission


def fill_of(cell: Any) -> str:
    return str(cell.fill.fgColor.rgb)[-6:].upper()


def photos(replies: Replies) -> list[dict[str, Any]]:
    return [m for m in replies if m.get("photo")]


@SQLITE_ONLY
async def test_the_workbook_and_the_chart_are_ready_to_print(bot: BotHarness) -> None:
    h = bot
    cat_linh = await h.obligation("p-cat-linh", "thang", "2022-03")
    hang_bot = await h.obligation("p-hang-bot", "thang", "2022-03")
    v1 = await send_ward_report(h, LAN, cat_linh, 12, 7, meeting="10/03/2022")
    v2 = await send_ward_report(h, MINH, hang_bot, 30, 25)
    await h.say(MAI, "Báo cáo chờ tiếp nhận")
    await h.press(MAI, f"rv:{v1.id}")
    await h.press(MAI, f"ac:{v1.id}")  # Cát Linh: accepted
    await h.press(MAI, f"rv:{v2.id}")
    await h.press(MAI, f"rt:{v2.id}")
    await h.say(MAI, "Thiếu số liệu kiểm tra")  # Hàng Bột: returned
    h.set_now(dt.datetime(2022, 3, 14, 9, 30, tzinfo=TZ))
    schedule = await h.one(Schedule, Schedule.code == "thang")
    plan = await h.one(Plan, Plan.id == schedule.plan_id)

    await h.say(MAI, "Tình hình báo cáo")
    exported = await h.press(MAI, f"xp:{schedule.id}:2022-03")
    [message] = [m for m in exported if m.get("document")]
    # A person reads the period in words, never «2022-03».
    assert message["caption"] == "Báo cáo tháng · Tháng 03/2022", message["caption"]
    book = load_workbook(io.BytesIO(h.state.file_content(message["document"]["file_id"])))
    assert book.sheetnames == ["Tổng hợp", "Tình hình nộp", "Báo cáo chung",
                               "Báo cáo của UBND phường"], book.sheetnames

    # The cover: plan, schedule, the period in words, when, the figures, the legend.
    cover = book["Tổng hợp"]
    assert cover["A1"].value == plan.title and cover["A1"].font.b
    values: dict[str, Any] = {}
    for r in cover.iter_rows():
        if r[0].value:
            values.setdefault(r[0].value, r[1])  # the legend repeats the status names
    assert values["Loại báo cáo"].value == "Báo cáo tháng"
    assert values["Kỳ báo cáo"].value == "Tháng 03/2022"
    exported_at = values["Thời điểm xuất"]
    assert isinstance(exported_at.value, dt.datetime)
    assert exported_at.value.replace(second=0, microsecond=0) == dt.datetime(2022, 3, 14, 9, 30)
    assert exported_at.number_format == "HH:MM DD/MM/YYYY"
    figures = {label: values[label].value for label in (
        "Phải nộp", "Đã nộp", "Nộp đúng hạn", "Nộp quá hạn", "Chưa nộp",
        "Trả lại để bổ sung", "Được miễn")}
    assert figures == {"Phải nộp": 5, "Đã nộp": 2, "Nộp đúng hạn": 2, "Nộp quá hạn": 0,
                       "Chưa nộp": 3, "Trả lại để bổ sung": 1, "Được miễn": 0}
    rate = values["Tỷ lệ nộp báo cáo"]
    assert rate.value == pytest.approx(0.4) and rate.number_format == "0.0%"
    legend = {c.value: fill_of(c) for c in cover["A"] if c.value in (
        "Đã tiếp nhận", "Đã nộp, chờ tiếp nhận", "Trả lại để bổ sung", "Chưa nộp", "Được miễn")
        and c.row > values["Tỷ lệ đúng hạn"].row}
    assert legend == {"Đã tiếp nhận": "C6EFCE", "Đã nộp, chờ tiếp nhận": "DDEBF7",
                      "Trả lại để bổ sung": "FFE699", "Chưa nộp": "FFC7CE",
                      "Được miễn": "E7E6E6"}

    # The status sheet: a table with its header frozen, dates as dates, statuses coloured.
    status = book["Tình hình nộp"]
    assert status.freeze_panes == "B2"
    assert status["A1"].font.b and status["A1"].alignment.wrap_text
    rows = {r[0].value: r for r in status.iter_rows(min_row=2)}
    deadline = rows["UBND phường Cát Linh"][1]
    assert deadline.value == dt.datetime(2022, 3, 12) and deadline.number_format == "DD/MM/YYYY"
    assert rows["UBND phường Cát Linh"][4].value == "Có"
    assert (rows["UBND phường Cát Linh"][6].value, fill_of(rows["UBND phường Cát Linh"][6])) \
        == ("Đã tiếp nhận", "C6EFCE")
    assert (rows["UBND phường Hàng Bột"][6].value, fill_of(rows["UBND phường Hàng Bột"][6])) \
        == ("Trả lại để bổ sung", "FFE699")
    assert (rows["Công an quận"][6].value, fill_of(rows["Công an quận"][6])) \
        == ("Chưa nộp", "FFC7CE")
    assert rows["Tổng cộng"][5].value == "=SUM(F2:F6)"
    assert rows["Tổng cộng"][4].value == '=COUNTIF(E2:E6,"Có")'

    # The ward form's sheet: named by the form's title, numbers, a date cell, SUM totals.
    ward = book["Báo cáo của UBND phường"]
    assert ward.freeze_panes == "B2"
    header = [c.value for c in ward[1]]
    assert header[:3] == ["Đơn vị", "Trạng thái", "1. Số cơ sở đang quản lý"]
    assert all(c.font.b and c.alignment.wrap_text for c in ward[1])
    by_agency = {r[0].value: r for r in ward.iter_rows(min_row=2)}
    cl = by_agency["UBND phường Cát Linh"]
    assert cl[2].value == 12 and isinstance(cl[2].value, int)
    meeting = cl[next(i for i, v in enumerate(header) if str(v).startswith("9."))]
    assert meeting.value == dt.datetime(2022, 3, 10) and meeting.number_format == "DD/MM/YYYY"
    assert fill_of(cl[1]) == "C6EFCE"
    assert fill_of(by_agency["UBND phường Hàng Bột"][1]) == "FFE699"
    totals = by_agency["Tổng cộng"]
    assert totals[2].value == "=SUM(C2:C4)" and totals[3].value == "=SUM(D2:D4)"
    assert totals[0].font.b
    widths = [ward.column_dimensions[c].width for c in "ABC"]
    assert 20 <= widths[0] <= 40 and all(8 <= w <= 40 for w in widths), widths

    # Printing: landscape A4, one page wide, the header row on every page.
    for sheet in (status, ward):
        assert sheet.page_setup.orientation == "landscape"
        assert sheet.sheet_properties.pageSetUpPr.fitToPage
        assert sheet.page_setup.fitToWidth == 1 and sheet.page_setup.fitToHeight == 0
        assert sheet.print_title_rows == "$1:$1"
    assert ward.oddHeader.center.text == "Báo cáo của UBND phường"

    # The chart: a photo captioned in words, and the year's chart one tap away.
    chart = await h.press(MAI, f"ch:{schedule.id}:2022-03")
    [photo] = photos(chart)
    assert photo["caption"] == "Báo cáo tháng · Tháng 03/2022"
    assert h.state.file_content(photo["photo"][-1]["file_id"]).startswith(b"\x89PNG")
    year = await h.tap(MAI, "Các kỳ trong năm")
    [photo] = photos(year)
    assert photo["caption"] == "Báo cáo tháng · năm 2022"
    assert h.errors == []


# ----------------------------------------------------------------------------- the chart

DUE = dt.datetime(2022, 3, 12, 17, 0, tzinfo=dt.UTC)  # the end of 12/03, Hà Nội
NOW = dt.datetime(2022, 3, 20, 3, 0, tzinfo=dt.UTC)


def chart_data() -> ExportData:
    early, late = DUE - dt.timedelta(days=2), DUE + dt.timedelta(days=2)
    agencies = [("Phường", "phuong", "accepted", early), ("Phường", "phuong", "returned", early),
                ("Phường", "phuong", "submitted", late), ("Phường", "phuong", "open", None),
                ("Phòng, ban, ngành", "phong-ban", "accepted", early),
                ("Phòng, ban, ngành", "phong-ban", "waived", None)]
    rows, facts = [], []
    for n, (label, kind, state, first) in enumerate(agencies, 1):
        rows.append({"agency": SimpleNamespace(kind=kind, kind_label=label)})
        facts.append(ObligationFact(n, n, f"Đơn vị {n}", state, DUE, first))
    return ExportData(SimpleNamespace(title="Kế hoạch"),  # type: ignore[arg-type]
                      SimpleNamespace(name="Báo cáo tháng",  # type: ignore[arg-type]
                                      period_type="monthly"), "2022-03", rows, facts)


def segments(fig: Any) -> dict[tuple[str, int], str]:
    """(legend label, bar index) → the colour drawn, for each non-empty segment."""
    ax = fig.axes[0]
    out = {}
    for container in ax.containers:
        for index, bar in enumerate(container.patches):
            if bar.get_width():
                out[(container.get_label(), index)] = to_hex(bar.get_facecolor())
    return out


def test_the_chart_names_the_period_and_never_paints_a_returned_report_green() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a missing glyph (a Vietnamese letter) would warn
        fig = completeness_figure(chart_data(), NOW, TZ)
        assert png(fig).startswith(b"\x89PNG")
    assert fig.texts[0].get_text() == "Tình hình báo cáo Tháng 03/2022 — Báo cáo tháng"
    ax = fig.axes[0]
    # A returned report counts as received, on time by its first sending (core.stats).
    assert ax.get_title() == "Đã nộp 4/5 (80%), đúng hạn 3 (60%)"
    assert [t.get_text() for t in ax.get_yticklabels()] == ["Phường", "Phòng, ban, ngành"]
    drawn = segments(fig)
    green = COLOURS["accepted"].chart
    assert drawn == {("Đúng hạn", 0): green, ("Quá hạn", 0): COLOURS["late"].chart,
                     ("Trả lại để bổ sung", 0): COLOURS["returned"].chart,
                     ("Chưa nộp", 0): COLOURS["missing"].chart, ("Đúng hạn", 1): green}
    assert COLOURS["returned"].chart != green
    # The counts are written on the bars; the legend sits below them, covering none.
    labels = [t.get_text() for c in ax.texts for t in [c] if t.get_text()]
    assert "3/4 (75%)" in " ".join(labels)
    legend = ax.get_legend()
    assert legend is not None
    assert [t.get_text() for t in legend.get_texts()] == [
        "Đúng hạn", "Quá hạn", "Trả lại để bổ sung", "Chưa nộp"]
    assert isinstance(fig.canvas, FigureCanvasAgg)
    fig.canvas.draw()  # type: ignore[no-untyped-call]
    renderer = fig.canvas.get_renderer()  # type: ignore[no-untyped-call]
    assert legend.get_window_extent(renderer).y1 < ax.get_window_extent(renderer).y0


def test_the_year_chart_has_a_bar_per_period() -> None:
    data = chart_data()
    fig = periods_figure(data.schedule, "2022", [("2022-01", data.facts),
                                                 ("2022-02", data.facts[:2])], NOW, TZ)
    assert fig.texts[0].get_text() == "Tình hình báo cáo năm 2022 — Báo cáo tháng"
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["Tháng 01/2022",
                                                                     "Tháng 02/2022"]


def test_sheet_names_excel_accepts() -> None:
    long = ["Báo cáo kết quả phòng, chống mại dâm của Công an quận",
            "Báo cáo kết quả phòng, chống mại dâm của UBND phường"]
    named = sheet_titles([*long, "Tổng hợp", "Biểu [1]: thu/chi?", "biểu -1-- thu-chi-"],
                         ["Tổng hợp"])
    assert named == ["Báo cáo… dâm của Công an quận", "Báo cáo… dâm của UBND phường",
                     "Tổng hợp (2)", "Biểu -1-- thu-chi-", "biểu -1-- thu-chi- (2)"]
    assert all(len(n) <= 31 for n in named)


# ----------------------------------------------------------------------------- targets


@SQLITE_ONLY
async def test_a_target_with_nothing_reported_is_said_in_words(database_url: str) -> None:
    async with BotHarness(database_url, plan=DONGDA_PLAN, send_per_chat_seconds=0) as h:
        await h.join(2, "ldtbxh", "standing_office")
        text = (await h.say(2, "/targets")).text
    line = next(x for x in text.splitlines() if x.startswith("⏳ Triệt xóa các điểm"))
    assert line.endswith(": chưa có số liệu (chỉ tiêu ≤ 0 điểm chưa triệt xóa)"), line
    line = next(x for x in text.splitlines() if "05 vụ án" in x)
    assert line.endswith(": chưa có số liệu (chỉ tiêu 5 vụ án)"), line
    assert "—" not in text.replace(" — ", "")  # no «—/0» anywhere
    assert "/0" not in text
