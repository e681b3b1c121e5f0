"""Update handling: form answers per second through the real bot process, against a bare
python-telegram-bot echo bot in the same run, both polling the same local Bot API stand-in.

Each of USERS officials answers QUESTIONS integer questions one after the other (the next
answer is sent when the previous reply arrived, as on a phone); the echo bot gets the same
number of messages the same way. Reported: answers/s for each and the ratio.

    python bench/updates.py                  # 40 users × 25 answers
    python bench/updates.py --smoke          # 5 users × 5 answers
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import select  # noqa: E402

from core.planfile import load_plan  # noqa: E402
from db.migrate import upgrade  # noqa: E402
from db.models import Agency, Member, MemberRole, Obligation, Role  # noqa: E402
from db.plan_import import import_plan  # noqa: E402
from db.session import make_engine, make_sessionmaker  # noqa: E402
from sandbox.botapi import BotApiState, StandInServer  # noqa: E402

FAKE_NOW = "2022-03-05T08:00:00+07:00"
ECHO_BOT = '''
import sys
from telegram import Update
from telegram.ext import ApplicationBuilder, MessageHandler, filters

async def echo(update: Update, context) -> None:
    await update.effective_message.reply_text(update.effective_message.text)

url = sys.argv[1]
app = (ApplicationBuilder().token("654321:ECHO").base_url(f"{url}/bot")
       .base_file_url(f"{url}/file/bot").concurrent_updates(True).build())
app.add_handler(MessageHandler(filters.TEXT, echo))
app.run_polling(allowed_updates=Update.ALL_TYPES)
'''


def plan_text(users: int, questions: int) -> str:
    fields = "\n".join(
        f"      - {{code: q{i}, label: \"Câu hỏi số {i}\", type: integer, min: 0}}"
        for i in range(1, questions + 1))
    agencies = "\n".join(f"      - Đơn vị {i}" for i in range(1, users + 1))
    return f"""format: 1
plan: {{code: bench, title: "Benchmark", year: 2022}}
committee: {{code: bench, name: "BCĐ", standing_office: thuong-truc}}
kinds: {{phong: "Phòng", don-vi: "Đơn vị"}}
agencies:
  - {{code: thuong-truc, name: "Thường trực", kind: phong}}
  - kind: don-vi
    name: "{{name}}"
    list:
{agencies}
forms:
  - code: f
    title: "Biểu mẫu"
    fields:
{fields}
schedules:
  - code: thang
    name: "Báo cáo tháng"
    period: monthly
    due: {{day: 20}}
    form: f
    agencies: {{kind: don-vi}}
