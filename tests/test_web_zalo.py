"""`python -m bot web` with Zalo alone: the Zalo webhook at its URL's path refuses a missing or
wrong secret with 403 and handles a Zalo event once however often it comes; expiring file
links are served at /f/<token>. The web app runs in process (its lifespan entered here),
Zalo is the in-process stand-in over HTTP."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import httpx
from pydantic import SecretStr

from bot.web import create_web_app
from core.settings import Settings
from db.file_links import create_link
from db.session import make_engine, make_sessionmaker
from sandbox.zaloapi import ZaloApiState, ZaloStandInServer

TOKEN = "1234567890:web-ZALO"
SECRET = "zalo-whsec-42"
USER = "5c4b3a29181706f5e4d3"
NOW = dt.datetime.fromisoformat("2022-03-05T08:00:00+07:00")


async def test_zalo_webhook_secret_redelivery_and_file_links(
        dongda_template: Path, tmp_path: Path) -> None:
    path = tmp_path / "web.sqlite3"
    shutil.copy(dongda_template, path)
    url = f"sqlite+aiosqlite:///{path}"
    from db.invites import create_invite, find_agency
    from db.models import Role

    engine = make_engine(url)
    async with make_sessionmaker(engine)() as session, session.begin():
        agency = await find_agency(session, "p-cat-linh", "dongda-2022")
        code = (await create_invite(session, agency, Role.reporter, dt.timedelta(days=7),
                                    actor_label="test", now=NOW)).code
        token = await create_link(session, b"%PDF-1.4 tong hop", "Tổng hợp tháng 3.pdf",
                                  "application/pdf", NOW, dt.timedelta(hours=24))
        old = await create_link(session, b"old", "cu.csv", "text/csv",
                                NOW - dt.timedelta(days=2), dt.timedelta(hours=24))
    await engine.dispose()

    state = ZaloApiState(token=TOKEN)
    async with ZaloStandInServer(state) as zalo:
        settings = Settings(_env_file=None, database_url=url,  # type: ignore[call-arg]
                            zalo_bot_token=SecretStr(TOKEN), zalo_api_url=zalo.api_root,
                            zalo_webhook_url="https://bot.example.vn/hooks/zalo",
                            zalo_webhook_secret=SecretStr(SECRET), fake_now=NOW,
                            sweep_interval_seconds=0, public_url="https://bot.example.vn")
        app = create_web_app(settings, register_webhook=False)
        async with app.router.lifespan_context(app), httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://web") as web:
            event = state.user_sends_text(USER, code, display_name="Lan")
            for headers in ({}, {"X-Bot-Api-Secret-Token": "wrong-secret"}):
                refused = await web.post("/hooks/zalo", json=event, headers=headers)
                assert refused.status_code == 403
            assert state.bot_messages(USER) == [], "a refused event is not handled"
            right = {"X-Bot-Api-Secret-Token": SECRET}
            answered = await web.post("/hooks/zalo", json=event, headers=right)
            assert answered.status_code == 200
            [welcome] = state.bot_messages(USER)
            assert "Chào mừng Lan" in welcome["text"], welcome
            # Zalo may deliver the same event twice: handled once.
            again = await web.post("/hooks/zalo", json=event, headers=right)
            assert again.status_code == 200 and len(state.bot_messages(USER)) == 1
            garbage = await web.post("/hooks/zalo", content=b"{", headers=right)
            assert garbage.status_code == 400
            # No Telegram token: no Telegram webhook.
            assert (await web.post("/tg", json={"update_id": 1})).status_code in (404, 405)

            got = await web.get(f"/f/{token}")
            assert got.status_code == 200 and got.content == b"%PDF-1.4 tong hop"
            assert got.headers["content-type"] == "application/pdf"
            assert "filename*=UTF-8''T%E1%BB%95ng" in got.headers["content-disposition"]
            for gone in (old, token + "x", "a" * 300):
                assert (await web.get(f"/f/{gone}")).status_code == 404
