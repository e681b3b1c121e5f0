"""A `core.documents.Document` written as .docx in the layout of Decree 30/2020/NĐ-CP.

Appendix I of the decree («Thể thức và kỹ thuật trình bày văn bản hành chính») fixes the
figures used here:

- A4 portrait (a landscape page only for an annex whose table is too wide); margins 20 mm top
  and bottom, 30 mm left, 15 mm right (the decree allows 20–25, 20–25, 30–35, 15–20).
- Times New Roman, black, throughout; the body in 14 pt, justified, the first line indented
  1.27 cm, single line spacing and 6 pt between paragraphs (the decree: at least 6 pt, lines
  from single to 1.5).
- Page numbers in Arabic figures, 14 pt, centred in the top margin, not shown on page one.
- The header is a borderless two-column table: left the parent body (13, upright, capitals),
  the issuer (13, bold, capitals) with a short rule under it (a third to a half of its
  length), the number and symbol «Số:      /BC-UBND» (13, the number left blank for the
  clerk) and, for a letter, its summary «V/v …» (12); right the national name (12, bold,
  capitals), the motto (13, bold) ruled as long as itself, and the place and date (14,
  italic). Days under 10 and the months 1 and 2 take a leading zero («ngày 05 tháng 02»);
  a date left to be written by hand is blank spaces («ngày      tháng      năm 2022»).
- A report: its kind «BÁO CÁO» (14, bold) and its summary (14, bold) centred, ruled
  beneath. «Kính gửi: …» (14) centred for one addressee; several (one a line in
  `addressee`) are listed as «- …;» lines under «Kính gửi:».
- Sections: the heading bold, not indented; its paragraphs; its table with grid borders, the
  caption above in italic, the header row bold and repeated on every page, rows never split
  across pages, figures right-aligned, «STT» centred.
- «Nơi nhận:» (12, bold italic) and its lines (11) bottom left; the signer's authority and
  title (14, bold, capitals; one a line in `signer_title`, e.g. «TM. ỦY BAN NHÂN DÂN\\nCHỦ
  TỊCH») bottom right, room for the signature and seal, then the name (14, bold) or blank.
- Each annex on a new page: «PHỤ LỤC» («PHỤ LỤC I», «II», … when there are several) and its
  title centred bold, «(Kèm theo Báo cáo số      /BC-UBND ngày … )» in italic, then its
  paragraphs and table.

The rules under the issuer, the motto and the summary are paragraph borders sized from an
estimate of the text's width (Times New Roman's average advance per letter), so they need no
drawing objects and print the same in Word and LibreOffice.

The output is deterministic: the same `Document` gives the same bytes (fixed zip entry
times, core properties from the document itself).
"""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from collections.abc import Iterable, Sequence
from typing import Any

from docx import Document as new_docx
from docx.enum.section import WD_ORIENT, WD_SECTION
from docx.enum.table import WD_CELL_VERTICAL_ALIGNMENT, WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_LINE_SPACING
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Mm, Pt

from core.documents import MOTTO, MOTTO_LINE, Document, Section, Table

FONT = "Times New Roman"
PAGE_WIDTH_MM, PAGE_HEIGHT_MM = 210, 297
MARGIN_TOP_MM, MARGIN_BOTTOM_MM, MARGIN_LEFT_MM, MARGIN_RIGHT_MM = 20, 20, 30, 15
HEADER_DISTANCE_MM = 10  # the page number sits in the top margin
BODY_PT = 14
FIRST_LINE_INDENT_MM = 12.7
PARAGRAPH_GAP_PT = 6
# The two header columns (together the text width, 165 mm): the national name in 12 pt
# bold is 94 mm long, so the right column takes 101 mm.
HEADER_LEFT_MM, HEADER_RIGHT_MM = 64, 101
CELL_PAD_MM = 1  # left/right padding in the borderless header and signature tables
ADDRESSEE_INDENT_MM = 30  # several addressees: where «Kính gửi:» starts
SIGNATURE_SPACE_PT = 72  # room for the signature and the seal
WIDE_COLUMNS = 8  # an annex table with this many columns goes on a landscape page
BLANK = " " * 6  # a number, day or month left for the clerk or the signer to write

