"""Handler tests for onboarding, the main menu, language and flood control (issue 3, §1, §2,
§4, §5): real updates through the production Application, replies read back from the fake
Bot API, rows read back from the database (SQLite, and PostgreSQL when reachable)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import update

from core.textlimits import button_label
from db.models import AuditLog, Invite, Member, Obligation, ObligationStatus, Role
from tests.support.harness import HANOI, BotHarness, inline_buttons, reply_keyboard

LAN = 1001  # an official of P. Cát Linh
MAI = 1002  # a stranger, later an official of P. Hàng Bột
ADMIN = 9001

MENU_VI = ["Báo cáo cần nộp", "Báo cáo đã gửi", "Lịch báo cáo", "Trợ giúp", "Ngôn ngữ"]
MENU_EN = ["Reports due", "Sent reports", "Reporting calendar", "Help", "Language"]
# Someone who does not report for an agency (an admin) has no «Báo cáo đã gửi».
MENU_VI_NOT_REPORTING = [item for item in MENU_VI if item != "Báo cáo đã gửi"]


# UI-only behaviour: SQLite is enough (the PostgreSQL runs cost a database each).
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
async def bot(database_url: str):
    async with BotHarness(database_url) as h:
        yield h


def assert_invite_explanation(text: str) -> None:
    assert "Xin chào! Bot này giúp các cơ quan, đơn vị gửi báo cáo" in text
    assert "đường dẫn mời" in text
    assert "mã mời" in text


# ----------------------------------------------------------------------------- strangers


async def test_a_stranger_only_gets_the_invite_explanation(bot: BotHarness) -> None:
    for action in (
        bot.say(MAI, "/start", first_name="Mai", language_code="vi"),
        bot.say(MAI, "/help"),
        bot.say(MAI, "/cancel"),
        bot.say(MAI, "/lich"),
        bot.say(MAI, "Xin chào, tôi muốn gửi báo cáo"),
        bot.say(MAI, "Báo cáo cần nộp"),  # the menu label typed by hand
        bot.send_sticker(MAI),
        bot.send_document(MAI, "bao-cao.pdf"),
    ):
        replies = await action
        assert len(replies) == 1
        assert_invite_explanation(replies.text)
        assert not inline_buttons(replies.last)
        assert "keyboard" not in (replies.last.get("reply_markup") or {})  # no main menu

    # A button press (e.g. an old or forwarded report button) gets the same, and is answered.
    message_id = bot.last_message(MAI)["message_id"]
    obligation = await bot.obligation("p-cat-linh", "thang", "2022-03")
    replies = await bot.press_raw(MAI, message_id, f"o:{obligation.id}")
    assert_invite_explanation(replies.text)

    assert await bot.member(MAI) is None
    assert await bot.count(AuditLog, AuditLog.action == "member.join") == 0


async def test_commands_are_registered_in_vietnamese_and_english(sqlite_url: str) -> None:
    async with BotHarness(sqlite_url, plan=None) as bot:
        vi = {c["command"]: c["description"] for c in bot.state.get_commands(language_code="vi")}
        en = {c["command"]: c["description"] for c in bot.state.get_commands(language_code="en")}
        default = bot.state.get_commands()
    assert set(vi) == set(en) >= {"start", "help", "cancel", "lang"}
    assert vi["cancel"] == "Dừng thao tác hiện tại (bản nháp được giữ lại)"
    assert en["cancel"] == "Stop the current step (drafts are kept)"
    assert [c["description"] for c in default] == list(vi.values())  # Vietnamese by default


# ----------------------------------------------------------------------------- invites


async def test_start_with_a_code_binds_the_member(bot: BotHarness) -> None:
    code = await bot.invite("p-cat-linh", Role.reporter)
    replies = await bot.say(LAN, f"/start {code}", first_name="Lan", last_name="Nguyễn",
                            username="lan_cl", language_code="vi")

    assert len(replies) == 1
    assert replies.text == (
        "✅ Chào mừng Lan Nguyễn! Tài khoản của anh/chị đã được gắn với UBND phường Cát Linh, "
        "vai trò cán bộ đầu mối.\n\nBấm «Báo cáo cần nộp» để xem các báo cáo đơn vị cần nộp."
    )
    assert reply_keyboard(replies.last) == MENU_VI
    assert bot.reply_keyboard(LAN) == MENU_VI

    member = await bot.member(LAN)
    agency = await bot.agency("p-cat-linh")
    assert member is not None
    assert (member.agency_id, member.committee_id) == (agency.id, agency.committee_id)
    assert member.role_set == {Role.reporter}
    assert (member.full_name, member.username, member.chat_id) == ("Lan Nguyễn", "lan_cl", LAN)
    assert member.active

    invite = await bot.one(Invite)
    assert invite.used_by_member_id == member.id and invite.used_at is not None
    join = await bot.one(AuditLog, AuditLog.action == "member.join")
    assert (join.actor_member_id, join.actor_telegram_id) == (member.id, LAN)
    assert (join.agency_id, join.entity_type, join.entity_id) == (agency.id, "invite", invite.id)
    assert join.details["role"] == "reporter"

    # /start again: the main menu, naming the agency; /help explains the buttons.
    replies = await bot.say(LAN, "/start")
    assert replies.text.splitlines() == [
        "Xin chào Lan Nguyễn!", "Đơn vị: UBND phường Cát Linh",
        "Chọn một mục trong menu bên dưới.",
    ]
    assert reply_keyboard(replies.last) == MENU_VI
    for help_request in ("/help", "Trợ giúp"):
        replies = await bot.say(LAN, help_request)
        assert replies.text.startswith("Cách báo cáo\n")
        assert "«Quay lại» về câu trước" in replies.text
        assert reply_keyboard(replies.last) == MENU_VI

    replies = await bot.say(LAN, "/cancel")
    assert replies.text == "Không có thao tác nào để hủy."
    replies = await bot.say(LAN, "/lich")
    assert replies.text == "Lệnh không hợp lệ. Gõ /help để xem hướng dẫn."
    replies = await bot.say(LAN, "tôi cần giúp đỡ")
    assert replies.text == ("Vui lòng dùng các nút trong menu. Bấm «Báo cáo cần nộp» để xem "
                            "các báo cáo cần gửi.")
    replies = await bot.send_sticker(LAN)
    assert "Bấm «Báo cáo cần nộp»" in replies.text
    replies = await bot.send_document(LAN, "bao-cao.pdf")
    assert replies.text.startswith("Chỉ gửi tệp khi báo cáo yêu cầu.")


async def test_each_invite_problem_has_its_own_message(bot: BotHarness) -> None:
    used = await bot.invite("p-cat-linh")
    await bot.say(LAN, f"/start {used}", first_name="Lan")
    expired = await bot.invite("p-cat-linh", lifetime=dt.timedelta(days=7),
                               created_at=bot.now - dt.timedelta(days=8))
    revoked = await bot.invite("p-cat-linh")
    await bot.revoke(revoked)

    expected = {
        used: "⚠️ Mã mời này đã được sử dụng. Mỗi mã chỉ dùng được một lần; đề nghị cơ quan "
              "tổng hợp cấp mã mới.",
        expired: "⚠️ Mã mời này đã hết hạn. Đề nghị cơ quan tổng hợp cấp mã mới.",
        revoked: "⚠️ Mã mời này đã bị thu hồi. Đề nghị cơ quan tổng hợp cấp mã mới.",
        "x" * 24: "⚠️ Mã mời không hợp lệ. Vui lòng kiểm tra lại đường dẫn hoặc đề nghị cơ "
                  "quan tổng hợp cấp mã mới.",
        "abc": "⚠️ Mã mời không hợp lệ. Vui lòng kiểm tra lại đường dẫn hoặc đề nghị cơ "
               "quan tổng hợp cấp mã mới.",
    }
    for code, message in expected.items():
        replies = await bot.say(MAI, f"/start {code}", first_name="Mai")
        assert replies.texts == [message]
        assert not reply_keyboard(replies.last)
        # Nothing was bound: a stranger leaves no trace.
        assert await bot.member(MAI) is None

    members = await bot.rows(Member)
    assert [m.telegram_user_id for m in members] == [LAN]
    assert await bot.count(AuditLog, AuditLog.action == "member.join") == 1
    invites = {i.id: i for i in await bot.rows(Invite)}
    assert sum(1 for i in invites.values() if i.used_at is not None) == 1
    # The stranger still gets only the invite explanation afterwards.
    assert_invite_explanation((await bot.say(MAI, "Báo cáo cần nộp")).text)


async def test_a_member_cannot_use_another_agencys_invite(bot: BotHarness) -> None:
    await bot.join(LAN, "p-cat-linh", first_name="Lan")
    other = await bot.invite("p-hang-bot", Role.head)

    replies = await bot.say(LAN, f"/start {other}")
    assert replies.texts == [
        "Tài khoản của anh/chị đã được gắn với UBND phường Cát Linh. Mỗi tài khoản chỉ thuộc "
        "một đơn vị; nếu cần chuyển đơn vị, đề nghị liên hệ cơ quan tổng hợp."
    ]
    member = await bot.member(LAN)
    assert member is not None
    assert member.agency_id == (await bot.agency("p-cat-linh")).id
    assert member.role_set == {Role.reporter}
    # The code was not burnt: its rightful owner can still use it.
    invite = await bot.one(Invite, Invite.agency_id == (await bot.agency("p-hang-bot")).id)
    assert invite.used_at is None and invite.used_by_member_id is None
    replies = await bot.say(MAI, f"/start {other}", first_name="Mai")
    assert "đã được gắn với UBND phường Hàng Bột, vai trò thủ trưởng đơn vị" in replies.text


async def test_a_second_invite_of_the_same_agency_adds_a_role(bot: BotHarness) -> None:
    await bot.join(LAN, "p-cat-linh", Role.reporter, first_name="Lan")
    head = await bot.invite("p-cat-linh", Role.head)
    replies = await bot.say(LAN, f"/start {head}")
    assert "đã được gắn với UBND phường Cát Linh, vai trò thủ trưởng đơn vị" in replies.text
    member = await bot.member(LAN)
    assert member is not None and member.role_set == {Role.reporter, Role.head}
    assert await bot.count(Member) == 1
    assert await bot.count(AuditLog, AuditLog.action == "member.join") == 2


async def test_bot_admins_are_admins(sqlite_url: str) -> None:
    async with BotHarness(sqlite_url, bot_admins=[ADMIN]) as bot:
        replies = await bot.say(ADMIN, "/start", first_name="Quản trị")
        assert replies.text.splitlines() == ["Xin chào Quản trị!",
                                             "Chọn một mục trong menu bên dưới."]
        assert reply_keyboard(replies.last) == MENU_VI_NOT_REPORTING
        member = await bot.member(ADMIN)
        assert member is not None and member.role_set == {Role.admin}
        assert member.agency_id is None
        replies = await bot.say(ADMIN, "Báo cáo cần nộp")
        assert replies.text == ("Tài khoản của anh/chị chưa gắn với đơn vị nào nên không có "
                                "báo cáo cần gửi.")

        # An admin may also be an agency's official.
        await bot.join(ADMIN, "ldtbxh", Role.standing_office)
        member = await bot.member(ADMIN)
        assert member is not None
        assert member.role_set == {Role.admin, Role.standing_office}
        # Anyone else is still a stranger.
        assert_invite_explanation((await bot.say(MAI, "/start")).text)


# ----------------------------------------------------------------------------- language


@SQLITE_ONLY
async def test_english_telegram_users_get_english(bot: BotHarness) -> None:
    replies = await bot.say(MAI, "/start", first_name="Mai", language_code="en")
    assert replies.text.startswith("Hello! This bot helps agencies send their reports")
    assert "invite link" in replies.text

    code = await bot.invite("p-hang-bot")
    replies = await bot.say(MAI, f"/start {code}")
    assert replies.text.startswith(
        "✅ Welcome, Mai! Your account is now attached to UBND phường Hàng Bột as reporting "
        "official.")
    assert reply_keyboard(replies.last) == MENU_EN
    replies = await bot.say(MAI, "Reports due")
    assert replies.text.startswith("Reports due — P. Hàng Bột")
    assert "month 03/2022" in replies.text
    assert "Deadline: by the end of 12/03/2022 (Saturday) — 7 days left" in replies.text
    member = await bot.member(MAI)
    assert member is not None and member.language is None  # follows Telegram until chosen


async def test_lang_switches_and_persists(bot: BotHarness) -> None:
    await bot.join(LAN, "p-cat-linh", first_name="Lan", language_code="vi")

    replies = await bot.say(LAN, "/lang")
    assert replies.text == "Chọn ngôn ngữ:"
    assert inline_buttons(replies.last) == [("🇻🇳 Tiếng Việt", "L:vi"), ("🇬🇧 English", "L:en")]
    replies = await bot.press(LAN, "L:en")
    assert replies.text == "Language set to English."
    assert reply_keyboard(replies.last) == MENU_EN
    member = await bot.member(LAN)
    assert member is not None and member.language == "en"

    replies = await bot.say(LAN, "/help")
    assert replies.text.startswith("How to report\n")
    replies = await bot.say(LAN, "Reports due")
    assert "month 03/2022" in replies.text

    # Persisted: a restarted bot still speaks English to Lan, whose Telegram says vi.
    await bot.rebuild()
    replies = await bot.say(LAN, "/start")
    assert replies.text.startswith("Hello, Lan!")

    # «Ngôn ngữ» typed from the Vietnamese keyboard still works; back to Vietnamese.
    replies = await bot.say(LAN, "Ngôn ngữ")
    assert replies.text == "Choose your language:"
    replies = await bot.press(LAN, "L:vi")
    assert replies.text == "Đã chuyển sang tiếng Việt."
    assert reply_keyboard(replies.last) == MENU_VI
    member = await bot.member(LAN)
    assert member is not None and member.language == "vi"
    assert (await bot.say(LAN, "/help")).text.startswith("Cách báo cáo\n")

    # A language the bot does not have: a polite message, nothing changes.
    message_id = bot.last_message(LAN)["message_id"]
    replies = await bot.press_raw(LAN, message_id, "L:fr")
    assert replies.text == ("Nút này không còn hiệu lực. Mở «Báo cáo cần nộp» để xem danh "
                            "sách hiện tại.")
    member = await bot.member(LAN)
    assert member is not None and member.language == "vi"


# ----------------------------------------------------------------------------- what is due


def entries(text: str) -> dict[str, str]:
    """The due list as {"Báo cáo tháng 03/2022": "the lines under it"}."""
    found: dict[str, str] = {}
    current = None
    for line in text.splitlines():
        match = re.match(r"^\d+\. (.+)$", line)
        if match:
            current = match.group(1)
            found[current] = ""
        elif current is not None and line.startswith("   "):
            found[current] += line.strip() + "\n"
    return found


async def test_reports_due_lists_deadlines_days_and_status(bot: BotHarness) -> None:
    await bot.join(LAN, "p-cat-linh", first_name="Lan")
    january = await bot.obligation("p-cat-linh", "thang", "2022-01")
    february = await bot.obligation("p-cat-linh", "thang", "2022-02")
    hotspot = await bot.obligation("p-cat-linh", "tu-diem", "2022-Q1")
    async with bot.session() as session:
        for obligation_id, status in ((january.id, ObligationStatus.returned),
                                      (february.id, ObligationStatus.draft),
                                      (hotspot.id, ObligationStatus.submitted)):
            obligation = await session.get(Obligation, obligation_id)
            assert obligation is not None
            obligation.status = status

    replies = await bot.say(LAN, "Báo cáo cần nộp")
    assert len(replies) == 1
    text = replies.text
    assert text.startswith("Báo cáo cần nộp — P. Cát Linh\n")
    listed = entries(text)
    assert list(listed) == [
        "Báo cáo tháng 01/2022",
        "Báo cáo tháng 02/2022",
        "Báo cáo tháng 03/2022",
        "Báo cáo tụ điểm · quý I/2022",
        "Báo cáo tổng kết · báo cáo một lần năm 2022",
    ]
    assert listed["Báo cáo tháng 01/2022"] == (
        "Hạn nộp: hết ngày 12/01/2022 (Thứ Tư) — quá hạn 52 ngày\n↩️ được trả lại để bổ sung\n")
    assert listed["Báo cáo tháng 02/2022"] == (
        "Hạn nộp: hết ngày 12/02/2022 (Thứ Bảy) — quá hạn 21 ngày\n📝 đang soạn (bản nháp)\n")
    assert listed["Báo cáo tháng 03/2022"] == (
        "Hạn nộp: hết ngày 12/03/2022 (Thứ Bảy) — còn 7 ngày\n⚪ chưa bắt đầu\n")
    assert listed["Báo cáo tụ điểm · quý I/2022"] == (
        "Hạn nộp: hết ngày 19/03/2022 (Thứ Bảy) — ✅ đã nộp\n")
    assert "còn 270 ngày" in listed["Báo cáo tổng kết · báo cáo một lần năm 2022"]
    assert text.endswith("Bấm vào một báo cáo để mở.")
    # Months that have not begun are not listed yet.
    assert "tháng 04/2022" not in text

    # One button per obligation, in the same order, opening that obligation.
    buttons = replies.buttons
    # (a long title is shortened at a word, with «…»)
    assert [label for label, _data in buttons] == [
        button_label(f"{n}. {title}") for n, title in enumerate(listed, start=1)]
    assert buttons[0][1] == f"o:{january.id}"
    assert buttons[1][1] == f"o:{february.id}"
    assert buttons[3][1] == f"o:{hotspot.id}"
    assert all(re.fullmatch(r"o:\d+", data) for _label, data in buttons)


async def test_due_today_and_nothing_due(sqlite_url: str) -> None:
    last_day = dt.datetime(2022, 3, 12, 17, 0, tzinfo=HANOI)
    async with BotHarness(sqlite_url, fake_now=last_day) as bot:
        await bot.join(LAN, "p-cat-linh", first_name="Lan")
        listed = entries((await bot.say(LAN, "Báo cáo cần nộp")).text)
        assert "hạn nộp hôm nay" in listed["Báo cáo tháng 03/2022"]
        assert "quá hạn 59 ngày" in listed["Báo cáo tháng 01/2022"]

        # An agency whose reports are all waived has nothing to send.
        await bot.join(MAI, "ca", first_name="Mai")
        agency = await bot.agency("ca")
        async with bot.session() as session:
            await session.execute(
                update(Obligation).where(Obligation.agency_id == agency.id)
                .values(status=ObligationStatus.waived)
            )
        replies = await bot.say(MAI, "Báo cáo cần nộp")
        assert replies.text == ("Báo cáo cần nộp — Công an quận\n\n"
                                "Hiện không có báo cáo nào cần nộp.")


@SQLITE_ONLY
async def test_reporting_calendar_lists_coming_deadlines(bot: BotHarness) -> None:
    await bot.join(LAN, "p-cat-linh", first_name="Lan")
    replies = await bot.say(LAN, "Lịch báo cáo")
    lines = replies.text.splitlines()
    assert lines[0] == "Các hạn nộp sắp tới"
    assert lines[2:5] == [
        "• 12/03/2022 (Thứ Bảy) — Báo cáo tháng 03/2022",
        "• 19/03/2022 (Thứ Bảy) — Báo cáo tụ điểm · quý I/2022",
        "• 12/04/2022 (Thứ Ba) — Báo cáo tháng 04/2022",
    ]
    assert "tháng 02/2022" not in replies.text  # past deadlines are not «coming»
    assert lines[-2:] == ["Theo kế hoạch:", "• trước ngày 13 hàng tháng"]
    assert not inline_buttons(replies.last)


# ----------------------------------------------------------------------------- flood


async def test_a_flood_of_messages_is_throttled_with_one_notice(sqlite_url: str) -> None:
    async with BotHarness(sqlite_url, flood_limit=3, flood_window=60) as bot:
        await bot.join(LAN, "p-cat-linh", first_name="Lan")  # one update
        answered = []
        for n in range(8):
            answered.append(await bot.say(LAN, f"/help {n}"))
        notice = ("Anh/chị đang gửi tin nhắn quá nhanh. Vui lòng chờ vài giây; các tin đã gửi "
                  "trước đó không bị mất.")
        assert [r.texts for r in answered[2:]] == [[notice]] + [[]] * 5
        assert all(r.text.startswith("Cách báo cáo") for r in answered[:2])
        assert bot.bot_texts(LAN).count(notice) == 1
        # A button pressed during the flood is still answered (no endless spinner).
        replies = await bot.press_raw(LAN, bot.last_message(LAN)["message_id"], "L:vi")
        assert replies.texts == []
        # Someone else is not affected.
        assert_invite_explanation((await bot.say(MAI, "/start")).text)
