"""Update handling: form answers per second through the real bot process, against a bare
python-telegram-bot echo bot in the same run, both driven by the same event-driven driver
against the same local Bot API stand-in.

Each of USERS officials answers QUESTIONS integer questions one after the other: the next
answer is sent the moment the previous reply arrives (the stand-in wakes the driver when the
bot writes in the chat; nothing polls). The echo bot then gets the same number of messages
the same way. That is one round; ROUNDS rounds alternate the two (bot, echo, bot, echo, …,
each process started for its turn and stopped after it, the bot's forms going on where they
stopped), so that a change in the machine's speed during the run (on this shared machine
the echo's rate moved by half between two runs minutes apart) falls on both; each round's
officials open a report of their own, all of the same form. Reported:
answers/s for each over all rounds, the ratio of each round and their median (target
≥ 50 %), and, for the bot, SQL statements per answer (counted in the bot's process with
SQLAlchemy's `before_cursor_execute` event; BEGIN/COMMIT counted apart), connections checked
out and CPU milliseconds per answer (target ≤ 4 statements).

    python bench/updates.py                  # 3 rounds of 40 users × 25 answers, SQLite
    python bench/updates.py --smoke          # 2 rounds of 5 users × 5 answers
    python bench/updates.py --database-url postgresql://postgres@127.0.0.1/bench_updates

`--database-url` needs an empty database (the schema is created). BENCH_PROFILE=FILE in the
environment writes a cProfile of the bot's measured phase (its main thread) to FILE. The
last line on stdout is the result as JSON, with the git commit.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from sqlalchemy import func, select  # noqa: E402

from bench.commit import commit_id  # noqa: E402
from bench.machine import python_ref_ms  # noqa: E402
from core.planfile import load_plan  # noqa: E402
from core.settings import Settings  # noqa: E402
from db.migrate import upgrade  # noqa: E402
from db.models import Agency, Committee, Member, MemberRole, Obligation, Role  # noqa: E402
from db.plan_import import import_plan  # noqa: E402
from db.session import make_engine, make_sessionmaker, normalize_url  # noqa: E402
from sandbox.botapi import BotApiState, StandInServer  # noqa: E402

FAKE_NOW = "2022-03-05T08:00:00+07:00"
FIRST_USER = 50_000
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
# The real bot, counting what it asks of the database: on SIGUSR1 it writes the counts so
# far to $BENCH_SQL_COUNTS (the driver asks before and after the measured phase).
COUNTING_BOT = '''
import json, os, runpy, signal, sys
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.pool import Pool

counts = {"statements": 0, "transaction_control": 0, "commits": 0, "checkouts": 0}

@event.listens_for(Engine, "before_cursor_execute")
def _statement(conn, cursor, statement, parameters, context, executemany):
    word = statement.lstrip()[:8].upper()
    if word.startswith(("BEGIN", "COMMIT", "ROLLBACK")):
        counts["transaction_control"] += 1
    else:
        counts["statements"] += 1

@event.listens_for(Engine, "commit")
def _commit(conn):
    counts["commits"] += 1

@event.listens_for(Pool, "checkout")
def _checkout(dbapi_connection, record, proxy):
    counts["checkouts"] += 1

# BENCH_PROFILE=path: cProfile the measured phase (between the driver's two SIGUSR1s).
profile_path = os.environ.get("BENCH_PROFILE")
profiler = None

def _dump(*_):
    global profiler
    if profile_path:
        import cProfile
        if profiler is None:
            profiler = cProfile.Profile()
            profiler.enable()
        else:
            profiler.disable()
            profiler.dump_stats(profile_path)
    path = os.environ["BENCH_SQL_COUNTS"]
    with open(path + ".tmp", "w") as f:
        json.dump(counts, f)
    os.replace(path + ".tmp", path)

signal.signal(signal.SIGUSR1, _dump)
sys.argv = ["bot", "run"]
runpy.run_module("bot", run_name="__main__", alter_sys=True)
'''


# ----------------------------------------------------------------------------- the data


def plan_text(users: int, questions: int, buttons: bool = False, reports: int = 1) -> str:
    """`reports` monthly reports (one per round), each the same form of `questions` integer
    questions, for `users` agencies; with `buttons`, every second question is a yes/no
    answered with a button."""
    def field(i: int) -> str:
        if buttons and i % 2 == 0:
            return f"      - {{code: q{i}, label: \"Câu hỏi số {i}\", type: yes_no}}"
        return f"      - {{code: q{i}, label: \"Câu hỏi số {i}\", type: integer, min: 0}}"
    fields = "\n".join(field(i) for i in range(1, questions + 1))
    agencies = "\n".join(f"      - Đơn vị {i}" for i in range(1, users + 1))
    schedules = "\n".join(f"""  - code: thang{n}
    name: "Báo cáo tháng {n}"
    period: monthly
    due: {{day: 20}}
    form: f
    agencies: {{kind: don-vi}}""" for n in range(1, reports + 1))
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
{schedules}
"""


