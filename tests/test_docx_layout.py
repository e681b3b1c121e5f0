"""Issue 15: documents written as .docx in the layout of Decree 30/2020/NĐ-CP.

Each document is opened again with python-docx and its structure checked: the header table
(issuer, motto, number and symbol, place and date), the kind and summary, «Kính gửi», the
sections and their tables, «Nơi nhận» and the signature block, annexes, the page (A4, the
decree's margins) and the font. One test prints a report to PDF with LibreOffice and reads
the pages back (skipped where LibreOffice is not installed; `.ci/run` installs it).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import os
import re
import shutil
import subprocess
import unicodedata
from pathlib import Path
from typing import Any

import docx
import pytest
from docx.enum.section import WD_ORIENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml.ns import qn
from docx.shared import Mm

from core.documents import MOTTO, MOTTO_LINE, Document, Section, Table
from core.docx_layout import render_docx

REPORT = Document(
    issuer="UBND PHƯỜNG CÁT LINH",
    parent="UBND QUẬN ĐỐNG ĐA",
    kind="BÁO CÁO",
    summary="Kết quả công tác phòng, chống mại dâm tháng 03/2022",
    symbol="BC-UBND",
    place="Đống Đa",
    year=2022,
    addressee="Ban Chỉ đạo phòng, chống mại dâm quận Đống Đa",
    intro=("Thực hiện Kế hoạch số 45/KH-UBND của UBND quận Đống Đa, UBND phường Cát Linh "
           "báo cáo kết quả thực hiện tháng 03/2022 như sau:",),
    sections=(
        Section("I. KẾT QUẢ THỰC HIỆN",
                ("Công tác tuyên truyền được triển khai đến 100% tổ dân phố.",),
                Table(("STT", "Chỉ tiêu", "Đơn vị tính", "Kết quả"),
                      (("1", "Số cơ sở kinh doanh dịch vụ nhạy cảm đang quản lý", "cơ sở",
                        "1.234"),
                       ("2", "Số lượt kiểm tra", "lượt", "12,5"),
                       ("3", "Tỷ lệ cơ sở được kiểm tra", "%", "80%")),
                      caption="Bảng 1. Kết quả kiểm tra")),
        Section("II. KHÓ KHĂN, VƯỚNG MẮC", ("Không có.",)),
        Section("III. ĐỀ XUẤT, KIẾN NGHỊ", ("Đề nghị quận bổ sung kinh phí tuyên truyền.",)),
    ),
    recipients=("- Ban Chỉ đạo quận (để b/c);", "- Phòng LĐ-TBXH quận;", "- Lưu: VT."),
    signer_title="TM. ỦY BAN NHÂN DÂN\nCHỦ TỊCH",
    annexes=(Section("Danh sách cơ sở kinh doanh dịch vụ nhạy cảm", (),
                     Table(("STT", "Tên cơ sở", "Địa chỉ"),
                           (("1", "Karaoke Hoa Mai", "12 phố Cát Linh"),))),),
)

LETTER = Document(
    issuer="PHÒNG LAO ĐỘNG - THƯƠNG BINH VÀ XÃ HỘI",
    parent="UBND QUẬN ĐỐNG ĐA",
    kind="CÔNG VĂN",
    summary="đôn đốc báo cáo công tác phòng, chống mại dâm tháng 03/2022",
    symbol="LĐTBXH",
    place="Đống Đa",
    date=dt.date(2022, 3, 21),
    addressee="UBND phường Hàng Bột",
    intro=("Đề nghị UBND phường Hàng Bột gửi báo cáo tháng 03/2022 trước ngày 25/3/2022.",),
    recipients=("- Như trên;", "- Lưu: VT."),
    signer_title="KT. TRƯỞNG PHÒNG\nPHÓ TRƯỞNG PHÒNG",
    signer_name="Phạm Thu Mai",
)


def opened(doc: Document) -> Any:
    return docx.Document(io.BytesIO(render_docx(doc)))


def cell_lines(cell: Any) -> list[str]:
    return [p.text for p in cell.paragraphs]


def body_texts(d: Any) -> list[str]:
    """The body's paragraphs in order, outside tables."""
    return [p.text for p in d.paragraphs]


