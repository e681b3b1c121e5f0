"""End to end on Zalo (issue 14): the review-return-fix flow of tests/test_e2e_review.py with
the ward's reporter and the standing office both on Zalo.

The real `python -m bot run` serves Zalo by long polling against the in-process Zalo
stand-in over HTTP (ZALO_BOT_TOKEN / ZALO_API_URL). The ward answers the March report by
typing and sends it; the office opens its review queue, returns the report naming question 2
(a lettered list: the office's next message is the typed comment); the outbox tells the ward
on Zalo; the ward fixes only that question and sends version 2; the office accepts it and
the ward is told. Both versions stay in the database. Nothing sleeps: every step waits for
the bot's message with a deadline.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from sandbox.zaloapi import ZaloApiState, ZaloStandInServer
from tests.support.botproc import running_bot
from tests.support.zalochat import ZaloPerson, listed, mark_of, text_of
from tests.test_e2e_review import (  # noqa: F401  (seeded: the mini plan and two invites)
    BOT_ENV,
    COMMENT,
    answers,
    db_rows,
    seeded,
)

ZALO_TOKEN = "1234567890:e2e-ZALO_token"
LAN, MAI = "5e2a7c9d0b1f3a4c6e8d", "9c8b7a6f5e4d3c2b1a0f"  # Zalo ids: ward reporter, office
JSON = dict[str, Any]
WORDING = re.compile(r"\b(bấm|nút)\b", re.I)  # Zalo has no buttons to press


def has(*parts: str) -> Any:
    return lambda m: all(p in text_of(m) for p in parts)


def question(number: int) -> Any:
    return lambda m: f"Câu {number}/" in text_of(m)


async def send(person: ZaloPerson, review: JSON) -> JSON:
    confirm = await person.choose(review, "Gửi báo cáo", has("ngay bây giờ?"))
    return await person.choose(confirm, "Xác nhận gửi", has("Đã nhận báo cáo"))


async def test_a_returned_ward_report_is_fixed_resent_and_accepted_on_zalo(
        seeded: tuple[str, Path, str, str], tmp_path: Path) -> None:  # noqa: F811
    url, path, ward_code, office_code = seeded
    zstate = ZaloApiState(token=ZALO_TOKEN)
    async with ZaloStandInServer(zstate) as zalo:
        env = {**BOT_ENV, "ZALO_BOT_TOKEN": ZALO_TOKEN, "ZALO_API_URL": zalo.api_root}
        async with running_bot(url, tmp_path / "bot.log", **env) as bot:
            ward, office = ZaloPerson(zstate, LAN, "Lan"), ZaloPerson(zstate, MAI, "Mai")
            home = await ward.say(ward_code, has("Chào mừng"))  # the code alone
            desk = await office.say(f"/start {office_code}", has("Chào mừng"))
            assert listed(desk)["Báo cáo chờ tiếp nhận"], text_of(desk)

            # 1. The ward answers the March report by typing and sends it (version 1).
            due = await ward.choose(home, "Báo cáo cần nộp", has("Báo cáo cần nộp —"))
            q = await ward.choose(due, "Báo cáo tháng 03/2022", question(1))
            assert "Số cơ sở đang quản lý" in text_of(q), text_of(q)
            await ward.say("10", question(2))
            await ward.say("8", question(3))
            q = await ward.say("khong", question(4))  # no violation: its count is skipped
            q = await ward.choose(q, "Bỏ qua", question(5))  # ty_le
            q = await ward.choose(q, "Bỏ qua", question(6))  # kinh_phi
            ticked = await ward.choose(q, "Hội nghị", question(6))  # multi_choice: a toggle
            # The tick shows on the re-sent list, as Telegram's ⬜/☑️ buttons do.
            assert "☑️ Hội nghị" in text_of(ticked) and "⬜ Tờ rơi" in text_of(ticked), \
                text_of(ticked)
            q = await ward.choose(ticked, "Xong", question(7))
            q = await ward.say("Tốt", question(8))  # the label
            q = await ward.choose(q, "Bỏ qua", question(9))  # ngay_hop
            q = await ward.choose(q, "Có", question(10))  # khong_te_nan
            q = await ward.choose(q, "Bỏ qua", question(11))  # kho_khan
            review = await ward.choose(q, "Bỏ qua", has("Xem lại báo cáo"))  # van_ban
            assert "2. Số cơ sở đã kiểm tra: 8" in text_of(review), text_of(review)
            assert "6. Hình thức tuyên truyền: Hội nghị" in text_of(review), text_of(review)
            receipt = await send(ward, review)
            assert "🟢 Đúng hạn" in text_of(receipt), text_of(receipt)
            [v1] = db_rows(path, "SELECT * FROM submission")
            assert (v1["version"], v1["state"]) == (1, "submitted")

            # 2. The office opens its queue and returns the report, naming question 2.
            queue = await office.choose(desk, "Báo cáo chờ tiếp nhận", has("📥"))
            assert "P. Cát Linh — Báo cáo tháng 03/2022" in text_of(queue), text_of(queue)
            opened = await office.choose(queue, "P. Cát Linh · tháng 03/2022", has("Số biên nhận"))
            assert "2. Số cơ sở đã kiểm tra: 8" in text_of(opened), text_of(opened)
            asking = await office.choose(opened, "Trả lại để bổ sung", has("Trả lại báo cáo"))
            # It waits for the typed comment: the questions are lettered, «Hủy» is last.
            assert mark_of(asking, "Số cơ sở đã kiểm tra") == "b", text_of(asking)
            assert listed(asking)["Hủy"] == "l", text_of(asking)
            ticked = await office.choose(asking, "2. Số cơ sở đã kiểm tra", has("Trả lại báo cáo"))
            # The office sees what it ticked.
            assert "b. ☑️ 2. Số cơ sở đã kiểm tra" in text_of(ticked), text_of(ticked)
            seen = ward.seen()
            done = await office.say(COMMENT, has("Đã trả lại báo cáo cho P. Cát Linh"))
            assert "Đơn vị đã được thông báo" in text_of(done), text_of(done)

            # 3. The outbox tells the ward on Zalo, with the comment and the way to the form.
            notice = await ward.wait(has("Báo cáo được trả lại để bổ sung"), after=seen)
            assert f"Ý kiến: «{COMMENT}»" in text_of(notice), text_of(notice)
            assert "Các câu cần sửa: 2. Số cơ sở đã kiểm tra" in text_of(notice)
            assert listed(notice) == {"Mở báo cáo": "1"}, text_of(notice)
            seen = ward.seen()
            q = await ward.say("mo bao cao", question(2))  # the label, without diacritics
            assert "Số cơ sở đã kiểm tra" in text_of(q), text_of(q)
            assert "Câu trả lời hiện tại: 8" in text_of(q), text_of(q)
            assert "Xem lại" in listed(q), text_of(q)  # lettered: «9» is the answer
            intro = await ward.wait(has("Đây là lần gửi thứ 2"), after=seen)
            assert f"Báo cáo được trả lại với ý kiến: «{COMMENT}»" in text_of(intro)

            # 4. The ward fixes only that question and sends version 2.
            review = await ward.say("9", has("Xem lại báo cáo"))
            assert "1. Số cơ sở đang quản lý: 10" in text_of(review), text_of(review)
            assert "2. Số cơ sở đã kiểm tra: 9" in text_of(review), text_of(review)
            receipt2 = await send(ward, review)
            assert "Lần gửi thứ 2" in text_of(receipt2), text_of(receipt2)

            # 5. The office sees version 2 with the history and accepts it by typing its label.
            menu = await office.say("menu", lambda m: "Báo cáo chờ tiếp nhận" in listed(m))
            queue = await office.choose(menu, "Báo cáo chờ tiếp nhận", has("📥"))
            assert "tháng 03/2022 v2" in text_of(queue), text_of(queue)
            opened = await office.choose(queue, "P. Cát Linh · tháng 03/2022", has("Số biên nhận"))
            assert "2. Số cơ sở đã kiểm tra: 9" in text_of(opened), text_of(opened)
            assert f"Lần gửi thứ 1 đã được trả lại với ý kiến: «{COMMENT}»" in text_of(opened)
            seen = ward.seen()
            accepted = await office.say("tiep nhan", has("Đã tiếp nhận: P. Cát Linh"))
            assert "tháng 03/2022" in text_of(accepted), text_of(accepted)
            told = await ward.wait(has("Báo cáo đã được tiếp nhận"), after=seen)
            assert "tháng 03/2022" in text_of(told), text_of(told)

            # 6. The status shows the report accepted.
            status = await office.say("Tình hình báo cáo", has("Tình hình nộp báo cáo"))
            march = await office.choose(status, "Kỳ sau", has("tháng 03/2022", "Phải nộp"))
            assert "Đã tiếp nhận: 1 · chờ tiếp nhận: 0 · đã trả lại: 0" in text_of(march), \
                text_of(march)
            assert "Traceback" not in bot.log(), bot.log()

    # Zalo was only sent what it takes: plain text within 2000 characters, no buttons' words.
    for who in (LAN, MAI):
        for message in zstate.bot_messages(who):
            text = text_of(message)
            assert len(text) <= 2000 and "</" not in text and "<b>" not in text, text
            assert not WORDING.search(text), text

    # The database keeps both versions; the ward was told on Zalo, through the outbox.
    v1 = db_rows(path, "SELECT * FROM submission WHERE version = 1")[0]
    v2 = db_rows(path, "SELECT * FROM submission WHERE version = 2")[0]
    assert (v1["state"], v2["state"]) == ("superseded", "accepted")
    assert v1["review_comment"] == COMMENT and v1["review_fields"] == '["co_so_kiem_tra"]'
    first, second = answers(path, v1["id"]), answers(path, v2["id"])
    assert first["co_so_kiem_tra"] == 8 and second["co_so_kiem_tra"] == 9
    assert first["hinh_thuc"] == second["hinh_thuc"], first
    assert {k: v for k, v in first.items() if k != "co_so_kiem_tra"} == {
        k: v for k, v in second.items() if k != "co_so_kiem_tra"}
    [obligation] = db_rows(path, "SELECT status FROM obligation WHERE id = ?",
                           v1["obligation_id"])
    assert obligation["status"] == "accepted"
    actions = [r["action"] for r in db_rows(path, "SELECT action FROM audit_log ORDER BY id")]
    assert actions.count("submission.submit") == 2
    assert "submission.return" in actions and "submission.accept" in actions
    members = {r["full_name"]: r for r in db_rows(path, "SELECT * FROM member")}
    assert all(m["telegram_user_id"] is None and m["zalo_user_id"] for m in members.values())
    assert v2["submitted_by_member_id"] == members["Lan"]["id"]
    assert v1["reviewed_by_member_id"] == v2["reviewed_by_member_id"] == members["Mai"]["id"]
    sent = db_rows(path, "SELECT kind, status, chat_id FROM outbox")
    assert {(r["kind"], r["status"]) for r in sent} == {("returned", "sent"), ("accepted", "sent")}
    assert {r["chat_id"] for r in sent} == {members["Lan"]["zalo_user_id"]}