async def prepare(url: str, workdir: Path, users: int, questions: int,
                  buttons: bool = False) -> dict[int, int]:
    """Create the schema, import the plan and bind one reporter per agency; returns
    user id -> the obligation they answer."""
    return (await prepare_rounds(url, workdir, users, questions, 1, buttons))[0]


async def prepare_rounds(url: str, workdir: Path, users: int, questions: int, rounds: int,
                         buttons: bool = False) -> list[dict[int, int]]:
    """As `prepare`, with one report per round, all of the same form: for each round,
    user id -> the obligation they answer in it (each round starts a form of its own, so
    that later rounds do not answer a longer form)."""
    plan_path = workdir / "bench-plan.yaml"
    plan_path.write_text(plan_text(users, questions, buttons, rounds), encoding="utf-8")
    await asyncio.to_thread(upgrade, url)  # alembic runs its own event loop
    settings = Settings(_env_file=None, database_url=url)
    engine = make_engine(url)
    out: list[dict[int, int]] = [{} for _ in range(rounds)]
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            if await session.scalar(select(func.count()).select_from(Committee)):
                raise SystemExit(f"{url} is not empty; the benchmark needs an empty database")
            await import_plan(session, load_plan(plan_path), settings)
            agencies = (await session.scalars(
                select(Agency).where(Agency.kind == "don-vi").order_by(Agency.id))).all()
            for n, agency in enumerate(agencies, start=1):
                user = FIRST_USER + n
                member = Member(telegram_user_id=user, chat_id=user, agency_id=agency.id,
                                committee_id=agency.committee_id, full_name=f"Cán bộ {n}")
                member.roles = [MemberRole(role=Role.reporter)]
                session.add(member)
                obligations = (await session.scalars(
                    select(Obligation.id).where(Obligation.agency_id == agency.id,
                                                Obligation.period_key == "2022-03")
                    .order_by(Obligation.schedule_id))).all()
                assert len(obligations) == rounds
                for round_, obligation in zip(out, obligations, strict=True):
                    round_[user] = obligation
    finally:
        await engine.dispose()
    return out


# ----------------------------------------------------------------------------- the driver


@dataclass
class Play:
    """What the driver saw: one latency (update sent → reply received) per answer."""

    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    typed: int = 0
    pressed: int = 0

    @property
    def answers(self) -> int:
        return len(self.latencies)


async def reply(state: BotApiState, user: int, after: int, seconds: float = 60.0
                ) -> dict[str, Any]:
    """The bot's first message in the user's chat after message `after`, as it arrives."""
    message = await state.wait_bot_message(user, after, seconds)
    if message is None:
        raise TimeoutError(f"no reply for user {user} after message {after}")
    return message


def last_message_id(state: BotApiState, user: int) -> int:
    chat = state.chats.get(user)
    return chat.next_message_id - 1 if chat is not None else 0


def answer_button(message: dict[str, Any]) -> str | None:
    """The first answer button (v:…) under a question, if it is answered with buttons."""
    rows = (message.get("reply_markup") or {}).get("inline_keyboard") or []
    return next((b["callback_data"] for row in rows for b in row
                 if str(b.get("callback_data", "")).startswith("v:")), None)


async def open_forms(state: BotApiState, obligations: dict[int, int]) -> dict[int, dict[str, Any]]:
    """Each official opens their report; returns the first question each was shown."""
    async def one(user: int, obligation: int) -> tuple[int, dict[str, Any]]:
        state.add_user(user, first_name=f"U{user}", language_code="vi")
        sent = state.user_sends_text(user, "/start")["message"]["message_id"]
        hello = await reply(state, user, sent)
        after = last_message_id(state, user)
        state.user_presses(user, hello["message_id"], f"o:{obligation}", strict=False)
        return user, await reply(state, user, after)
    return dict(await asyncio.gather(*(one(u, o) for u, o in obligations.items())))


