"""Two working weeks of the Đống Đa plan in the sandbox, replayed from a script through the
sandbox's own API (issue 13, «Done when»).

The admin moves the monthly deadline (previewed, then confirmed); the ward sends March on
time; the office is told it arrived and returns it; the ward corrects it within the time the
return gave; every other agency stays silent, so the chain climbs to the chair. Then, over
every message the people received:
- no message to the chair is over about 1,000 characters;
- the sweep sends each person at most one reminder, overdue notice or digest a day (the
  office's «Báo cáo mới nhận» notices are counted apart: they answer the ward's actions);
- the corrected report is a supplement on time on the receipt and in the office's queue.
Nothing sleeps: every wait polls the API with a deadline.
"""

from __future__ import annotations

import datetime as dt
import io
from collections import Counter, defaultdict
from collections.abc import AsyncIterator

import aiohttp
import pytest
import pytest_asyncio
from openpyxl import load_workbook
from sqlalchemy import func, select

from bot.app import build_application, on_shutdown, on_startup, on_stop
from db.invites import create_invite, find_agency
from db.models import Agency, AuditLog, Obligation, Role, Schedule
from sandbox.hooks import BotHooks
from sandbox.runner import Sandbox, start_sandbox
from tests.test_sandbox import JSON, Api, has, text_of

HOOKS = BotHooks(build_application=build_application, on_startup=on_startup,
                 on_stop=on_stop, on_shutdown=on_shutdown)
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
# The ward's March form, in order: «@» taps a button, «#» sends the signed PDF.
WARD_ANSWERS = ["10", "8", "1", "2", "0", "@Không", "0", "@Có", "0", "@Có", "@Bỏ qua", "#"]
CHAIR_LIMIT = 1000

module_loop = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def sandbox(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Sandbox]:
    path = tmp_path_factory.mktemp("replay") / "sandbox.sqlite3"
    running = await start_sandbox(HOOKS, port=0, database_url=f"sqlite+aiosqlite:///{path}")
    try:
        yield running
    finally:
        await running.stop()