_NUMERIC = re.compile(r"^[+\-−]?\d[\d.,  ]*%?$|^[+\-−]?[.,]\d+%?$|^[-–—x]$")
_ROMAN = ("I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X",
          "XI", "XII", "XIII", "XIV", "XV", "XVI", "XVII", "XVIII", "XIX", "XX")


def render_docx(doc: Document) -> bytes:
    """The document as the bytes of a .docx file."""
    d = new_docx()
    _set_defaults(d)
    _set_properties(d, doc)
    section = d.sections[0]
    _page_setup(section, landscape=False)
    section.different_first_page_header_footer = True
    section.first_page_header.is_linked_to_previous = False  # page one shows no number
    _page_number(section.header.paragraphs[0])
    body = d._body._body  # the paragraph python-docx starts with is removed below
    for p in body.findall(qn("w:p")):
        body.remove(p)
    _header(d, doc)
    _title(d, doc)
    _addressee(d, doc)
    for text in doc.intro:
        _body_paragraph(d, text)
    for s in doc.sections:
        _section(d, s, page_width_mm=_text_width_mm(False))
    _signature(d, doc)
    for n, annex in enumerate(doc.annexes, start=1):
        _annex(d, doc, annex, n)
    raw = io.BytesIO()
    d.save(raw)
    return _stable_zip(raw.getvalue())


# ---------------------------------------------------------------------------------------------
# The document's parts.


def _header(d: Any, doc: Document) -> None:
    table = _borderless_table(d, (HEADER_LEFT_MM, HEADER_RIGHT_MM))
    left, right = table.rows[0].cells
    first = True

    def line(cell: Any) -> Any:
        nonlocal first
        p = cell.paragraphs[0] if first else cell.add_paragraph()
        first = False
        _tight(p, WD_ALIGN_PARAGRAPH.CENTER)
        return p

    if doc.parent:
        _run(line(left), doc.parent.upper(), 13)
    _run(line(left), doc.issuer.upper(), 13, bold=True)
    _rule(line(left), HEADER_LEFT_MM, _estimate_mm(doc.issuer, 13, caps=True, bold=True) * 0.4)
    p = line(left)
    p.paragraph_format.space_before = Pt(4)
    _run(p, "Số:", 13)
    _run(p, BLANK, 13)
    _run(p, f"/{doc.symbol}", 13)
    if doc.kind.strip().upper() != "BÁO CÁO" and doc.summary:
        p = line(left)
        p.paragraph_format.space_before = Pt(4)
        _run(p, f"V/v {doc.summary}", 12)

    first = True
    _run(line(right), MOTTO, 12, bold=True)
    _run(line(right), MOTTO_LINE, 13, bold=True)
    _rule(line(right), HEADER_RIGHT_MM, _estimate_mm(MOTTO_LINE, 13, bold=True))
    p = line(right)
    p.paragraph_format.space_before = Pt(4)
    for text, blank in _place_and_date(doc):
        _run(p, text, BODY_PT, italic=True, preserve=blank)


def _place_and_date(doc: Document) -> list[tuple[str, bool]]:
    """«Đống Đa, ngày 05 tháng 3 năm 2022» as (text, is-a-blank) pieces."""
    if doc.date is not None:
        day, month = doc.date.day, doc.date.month
        month_text = f"{month:02d}" if month < 3 else str(month)
        return [(f"{doc.place}, ngày {day:02d} tháng {month_text} năm {doc.date.year}", False)]
    year = str(doc.year) if doc.year else BLANK
    return [(f"{doc.place}, ngày", False), (BLANK, True), ("tháng", False), (BLANK, True),
            ("năm ", False), (year, not doc.year)]