"""


async def prepare(db: Path, users: int, questions: int) -> dict[int, int]:
    """Import the plan and bind one reporter per agency; returns user id -> obligation id."""
    plan_path = db.parent / "bench-plan.yaml"
    plan_path.write_text(plan_text(users, questions), encoding="utf-8")
    await asyncio.to_thread(upgrade, f"sqlite:///{db}")  # alembic runs its own event loop
    from core.settings import Settings

    settings = Settings(_env_file=None, database_url=f"sqlite+aiosqlite:///{db}")
    engine = make_engine(settings.database_url)
    out: dict[int, int] = {}
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            await import_plan(session, load_plan(plan_path), settings)
            agencies = (await session.scalars(
                select(Agency).where(Agency.kind == "don-vi").order_by(Agency.id))).all()
            for n, agency in enumerate(agencies, start=1):
                user = 50_000 + n
                member = Member(telegram_user_id=user, chat_id=user, agency_id=agency.id,
                                committee_id=agency.committee_id, full_name=f"Cán bộ {n}")
                member.roles = [MemberRole(role=Role.reporter)]
                session.add(member)
                obligation = await session.scalar(
                    select(Obligation.id).where(Obligation.agency_id == agency.id,
                                                Obligation.period_key == "2022-03"))
                out[user] = obligation
    finally:
        await engine.dispose()
    return out


async def wait_reply(state: BotApiState, user: int, after: int, deadline: float) -> int:
    """Wait for a bot message newer than `after`; returns its id."""
    while time.monotonic() < deadline:
        for message in reversed(state.chat_messages(user)):
            if message["from_bot"] and message["message_id"] > after:
                return message["message_id"]
        await asyncio.sleep(0.002)
    raise TimeoutError(f"no reply for user {user}")


async def play(state: BotApiState, users: list[int], answers: int,
               first: dict[int, str] | None = None) -> float:
    """Every user sends `answers` messages, each after the previous reply; returns seconds."""
    deadline = time.monotonic() + 600

    async def one(user: int) -> None:
        last = max((m["message_id"] for m in state.chat_messages(user) if m["from_bot"]),
                   default=0)
        for i in range(answers):
            state.user_sends_text(user, str(10 + i))
            last = await wait_reply(state, user, last, deadline)

    started = time.monotonic()
    await asyncio.gather(*(one(u) for u in users))
    return time.monotonic() - started


async def start_process(args: list[str], env: dict[str, str], log: Path
                        ) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *args, cwd=ROOT, env=env, stdout=log.open("wb"), stderr=asyncio.subprocess.STDOUT)


async def stop_process(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 20)
        except TimeoutError:
            process.kill()
            await process.wait()


async def wait_polling(state: BotApiState, before: int) -> None:
    deadline = time.monotonic() + 60
    while len(state.calls("getUpdates")) <= before:
        if time.monotonic() > deadline:
            raise TimeoutError("the bot did not start polling")
        await asyncio.sleep(0.05)


async def run(users: int, questions: int) -> dict[str, float]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-updates-"))
    try:
        db = tmp / "bench.sqlite3"
        obligations = await prepare(db, users, questions)
        state = BotApiState()
        server = StandInServer(state)
        await server.start()
        env = {k: v for k, v in os.environ.items() if k not in ("BOT_TOKEN", "DATABASE_URL")}
        env.update(BOT_TOKEN="123456:BENCH", TELEGRAM_API_URL=server.url,
                   DATABASE_URL=f"sqlite+aiosqlite:///{db}", BOT_FAKE_NOW=FAKE_NOW,
                   SWEEP_INTERVAL_SECONDS="0", FLOOD_LIMIT="100000", PYTHONPATH=str(ROOT))
        # The real bot: open each official's report, then answer every question.
        process = await start_process([sys.executable, "-m", "bot", "run"], env,
                                      tmp / "bot.log")
        await wait_polling(state, 0)
        deadline = time.monotonic() + 120
        for user, obligation in obligations.items():
            state.add_user(user, first_name=f"U{user}", language_code="vi")
            state.user_sends_text(user, "/start")
            hello = await wait_reply(state, user, 0, deadline)
            state.user_presses(user, hello, f"o:{obligation}", strict=False)
            await wait_reply(state, user, hello + 1, deadline)  # the first question
        bot_seconds = await play(state, list(obligations), questions)
        await stop_process(process)
        # The echo bot on the same stand-in, same users, same number of messages.
        calls = len(state.calls("getUpdates"))
        echo_script = tmp / "echo.py"
        echo_script.write_text(ECHO_BOT, encoding="utf-8")
        echo = await start_process([sys.executable, str(echo_script), server.url], env,
                                   tmp / "echo.log")
        await wait_polling(state, calls)
        echo_seconds = await play(state, list(obligations), questions)
        await stop_process(echo)
        await server.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    total = users * questions
    bot_rate, echo_rate = total / bot_seconds, total / echo_seconds
    return {"users": users, "answers": total, "bot_answers_per_s": round(bot_rate, 1),
            "echo_messages_per_s": round(echo_rate, 1), "ratio": round(bot_rate / echo_rate, 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=40)
    parser.add_argument("--questions", type=int, default=25)
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    users, questions = (5, 5) if args.smoke else (args.users, args.questions)
    result = asyncio.run(run(users, questions))
    print(json.dumps(result))
    print(f"form answers: {result['bot_answers_per_s']}/s; echo bot: "
          f"{result['echo_messages_per_s']}/s; ratio {result['ratio']:.0%} (target ≥ 50%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
