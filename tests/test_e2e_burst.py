"""End to end: a phone flushes its queued answers in a burst (issue 10 §1).

A reporter answers 18 integer questions; the answers reach the real bot process a few
milliseconds apart, closer than the bot takes to handle one. Each must land on its own
question, in order, none lost and none doubled, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import random
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.support.botproc import running_bot
from tests.support.chat import button, buttons, is_review

FAKE_NOW = "2022-03-05T08:00:00+07:00"
OFFICIAL = 880_201
USER = {"first_name": "Lan", "language_code": "vi"}
QUESTIONS = 18
BOT_ENV = {"BOT_FAKE_NOW": FAKE_NOW, "FLOOD_LIMIT": "1000", "SWEEP_INTERVAL_SECONDS": "0"}

PLAN = f"""
format: 1
plan: {{code: burst-2022, title: "Kế hoạch thử nghiệm", year: 2022}}
committee: {{code: bcd-burst, name: "Ban Chỉ đạo thử nghiệm", standing_office: vp}}
kinds: {{phong-ban: "Phòng, ban"}}
agencies:
  - {{code: vp, name: "Văn phòng", kind: phong-ban}}
  - {{code: ca, name: "Công an quận", kind: phong-ban}}
forms:
  - code: so-lieu
    title: "Báo cáo số liệu"
    fields:
{chr(10).join(f'      - {{code: q{n:02d}, label: "Chỉ tiêu số {n:02d}", type: integer, min: 0}}'
              for n in range(1, QUESTIONS + 1))}
schedules:
  - code: thang
    name: "Báo cáo tháng"
    period: monthly
    cutoff: {{day: 12}}
    due: {{day: 13}}
    form: so-lieu
    agencies: [ca]
"""


async def _seed(url: str, tmp_path: Path) -> str:
    from core.planfile import load_plan
    from core.settings import Settings
    from db.invites import create_invite, find_agency
    from db.models import Role
    from db.plan_import import import_plan
    from db.session import make_engine, make_sessionmaker

    plan_file = tmp_path / "burst.yaml"
    plan_file.write_text(PLAN, encoding="utf-8")
    settings = Settings(_env_file=None, database_url=url, bot_token="123456:TEST")
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            await import_plan(session, load_plan(plan_file), settings)
        async with make_sessionmaker(engine)() as session, session.begin():
            agency = await find_agency(session, "ca", "burst-2022")
            created = await create_invite(
                session, agency, Role.reporter, dt.timedelta(days=7), actor_label="e2e",
                now=dt.datetime.fromisoformat(FAKE_NOW))
        return created.code
    finally:
        await engine.dispose()


async def _answers(url: str) -> list[dict[str, Any]]:
    from db.models import Answer
    from db.session import make_engine, make_sessionmaker

    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as session:
            rows = (await session.scalars(select(Answer))).all()
            return [{"field": r.field_code, "value": r.value} for r in rows]
    finally:
        await engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def burst_url(request: pytest.FixtureRequest) -> str:
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("postgres_url")


async def test_answers_sent_in_a_quick_burst_go_to_successive_questions(
    burst_url: str, tmp_path: Path
) -> None:
    code = await _seed(burst_url, tmp_path)
    async with running_bot(burst_url, tmp_path / "bot.log", **BOT_ENV) as bot:
        client = bot.client
        sent = await client.send_text(OFFICIAL, f"/start {code}", **USER)
        await client.wait_for_message(OFFICIAL, lambda m: "Chào mừng" in m["text"],
                                      after_message_id=sent["message_id"])
        sent = await client.send_text(OFFICIAL, "Báo cáo cần nộp", **USER)
        listing = await client.wait_for_message(OFFICIAL, lambda m: bool(buttons(m)),
                                                after_message_id=sent["message_id"])
        data = button(listing, lambda t: "Báo cáo tháng" in t and "03/2022" in t)
        await client.press(OFFICIAL, listing["message_id"], data)
        first = await client.wait_for_message(OFFICIAL, lambda m: "Câu 1/" in m["text"],
                                              after_message_id=listing["message_id"])

        # Spaced from 0 to ~20 ms: some arrive while the previous answer is being handled,
        # some while one has just finished (the window the old per-chat lock lost).
        rng = random.Random(10)
        for n in range(1, QUESTIONS + 1):
            await client.send_text(OFFICIAL, str(100 + n), **USER)
            await asyncio.sleep(rng.choice([0, 0.002, 0.005, 0.01, 0.02]))
        review = await client.wait_for_message(OFFICIAL, is_review, timeout=60,
                                               after_message_id=first["message_id"])

    answers = await _answers(burst_url)
    got = {a["field"]: (a["value"] if not isinstance(a["value"], str)
                        else json.loads(a["value"])) for a in answers}
    assert got == {f"q{n:02d}": 100 + n for n in range(1, QUESTIONS + 1)}, got
    assert len(answers) == QUESTIONS
    for n in range(1, QUESTIONS + 1):
        assert f"{n}. Chỉ tiêu số {n:02d}: {100 + n}" in review["text"], review["text"]
