"""Handler tests for the admin tools in the bot (issue 5, §2 and the audit log of §1):
invites, members, deadlines, reminder offsets and escalation, pauses, the audit log and its
CSV export. Every change is audited and the next sweep uses it.

The mini plan (`tests/data/mini-plan.yaml`): the monthly report is due «trước ngày 13», so
the last day of March 2022 is Saturday 12/03 and the first overdue morning Monday 14/03.
The bot's clock starts on Saturday 05/03/2022 08:00 (Hà Nội).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from core.planfile import load_plan
from db.models import (
    AuditLog,
    Invite,
    Member,
    Obligation,
    ObligationStatus,
    OutboxItem,
    OutboxMessage,
    Plan,
    Role,
    Schedule,
    Submission,
)
from scheduler.sweeper import run_sweep
from tests.support.harness import DONGDA_PLAN, HANOI, MINI_PLAN, BotHarness, Replies

ADMIN = 4001  # admin, attached to Phòng LĐ-TBXH
LAN = 4002  # reporter, P. Cát Linh
HUNG = 4003  # head, P. Cát Linh
MAI = 4004  # standing office
ROOT = 4005  # in BOT_ADMINS, attached to no agency
STRANGER = 4009
BOT_USERNAME = "bcd_thu_nghiem_bot"

ADMINS_ONLY = "Xin lỗi, chức năng này chỉ dành cho quản trị viên."
STALE = "Nút này không còn hiệu lực. Mở «Báo cáo cần nộp» để xem danh sách hiện tại."


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


@asynccontextmanager
async def started(database_url: str, **settings: Any) -> AsyncIterator[BotHarness]:
    """A BotHarness that sends the outbox without the per-chat pause (tests read it at once);
    the harness stops the sender when it stops."""
    settings.setdefault("send_per_chat_seconds", 0)
    async with BotHarness(database_url, **settings) as h:
        yield h


SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
async def bot(database_url: str):
    async with started(database_url, bot_admins=(ROOT,), bot_username=BOT_USERNAME) as h:
        await h.join(ADMIN, "ldtbxh", "admin", first_name="Quản trị")
        await h.join(LAN, "p-cat-linh", "reporter", first_name="Lan")
        await h.join(HUNG, "p-cat-linh", "head", first_name="Hùng")
        await h.join(MAI, "ldtbxh", "standing_office", first_name="Mai")
        yield h


async def member_id(h: BotHarness, uid: int) -> int:
    member = await h.member(uid)
    assert member is not None
    return member.id


async def thang(h: BotHarness) -> Schedule:
    return await h.one(Schedule, Schedule.code == "thang")


async def audits(h: BotHarness, action: str) -> list[AuditLog]:
    return await h.rows(AuditLog, AuditLog.action == action)


async def sweep_keys(h: BotHarness, when: str, *, dry_run: bool = False) -> list[str]:
    """The dedupe keys one sweep at `when` writes (or would write)."""
    async with h.session() as session:
        result = await run_sweep(session, at(when), h.settings.tz, dry_run=dry_run)
        keys = [i.dedupe_key for d in result.decisions for i in d.items]
        if dry_run:
            await session.rollback()
    return keys


def about(keys: list[str], obligation: Obligation) -> list[str]:
    return [k for k in keys if k.split(":")[1:2] == [str(obligation.id)]]


async def admin_menu(h: BotHarness) -> Replies:
    replies = await h.say(ADMIN, "/admin")
    assert "Quản trị" in replies.text, replies.text
    return replies


# ----------------------------------------------------------------------------- menu


@SQLITE_ONLY
async def test_the_admin_menu_is_for_admins_only(bot: BotHarness) -> None:
    h = bot
    menu = await admin_menu(h)
    assert [d for _t, d in menu.buttons] == ["ai:", "ar:", "am:", "as:", "ap:", "al:"]
    assert [t for t, _d in menu.buttons] == [
        "🔗 Mời thành viên", "🚫 Thu hồi lời mời", "👥 Thành viên", "🗓 Hạn nộp và nhắc hạn",
        "⏸ Tạm dừng nhắc hạn", "📜 Nhật ký thao tác"]
    for uid in (LAN, HUNG, MAI, STRANGER):
        assert (await h.say(uid, "/admin")).text == ADMINS_ONLY, uid
        assert (await h.say(uid, "/audit 5")).text == ADMINS_ONLY, uid
    # An admin from BOT_ADMINS, attached to no agency, works on the latest plan's committee.
    await h.say(ROOT, "/start")
    assert "Quản trị" in (await h.say(ROOT, "/admin")).text
    kinds = await h.press(ROOT, "am:")
    assert ("Phường (3)", "am:k:phuong") in kinds.buttons, kinds.buttons
    assert h.errors == []


# ----------------------------------------------------------------------------- invites


@SQLITE_ONLY
async def test_invites_are_created_in_the_bot_used_and_revoked(bot: BotHarness) -> None:
    h = bot
    await admin_menu(h)
    kinds = await h.press(ADMIN, "ai:")
    assert ("Phường (3)", "ai:k:phuong") in kinds.buttons
    hang_bot = await h.agency("p-hang-bot")
    wards = await h.press(ADMIN, "ai:k:phuong")
    assert ("P. Hàng Bột", f"ai:a:{hang_bot.id}") in wards.buttons
    roles = await h.press(ADMIN, f"ai:a:{hang_bot.id}")
    assert f"ai:r:{hang_bot.id}:reporter" in [d for _t, d in roles.buttons]
    created = await h.press(ADMIN, f"ai:r:{hang_bot.id}:reporter")
    assert "Lời mời cho UBND phường Hàng Bột" in created.text, created.text
    assert "chỉ dùng một lần" in created.text
    found = re.search(rf"https://t\.me/{BOT_USERNAME}\?start=([A-Za-z0-9_-]+)", created.text)
    assert found, created.text
    code = found.group(1)

    invite = await h.one(Invite, Invite.agency_id == hang_bot.id)
    admin = await member_id(h, ADMIN)
    assert invite.role == Role.reporter and invite.created_by_member_id == admin
    # Seven days (the clock runs on from 08:00 while the test plays).
    assert abs(invite.expires_at - at("2022-03-12T08:00:00+07:00")) < dt.timedelta(minutes=1)
    [audit] = [a for a in await audits(h, "invite.create") if a.entity_id == invite.id]
    assert audit.actor_member_id == admin and audit.agency_id == hang_bot.id

    # The link works once, with /start CODE.
    joined = await h.say(5001, f"/start {code}", first_name="Minh")
    assert "✅" in joined.text and "UBND phường Hàng Bột" in joined.text
    minh = await h.member(5001)
    assert minh is not None and minh.agency_id == hang_bot.id and minh.role_set == {Role.reporter}
    join = (await audits(h, "member.join"))[-1]
    assert join.details == {"role": "reporter", "invited_by": admin}
    assert "đã được sử dụng" in (await h.say(5002, f"/start {code}")).text

    # Another invite, revoked before it is used.
    await h.press_raw(ADMIN, created.last["message_id"], f"ai:r:{hang_bot.id}:head")
    second = (await h.rows(Invite))[-1]
    second_code = re.search(r"start=([A-Za-z0-9_-]+)", h.last_text(ADMIN)).group(1)
    listing = await h.press_raw(ADMIN, created.last["message_id"], "ar:")
    assert [d for _t, d in listing.buttons] == [f"ar:{second.id}", "ax:"]
    assert listing.buttons[0][0].startswith(f"#{second.id} P. Hàng Bột")
    revoked = await h.press(ADMIN, f"ar:{second.id}")
    assert f"Đã thu hồi lời mời #{second.id}." in revoked.text
    assert (await h.one(Invite, Invite.id == second.id)).revoked_at is not None
    [audit] = await audits(h, "invite.revoke")
    assert (audit.entity_id, audit.actor_member_id) == (second.id, admin)
    assert "thu hồi" in (await h.say(5003, f"/start {second_code}")).text
    assert await h.member(5003) is None
    nothing = await h.press_raw(ADMIN, created.last["message_id"], "ar:")
    assert nothing.text == "Không có lời mời nào còn hiệu lực.", nothing.text
    assert h.errors == []


@SQLITE_ONLY
async def test_the_deep_link_falls_back_to_the_bots_own_username(database_url: str) -> None:
    async with started(database_url) as h:
        await h.join(ADMIN, "ldtbxh", "admin")
        await h.say(ADMIN, "/admin")
        cat_linh = await h.agency("p-cat-linh")
        created = await h.press_raw(ADMIN, h.last_message(ADMIN)["message_id"],
                                    f"ai:r:{cat_linh.id}:head")
        username = (await h.application.bot.get_me()).username
        found = re.search(rf"https://t\.me/{username}\?start=(\S+)", created.text)
        assert found, created.text
        assert "✅" in (await h.say(5001, f"/start {found.group(1)}")).text
        assert (await h.member(5001)).role_set == {Role.head}


# ----------------------------------------------------------------------------- members


@SQLITE_ONLY
async def test_list_an_agencys_members_and_deactivate_one(bot: BotHarness) -> None:
    h = bot
    cat_linh = await h.agency("p-cat-linh")
    await admin_menu(h)
    await h.press(ADMIN, "am:")
    await h.press(ADMIN, "am:k:phuong")
    listing = await h.press(ADMIN, f"am:a:{cat_linh.id}")
    assert "Thành viên của UBND phường Cát Linh" in listing.text, listing.text
    assert "• Lan — cán bộ đầu mối — đang hoạt động" in listing.text, listing.text
    assert "• Hùng — thủ trưởng đơn vị — đang hoạt động" in listing.text
    lan = await member_id(h, LAN)
    assert ("Khóa tài khoản của Lan", f"md:{lan}") in listing.buttons, listing.buttons
    confirm = await h.press(ADMIN, f"md:{lan}")
    assert "Khóa tài khoản của Lan?" in confirm.text
    assert (await h.member(LAN)).active  # nothing before the confirmation
    done = await h.press(ADMIN, f"md:{lan}:y")
    assert "Đã khóa tài khoản của Lan." in done.text
    member = await h.member(LAN)
    assert not member.active and member.inactive_reason == "revoked"
    [audit] = await audits(h, "member.deactivate")
    assert (audit.entity_type, audit.entity_id, audit.agency_id, audit.actor_member_id) == (
        "member", lan, cat_linh.id, await member_id(h, ADMIN))
    # Listed as inactive, without a button; Lan can no longer use the agency's reports.
    listing = await h.press_raw(ADMIN, done.last["message_id"], f"am:a:{cat_linh.id}")
    assert "• Lan — cán bộ đầu mối — ngừng hoạt động" in listing.text, listing.text
    assert "revoked" not in listing.text, "no English reason in front of a person"
    assert f"md:{lan}" not in [d for _t, d in listing.buttons]
    assert "đường dẫn mời" in (await h.say(LAN, "Báo cáo cần nộp")).text
    # … and the next sweep reminds only the head.
    keys = await sweep_keys(h, "2022-03-07T08:00:00+07:00", dry_run=True)
    march = await h.obligation("p-cat-linh", "thang", "2022-03")
    hung = await member_id(h, HUNG)
    assert about(keys, march) == [f"reminder:{march.id}:2022-03-12:7:{hung}"]
    assert h.errors == []


# ----------------------------------------------------------------------------- deadlines


async def test_changing_the_due_rule_moves_the_open_obligations(bot: BotHarness) -> None:
    h = bot
    schedule = await thang(h)
    # Hàng Bột already sent March: its deadline stays as it was.
    hang_bot_march = await h.obligation("p-hang-bot", "thang", "2022-03")
    async with h.session() as session:
        (await session.get(Obligation, hang_bot_march.id)).status = ObligationStatus.submitted
    await admin_menu(h)
    schedules = await h.press(ADMIN, "as:")
    assert ("Báo cáo tháng", f"as:s:{schedule.id}") in schedules.buttons
    shown = await h.press(ADMIN, f"as:s:{schedule.id}")
    assert "Cách tính hạn nộp: trước ngày 13" in shown.text, shown.text
    assert "Nhắc hạn (số ngày trước hạn nộp): 7, 3, 1, 0" in shown.text, shown.text
    await h.press(ADMIN, f"as:d:{schedule.id}")
    wrong = await h.say(ADMIN, "ngày 31")
    assert wrong.text.startswith("⚠️")
    preview = await h.say(ADMIN, "trước 15")
    assert "Chưa có thay đổi nào." in preview.text, preview.text
    assert (await thang(h)).due_rule["day"] == 13  # a preview first: nothing changed yet
    apply = next(data for label, data in preview.buttons if label == "✅ Áp dụng")
    changed = await h.press(ADMIN, apply)
    found = re.search(r": (\d+) báo cáo của \d+ kỳ được chuyển sang hạn mới", changed.text)
    assert found, changed.text
    moved = int(found.group(1))

    schedule = await thang(h)
    assert schedule.due_rule["day"] == 15 and schedule.due_rule["before"] is True
    march = await h.obligation("p-cat-linh", "thang", "2022-03")
    assert march.due_at == at("2022-03-15T00:00:00+07:00")
    assert (await h.obligation("p-cat-linh", "thang", "2022-07")).due_at == at(
        "2022-07-15T00:00:00+07:00")
    assert (await h.obligation("p-hang-bot", "thang", "2022-03")).due_at == hang_bot_march.due_at
    # January and February are past: they keep their deadline (not chosen in the preview).
    assert (await h.obligation("p-cat-linh", "thang", "2022-01")).due_at == at(
        "2022-01-13T00:00:00+07:00")
    open_count = await h.count(Obligation, Obligation.schedule_id == schedule.id,
                               Obligation.status == ObligationStatus.open,
                               Obligation.period_key >= "2022-03")
    assert moved == open_count
    [audit] = await audits(h, "schedule.deadline_changed")
    assert audit.entity_id == schedule.id and audit.actor_member_id == await member_id(h, ADMIN)
    assert audit.details["new"]["day"] == 15 and audit.details["old"]["day"] == 13
    assert audit.details["obligations"] == moved
    assert (await h.member(ADMIN)).pending_action is None
    # The next sweep follows: Monday 14/03 is no longer overdue, it is the last day.
    keys = await sweep_keys(h, "2022-03-14T08:00:00+07:00", dry_run=True)
    lan = await member_id(h, LAN)
    assert about(keys, march) == [f"reminder:{march.id}:2022-03-14:0:{lan}"]
    assert h.errors == []


@SQLITE_ONLY
async def test_one_periods_deadline(bot: BotHarness) -> None:
    h = bot
    schedule = await thang(h)
    await admin_menu(h)
    await h.press(ADMIN, "as:")
    await h.press(ADMIN, f"as:s:{schedule.id}")
    periods = await h.press(ADMIN, f"as:p:{schedule.id}")
    assert ("tháng 03/2022", f"as:p:{schedule.id}:2022-03") in periods.buttons, periods.buttons
    await h.press(ADMIN, f"as:p:{schedule.id}:2022-03")
    done = await h.say(ADMIN, "18/03/2022")
    assert ("Hạn nộp kỳ tháng 03/2022 đã đổi thành 18/03/2022 cho 5 báo cáo chưa nộp."
            in done.text), done.text
    march = await h.rows(Obligation, Obligation.schedule_id == schedule.id,
                         Obligation.period_key == "2022-03")
    assert {o.due_at for o in march} == {at("2022-03-19T00:00:00+07:00")}
    april = await h.obligation("p-cat-linh", "thang", "2022-04")
    assert april.due_at == at("2022-04-13T00:00:00+07:00")
    [audit] = await audits(h, "schedule.period_due")
    assert audit.details["period"] == "2022-03" and audit.details["obligations"] == 5
    # The reporter is told at once (the head hears of it when there is no reporter).
    told = await h.rows(OutboxMessage, OutboxMessage.kind == "deadline")
    assert [m.member_id for m in told] == [await member_id(h, LAN)]
    assert "tháng 03/2022: nay là hết ngày 18/03/2022" in told[0].payload["text"]
    assert audit.details["told"] == 1
    # Monday 14/03: a reminder, not an overdue message.
    cl = await h.obligation("p-cat-linh", "thang", "2022-03")
    keys = about(await sweep_keys(h, "2022-03-14T08:00:00+07:00", dry_run=True), cl)
    assert keys == [f"reminder:{cl.id}:2022-03-18:7:{await member_id(h, LAN)}"], keys
    assert h.errors == []


# ----------------------------------------------------------------------------- reminders


async def test_reminder_offsets_and_escalation_delays_are_used_by_the_next_sweep(
        bot: BotHarness) -> None:
    h = bot
    schedule = await thang(h)
    march = await h.obligation("p-cat-linh", "thang", "2022-03")
    lan, hung = await member_id(h, LAN), await member_id(h, HUNG)
    # With the plan's offsets (7, 3, 1, 0) Thursday 03/03 is only the period's notice.
    before = about(await sweep_keys(h, "2022-03-03T08:00:00+07:00", dry_run=True), march)
    assert before == [f"notice:{march.id}:{lan}"], before

    await admin_menu(h)
    await h.press(ADMIN, "as:")
    await h.press(ADMIN, f"as:s:{schedule.id}")
    await h.press(ADMIN, f"as:r:{schedule.id}")
    assert (await h.say(ADMIN, "mười")).text.startswith("⚠️")
    done = await h.say(ADMIN, "5, 10")
    assert "Đã đặt nhắc hạn 10, 5 ngày trước hạn nộp." in done.text, done.text
    assert (await thang(h)).reminder_offsets == [10, 5]
    [audit] = await audits(h, "schedule.reminders")
    assert (audit.details["old"], audit.details["new"]) == ([7, 3, 1, 0], [10, 5])
    # Now the 10-day reminder is due on 02/03; on 03/03 the sweep sends it.
    after = about(await sweep_keys(h, "2022-03-03T08:00:00+07:00"), march)
    assert after == [f"reminder:{march.id}:2022-03-12:10:{lan}"], after
    # Wednesday 09/03 was the 3-day reminder; it is gone, the 5-day one (07/03) is sent.
    later = about(await sweep_keys(h, "2022-03-09T08:00:00+07:00"), march)
    assert later == [f"reminder:{march.id}:2022-03-12:5:{lan}"], later

    await h.press_raw(ADMIN, done.last["message_id"], f"as:e:{schedule.id}")
    assert (await h.say(ADMIN, "3 2 1 5 5")).text.startswith("⚠️")  # not in order
    assert "Đã cập nhật lịch đôn đốc." in (await h.say(ADMIN, "2 4 8 3 2")).text
    policy = (await thang(h)).escalation_policy
    assert [(s["after_days"], s["to"]) for s in policy["steps"]] == [
        (2, ["reporter", "head"]), (4, ["consolidating"]), (8, ["chair"])]
    assert (policy["repeat_every"], policy["rounds"]) == (3, 2)
    assert len(await audits(h, "schedule.escalation")) == 1
    # The first overdue morning is Monday 14/03; reporters are now told a day later.
    assert about(await sweep_keys(h, "2022-03-14T08:00:00+07:00"), march) == []
    overdue = about(await sweep_keys(h, "2022-03-15T08:00:00+07:00"), march)
    assert sorted(overdue) == sorted([f"overdue:{march.id}:2022-03-12:0:{lan}",
                                      f"overdue:{march.id}:2022-03-12:0:{hung}"]), overdue
    # Round 1 after three working days, and no round 2 (two rounds).
    assert len(about(await sweep_keys(h, "2022-03-18T08:00:00+07:00"), march)) == 2
    assert about(await sweep_keys(h, "2022-03-24T08:00:00+07:00"), march) == []
    assert h.errors == []


async def test_a_pause_silences_the_sweep_inside_its_range_only(bot: BotHarness) -> None:
    h = bot
    march = await h.obligation("p-cat-linh", "thang", "2022-03")
    await admin_menu(h)
    asked = await h.press(ADMIN, "ap:")
    # The example starts tomorrow (the bot's today is Saturday 05/03/2022), never in the past.
    assert "«06/03/2022 - 12/03/2022»" in asked.text, asked.text
    backwards = await h.say(ADMIN, "18/03/2022 14/03/2022")
    assert backwards.text.startswith("⚠️ Ngày bắt đầu tạm dừng (18/03/2022) sau ngày kết thúc "
                                     "(14/03/2022)."), backwards.text
    done = await h.say(ADMIN, "14/03/2022 - 18/03/2022")
    assert "Đã tạm dừng nhắc hạn từ 14/03/2022 đến 18/03/2022." in done.text, done.text
    plan = await h.one(Plan)
    assert plan.calendar["pauses"] == [["2022-03-14", "2022-03-18"]]
    [audit] = await audits(h, "reminders.pause")
    assert audit.details == {"start": "2022-03-14", "end": "2022-03-18"}

    # Inside the range nothing at all is written; outside it the sweep goes on.
    assert await sweep_keys(h, "2022-03-14T08:00:00+07:00") == []
    assert await sweep_keys(h, "2022-03-18T15:00:00+07:00") == []
    assert await h.count(OutboxItem) == 0
    assert about(await sweep_keys(h, "2022-03-11T08:00:00+07:00", dry_run=True), march)
    assert about(await sweep_keys(h, "2022-03-21T08:00:00+07:00", dry_run=True), march)

    listing = await h.press_raw(ADMIN, done.last["message_id"], "ap:")
    assert "• 14/03/2022 – 18/03/2022" in listing.text
    assert (listing.buttons[0][1]) == f"ap:x:{plan.id}:0"
    removed = await h.press(ADMIN, f"ap:x:{plan.id}:0")
    assert "Đã hủy khoảng tạm dừng nhắc hạn." in removed.text
    assert (await h.one(Plan)).calendar["pauses"] == []
    [audit] = await audits(h, "reminders.resume")
    assert audit.details == {"pause": ["2022-03-14", "2022-03-18"]}
    keys = about(await sweep_keys(h, "2022-03-14T08:00:00+07:00"), march)
    assert f"overdue:{march.id}:2022-03-12:0:{await member_id(h, LAN)}" in keys
    assert h.errors == []


@SQLITE_ONLY
async def test_removing_a_pause_does_not_leave_the_bot_waiting_for_dates(
        bot: BotHarness) -> None:
    h = bot
    await h.join(ADMIN, "ldtbxh", "reporter")  # the admin also reports for Phòng LĐ-TBXH
    await h.say(ADMIN, "/admin")
    await h.press(ADMIN, "ap:")
    await h.say(ADMIN, "14/03/2022 18/03/2022")
    plan = await h.one(Plan)
    await h.press(ADMIN, "ap:")
    await h.press(ADMIN, f"ap:x:{plan.id}:0")
    march = await h.obligation("ldtbxh", "thang", "2022-03")
    await h.say(ADMIN, "Báo cáo cần nộp")
    question = await h.press(ADMIN, f"o:{march.id}")
    assert "Số buổi tuyên truyền" in question.text
    answered = await h.say(ADMIN, "4")
    assert "Ghi chú" in answered.text, answered.text  # the next question


# ----------------------------------------------------------------------------- audit log


@SQLITE_ONLY
async def test_audit_log_last_n_by_agency_and_csv(bot: BotHarness) -> None:
    h = bot
    # Some history: a report sent, accepted; an admin's change.
    march = await h.obligation("p-cat-linh", "thang", "2022-03")
    await h.say(LAN, "Báo cáo cần nộp")
    await h.press(LAN, f"o:{march.id}")
    await h.press(LAN, f"n:{march.id}")
    await h.press(LAN, f"N:{march.id}")
    [submission] = await h.rows(Submission)
    await h.say(MAI, "Báo cáo chờ tiếp nhận")
    await h.press(MAI, f"rv:{submission.id}")
    await h.press(MAI, f"ac:{submission.id}")
    await h.say(ADMIN, "/admin")
    await h.press(ADMIN, "ap:")
    await h.say(ADMIN, "29/01/2022 06/02/2022")

    last = await h.say(ADMIN, "/audit 5")
    lines = last.text.splitlines()
    assert lines[0] == "📜 5 thao tác gần nhất", lines
    assert len(lines) == 6
    # (The plan was imported at the real time, after the bot's clock of 2022: it comes first.)
    events = [line for line in lines[1:] if "plan.import" not in line]
    assert "Quản trị · reminders.pause" in events[0], lines
    assert "Mai · submission.accept · P. Cát Linh" in last.text
    assert "Lan · submission.no_report · P. Cát Linh" in last.text
    assert last.buttons == [("⬇️ Xuất CSV", "al:csv")]

    mine = await h.say(ADMIN, "/audit 5 p-cat-linh")
    rows = mine.text.splitlines()[1:]
    assert rows and all(r.endswith("· P. Cát Linh") for r in rows), rows
    assert any("member.join" in r and "Hùng" in r for r in rows)
    assert not any("reminders.pause" in r for r in rows)
    unknown = await h.say(ADMIN, "/audit 5 p-khong-co")
    assert "Không có đơn vị nào có mã p-khong-co." in unknown.text
    menu = await h.press_raw(ADMIN, mine.last["message_id"], "al:")
    assert "thao tác gần nhất" in menu.text

    exported = await h.press(ADMIN, "al:csv")
    [message] = [m for m in exported if m.get("document")]
    assert message["document"]["file_name"] == "audit-log.csv"
    content = h.state.file_content(message["document"]["file_id"])
    assert content.startswith(b"\xef\xbb\xbf")  # Excel reads UTF-8 with a BOM
    table = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    assert table[0] == ["time", "actor", "action", "agency", "entity", "details"]
    actions = [r[2] for r in table[1:]]
    for action in ("submission.accept", "submission.no_report", "reminders.pause",
                   "member.join", "invite.create"):
        assert action in actions, (action, actions)
    accept = next(r for r in table[1:] if r[2] == "submission.accept")
    assert accept[1] == "Mai" and accept[3] == "P. Cát Linh"
    assert accept[4] == f"submission:{submission.id}"
    assert accept[0].startswith("2022-03-05T08:0") and accept[0].endswith("+07:00")
    assert h.errors == []


@SQLITE_ONLY
async def test_the_csv_export_holds_more_than_the_last_twenty_events(bot: BotHarness) -> None:
    h = bot
    await h.say(ADMIN, "/admin")
    cat_linh = await h.agency("p-cat-linh")
    for _ in range(25):
        await h.press_raw(ADMIN, h.last_message(ADMIN)["message_id"],
                          f"ai:r:{cat_linh.id}:reporter")
    total = await h.count(AuditLog)
    assert total > 30
    exported = await h.press_raw(ADMIN, h.last_message(ADMIN)["message_id"], "al:csv")
    [message] = [m for m in exported if m.get("document")]
    table = list(csv.reader(io.StringIO(
        h.state.file_content(message["document"]["file_id"]).decode("utf-8-sig"))))
    assert len(table) - 1 == total


# ----------------------------------------------------------------------------- roles


@SQLITE_ONLY
async def test_non_admins_change_nothing_with_admin_buttons_or_typed_inputs(
        bot: BotHarness) -> None:
    h = bot
    schedule = await thang(h)
    plan = await h.one(Plan)
    cat_linh = await h.agency("p-cat-linh")
    lan = await member_id(h, LAN)
    await h.invite("p-hang-bot")
    invite = (await h.rows(Invite))[-1]

    async def state() -> tuple:
        return (
            [(m.id, m.active, m.pending_action) for m in await h.rows(Member)],
            [(i.id, i.revoked_at) for i in await h.rows(Invite)],
            [(s.id, s.due_rule, s.reminder_offsets, s.escalation_policy)
             for s in await h.rows(Schedule)],
            [(o.id, o.due_at) for o in await h.rows(Obligation)],
            (await h.one(Plan)).calendar, await h.count(AuditLog),
        )

    before = await state()
    for uid in (MAI, LAN, HUNG):
        message_id = h.last_message(uid)["message_id"]
        for data in ("ai:", "ai:k:phuong", f"ai:a:{cat_linh.id}",
                     f"ai:r:{cat_linh.id}:admin", "ar:", f"ar:{invite.id}", "am:",
                     f"am:a:{cat_linh.id}", f"md:{lan}", f"md:{lan}:y", "as:",
                     f"as:s:{schedule.id}", f"as:d:{schedule.id}", f"as:p:{schedule.id}:2022-03",
                     f"as:r:{schedule.id}", f"as:e:{schedule.id}", "ap:", f"ap:x:{plan.id}:0",
                     "al:", "al:csv"):
            replies = await h.press_raw(uid, message_id, data)
            assert replies.text == ADMINS_ONLY, (uid, data, replies.text)
            assert not any(m.get("document") for m in replies)
        await h.say(uid, "trước 15")
        await h.say(uid, "29/01/2022 06/02/2022")
    assert await state() == before
    # A member who lost the admin role mid-way: the typed input is no longer applied.
    await h.say(ADMIN, "/admin")
    await h.press(ADMIN, "as:")
    await h.press(ADMIN, f"as:s:{schedule.id}")
    await h.press(ADMIN, f"as:r:{schedule.id}")
    async with h.session() as session:
        admin = await session.get(Member, await member_id(h, ADMIN))
        admin.roles = [r for r in admin.roles if r.role != Role.admin]
    await h.say(ADMIN, "1")
    assert (await thang(h)).reminder_offsets == [7, 3, 1, 0]
    assert h.errors == []


@SQLITE_ONLY
async def test_an_admin_of_one_committee_cannot_touch_another(database_url: str) -> None:
    async with started(database_url, plan=DONGDA_PLAN) as h:
        await h.import_plan(MINI_PLAN)
        code = await h.invite("ldtbxh", "admin", plan="mini-2022")
        assert "✅" in (await h.say(ADMIN, f"/start {code}")).text
        code = await h.invite("p-cat-linh", "reporter", plan="dongda-2022")
        assert "✅" in (await h.say(LAN, f"/start {code}")).text
        other = await h.agency("p-cat-linh", "dongda-2022")
        other_plan = await h.one(Plan, Plan.code == "dongda-2022")
        other_schedule = await h.one(Schedule, Schedule.code == "thang",
                                     Schedule.plan_id == other_plan.id)
        lan = await member_id(h, LAN)
        await h.say(ADMIN, "/admin")
        audit_before = await h.count(AuditLog)
        for data in (f"ai:r:{other.id}:reporter", f"am:a:{other.id}", f"md:{lan}:y",
                     f"as:s:{other_schedule.id}", f"as:r:{other_schedule.id}"):
            replies = await h.press_raw(ADMIN, h.last_message(ADMIN)["message_id"], data)
            assert replies.text == STALE, (data, replies.text)
        assert await h.count(Invite, Invite.agency_id == other.id) == 1
        assert (await h.member(LAN)).active
        assert await h.count(AuditLog) == audit_before
        # The audit log shows only the admin's own committee.
        log = await h.say(ADMIN, "/audit 100")
        assert "P. Cát Linh" not in log.text
        assert "Không có đơn vị nào có mã" in (await h.say(ADMIN, "/audit 5 vhtt")).text
        assert h.errors == []


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_the_escalation_editor_keeps_the_plans_other_levels(database_url: str) -> None:
    """Hà Nội escalates to a level outside the committee after 15 days: editing the three
    delays keeps that step, and the second delay goes to the consolidating agency."""
    from db.models import Schedule
    from tests.support.harness import ROOT

    async with BotHarness(database_url, plan=ROOT / "plans" / "hanoi-667-2020.yaml",
                          fake_now=dt.datetime(2020, 9, 1, 8, 0, tzinfo=HANOI)) as h:
        plan = load_plan(ROOT / "plans" / "hanoi-667-2020.yaml")
        await h.join(ADMIN, plan.consolidating, "admin", first_name="Quân")
        schedule = (await h.rows(Schedule, order_by=Schedule.id))[0]
        await h.say(ADMIN, "/admin")
        await h.press_raw(ADMIN, h.last_message(ADMIN)["message_id"], f"as:e:{schedule.id}")
        assert "Đã cập nhật lịch đôn đốc." in (await h.say(ADMIN, "2 4 8 5 5")).text
        steps = (await h.one(Schedule, Schedule.id == schedule.id)).escalation_policy["steps"]
        assert [(s["after_days"], s["to"]) for s in steps] == [
            (2, ["reporter", "head"]), (4, ["consolidating"]), (8, ["chair"]),
            (15, ["external"])], steps
        assert "Phó Chủ tịch" in steps[-1]["label"]
