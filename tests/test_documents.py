"""The documents a committee signs (issue 15 §1–§2), as their users meet them: the ward's
report comes with its receipt; the office downloads any submission's report and the
consolidated report of a period, from the bot and from the CLI; each is opened with
python-docx and its figures compared with the database's."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from docx import Document as open_docx

from db.models import Answer
from tests.conftest import run_cli
from tests.support.harness import BotHarness
from tests.test_committee_tools import (
    LAN,
    MAI,
    MINH,
    SQLITE_ONLY,
    answer_ward_form,
    latest,
    open_report,
    schedule_id,
    send_ward_report,
    sheet_values,
    started,
)

MOTTO = "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"


def text_of(content: bytes) -> str:
    """Every paragraph and table cell of a .docx, in order."""
    document = open_docx(io.BytesIO(content))
    parts = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            parts.extend(cell.text for cell in row.cells)
    return "\n".join(parts)


def tables_of(content: bytes) -> list[list[list[str]]]:
    document = open_docx(io.BytesIO(content))
    return [[[c.text for c in row.cells] for row in table.rows] for table in document.tables]


@pytest.fixture
async def bot(database_url: str) -> Any:
    async with started(database_url) as h:
        await h.join(LAN, "p-cat-linh", "reporter", first_name="Lan")
        await h.join(MINH, "p-hang-bot", "reporter", first_name="Minh")
        await h.join(MAI, "ldtbxh", "standing_office", first_name="Mai")
        yield h


def docx_messages(replies: Any) -> list[dict[str, Any]]:
    return [m for m in replies if (m.get("document") or {}).get("file_name", "").endswith(
        ".docx")]


async def test_the_receipt_comes_with_the_report_ready_to_sign(bot: BotHarness) -> None:
    h = bot
    cl = await h.obligation("p-cat-linh", "thang", "2022-03")
    await open_report(h, LAN, cl)
    await answer_ward_form(h, LAN, managed=12, inspected=7)
    await h.tap(LAN, "Gửi báo cáo")
    receipt = await h.tap(LAN, "Xác nhận gửi")
    assert "Đã nhận báo cáo" in receipt.text
    [message] = docx_messages(receipt)
    assert message["document"]["file_name"] == "bao-cao_p-cat-linh_2022-03.docx"
    assert "sẵn sàng để ký" in message["caption"]
    text = text_of(h.state.file_content(message["document"]["file_id"]))
    submission = await latest(h, cl)
    for expected in (MOTTO, "Độc lập - Tự do - Hạnh phúc", "UBND PHƯỜNG CÁT LINH", "BC-UBND",
                     "BÁO CÁO", "tháng 03/2022", "I. KẾT QUẢ THỰC HIỆN",
                     "Số cơ sở đang quản lý: 12", "Số cơ sở đã kiểm tra: 7", "Nơi nhận",
                     "CHỦ TỊCH", submission.receipt_no):
        assert expected in text, (expected, text)
    # The office downloads the same report from the submission it reviews.
    await h.say(MAI, "Báo cáo chờ tiếp nhận")
    opened = await h.press(MAI, f"rv:{submission.id}")
    assert ("📝 Văn bản báo cáo (.docx)", f"dc:{submission.id}") in opened.buttons
    [again] = docx_messages(await h.press(MAI, f"dc:{submission.id}"))
    assert "Số cơ sở đang quản lý: 12" in text_of(h.state.file_content(
        again["document"]["file_id"]))
    # Not for a reporter, nor for a stranger's guess of another id.
    refused = await h.press_raw(LAN, h.bot_messages(LAN)[-1]["message_id"],
                                f"dc:{submission.id}")
    assert not docx_messages(refused) and "Xin lỗi" in refused.text


@SQLITE_ONLY
async def test_the_consolidated_report_totals_the_figures_from_the_bot_and_the_cli(
        bot: BotHarness, sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = bot
    cl = await h.obligation("p-cat-linh", "thang", "2022-03")
    hb = await h.obligation("p-hang-bot", "thang", "2022-03")
    await send_ward_report(h, LAN, cl, managed=12, inspected=7)
    await send_ward_report(h, MINH, hb, managed=30, inspected=25)
    thang = await schedule_id(h, "thang")
    await h.say(MAI, "Tình hình báo cáo")
    await h.press(MAI, f"st:{thang}:2022-03")
    # The button is answered before the files are built (the spinner stops at once).
    import handlers.status

    answered_before_building: list[int] = []
    build = handlers.status.consolidated_files

    async def watched(*args: Any, **kwargs: Any) -> Any:
        answered_before_building.append(len(h.state.calls("answerCallbackQuery")) - answers)
        return await build(*args, **kwargs)

    answers = len(h.state.calls("answerCallbackQuery"))
    monkeypatch.setattr(handlers.status, "consolidated_files", watched)
    replies = await h.press(MAI, f"rp:{thang}:2022-03")
    assert answered_before_building == [1]
    [message] = docx_messages(replies)
    assert message["document"]["file_name"] == "tong-hop_mini-2022_thang_2022-03.docx"
    content = h.state.file_content(message["document"]["file_id"])
    text = text_of(content)
    # Its annex, the workbook, comes with it and is named in it; its agency rows add up to
    # the report's totals.
    [annex] = [m for m in replies
               if (m.get("document") or {}).get("file_name", "").endswith(".xlsx")]
    assert annex["document"]["file_name"] == "tong-hop_mini-2022_thang_2022-03.xlsx"
    assert "bảng tính kèm theo (tong-hop_mini-2022_thang_2022-03.xlsx)" in text, text
    ward = sheet_values(h.state.file_content(annex["document"]["file_id"]))[
        "Báo cáo của UBND phường"]
    assert sum(r[2] or 0 for r in ward[1:-1]) == 42 and ward[-1][0] == "Tổng cộng"
    for expected in (MOTTO, "PHÒNG LAO ĐỘNG", "BÁO CÁO", "Tổng hợp kết quả", "tháng 03/2022",
                     "I. TÌNH HÌNH BÁO CÁO", "II. TỔNG HỢP SỐ LIỆU", "Ban Chỉ đạo"):
        assert expected in text, (expected, text)
    # The totals are the sums of the answers the database holds.
    answers = await h.rows(Answer)
    managed = sum(a.value for a in answers if a.field_code == "co_so_quan_ly")
    assert managed == 42 and "Số cơ sở đang quản lý: 42" in text, text
    ward_table = next(t for t in tables_of(content) if any("Tổng cộng" in r for r in t))
    total_row = next(r for r in ward_table if "Tổng cộng" in r)
    header = ward_table[0]
    assert total_row[header.index(next(c for c in header if c.startswith(
        "Số cơ sở đang quản lý")))] == "42"
    # Who has not sent is listed in the annex.
    annex = next(t for t in tables_of(content) if t and "Tình trạng" in t[0])
    assert ["Công an quận", "Chưa nhận"] in [row[1:3] for row in annex], annex

    # The CLI writes the same document.
    out = tmp_path / "tong-hop.docx"
    result = run_cli("report", "--plan", "mini-2022", "--schedule", "thang", "--period",
                     "2022-03", "--out", str(out), DATABASE_URL=sqlite_url)
    assert result.returncode == 0, result.stderr
    assert "Số cơ sở đang quản lý: 42" in text_of(out.read_bytes())
    assert "bảng tính kèm theo (tong-hop.xlsx)" in text_of(out.read_bytes())
    written = sheet_values((tmp_path / "tong-hop.xlsx").read_bytes())["Báo cáo của UBND phường"]
    assert sum(r[2] or 0 for r in written[1:-1]) == 42
    assert f"wrote {tmp_path / 'tong-hop.xlsx'}" in result.stdout
    missing = run_cli("report", "--plan", "mini-2022", "--schedule", "nope", "--period",
                      "2022-03", "--out", str(out), DATABASE_URL=sqlite_url)
    assert missing.returncode == 1 and "no schedule" in missing.stderr



@SQLITE_ONLY
async def test_targets_year_to_date_in_the_ward_report_the_consolidated_report_and_the_view(
        bot: BotHarness) -> None:
    """Cát Linh inspected 5 in February and 7 in March of the 12 establishments it manages
    (a stock: the latest month): 100% year to date, above the 80% target, in its March
    report; Hàng Bột 25 of 30 in March: 83,33%. The consolidated report and the targets view
    count the same 2 wards of 3."""
    h = bot
    feb = await h.obligation("p-cat-linh", "thang", "2022-02")
    await send_ward_report(h, LAN, feb, managed=12, inspected=5)
    cl = await h.obligation("p-cat-linh", "thang", "2022-03")
    await open_report(h, LAN, cl)
    await answer_ward_form(h, LAN, managed=12, inspected=7)
    await h.tap(LAN, "Gửi báo cáo")
    [message] = docx_messages(await h.tap(LAN, "Xác nhận gửi"))
    content = h.state.file_content(message["document"]["file_id"])
    assert "lũy kế từ đầu năm đến hết tháng 03/2022" in text_of(content)
    [targets] = [t for t in tables_of(content) if t[0][:2] == ["STT", "Chỉ tiêu"]]
    assert targets[0] == ["STT", "Chỉ tiêu", "Chỉ tiêu Kế hoạch", "Kết quả của đơn vị",
                          "Đánh giá"]
    assert targets[1][1:] == ["Phường kiểm tra trên 80% cơ sở", "trên 80%", "100%", "Đạt"]
    # The February report, written before March came in, counts February only: 5 of 12.
    february = tables_of(await _report_of(h, feb))
    [early] = [t for t in february if t[0][:2] == ["STT", "Chỉ tiêu"]]
    assert early[1][3:] == ["41,67%", "Chưa đạt"], early

    hb = await h.obligation("p-hang-bot", "thang", "2022-03")
    await send_ward_report(h, MINH, hb, managed=30, inspected=25)
    thang = await schedule_id(h, "thang")
    await h.say(MAI, "Tình hình báo cáo")
    await h.press(MAI, f"st:{thang}:2022-03")
    [message] = docx_messages(await h.press(MAI, f"rp:{thang}:2022-03"))
    content = h.state.file_content(message["document"]["file_id"])
    assert "III. TIẾN ĐỘ THỰC HIỆN CHỈ TIÊU" in text_of(content)
    [targets] = [t for t in tables_of(content) if t[0][:2] == ["STT", "Chỉ tiêu"]]
    assert targets[1][1:] == ["Phường kiểm tra trên 80% cơ sở", "trên 80%",
                              "2/3 đơn vị đạt", "Chưa đạt"], targets
    await h.press(MAI, "tg:")
    view = await h.press(MAI, "tg:all")
    assert "Phường kiểm tra trên 80% cơ sở: 2/3 đơn vị đạt" in view.text, view.text


async def _report_of(h: BotHarness, obligation: Any) -> bytes:
    from zoneinfo import ZoneInfo

    from db.documents import report_docx
    from db.models import Submission

    submission = await latest(h, obligation)
    async with h.session() as session:
        row = await session.get(Submission, submission.id)
        assert row is not None
        return await report_docx(session, row, ZoneInfo("Asia/Ho_Chi_Minh"))


# ----------------------------------------------------------------------------- the outline

OUTLINE = '''    outline:
      - heading: "I. TÌNH HÌNH CHUNG"
        fields: [xep_loai]
      - heading: "II. KẾT QUẢ KIỂM TRA"
        fields: [co_so_kiem_tra, co_so_quan_ly]
'''


def _with_outline(tmp_path: Path, outline: str) -> Path:
    from tests.support.harness import MINI_PLAN

    text = MINI_PLAN.read_text(encoding="utf-8")
    start = text.index("  - code: thang\n")
    at = text.index("    form: chung\n", start)
    path = tmp_path / "plan.yaml"
    path.write_text(text[:at] + outline + text[at:], encoding="utf-8")
    return path


async def test_a_plan_outline_orders_the_report(sqlite_url: str, tmp_path: Path) -> None:
    async with started(sqlite_url, plan=_with_outline(tmp_path, OUTLINE)) as h:
        await h.join(LAN, "p-cat-linh", "reporter", first_name="Lan")
        cl = await h.obligation("p-cat-linh", "thang", "2022-03")
        await open_report(h, LAN, cl)
        await answer_ward_form(h, LAN, managed=12, inspected=7)
        await h.tap(LAN, "Gửi báo cáo")
        receipt = await h.tap(LAN, "Xác nhận gửi")
        [message] = docx_messages(receipt)
        text = text_of(h.state.file_content(message["document"]["file_id"]))
    first, second = text.index("I. TÌNH HÌNH CHUNG"), text.index("II. KẾT QUẢ KIỂM TRA")
    assert first < text.index("Tự đánh giá: Tốt") < second, text
    assert second < text.index("Số cơ sở đã kiểm tra: 7") < text.index(
        "Số cơ sở đang quản lý: 12"), text
    # Answers the outline does not place go under its first section.
    assert first < text.index("Hình thức tuyên truyền: Hội nghị") < second, text
    assert "I. KẾT QUẢ THỰC HIỆN" not in text


def test_an_outline_naming_an_unknown_question_is_refused_with_its_line(
        tmp_path: Path) -> None:
    from core.planfile import PlanFileError, load_plan

    path = _with_outline(tmp_path, OUTLINE.replace("[xep_loai]", "[xep_hang]"))
    with pytest.raises(PlanFileError) as refused:
        load_plan(path)
    [error] = refused.value.errors
    assert "no field 'xep_hang' in the forms of schedule 'thang'" in str(error), error
    line = path.read_text(encoding="utf-8").splitlines().index(
        "        fields: [xep_hang]") + 1
    assert str(line) in str(error), (line, error)