def _title(d: Any, doc: Document) -> None:
    if doc.kind.strip().upper() != "BÁO CÁO":
        return  # a letter: its summary is the «V/v» line under its number
    p = d.add_paragraph()
    _tight(p, WD_ALIGN_PARAGRAPH.CENTER)
    p.paragraph_format.space_before = Pt(18)
    p.paragraph_format.keep_with_next = True
    _run(p, doc.kind.strip().upper(), BODY_PT, bold=True)
    if doc.summary:
        p = d.add_paragraph()
        _tight(p, WD_ALIGN_PARAGRAPH.CENTER)
        p.paragraph_format.keep_with_next = True
        _run(p, doc.summary, BODY_PT, bold=True)
    width = _text_width_mm(False)
    _rule(_tight(d.add_paragraph(), WD_ALIGN_PARAGRAPH.CENTER), width,
          _estimate_mm(doc.summary or doc.kind, BODY_PT, bold=True) * 0.4)


def _addressee(d: Any, doc: Document) -> None:
    names = [n.strip() for n in (doc.addressee or "").splitlines() if n.strip()]
    if not names:
        return
    p = d.add_paragraph()
    _tight(p, WD_ALIGN_PARAGRAPH.CENTER)
    p.paragraph_format.space_before = Pt(12)
    p.paragraph_format.space_after = Pt(12)
    if len(names) == 1:
        _run(p, f"Kính gửi: {names[0]}", BODY_PT)
        return
    # Several: «Kính gửi:» alone, then one a line, their dashes under its colon.
    label = "Kính gửi:"
    p.alignment = WD_ALIGN_PARAGRAPH.LEFT
    p.paragraph_format.left_indent = Mm(ADDRESSEE_INDENT_MM)
    p.paragraph_format.space_after = Pt(0)
    _run(p, label, BODY_PT)
    under_colon = ADDRESSEE_INDENT_MM + _estimate_mm(label, BODY_PT) - 1
    for n, name in enumerate(names):
        last = n == len(names) - 1
        text = name.lstrip("-–• ").rstrip(" ;.,")
        p = d.add_paragraph()
        _tight(p, WD_ALIGN_PARAGRAPH.LEFT)
        p.paragraph_format.left_indent = Mm(under_colon)
        if last:
            p.paragraph_format.space_after = Pt(12)
        _run(p, f"- {text}{'.' if last else ';'}", BODY_PT)


def _section(d: Any, s: Section, page_width_mm: float) -> None:
    if s.heading:
        p = d.add_paragraph()
        p.alignment = WD_ALIGN_PARAGRAPH.JUSTIFY
        _spacing(p)
        p.paragraph_format.keep_with_next = True
        _outline_level(p, 0)
        _run(p, s.heading, BODY_PT, bold=True)
    for text in s.paragraphs:
        _body_paragraph(d, text)
    if s.table is not None:
        _table(d, s.table, page_width_mm)


def _body_paragraph(d: Any, text: str) -> None:
    p = d.add_paragraph()
    p.alignment = WD_ALIGN_PARAGRAPH.JUSTIFY
    _spacing(p)
    p.paragraph_format.first_line_indent = Mm(FIRST_LINE_INDENT_MM)
    _run(p, text, BODY_PT)


