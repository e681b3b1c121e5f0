"""What the bot refuses before any feature sees it (issue 10 §2–§3): group chats, updates
without a chat, forged buttons with ids no database holds, odd command arguments."""

from __future__ import annotations

from typing import Any

import pytest

from db.models import Member
from tests.support.harness import BotHarness

LAN, QUAN = 4101, 4102  # a ward reporter, an admin
GROUP = -100_555
STALE = "Nút này không còn hiệu lực. Mở «Báo cáo cần nộp» để xem danh sách hiện tại."
PRIVATE_ONLY = (
    "Bot chỉ hoạt động trong cuộc trò chuyện riêng. Vui lòng nhắn tin trực tiếp cho bot.")
HUGE = 2**63  # one past the largest id a database holds
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
async def bot(database_url: str):
    async with BotHarness(database_url) as h:
        await h.join(LAN, "p-cat-linh", "reporter", first_name="Lan")
        await h.join(QUAN, "ldtbxh", "admin", first_name="Quân")
        yield h


def _group_message(h: BotHarness, user_id: int, update_id: int, text: str) -> dict[str, Any]:
    user = {"id": user_id, "is_bot": False, "first_name": "Lan", "language_code": "vi"}
    message: dict[str, Any] = {"message_id": update_id, "date": 1_646_442_000, "text": text,
                               "chat": {"id": GROUP, "type": "supergroup", "title": "BCĐ"},
                               "from": user}
    if text.startswith("/"):
        message["entities"] = [{"type": "bot_command", "offset": 0,
                                "length": len(text.split()[0])}]
    return {"update_id": update_id, "message": message}


def _sent_to(h: BotHarness, chat_id: int) -> list[str]:
    return [str(c["params"].get("text")) for c in h.state.calls("sendMessage")
            if str(c["params"].get("chat_id")) == str(chat_id)]


@SQLITE_ONLY
async def test_in_a_group_the_bot_says_it_works_in_private_chats_only(bot: BotHarness) -> None:
    h = bot
    private_before = len(h.bot_messages(LAN))
    await h.feed(LAN, _group_message(h, LAN, 900_001, "Báo cáo cần nộp"))
    await h.feed(LAN, _group_message(h, LAN, 900_002, "/status"))
    await h.feed(LAN, _group_message(h, LAN, 900_003, "Báo cáo cần nộp"))
    said = _sent_to(h, GROUP)
    # One line each for the first message and the command; later chatter is not answered
    # again within the hour; nothing of the plan is posted there.
    assert said == [PRIVATE_ONLY, PRIVATE_ONLY], said
    assert not any("Cát Linh" in text or "tháng" in text for text in said)
    assert len(h.bot_messages(LAN)) == private_before, "nothing is sent in private either"


@SQLITE_ONLY
async def test_updates_without_a_chat_are_dropped_quietly(bot: BotHarness) -> None:
    h = bot
    user = {"id": LAN, "is_bot": False, "first_name": "Lan"}
    calls_before = len(h.state.calls("sendMessage"))
    # A callback from an inline message (no message, hence no chat); an inline query; a
    # bare update id. None may reach a feature, and none may raise.
    await h.feed(LAN, {"update_id": 900_101, "callback_query": {
        "id": "q-inline", "from": user, "chat_instance": "x", "inline_message_id": "abc",
        "data": "rv:1"}})
    await h.feed(LAN, {"update_id": 900_102, "inline_query": {
        "id": "iq", "from": user, "query": "báo cáo", "offset": ""}})
    await h.feed(LAN, {"update_id": 900_103})
    assert len(h.state.calls("sendMessage")) == calls_before
    assert h.errors == []


@pytest.mark.parametrize("data", [
    f"rv:{HUGE}", f"ac:{HUGE}", f"rt:{HUGE}", f"rf:{HUGE}:0", f"rf:1:{HUGE}",
    f"ex:{HUGE}", f"xp:{HUGE}:2022-03", f"st:{HUGE}:2022-03", f"ad:t:{HUGE}",
    f"ad:f:{HUGE}", f"md:{HUGE}:y", f"ai:r:{HUGE}:reporter", f"am:a:{HUGE}",
    f"as:s:{HUGE}", f"ar:{HUGE}", f"c:{HUGE}", f"o:{HUGE}", "rv:²", "ar:¹²",
    "rv:" + "9" * 40,
])
async def test_forged_buttons_with_impossible_ids_are_stale_buttons(
        bot: BotHarness, data: str) -> None:
    h = bot
    for uid in (LAN, QUAN):
        message_id = h.bot_messages(uid)[-1]["message_id"]
        replies = await h.press_raw(uid, message_id, data)  # fails on any handler error
        assert replies.text == STALE, (data, replies.text)


@SQLITE_ONLY
@pytest.mark.parametrize("args", ["²", "¹ p-cat-linh", "99999999999999999999999", "-1",
                                  "5 p-cat-linh extra"])
async def test_audit_arguments_never_crash(bot: BotHarness, args: str) -> None:
    h = bot
    replies = await h.say(QUAN, f"/audit {args}")
    assert replies.text, "an answer, not a crash"
    assert (await h.member(QUAN)) is not None


@SQLITE_ONLY
async def test_audit_with_a_count_and_an_agency_still_works(bot: BotHarness) -> None:
    h = bot
    replies = await h.say(QUAN, "/audit 5 p-cat-linh")
    assert "Cát Linh" in replies.text or "Không" in replies.text, replies.text
    member = await h.one(Member, Member.telegram_user_id == LAN)
    assert member.active
