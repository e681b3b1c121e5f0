"""End to end, two channels at once: the reminder and escalation chain of issue 4 with the
ward's reporter and the standing office on Zalo, the ward's head and the chair on Telegram.

The real `python -m bot run` serves both channels (either stand-in over HTTP); sweeps are
driven with `python -m bot sweep --now` (SWEEP_INTERVAL_SECONDS=0), each channel's outbox
sender delivers its own people's messages. The chair's «Nhắc tất cả» on Telegram reaches the
reporter on Zalo and the head on Telegram; the reporter answers the nudge on Zalo by typing
and gets the receipt. Nothing sleeps: every step waits with a deadline.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any

from sandbox.botapi import BotApiState
from sandbox.zaloapi import ZaloApiState, ZaloStandInServer
from tests.support.botproc import running_bot
from tests.support.chat import buttons
from tests.support.zalochat import ZaloPerson, listed, text_of
from tests.test_e2e_escalation import (
    CHAIR_AT,
    FIRST_BOT_NOW,
    OVERDUE_AT,
    REMINDER,
    REMINDER_AT,
    STANDING_AT,
    WARD,
    Chats,
    digest_of,
    outbox_drained,
    personal_overdue,
    sweep,
    text_has,
    ward_obligation,
)

ZALO_TOKEN = "1234567890:e2e-ZALO_token"
LAN, MAI = "a1b2c3d4e5f60718293a", "0f1e2d3c4b5a69788796"  # Zalo ids: reporter, office
HUNG, BINH = 882_002, 882_004  # Telegram ids: head, chair
JSON = dict[str, Any]


async def invites(url: str) -> dict[str, str]:
    from db.invites import create_invite, find_agency
    from db.models import Role
    from db.session import make_engine, make_sessionmaker

    people = {"lan": ("p-cat-linh", Role.reporter), "hung": ("p-cat-linh", Role.head),
              "mai": ("ldtbxh", Role.standing_office), "binh": ("ldtbxh", Role.chair)}
    codes = {}
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            for who, (agency_code, role) in people.items():
                agency = await find_agency(session, agency_code, "dongda-2022")
                created = await create_invite(session, agency, role, dt.timedelta(days=7),
                                              actor_label="e2e",
                                              now=dt.datetime.fromisoformat(FIRST_BOT_NOW))
                codes[who] = created.code
    finally:
        await engine.dispose()
    return codes


def overdue_on_zalo(m: JSON) -> bool:
    return personal_overdue({"text": text_of(m)})


async def test_chain_and_the_chairs_nudge_reach_both_channels(
        dongda_template: Path, tmp_path: Path) -> None:
    path = tmp_path / "bot.sqlite3"
    shutil.copy(dongda_template, path)
    url = f"sqlite+aiosqlite:///{path}"
    codes = await invites(url)
    oid = ward_obligation(path)["id"]
    zstate = ZaloApiState(token=ZALO_TOKEN)
    async with ZaloStandInServer(zstate) as zalo:
        env = {"SWEEP_INTERVAL_SECONDS": "0", "FLOOD_LIMIT": "1000",
               "BOT_FAKE_NOW": FIRST_BOT_NOW, "ZALO_BOT_TOKEN": ZALO_TOKEN,
               "ZALO_API_URL": zalo.api_root}
        async with running_bot(url, tmp_path / "bot.log", state=BotApiState(), **env) as bot:
            chats = Chats(bot.client)
            lan, mai = ZaloPerson(zstate, LAN, "Lan"), ZaloPerson(zstate, MAI, "Mai")
            await lan.say(f"/start {codes['lan']}", text_has("Chào mừng"))
            await mai.say(codes["mai"], text_has("Chào mừng"))
            for user, who, name in ((HUNG, "hung", "Hùng"), (BINH, "binh", "Bình")):
                await bot.client.send_text(user, f"/start {codes[who]}", first_name=name,
                                           language_code="vi")
                await chats.next(user, lambda m: (m.get("text") or "").startswith("✅"))

            # 1. The reminder reaches the reporter on Zalo, its button a numbered choice.
            seen = lan.seen()
            await sweep(url, REMINDER_AT)
            reminder = await lan.wait(text_has(REMINDER, "tháng 01/2022"), after=seen)
            assert "12/01/2022" in text_of(reminder) and listed(reminder), text_of(reminder)
            await outbox_drained(path)
            await chats.nothing_new(HUNG, BINH)

            # 2. Overdue: the reporter (Zalo) and the head (Telegram).
            seen = lan.seen()
            await sweep(url, OVERDUE_AT)
            await lan.wait(overdue_on_zalo, after=seen)
            await chats.next(HUNG, personal_overdue)
            await outbox_drained(path)

            # 3. The standing office's digest, on Zalo.
            seen = mai.seen()
            await sweep(url, STANDING_AT)
            digest = await mai.wait(lambda m: digest_of("17/01/2022")({"text": text_of(m)}),
                                    after=seen)
            assert WARD in text_of(digest), text_of(digest)
            await outbox_drained(path)

            # 4. The chair's digest on Telegram; «Nhắc tất cả» nudges both channels.
            await sweep(url, CHAIR_AT)
            digest = await chats.next(BINH, digest_of("19/01/2022"))
            await outbox_drained(path)
            remind_all = next(d for label, d in buttons(digest).items() if "Nhắc tất cả" in label)
            seen = lan.seen()
            await chats.press(BINH, digest, remind_all)
            confirmation = await chats.next(BINH, text_has("Đã xếp lịch gửi nhắc tới"))
            assert "2 người của 1 đơn vị" in confirmation["text"], confirmation["text"]
            nudge = await lan.wait(text_has("đề nghị đơn vị gửi ngay"), after=seen)
            await chats.next(HUNG, text_has("đề nghị đơn vị gửi ngay"))
            await outbox_drained(path)

            # 5. The reporter answers the nudge on Zalo: the report, «Không phát sinh», yes.
            # (The intro's «Không phát sinh» is listed under the first question, which
            # follows it: a Zalo list answers for the whole turn.)
            first = await lan.choose(nudge, "tháng 01/2022", text_has("Câu 1/"))
            assert listed(first)["Không phát sinh"] == "a", text_of(first)
            confirm = await lan.choose(first, "Không phát sinh", text_has("tháng 01/2022"))
            receipt_wait = text_has("Đã nhận báo cáo")
            receipt = (confirm if receipt_wait(confirm) else await lan.choose(
                confirm, "Xác nhận", receipt_wait))
            assert "tháng 01/2022" in text_of(receipt), text_of(receipt)
            assert ward_obligation(path)["status"] == "submitted"
            assert "Traceback" not in bot.log(), bot.log()
    assert oid