def _table(d: Any, t: Table, width_mm: float) -> None:
    columns = max([len(t.header), *(len(r) for r in t.rows)] or [1])
    size = 13 if columns <= 4 else 12 if columns <= 7 else 11
    if t.caption:
        p = d.add_paragraph()
        p.alignment = WD_ALIGN_PARAGRAPH.LEFT
        _spacing(p)
        p.paragraph_format.keep_with_next = True
        _run(p, t.caption, size + 1 if size < BODY_PT else size, italic=True)
    rows = ([t.header] if t.header else []) + list(t.rows)
    table = d.add_table(rows=len(rows), cols=columns)
    table.style = d.styles["Table Grid"]
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    widths = _column_widths(t, columns, width_mm, size)
    _fixed_widths(table, widths)
    ordinal = {i for i, h in enumerate(t.header) if h.strip().upper() in {"STT", "TT", "SỐ TT"}}
    for r, (values, row) in enumerate(zip(rows, table.rows, strict=True)):
        header = r == 0 and bool(t.header)
        tr_pr = row._tr.get_or_add_trPr()
        tr_pr.append(OxmlElement("w:cantSplit"))
        if header:
            tr_pr.append(OxmlElement("w:tblHeader"))
        for c, cell in enumerate(row.cells):
            text = values[c] if c < len(values) else ""
            cell.vertical_alignment = WD_CELL_VERTICAL_ALIGNMENT.CENTER
            p = cell.paragraphs[0]
            if header or c in ordinal:
                align = WD_ALIGN_PARAGRAPH.CENTER
            elif _NUMERIC.match(text.strip()):
                align = WD_ALIGN_PARAGRAPH.RIGHT
            else:
                align = WD_ALIGN_PARAGRAPH.LEFT
            _tight(p, align)
            p.paragraph_format.space_before = Pt(2)
            p.paragraph_format.space_after = Pt(2)
            lines = text.split("\n")
            for i, part in enumerate(lines):
                if i:
                    p = cell.add_paragraph()
                    _tight(p, align)
                    p.paragraph_format.space_after = Pt(2)
                _run(p, part, size, bold=header)
    # a little air after the table before the next heading
    _tight(d.add_paragraph(), WD_ALIGN_PARAGRAPH.LEFT).paragraph_format.space_after = Pt(
        PARAGRAPH_GAP_PT)


def _signature(d: Any, doc: Document) -> None:
    text_width = _text_width_mm(False)
    right = 85.0
    table = _borderless_table(d, (text_width - right, right))
    table.rows[0]._tr.get_or_add_trPr().append(OxmlElement("w:cantSplit"))
    left_cell, right_cell = table.rows[0].cells
    p = left_cell.paragraphs[0]
    _tight(p, WD_ALIGN_PARAGRAPH.LEFT)
    p.paragraph_format.space_before = Pt(12)
    _run(p, "Nơi nhận:", 12, bold=True, italic=True)
    for line in doc.recipients:
        q = left_cell.add_paragraph()
        _tight(q, WD_ALIGN_PARAGRAPH.LEFT)
        _run(q, line, 11)
    titles = [t.strip() for t in doc.signer_title.splitlines() if t.strip()] or [""]
    for i, title in enumerate(titles):
        p = right_cell.paragraphs[0] if i == 0 else right_cell.add_paragraph()
        _tight(p, WD_ALIGN_PARAGRAPH.CENTER)
        if i == 0:
            p.paragraph_format.space_before = Pt(12)
        _run(p, title.upper(), BODY_PT, bold=True)
    p = right_cell.add_paragraph()
    _tight(p, WD_ALIGN_PARAGRAPH.CENTER)
    p.paragraph_format.space_before = Pt(SIGNATURE_SPACE_PT)
    _run(p, doc.signer_name, BODY_PT, bold=True)


def _annex(d: Any, doc: Document, annex: Section, n: int) -> None:
    columns = max([len(annex.table.header), *(len(r) for r in annex.table.rows)]
                  if annex.table else [0])
    landscape = columns >= WIDE_COLUMNS
    section = d.add_section(WD_SECTION.NEW_PAGE)
    _page_setup(section, landscape=landscape)
    section.different_first_page_header_footer = False
    label = "PHỤ LỤC" if len(doc.annexes) == 1 else f"PHỤ LỤC {_roman(n)}"
    p = d.add_paragraph()
    _tight(p, WD_ALIGN_PARAGRAPH.CENTER)
    p.paragraph_format.keep_with_next = True
    _outline_level(p, 0)
    _run(p, label, BODY_PT, bold=True)
    if annex.heading:
        p = d.add_paragraph()
        _tight(p, WD_ALIGN_PARAGRAPH.CENTER)
        p.paragraph_format.keep_with_next = True
        _run(p, annex.heading, BODY_PT, bold=True)
    p = d.add_paragraph()
    _tight(p, WD_ALIGN_PARAGRAPH.CENTER)
    p.paragraph_format.space_after = Pt(12)
    kind = doc.kind.strip().capitalize()
    when = (f"ngày {doc.date.day:02d}/{doc.date.month:02d}/{doc.date.year}" if doc.date
            else None)
    _run(p, f"(Kèm theo {kind} số", BODY_PT, italic=True)
    _run(p, BLANK, BODY_PT, italic=True)
    if when:
        _run(p, f"/{doc.symbol} {when})", BODY_PT, italic=True)
    else:
        _run(p, f"/{doc.symbol} ngày", BODY_PT, italic=True)
        _run(p, BLANK, BODY_PT, italic=True)
        _run(p, "tháng", BODY_PT, italic=True)
        _run(p, BLANK, BODY_PT, italic=True)
        _run(p, f"năm {doc.year or BLANK})", BODY_PT, italic=True)
    _section(d, Section("", annex.paragraphs, annex.table), _text_width_mm(landscape))