class People(Api):
    """The personas, played through /api as the page plays them (tests.test_sandbox.Api),
    keeping what the sweep sent each of them."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        super().__init__(session)
        # Messages that arrived while the clock moved: what the sweep sent, per persona.
        self.swept: dict[str, list[JSON]] = defaultdict(list)

    async def press(self, key: str, message: JSON, label: str, expect: str) -> JSON:
        data = next((b["data"] for row in message["buttons"] for b in row
                     if label in b["text"]), None)
        assert data is not None, (label, message["buttons"])
        return await self.press_data(key, message["id"], data, expect)

    async def press_data(self, key: str, message_id: int, data: str, expect: str) -> JSON:
        after = await self.last_id(key)
        pressed = await self.post(f"/api/personas/{key}/press",
                                  {"message_id": message_id, "data": data})
        assert pressed["answered"], data
        return await self.wait_bot(key, has(expect), after)

    async def upload(self, key: str, name: str, expect: str) -> JSON:
        after = await self.last_id(key)
        form = aiohttp.FormData()
        form.add_field("file", PDF, filename=name, content_type="application/pdf")
        await self.post(f"/api/personas/{key}/upload", data=form)
        return await self.wait_bot(key, has(expect), after)

    async def clock_to(self, sandbox: Sandbox, moment: str, keys: list[str]) -> None:
        """Move the sandbox clock (it sweeps on the way and waits for the sender), keeping
        what each persona received meanwhile; what actions sent at once is delivered first."""
        await sandbox.wait_outbox_idle()
        before = {key: await self.last_id(key) for key in keys}
        await self.post("/api/clock/set", {"at": moment})
        for key in keys:
            self.swept[key] += [m for m in await self.messages(key)
                                if m["from_bot"] and m["id"] > before[key]]


async def schedule_id(sandbox: Sandbox, code: str) -> int:
    async with sandbox.application.bot_data["db"]() as session:
        found = await session.scalar(select(Schedule.id).where(Schedule.code == code))
    assert found is not None
    return int(found)


async def march(sandbox: Sandbox, agency_code: str, schedule: str = "thang",
                period_key: str = "2022-03") -> Obligation:
    async with sandbox.application.bot_data["db"]() as session:
        found = await session.scalar(
            select(Obligation).join(Agency, Agency.id == Obligation.agency_id)
            .join(Schedule, Schedule.id == Obligation.schedule_id)
            .where(Agency.code == agency_code, Schedule.code == schedule,
                   Obligation.period_key == period_key))
    assert found is not None
    return found


async def correct_march(people: People, sandbox: Sandbox) -> JSON:
    """Open the returned report (it opens at the review, the answers kept) and send it."""
    obligation = await march(sandbox, "p-cat-linh")
    listing = await people.say("ward", "Báo cáo cần nộp", "Báo cáo cần nộp")
    review = await people.press_data("ward", listing["id"], f"o:{obligation.id}",
                                     "Xem lại báo cáo")
    confirm = await people.press("ward", review, "Gửi báo cáo", "ngay bây giờ?")
    return await people.press("ward", confirm, "Xác nhận gửi", "Đã nhận báo cáo")


async def send_march(people: People, sandbox: Sandbox) -> JSON:
    obligation = await march(sandbox, "p-cat-linh")
    listing = await people.say("ward", "Báo cáo cần nộp", "Báo cáo cần nộp")
    step = await people.press_data("ward", listing["id"], f"o:{obligation.id}", "Câu")
    for action in WARD_ANSWERS:
        if action == "#":
            step = await people.upload("ward", "bao-cao-thang-3.pdf", "Xem lại báo cáo")
        elif action.startswith("@"):
            step = await people.press("ward", step, action[1:], "Câu")
        else:
            # The next question (not a message of an earlier turn still on its way).
            step = await people.say("ward", action, "Câu")
        assert "⚠️" not in text_of(step), (action, text_of(step))
    confirm = await people.press("ward", step, "Gửi báo cáo", "ngay bây giờ?")
    return await people.press("ward", confirm, "Xác nhận gửi", "Đã nhận báo cáo")


async def download(session: aiohttp.ClientSession, message: JSON) -> bytes:
    async with session.get(f"/api/files/{message['document']['file_id']}",
                           params={"download": "1"}) as resp:
        assert resp.status == 200
        return await resp.read()


def text_of_docx(content: bytes) -> str:
    from docx import Document

    document = Document(io.BytesIO(content))
    parts = [p.text for p in document.paragraphs]
    parts += [c.text for t in document.tables for r in t.rows for c in r.cells]
    return "\n".join(parts)


async def missing_march(sandbox: Sandbox, thang: int) -> list[str]:
    """The agencies (but the consolidating one) with March not sent, as the letter names
    them."""
    async with sandbox.application.bot_data["db"]() as session:
        rows = (await session.execute(
            select(Agency).join(Obligation, Obligation.agency_id == Agency.id)
            .where(Obligation.schedule_id == thang, Obligation.period_key == "2022-03",
                   Obligation.status.not_in(["submitted", "accepted"]),
                   Agency.code != "ldtbxh"))).scalars().all()
    return [a.display_name for a in rows]


@module_loop
async def test_two_weeks_of_dong_da_in_the_sandbox(sandbox: Sandbox) -> None:
    keys = [p.key for p in sandbox.personas]
    async with aiohttp.ClientSession(base_url=sandbox.url) as session:
        people = People(session)

        # Monday 07/03: the admin moves the monthly deadline to «hết ngày 10», previewed.
        thang = await schedule_id(sandbox, "thang")
        menu = await people.say("admin", "/admin", "")
        await people.press_data("admin", menu["id"], "as:", "")
        listed = await people.messages("admin")
        await people.press_data("admin", listed[-1]["id"], f"as:s:{thang}", "")
        listed = await people.messages("admin")
        await people.press_data("admin", listed[-1]["id"], f"as:d:{thang}", "Hạn nộp hiện nay")
        preview = await people.say("admin", "10", "Áp dụng")
        assert "tháng 03/2022" in text_of(preview), text_of(preview)
        ward_before = await people.last_id("ward")
        await people.press("admin", preview, "✅ Áp dụng", "")
        told = await people.wait_bot("ward", has("10/03/2022"), ward_before)
        assert "hạn" in text_of(told).lower()

        # Wednesday 09/03: the ward sends March, on time.
        await people.clock_to(sandbox, "09/03 10:00", keys)
        before_receipt = await people.last_id("ward")
        receipt = await send_march(people, sandbox)
        assert "Đúng hạn" in text_of(receipt), text_of(receipt)
        # The receipt comes with the report ready to sign, downloadable from the page.
        signed = await people.wait_bot("ward", lambda m: bool(m.get("document")),
                                       before_receipt)
        assert signed["document"]["name"] == "bao-cao_p-cat-linh_2022-03.docx"
        report = text_of_docx(await download(session, signed))
        assert "UBND PHƯỜNG CÁT LINH" in report and "BÁO CÁO" in report, report
        # With January and February in the demo's history, the first quarter proposes the
        # latest stock (March: 10) and the sum of the inspections (3 + 4 + 8).
        quarter = await march(sandbox, "p-cat-linh", "quy", "2022-Q1")
        listing = await people.say("ward", "Báo cáo cần nộp", "Báo cáo cần nộp")
        first = await people.press_data("ward", listing["id"], f"o:{quarter.id}", "Đề xuất")
        assert "Đề xuất: 10 (số của kỳ gần nhất trong 3 tháng)" in text_of(first), \
            text_of(first)
        second = await people.press("ward", first, "Dùng 10", "Câu 2/")
        assert "Đề xuất: 15 (cộng 3 tháng)" in text_of(second), text_of(second)
        await people.press("ward", second, "Hủy", "")

        # The office is told within the hour, with a button to its queue.
        await people.clock_to(sandbox, "09/03 11:30", keys)
        arrived = [m for m in people.swept["office"] if "Báo cáo mới nhận" in text_of(m)]
        assert arrived and "Cát Linh" in text_of(arrived[-1]), [text_of(m) for m in arrived]

        # Monday 14/03: the office returns it.
        await people.clock_to(sandbox, "14/03 10:00", keys)
        queue = await people.say("office", "Báo cáo chờ tiếp nhận", "")
        opened = await people.press("office", queue, "Cát Linh", "")
        await people.press("office", opened, "Trả lại", "")
        await people.say("office", "Đề nghị bổ sung số liệu câu 2.", "Đã trả lại")

        # Wednesday 16/03: the ward corrects it within the five working days the return gave.
        await people.clock_to(sandbox, "16/03 10:00", keys)
        corrected = await correct_march(people, sandbox)
        assert "Bổ sung đúng hạn" in text_of(corrected), text_of(corrected)
        queue = await people.say("office", "Báo cáo chờ tiếp nhận", "")
        line = next(ln for ln in text_of(queue).splitlines() if "Cát Linh" in ln)
        assert "bổ sung" in line and "quá hạn" not in line and "⏰" not in line, line

        # The rest of the fortnight, one sweep each morning and one each afternoon.
        for day in range(17, 26):
            moment = dt.date(2022, 3, day)
            if moment.weekday() >= 5:
                continue
            await people.clock_to(sandbox, f"{day:02d}/03 08:05", keys)
            await people.clock_to(sandbox, f"{day:02d}/03 15:00", keys)

        # The office prints March: the workbook opens on its cover sheet, the corrected
        # report counted on time; the chart names the period in words.
        march_view = await people.say("office", "/status", "Tình hình nộp báo cáo")
        datas = {b["data"] for row in march_view["buttons"] for b in row}
        if f"xp:{thang}:2022-03" not in datas:  # another period shown first: go to March
            march_view = await people.press_data("office", march_view["id"],
                                                 f"st:{thang}:2022-03", "tháng 03/2022")
        after = await people.last_id("office")
        await people.press_data("office", march_view["id"], f"xp:{thang}:2022-03", "")
        sent = await people.wait_bot("office", lambda m: bool(m.get("document")), after)
        async with session.get(f"/api/files/{sent['document']['file_id']}") as resp:
            book = load_workbook(io.BytesIO(await resp.read()))
        assert book.sheetnames[0] == "Tổng hợp", book.sheetnames
        cover = "\n".join(str(c.value) for row in book["Tổng hợp"].iter_rows() for c in row
                           if c.value is not None)
        assert "Tháng 03/2022" in cover, cover
        after = await people.last_id("office")
        await people.press_data("office", march_view["id"], f"ch:{thang}:2022-03", "")
        chart = await people.wait_bot("office", lambda m: bool(m.get("photo")), after)
        assert "03/2022" in text_of(chart) or "03/2022" in (chart.get("caption") or ""), chart

        # The consolidated report and its workbook: the ward's figures total the same.
        after = await people.last_id("office")
        await people.press_data("office", march_view["id"], f"rp:{thang}:2022-03", "")
        docx = await people.wait_bot("office", lambda m: str(
            (m.get("document") or {}).get("name", "")).endswith(".docx"), after)
        xlsx = await people.wait_bot("office", lambda m: str(
            (m.get("document") or {}).get("name", "")).endswith(".xlsx"), after)
        consolidated = text_of_docx(await download(session, docx))
        book = load_workbook(io.BytesIO(await download(session, xlsx)))
        label = "Số cơ sở kinh doanh dịch vụ có điều kiện về an ninh, trật tự dễ bị lợi dụng " \
                "để hoạt động mại dâm đang quản lý trên địa bàn phường"
        [(rows, column)] = [
            (rows, i) for rows in ([*ws.iter_rows(values_only=True)] for ws in book.worksheets)
            for i, h in enumerate(rows[0] if rows else ()) if isinstance(h, str)
            and label in h]
        managed = sum(r[column] for r in rows[1:-1] if isinstance(r[column], int | float))
        assert managed and f"{label}: {managed}" in consolidated, (managed, consolidated)

        # The urging letter lists exactly the agencies whose March reports are missing.
        after = await people.last_id("office")
        await people.press_data("office", march_view["id"], f"ug:p:{thang}:2022-03",
                                "Công văn đôn đốc")
        await people.say("office", "31/03/2022", "")
        letter = await people.wait_bot("office", lambda m: bool(m.get("document")), after)
        urged = text_of_docx(await download(session, letter))
        missing = await missing_march(sandbox, thang)
        assert missing and all(name in urged for name in missing), (missing, urged)
        assert "P. Cát Linh" not in urged.split("Kính gửi")[-1], urged

    chair = people.swept["chair"]
    assert chair, "the chain reached the chair within the fortnight"
    assert all(len(text_of(m)) <= CHAIR_LIMIT for m in chair), [
        (len(text_of(m)), text_of(m)[:200]) for m in chair if len(text_of(m)) > CHAIR_LIMIT]

    for key, received in people.swept.items():
        per_day = Counter(m["day"] for m in received if "Báo cáo mới nhận" not in text_of(m))
        doubled = {day: n for day, n in per_day.items() if n > 1}
        assert not doubled, (key, doubled, [(m["day"], text_of(m)[:80]) for m in received])


@module_loop
async def test_the_newcomer_is_shown_under_the_agency_joined_and_audit_uses_the_clock(
        sandbox: Sandbox) -> None:
    async with sandbox.application.bot_data["db"]() as session, session.begin():
        agency = await find_agency(session, "p-hang-bot", "dongda-2022")
        created = await create_invite(session, agency, Role.reporter, dt.timedelta(days=7),
                                      actor_label="test", now=sandbox.now())
    async with aiohttp.ClientSession(base_url=sandbox.url) as session:
        people = People(session)
        before = {p["key"]: p for p in (await people.get("/api/personas"))["personas"]}
        assert before["newcomer"]["agency_label"] == "chưa thuộc đơn vị nào"
        await people.say("newcomer", f"/start {created.code}", "Chào mừng")
        after = {p["key"]: p for p in (await people.get("/api/personas"))["personas"]}
        assert after["newcomer"]["agency_label"] == "UBND phường Hàng Bột"
    # Everything the sandbox audits is on its own clock (2022), the plan's import included.
    async with sandbox.application.bot_data["db"]() as session:
        years = set((await session.scalars(select(func.extract("year", AuditLog.at)))).all())
    assert {int(y) for y in years} == {2022}, years