def paragraph(d: Any, text: str) -> Any:
    found = [p for p in d.paragraphs if p.text == text]
    assert found, f"no paragraph {text!r} in {body_texts(d)}"
    return found[0]


def bold(p: Any) -> bool:
    runs = [r for r in p.runs if r.text.strip()]
    return bool(runs) and all(r.bold for r in runs)


def italic(p: Any) -> bool:
    runs = [r for r in p.runs if r.text.strip()]
    return bool(runs) and all(r.italic for r in runs)


def size(p: Any) -> float:
    sizes = {r.font.size.pt for r in p.runs if r.text.strip()}
    assert len(sizes) == 1, sizes
    return sizes.pop()


def borders_of(table: Any) -> dict[str, str]:
    found = table._tbl.tblPr.find(qn("w:tblBorders"))
    return {} if found is None else {
        e.tag.split("}")[1]: e.get(qn("w:val")) for e in found}


# ---------------------------------------------------------------------------------------------


def test_header_issuer_motto_number_and_blank_date() -> None:
    d = opened(REPORT)
    header = d.tables[0]
    assert len(header.rows) == 1 and len(header.columns) == 2
    assert set(borders_of(header).values()) == {"nil"}  # borderless
    left, right = header.rows[0].cells
    lines = [x for x in cell_lines(left) if x.strip()]
    assert lines[:2] == ["UBND QUẬN ĐỐNG ĐA", "UBND PHƯỜNG CÁT LINH"]
    parent, issuer = left.paragraphs[0], left.paragraphs[1]
    assert not any(r.bold for r in parent.runs) and bold(issuer)
    number = next(p for p in left.paragraphs if p.text.startswith("Số:"))
    assert re.fullmatch(r"Số:\s+/BC-UBND", number.text), number.text
    assert size(number) == 13
    assert not any(x.startswith("V/v") for x in lines)  # a report has a title instead

    motto = [p for p in right.paragraphs if p.text.strip()]
    assert [p.text for p in motto[:2]] == [MOTTO, MOTTO_LINE]
    assert bold(motto[0]) and bold(motto[1])
    assert 12 <= size(motto[0]) <= 13 and 13 <= size(motto[1]) <= 14
    when = motto[2]
    assert italic(when)
    assert re.fullmatch(r"Đống Đa, ngày\s{3,}tháng\s{3,}năm 2022", when.text), when.text
    # the rules under the issuer and the motto: bordered empty paragraphs
    ruled = [p for p in (*left.paragraphs, *right.paragraphs)
             if p._p.pPr is not None and p._p.pPr.find(qn("w:pBdr")) is not None]
    assert len(ruled) == 2 and all(not p.text for p in ruled)


def test_given_date_and_the_leading_zeros() -> None:
    feb = dataclasses.replace(REPORT, date=dt.date(2022, 2, 5))
    right = opened(feb).tables[0].rows[0].cells[1]
    assert "Đống Đa, ngày 05 tháng 02 năm 2022" in cell_lines(right)
    right = opened(LETTER).tables[0].rows[0].cells[1]
    assert "Đống Đa, ngày 21 tháng 3 năm 2022" in cell_lines(right)
    no_year = dataclasses.replace(REPORT, year=None)
    line = next(x for x in cell_lines(opened(no_year).tables[0].rows[0].cells[1])
                if x.startswith("Đống Đa"))
    assert re.fullmatch(r"Đống Đa, ngày\s+tháng\s+năm\s+", line), line


