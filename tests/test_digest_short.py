"""Leaders' digests fit on one phone screen; the chair's nudge carries the chair's name
(issue §2, §3).

Đống Đa 2022 (36 agencies), nobody has sent anything: in March every agency is late. One
ward (P. Cát Linh) has a reporter and a head; Phòng LĐ-TBXH has the office (Mai) and the
chair (Lê Văn Bình); every other agency has nobody in the bot.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select, update

from core.textlimits import telegram_len, visible_text
from db.models import (
    Committee,
    Member,
    Obligation,
    ObligationStatus,
    OutboxItem,
    OutboxMessage,
    OutboxStatus,
)
from scheduler.sweeper import run_sweep
from tests.support.harness import DONGDA_PLAN, HANOI, BotHarness, inline_buttons

CHAIR, OFFICE, REPORTER, HEAD = 6101, 6102, 6103, 6104
CHAIR_NAME = "Lê Văn Bình"
CHAIR_LABEL = "Trưởng Ban Chỉ đạo 138 quận"


def at(day: int, hour: int = 8, minute: int = 0, month: int = 3) -> dt.datetime:
    return dt.datetime(2022, month, day, hour, minute, tzinfo=HANOI)


@pytest.fixture
async def h(sqlite_url: str) -> AsyncIterator[BotHarness]:
    # SQLite only: nothing here is database-specific SQL.
    async with BotHarness(sqlite_url, plan=DONGDA_PLAN, send_per_chat_seconds=0,
                          fake_now=at(7)) as harness:
        await harness.join(CHAIR, "ldtbxh", "chair", first_name=CHAIR_NAME)
        await harness.join(OFFICE, "ldtbxh", "standing_office", first_name="Mai")
        await harness.join(REPORTER, "p-cat-linh", "reporter", first_name="Lan")
        await harness.join(HEAD, "p-cat-linh", "head", first_name="Hùng")
        yield harness


async def sweep(h: BotHarness, when: dt.datetime) -> list[OutboxMessage]:
    h.set_now(when)
    async with h.session() as session:
        result = await run_sweep(session, when, h.settings.tz)
        return list(result.written)


async def delivered(h: BotHarness) -> None:
    """Wake the harness's sender and wait until the outbox is sent."""
    h.application.bot_data["sender"].notify()
    for _ in range(500):
        rows = await h.rows(OutboxMessage)
        if all(r.status not in (OutboxStatus.pending, OutboxStatus.sending) for r in rows):
            return
        await asyncio.sleep(0.02)
    raise AssertionError("outbox not drained")


async def member_id(h: BotHarness, uid: int) -> int:
    member = await h.member(uid)
    assert member is not None
    return member.id


async def committee_id(h: BotHarness) -> int:
    return (await h.one(Committee, Committee.code != "")).id


def of(rows: list[OutboxMessage], mid: int) -> list[OutboxMessage]:
    return [r for r in rows if r.member_id == mid]


def counts_line(text: str) -> str:
    return next(line for line in visible_text(text).splitlines() if line.startswith("⏰ Quá hạn"))


def message(h: BotHarness, uid: int, message_id: int) -> dict[str, Any]:
    return next(m for m in h.bot_messages(uid) if m["message_id"] == message_id)


