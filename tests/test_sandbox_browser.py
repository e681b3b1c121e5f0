"""The sandbox end to end in headless Chromium (issue 7).

The whole sandbox (Bot API stand-in, the real bot, the page) runs in this test's event loop;
Debian's Chromium, driven by Playwright with `executable_path`, plays the people through the
page only: the ward official fills in the March monthly report (typed numbers, Yes/No buttons,
«Bỏ qua», a PDF attached with the file input, review, send, receipt), the clock jumps to
21/03 08:00, the chair gets the escalation digest and taps «Nhắc tất cả», and the police
officer sees the reminder. A screenshot of the page goes to docs/sandbox.png when that file
is missing or UPDATE_SCREENSHOT=1. Then the ward official on Zalo: the chat in Zalo's look
(blue header, numbered lines, no buttons), answered by typing a number; its screenshot goes
to the test's tmp_path (sandbox-zalo.png).

Nothing sleeps: every step waits for what the page shows, with a deadline. Skipped when
Chromium or Playwright is missing (`apt-get install chromium`, `pip install playwright`).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.app import build_application, on_shutdown, on_startup, on_stop
from bot.zalo.runner import ZaloPoller
from core.channels import ZALO
from sandbox.hooks import BotHooks
from sandbox.runner import ZALO_PERSONA, Sandbox, start_sandbox

ROOT = Path(__file__).resolve().parent.parent
# The sandbox is below bot/, so the application comes from here, as bot/cli.py hands it in.
# Both channels, as `python -m bot sandbox` runs them.
HOOKS = BotHooks(build_application=build_application, on_startup=on_startup,
                 on_stop=on_stop, on_shutdown=on_shutdown,
                 build_zalo_application=lambda settings, engine: build_application(
                     settings, channel=ZALO, engine=engine, sweeps=False),
                 zalo_poller=ZaloPoller)
SCREENSHOT = ROOT / "docs" / "sandbox.png"
CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
STEP = 20_000  # ms: the longest any one step may take
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"

pytestmark = [
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM}"),
    pytest.mark.skipif(importlib.util.find_spec("playwright") is None,
                       reason="playwright is not installed"),
]


@pytest.fixture
async def sandbox(tmp_path: Path) -> AsyncIterator[Sandbox]:
    running = await start_sandbox(HOOKS, port=0,
                                  database_url=f"sqlite+aiosqlite:///{tmp_path}/s.db")
    try:
        yield running
    finally:
        await running.stop()


async def test_a_ward_reports_the_chair_escalates_and_the_police_is_reminded(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    from playwright.async_api import Locator, async_playwright, expect

    expect.set_options(timeout=STEP)
    pdf = tmp_path / "bao-cao-thang-03.pdf"
    pdf.write_bytes(PDF)

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 860})
            page.set_default_timeout(STEP)
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            # Offline: the page asks for nothing but the sandbox itself.
            outside: list[str] = []
            page.on("request", lambda r: None if r.url.startswith(
                (sandbox.url, "data:")) else outside.append(r.url))

            await page.goto(f"{sandbox.url}/#ward")
            messages = page.locator("#messages")
            bot_messages = messages.locator(".msg.bot")

            async def last_bot_id() -> int:
                ids = await bot_messages.evaluate_all("els => els.map(e => +e.dataset.id)")
                return max(ids, default=0)

            async def bot_after(after: int, text: str) -> Locator:
                """Wait for a bot message newer than `after` whose text contains `text`."""
                found = await page.wait_for_function(
                    """([after, text]) => {
                        for (const el of document.querySelectorAll("#messages .msg.bot")) {
                            if (+el.dataset.id > after && el.textContent.includes(text)) {
                                return +el.dataset.id;
                            }
                        }
                        return 0;
                    }""",
                    arg=[after, text], timeout=STEP)
                message_id = await found.json_value()
                located = messages.locator(f'.msg.bot[data-id="{message_id}"]')
                await expect(located).to_be_visible()
                return located

            async def answer(text: str, expected: str) -> Locator:
                """Type `text` and send it with Enter; the bot's next message has `expected`."""
                after = await last_bot_id()
                await page.locator("#composer-input").fill(text)
                await page.locator("#composer-input").press("Enter")
                return await bot_after(after, expected)

            async def tap(message: Locator, button: str, expected: str) -> Locator:
                after = await last_bot_id()
                await message.locator(".ikb button", has_text=button).first.click()
                return await bot_after(after, expected)

            # --- the ward official: welcome, personas, the menu -----------------------------
            await expect(page.locator("#clock-label")).to_contain_text("07/03/2022 08:00")
            await expect(page.locator(".persona")).to_have_count(len(sandbox.personas))
            await expect(page.locator(".persona.active")).to_contain_text("Nguyễn Thị Lan")
            await expect(bot_messages.filter(has_text="Chào mừng Nguyễn Thị Lan")).to_be_visible()

            # --- «Báo cáo cần nộp» → the March monthly report -------------------------------
            after = await last_bot_id()
            await page.locator("#reply-kb button", has_text="Báo cáo cần nộp").click()
            listing = await bot_after(after, "Báo cáo cần nộp — P. Cát Linh")
            # HTML formatting is rendered, not shown as tags.
            await expect(listing.locator("b", has_text="Báo cáo cần nộp").first).to_be_visible()
            await expect(messages).not_to_contain_text("<b>")
            q = await tap(listing, "tháng 03/2022", "Câu 1/")

            # Text over Telegram's limit is refused, and what was typed stays in the box.
            too_long = "Số liệu " * 600
            await page.locator("#composer-input").fill(too_long)
            await page.locator("#composer-input").press("Enter")
            await expect(page.locator("#toast, .toast").first).to_contain_text("quá dài")
            await expect(page.locator("#composer-input")).to_have_value(too_long)
            await page.locator("#composer-input").fill("")
            # A wrong answer is explained, then the real answers: typed and tapped.
            await answer("mười hai", "Vui lòng nhập một số")
            await answer("12", "Câu 2/")
            await answer("10", "Câu 3/")
            await answer("1", "Câu 4/")
            await answer("4", "Câu 5/")
            q = await answer("0", "Câu 6/")
            chosen = q
            q = await tap(q, "Không", "Câu 7/")
            await expect(chosen).to_contain_text("✔ Không")
            q = await answer("0", "Câu 8/")
            q = await tap(q, "Có", "Câu 9/")
            q = await answer("0", "Câu 10/")
            q = await tap(q, "Có", "Câu 11/")
            q = await tap(q, "Bỏ qua", "Câu 12/")
            # The signed report as a PDF, through the page's file input.
            after = await last_bot_id()
            await page.locator("#file-input").set_input_files(str(pdf))
            await expect(messages.locator(".msg.user .doc-name",
                                          has_text="bao-cao-thang-03.pdf")).to_be_visible()
            review = await bot_after(after, "Xem lại báo cáo")
            confirm = await tap(review, "Gửi báo cáo", "ngay bây giờ?")
            receipt = await tap(confirm, "Xác nhận gửi", "Đã nhận báo cáo")
            await expect(receipt).to_contain_text("Đúng hạn")
            await expect(receipt).to_contain_text(re.compile(r"BC-2022-\d+"))
            # The report ready to sign comes with it, a file to download.
            await expect(messages.locator(".msg.bot .doc-name",
                                          has_text="bao-cao_p-cat-linh_2022-03.docx")
                         ).to_be_visible()

            # --- the clock jumps to Monday 21/03 08:00 ---------------------------------------
            police = page.locator('.persona[data-persona="police"]')
            await page.locator("#clock-input").fill("21/03 08:00")
            await page.locator("#clock-go").click()
            await expect(page.locator("#clock-label")).to_contain_text("21/03/2022 08:00")
            await expect(page.locator("#clock-status")).to_contain_text("tin nhắn mới")
            await expect(police.locator(".badge")).to_be_visible()  # unread

            # --- the chair: the escalation digest and «Nhắc tất cả» --------------------------
            await page.locator('.persona[data-persona="chair"]').click()
            await expect(page.locator(".persona.active")).to_contain_text("Lê Văn Bình")
            digest = bot_messages.filter(has_text="tổng hợp ngày 21/03/2022")
            await expect(digest).to_be_visible()
            await expect(digest).to_contain_text("Công an quận")
            # Two hours on (the police was told it is overdue at 08:00: a nudge within the
            # hour would be a second overdue message, and is held back).
            await page.locator("#clock-input").fill("21/03 10:00")
            await page.locator("#clock-go").click()
            await expect(page.locator("#clock-label")).to_contain_text("21/03/2022 10:00")
            police_before = len(sandbox.state.chat_messages(9002))
            await tap(digest, "Nhắc tất cả", "Đã xếp lịch gửi nhắc tới")

            # --- the police officer sees the reminder ----------------------------------------
            await police.click()
            await expect(page.locator(".persona.active")).to_contain_text("Trần Văn Hùng")
            nudge = messages.locator(".msg.bot").filter(has_text="Báo cáo quá hạn").filter(
                has_text="tháng 03/2022").last
            await expect(nudge).to_be_visible()
            assert int(await nudge.get_attribute("data-id") or 0) > police_before
            await expect(nudge.locator(".ikb button").first).to_be_visible()

            # The picture for the README: the chair's chat after «Nhắc tất cả». It is only
            # rewritten on request (or when missing), so a test run leaves docs/ unchanged.
            await page.locator('.persona[data-persona="chair"]').click()
            await expect(bot_messages.filter(has_text="Đã xếp lịch gửi nhắc tới")).to_be_visible()
            await expect(page.locator('.persona[data-persona="chair"] .persona-preview')
                         ).to_contain_text("Đã xếp lịch gửi nhắc tới")
            update = os.environ.get("UPDATE_SCREENSHOT") == "1" or not SCREENSHOT.exists()
            target = SCREENSHOT if update else tmp_path / "sandbox.png"
            target.parent.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(target))
            assert target.stat().st_size > 10_000

            # --- the ward official on Zalo: Zalo's look, numbered lines, typed numbers ------
            # «Nhắc tất cả» reached her too: let it land first, or it would arrive after the
            # menu and her «1» would (rightly) pick from the reminder's list, the latest one.
            await sandbox.wait_outbox_idle()
            zalo = page.locator(f'.persona[data-persona="{ZALO_PERSONA.key}"]')
            await expect(zalo.locator(".channel-tag")).to_have_text("Zalo")
            await zalo.click()
            await expect(page.locator(".persona.active")).to_contain_text(ZALO_PERSONA.name)
            phone = page.locator(".phone")
            await expect(phone).to_have_class(re.compile(r"\bzalo\b"))
            await expect(page.locator("#channel-badge")).to_have_text("Zalo")
            await expect(page.locator(".chat-head")).to_have_css(
                "background-color", "rgb(0, 104, 255)")
            await expect(bot_messages.filter(
                has_text=f"Chào mừng {ZALO_PERSONA.name}")).to_be_visible()
            # The overdue notice of 14/03 reached her through the Zalo application's sender.
            await expect(bot_messages.filter(has_text="Báo cáo quá hạn").filter(
                has_text="tháng 03/2022").first).to_be_visible()
            await expect(messages.locator(".ikb")).to_have_count(0)  # no buttons on Zalo
            await expect(page.locator("#reply-kb")).to_be_hidden()
            await expect(page.locator("#kb-toggle")).to_be_hidden()
            menu = await answer("menu", "Báo cáo cần nộp")
            await expect(menu).to_contain_text("1. Báo cáo cần nộp")
            await answer("1", "Báo cáo cần nộp — P. Văn Chương")
            zalo_shot = tmp_path / "sandbox-zalo.png"
            await page.screenshot(path=str(zalo_shot))
            assert zalo_shot.stat().st_size > 10_000

            assert not errors, errors
            assert not outside, f"the page reached outside the sandbox: {outside}"
        finally:
            await browser.close()