# ---------------------------------------------------------------------------------------------
# Page, styles, properties.


def _set_defaults(d: Any) -> None:
    """Times New Roman 14 everywhere (every script slot, so Vietnamese letters take it too),
    Vietnamese as the language, single spacing, no space after paragraphs by default."""
    defaults = d.styles.element.find(qn("w:docDefaults"))
    r_pr = defaults.find(qn("w:rPrDefault")).find(qn("w:rPr"))
    fonts = r_pr.find(qn("w:rFonts"))
    for attr in list(fonts.attrib):
        del fonts.attrib[attr]
    for slot in ("w:ascii", "w:hAnsi", "w:eastAsia", "w:cs"):
        fonts.set(qn(slot), FONT)
    for tag in ("w:sz", "w:szCs"):
        r_pr.find(qn(tag)).set(qn("w:val"), str(BODY_PT * 2))
    lang = r_pr.find(qn("w:lang"))
    lang.set(qn("w:val"), "vi-VN")
    lang.set(qn("w:eastAsia"), "vi-VN")
    spacing = defaults.find(qn("w:pPrDefault")).find(qn("w:pPr")).find(qn("w:spacing"))
    spacing.set(qn("w:after"), "0")
    spacing.set(qn("w:line"), "240")
    spacing.set(qn("w:lineRule"), "auto")
    normal = d.styles["Normal"]
    normal.font.name = FONT
    normal.font.size = Pt(BODY_PT)
    normal_fonts = normal.element.rPr.rFonts
    normal_fonts.set(qn("w:eastAsia"), FONT)
    normal_fonts.set(qn("w:cs"), FONT)


def _set_properties(d: Any, doc: Document) -> None:
    props = d.core_properties
    props.title = doc.summary
    props.subject = doc.kind
    props.author = doc.issuer
    props.last_modified_by = doc.issuer
    props.comments = ""
    props.keywords = doc.symbol
    props.language = "vi-VN"
    props.revision = 1
    day = doc.date or dt.date(doc.year or 2000, 1, 1)
    stamp = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
    props.created = stamp
    props.modified = stamp


def _page_setup(section: Any, landscape: bool) -> None:
    section.orientation = WD_ORIENT.LANDSCAPE if landscape else WD_ORIENT.PORTRAIT
    width, height = (PAGE_HEIGHT_MM, PAGE_WIDTH_MM) if landscape else (
        PAGE_WIDTH_MM, PAGE_HEIGHT_MM)
    section.page_width = Mm(width)
    section.page_height = Mm(height)
    section.top_margin = Mm(MARGIN_TOP_MM)
    section.bottom_margin = Mm(MARGIN_BOTTOM_MM)
    section.left_margin = Mm(MARGIN_LEFT_MM)
    section.right_margin = Mm(MARGIN_RIGHT_MM)
    section.header_distance = Mm(HEADER_DISTANCE_MM)
    section.footer_distance = Mm(HEADER_DISTANCE_MM)
    section.gutter = Mm(0)


def _text_width_mm(landscape: bool) -> float:
    page = PAGE_HEIGHT_MM if landscape else PAGE_WIDTH_MM
    return float(page - MARGIN_LEFT_MM - MARGIN_RIGHT_MM)