async def test_a_chairs_digest_fits_one_screen_and_the_office_gets_the_orphan_count(
        h: BotHarness) -> None:
    rows = await sweep(h, at(21))
    [chair] = of(rows, await member_id(h, CHAIR))
    [office] = of(rows, await member_id(h, OFFICE))
    text = chair.payload["text"]
    assert telegram_len(text) <= 1000, (telegram_len(text), text)
    shown = [line for line in text.splitlines() if line.startswith("• ")]
    assert len(shown) == 5, text
    # The most overdue first (among the reports the chain has taken to the chair).
    worst = [int(re.search(r"quá hạn tới (\d+) ngày", line).group(1))  # type: ignore[union-attr]
             for line in shown]
    assert worst == sorted(worst, reverse=True), shown
    agencies = int(re.search(r"báo cáo của (\d+) đơn vị", text).group(1))  # type: ignore[union-attr]
    assert agencies > 20
    assert f"và {agencies - 5} đơn vị khác" in text, text
    # The chair is not asked to fix enrolment: no orphan paragraph, no orphan button.
    assert "người dùng bot" not in text and "Chưa có thành viên" not in text, text
    labels = [b["text"] for row in chair.payload["buttons"] for b in row]
    assert labels == ["📣 Nhắc tất cả", "🔎 Xem chi tiết", "👁 Đã xem"], labels
    # The office: the count of agencies nobody can be reminded at, with its own button.
    office_text = office.payload["text"]
    assert telegram_len(office_text) <= 1200, office_text
    assert "⚠️ 35 đơn vị có báo cáo quá hạn chưa có người dùng bot" in office_text, office_text
    orphan_button = [b for row in office.payload["buttons"] for b in row
                     if b["data"].startswith("na:")]
    assert [b["text"] for b in orphan_button] == ["⚠️ 35 đơn vị chưa có người dùng bot"]

    # The office's button lists them, ten a page, with the hint to ask an admin.
    await delivered(h)
    digest = h.last_message(OFFICE)
    replies = await h.press_raw(OFFICE, digest["message_id"], orphan_button[0]["data"])
    assert "trang 1/4" in replies.text and "quản trị viên" in replies.text, replies.text
    assert replies.text.count("• ") == 10, replies.text


async def test_details_are_paged_in_one_message_with_previous_and_next(h: BotHarness) -> None:
    await sweep(h, at(21))
    await delivered(h)
    digest = h.last_message(CHAIR)
    details = next(d for t, d in inline_buttons(digest) if "Xem chi tiết" in t)
    replies = await h.press_raw(CHAIR, digest["message_id"], details)
    [page1] = replies
    assert "trang 1/" in page1["text"], page1["text"]
    assert page1["text"].count("thành viên hoạt động") == 10, page1["text"]
    assert counts_line(page1["text"]) == counts_line(digest["text"])
    nav = inline_buttons(page1)
    assert [t for t, _d in nav] == ["Sau ›"], nav
    # «Sau ›» edits the same message: no new message.
    replies = await h.press_raw(CHAIR, page1["message_id"], nav[0][1], strict=True)
    assert not list(replies)
    page2 = message(h, CHAIR, page1["message_id"])
    assert "trang 2/" in page2["text"] and "• Báo cáo tháng 01/2022: quá hạn 68 ngày" \
        in page2["text"], page2["text"]
    assert [t for t, _d in inline_buttons(page2)] == ["‹ Trước", "Sau ›"]
    first_agency = page1["text"].split("\n\n")[1].split(" — ")[0]
    assert first_agency not in page2["text"]
    back = next(d for t, d in inline_buttons(page2) if "Trước" in t)
    await h.press_raw(CHAIR, page1["message_id"], back, strict=True)
    assert "trang 1/" in message(h, CHAIR, page1["message_id"])["text"]


async def test_a_digest_comes_only_when_something_changed(h: BotHarness) -> None:
    chair, office = await member_id(h, CHAIR), await member_id(h, OFFICE)
    sent: list[OutboxMessage] = []
    monday = await sweep(h, at(21))
    assert of(monday, chair) and of(monday, office)
    sent += monday
    # Tuesday: the same late reports, nothing new: no digest (a later sweep neither).
    tuesday = await sweep(h, at(22)) + await sweep(h, at(22, 10))
    assert not of(tuesday, chair) and not of(tuesday, office), [
        (r.member_id, r.kind, set(r.payload["listed"]) ^ set(of(monday, r.member_id)[0]
                                                           .payload["listed"]),
         set(r.payload["outside"]) ^ set(of(monday, r.member_id)[0].payload["outside"]))
        for r in tuesday]
    sent += tuesday
    # Wednesday: a ward has sent its March report: the digest comes again.
    march = await h.obligation("p-hang-bot", "thang", "2022-03")
    async with h.session() as session:
        await session.execute(update(Obligation).where(Obligation.id == march.id)
                              .values(status=ObligationStatus.submitted))
    wednesday = await sweep(h, at(23))
    [digest] = of(wednesday, chair)
    assert digest.kind == "digest" and "đã nhận 1/" in digest.payload["text"], \
        digest.payload["text"]
    sent += wednesday
    # Thursday, Friday: unchanged again; the next Monday the leader hears again anyway.
    for day in (24, 25):
        rows = await sweep(h, at(day))
        assert not of(rows, chair), day
        sent += rows
    next_monday = await sweep(h, at(28))
    assert of(next_monday, chair)
    sent += next_monday
    # A week of the plan: nothing to the chair over about 1,000 characters, at most one
    # message a day to anyone from the sweep.
    for row in of(sent, chair):
        assert telegram_len(row.payload["text"]) <= 1000, row.payload["text"]
    per_day = Counter((r.member_id, r.created_at.astimezone(HANOI).date()) for r in sent)
    assert max(per_day.values()) == 1, per_day