async def play(state: BotApiState, users: list[int], answers: int,
               shown: dict[int, dict[str, Any]] | None = None,
               think: Callable[[], Awaitable[None]] | None = None) -> Play:
    """Every user sends `answers` answers, each the moment the previous reply arrived (after
    `think`, if given): a number typed, or the first button under a yes/no question."""
    result = Play()

    async def one(user: int) -> None:
        question = (shown or {}).get(user)
        for i in range(answers):
            if think is not None:
                await think()
            button = answer_button(question) if question is not None else None
            started = time.monotonic()
            if button is not None:
                after = last_message_id(state, user)
                state.user_presses(user, question["message_id"], button)  # type: ignore[index]
                result.pressed += 1
            else:
                update = state.user_sends_text(user, str(10 + i))
                after = update["message"]["message_id"]
                result.typed += 1
            question = await reply(state, user, after)
            result.latencies.append(time.monotonic() - started)

    started = time.monotonic()
    await asyncio.gather(*(one(u) for u in users))
    result.seconds = time.monotonic() - started
    return result


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * pct // 100))
    return ordered[int(rank) - 1]


# ----------------------------------------------------------------------------- processes


class BotProcess:
    """A bot (ours or the echo) in its own process, polling the stand-in."""

    def __init__(self, process: asyncio.subprocess.Process, counts: Path | None) -> None:
        self.process, self.counts_path = process, counts

    @classmethod
    async def start(cls, args: list[str], env: dict[str, str], log: Path,
                    counts: Path | None = None) -> BotProcess:
        if counts is not None:
            env = {**env, "BENCH_SQL_COUNTS": str(counts)}
        process = await asyncio.create_subprocess_exec(
            *args, cwd=ROOT, env=env, stdout=log.open("wb"), stderr=asyncio.subprocess.STDOUT)
        return cls(process, counts)

    def cpu_seconds(self) -> float:
        """User + system CPU time of the process so far (Linux /proc)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    async def sql_counts(self) -> dict[str, int]:
        """The bot's statement counts so far (it writes them on SIGUSR1)."""
        assert self.counts_path is not None
        self.counts_path.unlink(missing_ok=True)
        self.process.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + 30
        while not self.counts_path.exists():
            if time.monotonic() > deadline or self.process.returncode is not None:
                raise TimeoutError("the bot did not report its SQL counts")
            await asyncio.sleep(0.01)
        return dict(json.loads(self.counts_path.read_text()))

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), 20)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


async def wait_polling(state: BotApiState, before: int) -> None:
    deadline = time.monotonic() + 60
    while len(state.calls("getUpdates")) <= before:
        if time.monotonic() > deadline:
            raise TimeoutError("the bot did not start polling")
        await asyncio.sleep(0.05)


def bot_env(server: StandInServer, url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("BOT_TOKEN", "DATABASE_URL")}
    env.update(BOT_TOKEN="123456:BENCH", TELEGRAM_API_URL=server.url, DATABASE_URL=url,
               BOT_FAKE_NOW=FAKE_NOW, SWEEP_INTERVAL_SECONDS="0", FLOOD_LIMIT="100000",
               PYTHONPATH=str(ROOT))
    return env


async def start_bot(server: StandInServer, url: str, workdir: Path) -> BotProcess:
    """The real `python -m bot run`, counting its SQL, polling the stand-in."""
    before = len(server.state.calls("getUpdates"))
    bot = await BotProcess.start([sys.executable, "-c", COUNTING_BOT], bot_env(server, url),
                                 workdir / "bot.log", counts=workdir / "sql-counts.json")
    await wait_polling(server.state, before)
    return bot


@dataclass
class Measured:
    """The bot's play with what it cost the bot's process."""

    play: Play
    sql: dict[str, int]
    cpu_seconds: float

    def per_answer(self) -> dict[str, float]:
        n = max(1, self.play.answers)
        return {"sql_statements_per_answer": round(self.sql["statements"] / n, 2),
                "transaction_control_per_answer": round(
                    self.sql["transaction_control"] / n, 2),
                "commits_per_answer": round(self.sql["commits"] / n, 2),
                "checkouts_per_answer": round(self.sql["checkouts"] / n, 2),
                "bot_cpu_ms_per_answer": round(1000 * self.cpu_seconds / n, 2)}


