"""Zalo as a channel, as its users meet it: messages in through the Zalo stand-in, the bot's
Zalo messages out, rows in the database (the production Zalo Application, in process)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select

from core.channels import ZALO_HIGH, ZALO_LOW, channel_of, zalo_local_id
from db.file_links import open_link
from db.models import Member, OutboxMessage, OutboxStatus, ProcessedUpdate, ZaloChat
from scheduler.sender import OutboxSender, SenderConfig
from tests.support.harness import BotHarness
from tests.support.zaloside import ZaloSide, text_of

LAN = "aa11bb22cc33dd44ee55"
TG_LAN = 990_001


@pytest.fixture
async def h(sqlite_url: str) -> Any:
    async with BotHarness(sqlite_url) as harness:
        yield harness


def listing(message: dict[str, Any]) -> list[str]:
    return [line for line in text_of(message).splitlines()
            if line[:2].rstrip(".").isdigit() or line[:2] in {f"{c}." for c in "abcdef"}]


def test_local_ids_are_negative_and_apart_from_telegram() -> None:
    ids = {zalo_local_id(f"user-{n}") for n in range(2000)}
    assert len(ids) == 2000
    assert all(ZALO_LOW <= i < ZALO_HIGH and channel_of(i) == "zalo" for i in ids)
    for telegram in (1, 7_000_000_000, -1_001_234_567_890):  # a user, a big id, a group
        assert channel_of(telegram) == "telegram"
    assert zalo_local_id("x") == zalo_local_id("x")


async def test_join_by_code_alone_and_the_menu_as_a_numbered_list(h: BotHarness) -> None:
    code = await h.invite("p-cat-linh")
    async with ZaloSide(h) as z:
        stranger = await z.say(LAN, "xin chào")
        assert "mã mời" in stranger.text.lower() or "lời mời" in stranger.text.lower(), \
            stranger.text
        joined = await z.say(LAN, code)
        assert "✅" in joined.text and "Cát Linh" in joined.text, joined.text
        assert "1. Báo cáo cần nộp" in joined.text and "<b>" not in joined.text
        member = await h.one(Member, Member.zalo_user_id == z.local(LAN))
        assert member.telegram_user_id is None and member.chat_id == z.local(LAN)
        # «menu» shows it again; «0» too while no typed answer is awaited.
        for word in ("menu", "Menu", "0"):
            again = await z.say(LAN, word)
            assert "1. Báo cáo cần nộp" in again.text, (word, again.text)
        due = await z.say(LAN, "1")
        assert "Báo cáo cần nộp —" in due.text, due.text
        # By label, without diacritics or case.
        due = await z.say(LAN, "bao cao can nop")
        assert "Báo cáo cần nộp —" in due.text, due.text


async def test_numbers_outside_the_list_and_stale_lists_are_refused_politely(
        h: BotHarness) -> None:
    code = await h.invite("p-cat-linh")
    async with ZaloSide(h) as z:
        await z.say(LAN, code)
        refused = await z.say(LAN, "9")
        assert refused.text.startswith("Số 9 không có trong danh sách"), refused.text
        assert "từ 1 đến 5" in refused.text
        # The list is gone (its message was edited away): a bare number is stale.
        async with h.session() as session:
            chat = await session.get(ZaloChat, z.local(LAN))
            assert chat is not None and chat.choices is not None
            chat.choices = None
        stale = await z.say(LAN, "2")
        assert "không còn hiệu lực" in stale.text and "menu" in stale.text, stale.text
        # A sticker is answered, not lost.
        other = await z.sticker(LAN)
        assert other.text, "a sticker gets an answer"
        assert not z.errors


async def test_a_message_delivered_twice_is_handled_once(h: BotHarness) -> None:
    code = await h.invite("p-cat-linh")
    async with ZaloSide(h) as z:
        await z.say(LAN, code)
        update = z.state.user_sends_text(LAN, "1")
        first = await z.feed(LAN, update)
        second = await z.feed(LAN, update)
        assert first and not second
        async with h.session() as session:
            seen = (await session.scalars(select(ProcessedUpdate.update_id))).all()
        assert sum(1 for u in seen if channel_of(u) == "zalo") >= 2


async def test_a_telegram_member_connects_zalo_and_chooses_where_reminders_go(
        h: BotHarness) -> None:
    await h.join(TG_LAN, "p-cat-linh", first_name="Lan")
    screen = await h.say(TG_LAN, "/channel")
    assert "Đã kết nối: Telegram" in screen.text, screen.text
    connect = next(d for label, d in screen.buttons if "Kết nối Zalo" in label)
    code_message = await h.press(TG_LAN, connect)
    code = code_message.text.split("\n")[-1].strip()
    assert "gửi mã này cho Zalo bot" in code_message.text, code_message.text
    async with ZaloSide(h) as z:
        connected = await z.say(LAN, code)
        assert "đã được kết nối với Lan" in connected.text, connected.text
        member = await h.member(TG_LAN)
        assert member is not None and member.zalo_user_id == z.local(LAN)
        assert member.chat_id == z.local(LAN), "the channel used last gets the reminders"
        assert await h.count(Member) == 1
        # The code was single-use.
        again = await z.say("ff00ee11dd22cc33bb44", code)
        assert "đã được sử dụng" in again.text, again.text
        # Back on Telegram: the last channel used is Telegram again…
        await h.say(TG_LAN, "/channel")
        assert (await h.member(TG_LAN)).chat_id == TG_LAN
        # …until the member pins Zalo, from either channel.
        pin = await z.say(LAN, "/channel")
        pinned = await z.say(LAN, next(line.split(".")[0] for line in listing(pin.last
                                       if hasattr(pin, "last") else pin[-1])
                                       if "Luôn gửi qua Zalo" in line))
        assert "✔️ Luôn gửi qua Zalo" in pinned.text or "Luôn gửi qua Zalo" in pinned.text
        await h.say(TG_LAN, "/channel")
        member = await h.member(TG_LAN)
        assert member is not None and member.preferred_channel == "zalo"
        assert member.chat_id == z.local(LAN), "a pinned channel stays"


async def test_a_file_goes_to_zalo_as_an_expiring_link(h: BotHarness) -> None:
    code = await h.invite("p-cat-linh")
    async with ZaloSide(h, public_url="https://bot.example.vn") as z:
        await z.say(LAN, code)
        await z.application.bot.send_document(z.local(LAN), b"a,b\n1,2\n", filename="so-lieu.csv",
                                              caption="<b>Số liệu</b>", parse_mode="HTML")
        sent = text_of(z.messages(LAN)[-1])
        assert sent.startswith("Số liệu\n\n📎 so-lieu.csv: https://bot.example.vn/f/"), sent
        token = sent.split("/f/")[1].split()[0]
        async with h.session() as session:
            link = await open_link(session, token, h.now)
            assert link is not None and link.content == b"a,b\n1,2\n"
            assert await open_link(session, token, h.now + dt.timedelta(hours=25)) is None
            assert await open_link(session, token + "x", h.now) is None
        # A picture (a chart) goes as a photo of that link.
        await z.application.bot.send_photo(z.local(LAN), b"\x89PNG...", caption="Biểu đồ")
        photo = z.messages(LAN)[-1]
        assert photo.get("kind") == "photo" or "photo" in photo, photo


async def test_the_zalo_sender_sends_only_zalo_rows_and_marks_a_blocked_member(
        h: BotHarness) -> None:
    code = await h.invite("p-cat-linh")
    await h.join(TG_LAN, "p-cat-linh", first_name="Hùng")
    async with ZaloSide(h, zalo_blocked_codes=frozenset({400})) as z:
        await z.say(LAN, code)
        member = await h.one(Member, Member.zalo_user_id == z.local(LAN))
        async with h.session() as session:
            for n, chat in enumerate((z.local(LAN), TG_LAN, z.local(LAN))):
                session.add(OutboxMessage(dedupe_key=f"t:{n}", kind="notice", chat_id=chat,
                                          member_id=member.id if chat < 0 else None,
                                          payload={"text": f"Tin {n}", "buttons": []},
                                          next_attempt_at=h.now))
        sender = OutboxSender(z.application.bot, h.sessionmaker, lambda: h.now,
                              SenderConfig(rate=0, per_chat=0, channel="zalo"))
        before = len(z.messages(LAN))
        await sender.drain(10)
        assert [text_of(m) for m in z.messages(LAN)[before:]] == ["Tin 0", "Tin 2"]
        rows = {r.dedupe_key: r.status for r in await h.rows(OutboxMessage)}
        assert rows["t:0"] == rows["t:2"] == OutboxStatus.sent
        # The Telegram row is the Telegram sender's (the harness runs it): never on Zalo.
        assert "Tin 1" not in [text_of(m) for m in z.messages(LAN)]
        # The person blocks the bot: Zalo refuses with the configured code.
        z.state.block(LAN)
        async with h.session() as session:
            session.add(OutboxMessage(dedupe_key="t:3", kind="notice", chat_id=z.local(LAN),
                                      member_id=member.id, payload={"text": "Tin 3"},
                                      next_attempt_at=h.now))
        await sender.drain(10)
        row = await h.one(OutboxMessage, OutboxMessage.dedupe_key == "t:3")
        assert row.status == OutboxStatus.blocked
        async with h.session() as session:
            again = await session.scalar(select(Member).where(Member.id == member.id))
            assert again is not None and not again.active


async def test_a_reminder_arriving_mid_question_does_not_take_over_the_answer(
        h: BotHarness) -> None:
    code = await h.invite("p-cat-linh")
    async with ZaloSide(h) as z:
        await z.say(LAN, code)
        await z.say(LAN, "1")
        question = await z.say(LAN, "1")  # the first report: its first question
        assert "Câu 1/" in question.text, question.text
        member = await h.one(Member, Member.zalo_user_id == z.local(LAN))
        async with h.session() as session:
            session.add(OutboxMessage(
                dedupe_key="r:1", kind="reminder", chat_id=z.local(LAN), member_id=member.id,
                payload={"text": "🔔 Nhắc hạn nộp báo cáo", "buttons": [
                    [{"text": "Báo cáo quý I/2022", "data": "o:99"}]]},
                next_attempt_at=h.now))
        sender = OutboxSender(z.application.bot, h.sessionmaker, lambda: h.now,
                              SenderConfig(rate=0, per_chat=0, channel="zalo"))
        await sender.drain(10)
        reminder = text_of(z.messages(LAN)[-1])
        assert "• Báo cáo quý I/2022" in reminder and "gửi «menu»" in reminder, reminder
        answered = await z.say(LAN, "12")
        assert "Câu 2/" in answered.text, answered.text