def test_title_summary_addressee_and_sections_in_order() -> None:
    d = opened(REPORT)
    texts = [t for t in body_texts(d) if t.strip()]
    title, summary = paragraph(d, "BÁO CÁO"), paragraph(d, REPORT.summary)
    for p in (title, summary):
        assert bold(p) and p.alignment == WD_ALIGN_PARAGRAPH.CENTER and size(p) == 14
    assert texts.index("BÁO CÁO") + 1 == texts.index(REPORT.summary)
    kinh_gui = paragraph(d, "Kính gửi: Ban Chỉ đạo phòng, chống mại dâm quận Đống Đa")
    assert kinh_gui.alignment == WD_ALIGN_PARAGRAPH.CENTER
    headings = [s.heading for s in REPORT.sections]
    positions = [texts.index(h) for h in headings]
    assert positions == sorted(positions) and positions[0] > texts.index(REPORT.intro[0])
    for h in headings:
        p = paragraph(d, h)
        assert bold(p) and not p.paragraph_format.first_line_indent
    body = paragraph(d, REPORT.sections[0].paragraphs[0])
    assert body.alignment == WD_ALIGN_PARAGRAPH.JUSTIFY and not bold(body)
    assert Mm(10) <= body.paragraph_format.first_line_indent <= Mm(12.7) + 1
    assert body.paragraph_format.space_before.pt >= 6
    assert texts.index("II. KHÓ KHĂN, VƯỚNG MẮC") < texts.index("Không có.")


def test_section_table_grid_header_and_figures() -> None:
    d = opened(REPORT)
    table = d.tables[1]
    assert table.style.name == "Table Grid"
    header = table.rows[0]
    assert [c.text for c in header.cells] == ["STT", "Chỉ tiêu", "Đơn vị tính", "Kết quả"]
    assert header._tr.trPr.find(qn("w:tblHeader")) is not None  # repeated on every page
    assert all(bold(c.paragraphs[0]) for c in header.cells)
    first = table.rows[1].cells
    assert [c.text for c in first] == ["1", "Số cơ sở kinh doanh dịch vụ nhạy cảm đang quản lý",
                                       "cơ sở", "1.234"]
    assert first[3].paragraphs[0].alignment == WD_ALIGN_PARAGRAPH.RIGHT  # a figure
    assert first[1].paragraphs[0].alignment == WD_ALIGN_PARAGRAPH.LEFT
    assert first[0].paragraphs[0].alignment == WD_ALIGN_PARAGRAPH.CENTER  # STT
    assert [r.cells[3].text for r in table.rows[2:]] == ["12,5", "80%"]
    assert all(r.cells[3].paragraphs[0].alignment == WD_ALIGN_PARAGRAPH.RIGHT
               for r in table.rows[2:])
    assert not any(bold(c.paragraphs[0]) for c in first)
    caption = paragraph(d, "Bảng 1. Kết quả kiểm tra")
    assert italic(caption)
    # the caption stands right above the table
    following = caption._p.getnext()
    assert following is not None and following.tag == qn("w:tbl")
    # widths fill the text width (165 mm) and the long column is the widest
    widths = [c.width for c in table.columns]
    assert abs(sum(widths) - Mm(165)) < Mm(1)
    assert max(widths) == widths[1]


def test_recipients_and_signature_block() -> None:
    d = opened(REPORT)
    end = d.tables[2]
    assert set(borders_of(end).values()) == {"nil"}
    left, right = end.rows[0].cells
    label = left.paragraphs[0]
    assert label.text == "Nơi nhận:" and bold(label) and italic(label) and size(label) == 12
    assert cell_lines(left)[1:] == list(REPORT.recipients)
    assert all(size(p) == 11 and not bold(p) for p in left.paragraphs[1:])
    titles = [p for p in right.paragraphs if p.text.strip()]
    assert [p.text for p in titles] == ["TM. ỦY BAN NHÂN DÂN", "CHỦ TỊCH"]
    assert all(bold(p) for p in titles)
    name = right.paragraphs[-1]
    assert name.text == "" and name.paragraph_format.space_before.pt >= 48  # room to sign
    signed = opened(LETTER).tables[-1].rows[0].cells[1]
    assert [p.text for p in signed.paragraphs if p.text] == [
        "KT. TRƯỞNG PHÒNG", "PHÓ TRƯỞNG PHÒNG", "Phạm Thu Mai"]
    assert bold(signed.paragraphs[-1])