def _page_number(p: Any) -> None:
    """A PAGE field, centred; the first page's header (different first page) stays empty."""
    _tight(p, WD_ALIGN_PARAGRAPH.CENTER)
    for kind, text in (("begin", None), (None, " PAGE "), ("separate", None), (None, "2"),
                       ("end", None)):
        run = p.add_run()
        run.font.size = Pt(BODY_PT)
        if kind is not None:
            fld = OxmlElement("w:fldChar")
            fld.set(qn("w:fldCharType"), kind)
            run._r.append(fld)
        elif text == " PAGE ":
            instr = OxmlElement("w:instrText")
            instr.set(qn("xml:space"), "preserve")
            instr.text = text
            run._r.append(instr)
        else:
            run.text = text


# ---------------------------------------------------------------------------------------------
# Small helpers.


def _run(p: Any, text: str, size: float, bold: bool = False, italic: bool = False,
         preserve: bool = False) -> Any:
    run = p.add_run(text)
    run.font.size = Pt(size)
    run.font.bold = bold
    run.font.italic = italic
    if preserve or text != text.strip() or "  " in text:
        for t in run._r.findall(qn("w:t")):
            t.set(qn("xml:space"), "preserve")
    return run


def _tight(p: Any, align: Any) -> Any:
    """Single spacing, nothing before or after: the header, tables, the signature."""
    p.alignment = align
    f = p.paragraph_format
    f.space_before = Pt(0)
    f.space_after = Pt(0)
    f.line_spacing_rule = WD_LINE_SPACING.SINGLE
    return p


def _spacing(p: Any) -> None:
    f = p.paragraph_format
    f.space_before = Pt(PARAGRAPH_GAP_PT)
    f.space_after = Pt(0)
    f.line_spacing_rule = WD_LINE_SPACING.SINGLE


def _rule(p: Any, box_mm: float, length_mm: float) -> None:
    """A horizontal rule `length_mm` long, centred in a box `box_mm` wide: the top border of
    an empty, 1 pt high paragraph indented from both sides."""
    length = max(15.0, min(length_mm, box_mm - 2 * CELL_PAD_MM))
    indent = max(0.0, (box_mm - 2 * CELL_PAD_MM - length) / 2)
    f = p.paragraph_format
    f.left_indent = Mm(indent)
    f.right_indent = Mm(indent)
    f.space_before = Pt(3)  # clear of the descenders above
    f.space_after = Pt(0)
    f.line_spacing_rule = WD_LINE_SPACING.EXACTLY
    f.line_spacing = Pt(1)
    p_pr = p._p.get_or_add_pPr()
    borders = OxmlElement("w:pBdr")
    top = OxmlElement("w:top")
    for key, value in (("w:val", "single"), ("w:sz", "6"), ("w:space", "0"),
                       ("w:color", "000000")):
        top.set(qn(key), value)
    borders.append(top)
    # pBdr must come before the spacing and indentation in pPr (schema order)
    anchor = p_pr.find(qn("w:spacing"))
    if anchor is None:
        anchor = p_pr.find(qn("w:ind"))
    if anchor is not None:
        anchor.addprevious(borders)
    else:
        p_pr.append(borders)
    run = p.add_run()
    run.font.size = Pt(1)


def _outline_level(p: Any, level: int) -> None:
    """Headings appear in Word's navigation pane without a heading style's look."""
    p_pr = p._p.get_or_add_pPr()
    element = OxmlElement("w:outlineLvl")
    element.set(qn("w:val"), str(level))
    # outlineLvl comes after jc in pPr's schema order; append is safe before rPr only
    r_pr = p_pr.find(qn("w:rPr"))
    if r_pr is not None:
        r_pr.addprevious(element)
    else:
        p_pr.append(element)


def _borderless_table(d: Any, widths_mm: Sequence[float]) -> Any:
    table = d.add_table(rows=1, cols=len(widths_mm))
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    _fixed_widths(table, widths_mm)
    tbl_pr = table._tbl.tblPr
    borders = OxmlElement("w:tblBorders")
    for edge in ("top", "left", "bottom", "right", "insideH", "insideV"):
        e = OxmlElement(f"w:{edge}")
        e.set(qn("w:val"), "nil")
        borders.append(e)
    tbl_pr.append(borders)
    margins = OxmlElement("w:tblCellMar")
    for edge in ("left", "right"):
        e = OxmlElement(f"w:{edge}")
        e.set(qn("w:w"), str(round(CELL_PAD_MM * 56.7)))
        e.set(qn("w:type"), "dxa")
        margins.append(e)
    tbl_pr.append(margins)
    _reorder_tbl_pr(tbl_pr)
    return table


