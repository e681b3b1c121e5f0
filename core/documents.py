"""Administrative documents in the layout of Decree 30/2020/NĐ-CP, as data.

What a document says is built elsewhere (db/documents.py, from the database); this module
holds the shape every one of them has — issuer and national motto at the top, number and
symbol, place and date, the kind («BÁO CÁO», «CÔNG VĂN») and its summary line (trích yếu),
the body, «Nơi nhận» and the signature block — and core/docx_layout.py writes it as .docx.
Pure data: no database, no channel.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

MOTTO = "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"
MOTTO_LINE = "Độc lập - Tự do - Hạnh phúc"


@dataclass(frozen=True)
class Table:
    """A table: a header row and rows of cells (text, figures already formatted)."""

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    caption: str | None = None  # a line above the table


@dataclass(frozen=True)
class Section:
    """A heading («I. KẾT QUẢ THỰC HIỆN»), its paragraphs, then an optional table."""

    heading: str
    paragraphs: tuple[str, ...] = ()
    table: Table | None = None


@dataclass(frozen=True)
class Document:
    issuer: str  # the issuing agency, top left, in capitals (e.g. «UBND PHƯỜNG CÁT LINH»)
    kind: str  # «BÁO CÁO», or «CÔNG VĂN» for a letter (then no title line, the summary only)
    summary: str  # trích yếu: «Kết quả công tác phòng, chống mại dâm tháng 03/2022»
    symbol: str  # after «Số: …/»: «BC-UBND»; the number is left blank to be filled in
    place: str  # «Đống Đa»: «Đống Đa, ngày … tháng … năm …»
    date: dt.date | None = None  # None: the day and month are left blank to write by hand
    parent: str | None = None  # the body above the issuer (e.g. «UBND QUẬN ĐỐNG ĐA»)
    addressee: str | None = None  # «Kính gửi: …» (letters and reports sent upward)
    intro: tuple[str, ...] = ()  # paragraphs before the first section
    sections: tuple[Section, ...] = ()
    recipients: tuple[str, ...] = ()  # «Nơi nhận:» lines («- Như trên;», «- Lưu: VT.»)
    signer_title: str = ""  # «CHỦ TỊCH», «TM. ỦY BAN NHÂN DÂN / CHỦ TỊCH»
    signer_name: str = ""  # left blank: the signer writes it
    year: int | None = None  # for a blank date: «ngày … tháng … năm 2022»
    annexes: tuple[Section, ...] = field(default_factory=tuple)  # «PHỤ LỤC», a new page