def test_annex_on_its_own_page() -> None:
    d = opened(REPORT)
    assert len(d.sections) == 2
    annex = d.sections[1]
    assert annex.start_type == 2  # WD_SECTION.NEW_PAGE
    assert annex.orientation == WD_ORIENT.PORTRAIT
    texts = body_texts(d)
    label = paragraph(d, "PHỤ LỤC")
    assert bold(label) and label.alignment == WD_ALIGN_PARAGRAPH.CENTER
    heading = texts.index("Danh sách cơ sở kinh doanh dịch vụ nhạy cảm")
    assert heading == texts.index("PHỤ LỤC") + 1
    assert re.fullmatch(r"\(Kèm theo Báo cáo số\s+/BC-UBND ngày\s+tháng\s+năm 2022\)",
                        texts[heading + 1])
    assert [c.text for c in d.tables[-1].rows[1].cells] == [
        "1", "Karaoke Hoa Mai", "12 phố Cát Linh"]
    # the signature block comes before the annex
    assert d.tables[2].rows[0].cells[0].paragraphs[0].text == "Nơi nhận:"


def test_several_annexes_numbered_and_a_wide_one_landscape() -> None:
    wide = Section("Tổng hợp theo đơn vị", (), Table(
        tuple(f"Cột {i}" for i in range(1, 10)), (tuple(str(i) for i in range(1, 10)),)))
    d = opened(dataclasses.replace(REPORT, annexes=(*REPORT.annexes, wide)))
    texts = body_texts(d)
    assert "PHỤ LỤC I" in texts and "PHỤ LỤC II" in texts
    assert [s.orientation for s in d.sections] == [
        WD_ORIENT.PORTRAIT, WD_ORIENT.PORTRAIT, WD_ORIENT.LANDSCAPE]
    landscape = d.sections[2]
    assert (landscape.page_width.twips, landscape.page_height.twips) == (16838, 11906)


def test_letter_has_its_summary_under_the_number_and_no_title() -> None:
    d = opened(LETTER)
    texts = body_texts(d)
    assert "BÁO CÁO" not in texts and "CÔNG VĂN" not in texts
    assert LETTER.summary not in texts
    left = d.tables[0].rows[0].cells[0]
    lines = [x for x in cell_lines(left) if x.strip()]
    assert lines[0] == "UBND QUẬN ĐỐNG ĐA"
    assert lines[1] == "PHÒNG LAO ĐỘNG - THƯƠNG BINH VÀ XÃ HỘI"
    assert re.fullmatch(r"Số:\s+/LĐTBXH", lines[2])
    assert lines[3] == f"V/v {LETTER.summary}"
    v_v = next(p for p in left.paragraphs if p.text.startswith("V/v"))
    assert 12 <= size(v_v) <= 13 and not bold(v_v)
    kinh_gui = paragraph(d, "Kính gửi: UBND phường Hàng Bột")
    assert kinh_gui.alignment == WD_ALIGN_PARAGRAPH.CENTER
    assert texts.index("Kính gửi: UBND phường Hàng Bột") < texts.index(LETTER.intro[0])


def test_several_addressees_listed_under_the_colon() -> None:
    many = dataclasses.replace(
        LETTER, addressee="UBND phường Hàng Bột\n- Công an quận Đống Đa;")
    d = opened(many)
    texts = body_texts(d)
    at = texts.index("Kính gửi:")
    assert texts[at + 1:at + 3] == ["- UBND phường Hàng Bột;", "- Công an quận Đống Đa."]
    indents = [paragraph(d, t).paragraph_format.left_indent for t in texts[at:at + 3]]
    assert indents[0] < indents[1] == indents[2]


def test_page_a4_portrait_with_the_decree_margins() -> None:
    section = opened(REPORT).sections[0]
    assert section.orientation == WD_ORIENT.PORTRAIT
    # Word's A4: 210 × 297 mm in twentieths of a point
    assert (section.page_width.twips, section.page_height.twips) == (11906, 16838)
    assert 20 <= round(section.top_margin.mm, 1) <= 25
    assert 20 <= round(section.bottom_margin.mm, 1) <= 25
    assert 30 <= round(section.left_margin.mm, 1) <= 35
    assert 15 <= round(section.right_margin.mm, 1) <= 20
    # page numbers from page two on, centred in the top margin
    assert section.different_first_page_header_footer
    assert "PAGE" in section.header._element.xml
    assert section.header.paragraphs[0].alignment == WD_ALIGN_PARAGRAPH.CENTER
    assert "PAGE" not in section.first_page_header._element.xml