async def measured_play(bot: BotProcess, state: BotApiState, users: list[int], answers: int,
                        shown: dict[int, dict[str, Any]],
                        think: Callable[[], Awaitable[None]] | None = None) -> Measured:
    before, cpu = await bot.sql_counts(), bot.cpu_seconds()
    result = await play(state, users, answers, shown, think)
    after = await bot.sql_counts()
    return Measured(result, {k: after[k] - before[k] for k in after},
                    bot.cpu_seconds() - cpu)


def database_kind(url: str) -> str:
    return normalize_url(url).split(":", 1)[0].split("+", 1)[0]


# ----------------------------------------------------------------------------- the run


async def run(users: int, questions: int, rounds: int, database_url: str | None
              ) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-updates-"))
    echo_script = tmp / "echo.py"
    echo_script.write_text(ECHO_BOT, encoding="utf-8")
    measured: list[Measured] = []
    echoes: list[tuple[Play, float]] = []
    try:
        url = normalize_url(database_url or f"sqlite+aiosqlite:///{tmp / 'bench.sqlite3'}")
        each_round = await prepare_rounds(url, tmp, users, questions, rounds)
        state = BotApiState()
        server = StandInServer(state)
        await server.start()
        try:
            for obligations in each_round:
                bot = await start_bot(server, url, tmp)
                try:
                    shown = await open_forms(state, obligations)
                    measured.append(await measured_play(bot, state, list(obligations),
                                                        questions, shown))
                finally:
                    await bot.stop()
                # The echo bot: same stand-in, same users, same number of messages, same
                # driver.
                calls = len(state.calls("getUpdates"))
                echo = await BotProcess.start([sys.executable, str(echo_script), server.url],
                                              bot_env(server, url), tmp / "echo.log")
                try:
                    await wait_polling(state, calls)
                    cpu = echo.cpu_seconds()
                    echo_play = await play(state, list(obligations), questions)
                    echoes.append((echo_play, echo.cpu_seconds() - cpu))
                finally:
                    await echo.stop()
        finally:
            await server.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    ratios = [(m.play.answers / m.play.seconds) / (e.answers / e.seconds)
              for m, (e, _) in zip(measured, echoes, strict=True)]
    bot_answers = sum(m.play.answers for m in measured)
    echo_messages = sum(e.answers for e, _ in echoes)
    total = Measured(
        Play(seconds=sum(m.play.seconds for m in measured),
             latencies=[x for m in measured for x in m.play.latencies]),
        {k: sum(m.sql[k] for m in measured) for k in measured[0].sql},
        sum(m.cpu_seconds for m in measured))
    return {"benchmark": "updates", "commit": commit_id(), "python_ref_ms": python_ref_ms(),
            "database": database_kind(url),
            "users": users, "rounds": rounds, "answers": bot_answers,
            "bot_answers_per_s": round(bot_answers / total.play.seconds, 1),
            "echo_messages_per_s": round(echo_messages / sum(e.seconds for e, _ in echoes), 1),
            "ratio": round(statistics.median(ratios), 2),
            "ratios": [round(r, 2) for r in ratios],
            "rounds_per_s": [[round(m.play.answers / m.play.seconds, 1),
                              round(e.answers / e.seconds, 1)]
                             for m, (e, _) in zip(measured, echoes, strict=True)],
            **total.per_answer(),
            "echo_cpu_ms_per_message": round(
                1000 * sum(c for _, c in echoes) / max(1, echo_messages), 2),
            "bot_p50_ms": round(1000 * percentile(total.play.latencies, 50), 1),
            "echo_p50_ms": round(1000 * percentile(
                [x for e, _ in echoes for x in e.latencies], 50), 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=40)
    parser.add_argument("--questions", type=int, default=25)
    parser.add_argument("--database-url", help="an empty database (default: temporary SQLite)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="bot and echo alternate this many times (default 3)")
    parser.add_argument("--smoke", action="store_true", help="2 rounds of 5 users × 5 answers")
    args = parser.parse_args()
    users, questions, rounds = (5, 5, 2) if args.smoke else (
        args.users, args.questions, args.rounds)
    result = asyncio.run(run(users, questions, rounds, args.database_url))
    print(f"form answers: {result['bot_answers_per_s']}/s; echo bot: "
          f"{result['echo_messages_per_s']}/s; ratio {result['ratio']:.0%}, the median of "
          f"{result['ratios']} (target ≥ 50%); "
          f"{result['sql_statements_per_answer']} SQL statements per answer (target ≤ 4)")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