def _fixed_widths(table: Any, widths_mm: Sequence[float]) -> None:
    table.autofit = False
    tbl_pr = table._tbl.tblPr
    width = tbl_pr.find(qn("w:tblW"))
    if width is None:
        width = OxmlElement("w:tblW")
        tbl_pr.append(width)
    width.set(qn("w:w"), str(round(sum(widths_mm) * 56.7)))
    width.set(qn("w:type"), "dxa")
    for column, w in zip(table.columns, widths_mm, strict=True):
        column.width = Mm(w)
    for row in table.rows:
        for cell, w in zip(row.cells, widths_mm, strict=True):
            cell.width = Mm(w)
    _reorder_tbl_pr(tbl_pr)


_TBL_PR_ORDER = ("tblStyle", "tblpPr", "tblOverlap", "bidiVisual", "tblStyleRowBandSize",
                 "tblStyleColBandSize", "tblW", "jc", "tblCellSpacing", "tblInd", "tblBorders",
                 "shd", "tblLayout", "tblCellMar", "tblLook")


def _reorder_tbl_pr(tbl_pr: Any) -> None:
    """Keep tblPr's children in schema order (Word refuses a file otherwise)."""
    rank = {qn(f"w:{name}"): i for i, name in enumerate(_TBL_PR_ORDER)}
    children = sorted(tbl_pr, key=lambda e: rank.get(e.tag, len(rank)))
    for child in children:
        tbl_pr.append(child)


def _column_widths(t: Table, columns: int, width_mm: float, size: float) -> list[float]:
    """Widths filling `width_mm`: each column at least as wide as its longest word (a word is
    never broken, the header's in bold), the rest shared in proportion to how much each
    column would need to hold its longest cell on one line."""
    pad = 4.0  # the cell's left and right padding, and a little air
    least, wanted = [], []
    for c in range(columns):
        head = t.header[c] if c < len(t.header) else ""
        cells = [r[c] for r in t.rows if c < len(r)]
        words = [_estimate_mm(w, size, bold=True) for w in head.split()]
        words += [_estimate_mm(w, size) for x in cells for w in x.split()]
        least.append(max([8.0, *words]) + pad)
        lines = [_estimate_mm(head, size, bold=True), *(_estimate_mm(x, size) for x in cells)]
        wanted.append(max(least[-1], max(lines) + pad))
    if sum(least) >= width_mm:
        return [width_mm * w / sum(least) for w in least]
    if sum(wanted) <= width_mm:
        return [width_mm * w / sum(wanted) for w in wanted]
    spare = width_mm - sum(least)
    extra = [w - m for w, m in zip(wanted, least, strict=True)]
    return [m + spare * e / sum(extra) for m, e in zip(least, extra, strict=True)]


def _estimate_mm(text: str, size: float, caps: bool = False, bold: bool = False) -> float:
    """Times New Roman's printed length of `text` (average advance per letter, measured
    on the metric-compatible Liberation Serif): good to a few per cent for Vietnamese."""
    chars: Iterable[str] = text.upper() if caps else text
    em = 0.0
    for ch in chars:
        if ch == " ":
            em += 0.25
        elif ch.isupper():
            em += 0.70 if bold else 0.67
        elif ch.isdigit():
            em += 0.50
        elif ch.isalpha():
            em += 0.50 if bold else 0.46
        else:
            em += 0.33
    return em * size * 25.4 / 72


def _roman(n: int) -> str:
    return _ROMAN[n - 1] if 0 < n <= len(_ROMAN) else str(n)


def _stable_zip(data: bytes) -> bytes:
    """The same bytes for the same document: every entry dated 1980-01-01."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o644 << 16
            dst.writestr(fixed, src.read(info.filename))
    return out.getvalue()
