"""The urging letter (issue 15 §3) as the office meets it: from the status view, a typed new
deadline, the letter (.docx, Decree 30 layout) listing exactly the agencies whose reports are
missing, then one tap sends it to them through the bot and the audit log records it."""

from __future__ import annotations

import datetime as dt

from db.models import AuditLog, Obligation, ObligationStatus, OutboxMessage
from tests.support.harness import BotHarness
from tests.test_committee_tools import (
    LAN,
    MAI,
    MINH,
    schedule_id,
    send_ward_report,
)
from tests.test_documents import bot, tables_of, text_of  # noqa: F401  (bot: the fixture)

AFTER_DEADLINE = dt.datetime.fromisoformat("2022-03-15T09:00:00+07:00")


async def test_the_office_writes_and_sends_an_urging_letter(
        bot: BotHarness) -> None:  # noqa: F811  (the fixture of tests.test_documents)
    h = bot
    cl = await h.obligation("p-cat-linh", "thang", "2022-03")
    await send_ward_report(h, LAN, cl)
    h.set_now(AFTER_DEADLINE)
    thang = await schedule_id(h, "thang")
    status = await h.say(MAI, "Tình hình báo cáo")  # March: its deadline just passed
    assert ("📨 Công văn đôn đốc", f"ug:p:{thang}:2022-03") in status.buttons
    office = await h.agency("ldtbxh")  # the letter's issuer does not urge itself
    missing = [o for o in await h.rows(Obligation, Obligation.schedule_id == thang,
                                       Obligation.period_key == "2022-03")
               if o.status != ObligationStatus.submitted and o.agency_id != office.id]
    asked = await h.press(MAI, f"ug:p:{thang}:2022-03")
    assert f"({len({o.agency_id for o in missing})} đơn vị)" in asked.text, asked.text
    wrong = await h.say(MAI, "01/03/2022")  # in the past
    assert wrong.text.startswith("⚠️") and "từ hôm nay" in wrong.text
    letter = await h.say(MAI, "20/03/2022")
    [document] = [m for m in letter if m.get("document")]
    assert document["document"]["file_name"] == "cong-van-don-doc_2022-03-20.docx"
    content = h.state.file_content(document["document"]["file_id"])
    text = text_of(content)
    assert "V/v Đôn đốc gửi báo cáo" in text and "trước ngày 20/03/2022" in text, text
    [table] = [t for t in tables_of(content) if t and t[0][:2] == ["STT", "Đơn vị"]]
    listed = [row[1] for row in table[1:]]
    agencies = {a.id: a.display_name for a in [await h.agency(code) for code in (
        "ldtbxh", "ca", "p-cat-linh", "p-hang-bot", "p-ocd")]}
    assert sorted(listed) == sorted(agencies[o.agency_id] for o in missing), listed
    assert "P. Cát Linh" not in listed and "Phòng LĐ-TBXH" not in listed
    assert all(row[2] == "Báo cáo tháng 03/2022" for row in table[1:]), table
    assert all("12/03/2022" in row[3] for row in table[1:]), table

    send = next(d for label, d in letter.buttons if label.startswith("📤"))
    done = await h.press(MAI, send)
    assert "Đã gửi công văn đôn đốc" in done.text, done.text
    rows = await h.rows(OutboxMessage, OutboxMessage.kind == "urge")
    minh = await h.member(MINH)
    assert minh is not None and [r.member_id for r in rows] == [minh.id]  # the only reporter
    assert "20/03/2022" in rows[0].payload["text"]
    [audit] = await h.rows(AuditLog, AuditLog.action == "committee.urging_letter")
    assert audit.details["deadline"] == "2022-03-20"
    # The notice carries the letter itself: the agency it is addressed to opens the same
    # .docx the office checked; an agency it was not addressed to cannot.
    labels = {b["text"]: b["data"] for row in rows[0].payload["buttons"] for b in row}
    file_button = labels["📄 Công văn (.docx)"]
    assert file_button == f"uf:{audit.id}"
    opened = await h.press_raw(MINH, h.bot_messages(MINH)[-1]["message_id"], file_button)
    [received] = [m for m in opened if m.get("document")]
    assert received["document"]["file_name"] == "cong-van-don-doc_2022-03-20.docx"
    assert tables_of(h.state.file_content(received["document"]["file_id"])) == \
        tables_of(content)
    stranger = await h.press_raw(LAN, h.bot_messages(LAN)[-1]["message_id"], file_button)
    assert not [m for m in stranger if m.get("document")]
    assert "không còn hiệu lực" in stranger.text, stranger.text
    # A second tap sends nothing twice.
    await h.press_raw(MAI, h.bot_messages(MAI)[-1]["message_id"], send)
    assert len(await h.rows(OutboxMessage, OutboxMessage.kind == "urge")) == 1
    # Reporters cannot.
    refused = await h.press_raw(LAN, h.bot_messages(LAN)[-1]["message_id"],
                                f"ug:p:{thang}:2022-03")
    assert "Xin lỗi" in refused.text


async def test_the_office_digest_offers_the_letter_for_every_overdue_report(
        bot: BotHarness) -> None:  # noqa: F811
    from tests.test_committee_tools import sweep

    h = bot
    written = await sweep(h, "2022-03-21T08:00:00+07:00")  # a week after the deadline
    office = await h.member(MAI)
    assert office is not None
    [digest] = [m for m in written if m.member_id == office.id and m.kind == "digest"]
    labels = {b["text"]: b["data"] for row in digest.payload["buttons"] for b in row}
    committee = office.committee_id
    assert labels["📨 Công văn đôn đốc"] == f"ug:c:{committee}"
    h.set_now(dt.datetime.fromisoformat("2022-03-21T09:00:00+07:00"))
    asked = await h.press_raw(MAI, h.bot_messages(MAI)[-1]["message_id"], f"ug:c:{committee}")
    assert "Nhập hạn mới" in asked.text, asked.text
    # Another committee's letter is not this office's to write.
    other = await h.press_raw(MAI, h.bot_messages(MAI)[-1]["message_id"],
                              f"ug:c:{committee + 1}")
    assert "không còn hiệu lực" in other.text, other.text