async def test_the_nudge_names_the_chair_and_the_reply_counts_who_was_reached(
        h: BotHarness) -> None:
    await sweep(h, at(21))
    await delivered(h)
    digest = h.last_message(CHAIR)
    h.set_now(at(21, 10))
    remind = next(d for t, d in inline_buttons(digest) if "Nhắc tất cả" in t)
    reply = (await h.press_raw(CHAIR, digest["message_id"], remind)).text
    assert counts_line(reply) == counts_line(digest["text"]), (reply, digest["text"])
    assert "Đã xếp lịch gửi nhắc tới 2 người của 1 đơn vị." in reply, reply
    agencies = int(re.search(r"báo cáo của (\d+) đơn vị", reply).group(1))  # type: ignore[union-attr]
    assert f"{agencies - 1} đơn vị chưa có thành viên hoạt động nên không nhắc được." in reply
    await delivered(h)
    for uid in (REPORTER, HEAD):
        text = h.last_message(uid)["text"]
        assert text.startswith(f"📣 Đồng chí {CHAIR_NAME}, {CHAIR_LABEL} đề nghị đơn vị gửi "
                               "ngay các báo cáo sau:"), text
        assert "Báo cáo tháng" in text
    # A second tap in the same hour reaches nobody twice, and says so.
    reply = (await h.press_raw(CHAIR, digest["message_id"], remind)).text
    assert "Đã xếp lịch" not in reply and "2 người vừa nhận thông báo quá hạn" in reply, reply


async def test_a_nudge_right_after_the_overdue_message_is_not_a_second_one(
        h: BotHarness) -> None:
    reporter, head = await member_id(h, REPORTER), await member_id(h, HEAD)
    # Monday 14/03, the morning after the March deadline: the ward's overdue message.
    rows = await sweep(h, at(14))
    assert {r.kind for r in of(rows, reporter) + of(rows, head)} == {"overdue"}
    await delivered(h)
    h.set_now(at(14, 8, 20))
    reply = (await h.press_raw(CHAIR, h.last_message(CHAIR)["message_id"],
                               f"ra:{await committee_id(h)}")).text
    assert "2 người vừa nhận thông báo quá hạn trong một giờ qua" in reply, reply
    assert "Đã xếp lịch" not in reply
    nudges = await h.rows(OutboxItem, OutboxItem.kind == "nudge")
    assert nudges == []


async def test_the_sweeps_overdue_message_folds_into_a_nudge_of_the_same_hour(
        h: BotHarness) -> None:
    reporter, head = await member_id(h, REPORTER), await member_id(h, HEAD)
    # The chair nudges at 07:30; the 08:00 sweep would send the ward its overdue message.
    h.set_now(at(14, 7, 30))
    reply = (await h.press_raw(CHAIR, h.last_message(CHAIR)["message_id"],
                               f"ra:{await committee_id(h)}")).text
    assert "Đã xếp lịch gửi nhắc tới 2 người của 1 đơn vị." in reply, reply
    rows = await sweep(h, at(14))
    # (a new period's notice may still come: it is not an overdue message)
    assert {r.kind for r in of(rows, reporter) + of(rows, head)} <= {"notice"}, [
        (r.member_id, r.kind, r.payload["text"][:80]) for r in rows]
    assert all("Báo cáo quá hạn" not in r.payload["text"]
               for r in of(rows, reporter) + of(rows, head))
    async with h.session() as session:
        overdue = (await session.execute(
            select(OutboxMessage.member_id, OutboxMessage.kind)
            .select_from(OutboxItem)
            .join(OutboxMessage, OutboxMessage.id == OutboxItem.outbox_id)
            .where(OutboxItem.kind == "overdue"))).all()
    # The overdue items are recorded against the nudge: a later sweep sends nothing more.
    assert overdue and {kind for _m, kind in overdue} == {"overdue"}
    assert {m for m, _k in overdue} == {reporter, head}
    later = await sweep(h, at(14, 10))
    assert not of(later, reporter) and not of(later, head)
    async with h.session() as session:
        told = (await session.execute(
            select(OutboxMessage.member_id, OutboxItem.outbox_id)
            .select_from(OutboxItem)
            .join(OutboxMessage, OutboxMessage.id == OutboxItem.outbox_id)
            .where(OutboxItem.kind.in_(["overdue", "nudge"]))
            .distinct())).all()
    # One overdue message each: the chair's nudge.
    assert Counter(m for m, _o in told) == {reporter: 1, head: 1}, told