def test_times_new_roman_everywhere() -> None:
    d = opened(REPORT)
    normal = d.styles["Normal"]
    assert normal.font.name == "Times New Roman"
    assert 13 <= normal.font.size.pt <= 14
    fonts = normal.element.rPr.rFonts
    assert {fonts.get(qn(f"w:{slot}")) for slot in ("ascii", "hAnsi", "eastAsia", "cs")} == {
        "Times New Roman"}
    defaults = d.styles.element.find(qn("w:docDefaults")).find(qn("w:rPrDefault"))
    default_fonts = defaults.find(qn("w:rPr")).find(qn("w:rFonts"))
    assert set(default_fonts.attrib.values()) == {"Times New Roman"}  # no theme fonts
    # no run anywhere names another font
    xml = d.element.xml
    assert set(re.findall(r'w:(?:ascii|hAnsi|eastAsia|cs)="([^"]+)"', xml)) <= {
        "Times New Roman"}
    assert "Theme" not in "".join(re.findall(r"<w:rFonts[^>]*>", xml))


def test_properties_and_the_same_bytes_every_time() -> None:
    d = opened(REPORT)
    assert d.core_properties.title == REPORT.summary
    assert d.core_properties.author == REPORT.issuer
    assert render_docx(REPORT) == render_docx(REPORT)


# ---------------------------------------------------------------------------------------------
# LibreOffice: the report printed.

SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")


def pdf_pages(pdf: bytes) -> int:
    pdfinfo = shutil.which("pdfinfo")
    if pdfinfo:
        out = subprocess.run([pdfinfo, "-"], input=pdf, capture_output=True, timeout=30,
                             check=True).stdout.decode()
        return int(re.search(r"^Pages:\s+(\d+)", out, re.MULTILINE).group(1))  # type: ignore[union-attr]
    return len(re.findall(rb"/Type\s*/Page(?![s\w])", pdf))


@pytest.mark.skipif(SOFFICE is None, reason="LibreOffice (soffice) is not installed")
def test_printed_with_libreoffice(tmp_path: Path) -> None:
    source = tmp_path / "bao-cao.docx"
    source.write_bytes(render_docx(REPORT))
    profile = tmp_path / "profile"
    assert SOFFICE is not None
    subprocess.run(
        [SOFFICE, f"-env:UserInstallation={profile.as_uri()}", "--headless", "--norestore",
         "--convert-to", "pdf", "--outdir", str(tmp_path), str(source)],
        capture_output=True, timeout=60, check=True,
        env={**os.environ, "HOME": str(tmp_path)})
    pdf = (tmp_path / "bao-cao.pdf").read_bytes()
    assert pdf.startswith(b"%PDF")
    # the report fits on page one; the annex starts page two
    assert pdf_pages(pdf) == 2
    pdftotext = shutil.which("pdftotext")
    if pdftotext is None:
        pytest.skip("pdftotext (poppler-utils) is not installed: the text is not checked")
    raw = subprocess.run([pdftotext, "-layout", "-", "-"], input=pdf, capture_output=True,
                         timeout=30, check=True).stdout.decode()
    pages = [" ".join(unicodedata.normalize("NFC", page).split())
             for page in raw.split("\f") if page.strip()]
    assert len(pages) == 2
    for expected in ("BÁO CÁO", "UBND PHƯỜNG CÁT LINH", MOTTO, MOTTO_LINE,
                     "Kết quả công tác phòng, chống mại dâm tháng 03/2022", "Kính gửi:",
                     "I. KẾT QUẢ THỰC HIỆN", "1.234", "Nơi nhận:", "TM. ỦY BAN NHÂN DÂN"):
        assert expected in pages[0], expected
    assert "PHỤ LỤC" in pages[1] and "Karaoke Hoa Mai" in pages[1]
    assert "PHỤ LỤC" not in pages[0]