async def test_nobody_reachable_is_said_plainly(h: BotHarness) -> None:
    async with h.session() as session:
        await session.execute(update(Member).where(Member.telegram_user_id.in_(
            [REPORTER, HEAD])).values(active=False))
    h.set_now(at(21, 10))
    reply = (await h.press_raw(CHAIR, h.last_message(CHAIR)["message_id"],
                               f"ra:{await committee_id(h)}")).text
    assert "Chưa nhắc được ai" in reply and "Đã xếp lịch" not in reply, reply


# ----------------------------------------------------------------------------- cadence


def test_the_plan_sets_a_weekly_cadence_and_a_daily_one_waits_for_news() -> None:
    """escalation.digest: weekly — at most one digest a week, even with news; daily (the
    default) — a digest when something changed, and the first one of a week anyway."""
    from zoneinfo import ZoneInfo

    from core.calendar import WorkCalendar
    from core.planfile import Escalation
    from scheduler.sweep import (
        CommitteeView,
        ObligationView,
        Policy,
        Recipient,
        Snapshot,
        decide,
    )

    tz = ZoneInfo("Asia/Ho_Chi_Minh")
    raw = {"steps": [{"after_days": 1, "to": ["reporter", "head"]},
                     {"after_days": 7, "to": ["chair"]}], "digest": "weekly"}
    assert Escalation.model_validate(raw).digest == "weekly"
    assert Policy.from_rows(None, {"steps": raw["steps"]}).digest == "daily"
    chair = Recipient(member_id=10, chat_id=10, roles=frozenset({"chair"}), agency_id=1)

    def world(digest: str, last: tuple[dt.date, frozenset[str]] | None) -> Snapshot:
        policy = Policy.from_rows(None, {**raw, "digest": digest})
        late = ObligationView(
            id=7, committee_id=1, agency_id=2, agency_name="P. Cát Linh",
            schedule_name="Báo cáo tháng", period_type="monthly", period_key="2022-02",
            period_start=dt.date(2022, 2, 1),
            due_at=dt.datetime(2022, 3, 13, tzinfo=tz), plan_ends_on=dt.date(2022, 12, 31),
            policy=policy)
        committee = CommitteeView(id=1, standing_office_agency_id=None,
                                  calendar=WorkCalendar.from_dict({}))
        return Snapshot(committees={1: committee}, obligations=[late], members={},
                        by_level={1: {"chair": [chair]}},
                        last_digests={10: last} if last else {})

    def digests(snapshot: Snapshot, when: dt.datetime) -> list[int]:
        return [d.recipient.member_id for d in decide(when, snapshot, tz)
                if d.kind in ("digest", "weekly")]

    tuesday, next_monday = at(22), at(28)
    monday_news = (dt.date(2022, 3, 21), frozenset())  # Monday's digest listed nothing
    monday_same = (dt.date(2022, 3, 21), frozenset({"7"}))
    assert digests(world("daily", monday_news), tuesday) == [10]
    assert digests(world("daily", monday_same), tuesday) == []
    assert digests(world("daily", monday_same), next_monday) == [10]
    assert digests(world("weekly", monday_news), tuesday) == []
    assert digests(world("weekly", monday_news), next_monday) == [10]
    assert digests(world("weekly", None), tuesday) == [10]
