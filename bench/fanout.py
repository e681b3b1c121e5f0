"""Fan-out benchmark (issue 4, §6): one sweep at a deadline, drained under Telegram's limits.

What it does:

1. builds a committee of N agencies: a synthetic plan file (one one-off report, due the same
   day for everyone) imported with the real importer, and one reporter per agency; the
   first agency's reporter is also the standing office, and a chair sits in that agency too;
2. runs one sweep (`scheduler.sweeper.run_sweep`) on the morning after the deadline, so every
   agency's reporter gets an overdue notice, and the standing office and the chair a digest
   (the plan escalates to them from day 1; the sweep merges what one person gets into one
   message, so N + 1 messages);
3. lets the real `OutboxSender`, with a real `telegram.Bot` over HTTP, drain the outbox
   against the local Bot API stand-in, run as its own process (`python -m sandbox.botapi
   --rate-limit 30 --per-chat-interval 1`, or `--in-process`), enforcing 30 messages/s
   overall and 1 message/s per chat, until nothing is pending;
4. reports the messages/s achieved against the limit, the 429s the stand-in answered,
   duplicates (a chat that received one outbox message more than once) and lost messages
   (outbox rows not delivered).

    python bench/fanout.py --agencies 1000
    python bench/fanout.py --smoke                 # 60 agencies, a few seconds
    python bench/fanout.py --agencies 1000 --database-url postgresql://postgres@127.0.0.1/bench
    python bench/fanout.py --agencies 1000 --latency-ms 100   # every answer 100 ms late
    python bench/fanout.py --agencies 10000 --no-limit        # the sender's ceiling

`--latency-ms` makes the stand-in answer every call that many milliseconds after it arrived
(a network's latency; the limits are still counted on arrival). `--no-limit` turns the
stand-in's limits off and runs the sender unpaced, as with Telegram's paid broadcasts
(`allow_paid_broadcast`, PAID_BROADCAST=1), with more workers: the figure is the sender's
ceiling, judged against 1,000 msg/s.

`sender_cpu_ms_per_message` is the CPU time (all threads) of the benchmark's own process,
where the sender runs, over the drain, per message (it includes the benchmark's watch of the
outbox, a few per cent); `standin_cpu_ms_per_message` the stand-in process's. They judge a
change on a busy machine better than the rate does. `--profile FILE` writes a cProfile of
the drain (pstats; threads and greenlets make its attributions rough).

The last line on stdout is the result as JSON; a human summary goes before it. The exit code
is 0 when the target is met (at least 95 % of the limit, no 429, no duplicate, nothing
lost), 1 otherwise, so CI can run `--smoke`. With a small N the fixed start-up of the
sender weighs more, so `--smoke` judges the rate over the sending window only.

`--database-url` needs an empty database (the schema is created or upgraded); without it
the benchmark uses a temporary SQLite file.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hashlib
import itertools
import json
import logging
import os
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python bench/fanout.py` from anywhere
    sys.path.insert(0, str(ROOT))
from bench.commit import commit_id  # noqa: E402
from bench.machine import python_ref_ms  # noqa: E402
from bot.eventloop import use_event_loop  # noqa: E402

TOKEN = "123456:BENCH-TOKEN"
PLAN_CODE = "bench-fanout"
DUE_DATE = dt.date(2022, 3, 15)  # a Tuesday; the sweep runs the next working morning
FIRST_USER_ID = 50_000_000
SMOKE_AGENCIES = 60
TARGET_SHARE = 0.95
NO_LIMIT_TARGET = 1000.0  # msg/s: Telegram's paid broadcasts allow up to 1,000
NO_LIMIT_CONCURRENCY = 64


# ----------------------------------------------------------------------------- the plan


def plan_yaml(agencies: int) -> str:
    """A valid plan file with `agencies` agencies and one report due on DUE_DATE."""
    lines = [
        "format: 1",
        "plan:",
        f"  code: {PLAN_CODE}",
        '  title: "Kế hoạch thử tải gửi nhắc"',
        f"  year: {DUE_DATE.year}",
        "committee:",
        "  code: bench-committee",
        '  name: "Ban Chỉ đạo thử tải"',
        "  standing_office: dv-00000",
        "kinds:",
        '  don-vi: "Đơn vị"',
        "calendar:",
        '  quiet_hours: "21:00-07:00"',
        '  digest_time: "08:00"',
        "defaults:",
        "  reminders: [1, 0]",
        "  escalation:",
        "    steps:",
        "      - {after_days: 1, to: [reporter, head]}",
        "      - {after_days: 1, to: [standing_office]}",
        "      - {after_days: 1, to: [chair]}",
        "forms:",
        "  - code: bao-cao",
        '    title: "Báo cáo nhanh"',
        "    allow_no_report: true",
        "    fields:",
        '      - {code: so_buoi, label: "Số buổi tuyên truyền", type: integer, min: 0}',
        "schedules:",
        "  - code: nhanh",
        '    name: "Báo cáo nhanh"',
        "    period: one_off",
        f"    due: {{date: {DUE_DATE.isoformat()}}}",
        "    form: bao-cao",
        "    agencies: all",
        "agencies:",
    ]
    for i in range(agencies):
        lines.append(f'  - {{code: dv-{i:05d}, name: "Đơn vị số {i:05d}", '
                     f'short: "ĐV {i:05d}", kind: don-vi}}')
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- the result


@dataclass
class Result:
    agencies: int
    database: str
    members: int = 0
    messages: int = 0  # outbox rows written by the sweep
    delivered: int = 0  # outbox rows whose message reached its chat (at least once)
    seconds: float = 0.0  # sender start → nothing pending
    messages_per_second: float = 0.0  # delivered / seconds
    limit: float = 30.0
    limit_pct: float = 0.0
    window_seconds: float = 0.0  # first accepted send → last accepted send
    window_messages_per_second: float = 0.0  # (delivered - 1) / window_seconds
    window_limit_pct: float = 0.0
    rate_limited_429: int = 0  # 429s the stand-in answered
    other_errors: int = 0  # other failed send calls
    duplicates: int = 0  # extra copies of an outbox message in its chat
    lost: int = 0  # outbox rows never delivered
    outbox_status: dict[str, int] = field(default_factory=dict)
    limiter: str = "window 1 s"  # the stand-in's model: strict sliding window or token bucket
    per_chat_interval: float = 1.0
    min_same_chat_gap: float | None = None  # seconds between two sends to one chat
    setup_seconds: float = 0.0
    sweep_seconds: float = 0.0
    sender_rate: float = 30.0
    sender_concurrency: int = 8
    sender_sha256: str = ""  # of scheduler/sender.py, to tell which sender was measured
    latency_ms: float = 0.0  # added to every answer by the stand-in
    no_limit: bool = False  # the stand-in's limits off, the sender unpaced (its ceiling)
    transactions: int = 0  # database transactions the sender committed (all instances)
    # CPU time of the process that runs the sender(s) (the benchmark's own, the stand-in
    # excepted unless --in-process) over the drain, and of the stand-in's process, per message.
    sender_cpu_ms_per_message: float = 0.0
    standin_cpu_ms_per_message: float | None = None
    transactions_per_message: float = 0.0
    # The sender's start of each send to its arrival at the stand-in (one clock: the wall
    # clock of one machine), ms: how early a request can be counted as arrived.
    transit_ms: dict[str, float] = field(default_factory=dict)
    commit: str = ""
    python_ref_ms: float = 0.0
    event_loop: str = "asyncio"  # the sender's, as `python -m bot run` picks it (EVENT_LOOP)
    target_met: bool = False

    def judge(self, window_only: bool) -> None:
        pct = self.window_limit_pct if window_only else self.limit_pct
        if self.no_limit:
            pct = 100 * TARGET_SHARE * self.messages_per_second / NO_LIMIT_TARGET
        self.target_met = (
            pct >= TARGET_SHARE * 100 and self.rate_limited_429 == 0 and self.duplicates == 0
            and self.lost == 0 and self.delivered == self.messages > 0
        )

    def human(self) -> str:
        verdict = "target met" if self.target_met else "TARGET MISSED"
        return (
            f"fan-out N={self.agencies} ({self.database}, sender {self.sender_rate:g}/s, "
            f"stand-in {self.limiter}, +{self.latency_ms:g} ms): {self.messages} messages in "
            f"{self.seconds:.1f} s = {self.messages_per_second:.2f} msg/s "
            f"({self.limit_pct:.1f} % of {self.limit:g}/s; sending window "
            f"{self.window_messages_per_second:.2f} msg/s = {self.window_limit_pct:.1f} %), "
            f"429s: {self.rate_limited_429}, duplicates: {self.duplicates}, "
            f"lost: {self.lost}, {self.transactions_per_message:.2f} transactions/message, "
            f"sender CPU {self.sender_cpu_ms_per_message:.2f} ms/message "
            f"— {verdict}"
        )


# ----------------------------------------------------------------------------- the run


async def build(url: str, agencies: int, workdir: Path) -> tuple[list[int], dt.datetime]:
    """Import the plan, add the members; returns their chat ids and the sweep's `now`."""
    from sqlalchemy import func, insert, select

    from core.calendar import WorkCalendar
    from core.planfile import load_plan
    from core.settings import Settings
    from db.models import Agency, Committee, Member, MemberRole, Obligation, Plan, Role
    from db.plan_import import import_plan
    from db.session import make_engine, make_sessionmaker
    from scheduler.sweep import last_day

    settings = Settings(_env_file=None, database_url=url, bot_token=TOKEN)
    path = workdir / f"{PLAN_CODE}.yaml"
    path.write_text(plan_yaml(agencies), encoding="utf-8")
    spec = load_plan(path)
    engine = make_engine(url)
    try:
        sessions = make_sessionmaker(engine)
        async with sessions() as session, session.begin():
            if await session.scalar(select(func.count()).select_from(Committee)):
                raise SystemExit(f"{url} is not empty; the benchmark needs an empty database")
            await import_plan(session, spec, settings)
        async with sessions() as session, session.begin():
            plan = await session.scalar(select(Plan).where(Plan.code == PLAN_CODE))
            assert plan is not None
            rows = (await session.execute(
                select(Agency.id, Agency.code).where(Agency.committee_id == plan.committee_id)
                .order_by(Agency.code)
            )).all()
            now = dt.datetime.now(dt.UTC)
            members = [
                {"telegram_user_id": FIRST_USER_ID + i, "chat_id": FIRST_USER_ID + i,
                 "committee_id": plan.committee_id, "agency_id": agency_id,
                 "full_name": f"Cán bộ {code}", "language": "vi", "active": True,
                 "created_at": now, "updated_at": now}
                for i, (agency_id, code) in enumerate(rows)
            ]
            # The chair sits in the first agency.
            members.append({**members[0], "telegram_user_id": FIRST_USER_ID + len(rows),
                            "chat_id": FIRST_USER_ID + len(rows), "full_name": "Trưởng ban"})
            for start in range(0, len(members), 1000):
                await session.execute(insert(Member), members[start:start + 1000])
            ids = dict((await session.execute(
                select(Member.telegram_user_id, Member.id)
                .where(Member.committee_id == plan.committee_id)
            )).all())
            roles = [{"member_id": ids[m["telegram_user_id"]], "role": Role.reporter,
                      "granted_at": now} for m in members[:-1]]
            roles.append({"member_id": ids[members[0]["telegram_user_id"]],
                          "role": Role.standing_office, "granted_at": now})
            roles.append({"member_id": ids[members[-1]["telegram_user_id"]],
                          "role": Role.chair, "granted_at": now})
            for start in range(0, len(roles), 1000):
                await session.execute(insert(MemberRole), roles[start:start + 1000])
            due_at = await session.scalar(select(func.min(Obligation.due_at)))
            assert due_at is not None
            calendar = WorkCalendar.from_dict(plan.calendar)
        morning = calendar.next_working_day(last_day(due_at, settings.tz) + dt.timedelta(days=1))
        sweep_now = dt.datetime.combine(morning, dt.time(8, 0), settings.tz)
        return [m["chat_id"] for m in members], sweep_now
    finally:
        await engine.dispose()


async def sweep(url: str, now: dt.datetime) -> int:
    from core.settings import Settings
    from db.session import make_engine, make_sessionmaker
    from scheduler.sweeper import run_sweep

    tz = Settings(_env_file=None, database_url=url).tz
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            result = await run_sweep(session, now, tz)
            return len(result.written)
    finally:
        await engine.dispose()


class StandIn:
    """The Bot API stand-in, by default in its own process (`python -m sandbox.botapi`), so
    that its clock, which the rate limit is measured on, does not stall with the sender's
    event loop: requests are timed when they arrive, as Telegram times them."""

    def __init__(self, args: argparse.Namespace, messages: int, workdir: Path) -> None:
        self.args = args
        self.log_size = 4 * messages + 1000
        self.workdir = workdir
        self.url = ""
        self.process: asyncio.subprocess.Process | None = None
        self.server: Any = None
        self.http: Any = None

    async def start(self) -> None:
        import aiohttp

        if self.args.in_process:
            from sandbox.botapi import BotApiState, StandInServer

            state = BotApiState(
                rate_limit=None if self.args.no_limit else self.args.limit,
                per_chat_interval=None if self.args.no_limit else self.args.per_chat,
                rate_burst=self.args.burst, call_log_size=self.log_size,
            )
            state.response_delay = self.args.latency_ms / 1000
            self.server = StandInServer(state)
            await self.server.start()
            self.url = self.server.url
        else:
            log = (self.workdir / "standin.log").open("wb")
            burst = ["--rate-burst", str(self.args.burst)] if self.args.burst else []
            limits = [] if self.args.no_limit else [
                "--rate-limit", str(self.args.limit),
                "--per-chat-interval", str(self.args.per_chat)]
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "sandbox.botapi", "--host", "127.0.0.1", "--port", "0",
                *limits, "--call-log-size", str(self.log_size), *burst,
                "--latency-ms", str(self.args.latency_ms), "--quiet",
                cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=log,
            )
            log.close()
            assert self.process.stdout is not None
            line = await asyncio.wait_for(self.process.stdout.readline(), 30)
            if b"listening on " not in line:
                raise RuntimeError(f"the stand-in did not start: {line!r}")
            self.url = line.decode().rsplit("listening on ", 1)[1].strip()
        self.http = aiohttp.ClientSession()

    async def control(self, method: str, path: str, **kwargs: Any) -> Any:
        async with self.http.request(method, f"{self.url}/_control{path}", **kwargs) as resp:
            if resp.status >= 400:
                raise RuntimeError(f"{method} {path}: {resp.status} {await resp.text()}")
            return await resp.json()

    async def add_users(self, chats: list[int]) -> None:
        for start in range(0, len(chats), 2000):
            users = [{"id": c, "first_name": f"U{c}", "language_code": "vi"}
                     for c in chats[start:start + 2000]]
            await self.control("POST", "/users", json={"users": users})

    def cpu_seconds(self) -> float | None:
        """The stand-in process's CPU time so far (Linux), None in-process or elsewhere."""
        if self.process is None:
            return None
        try:
            stat = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime

    async def stop(self) -> None:
        if self.http is not None:
            await self.http.close()
        if self.server is not None:
            await self.server.stop()
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            await self.process.wait()


async def drain(url: str, chats: list[int], sweep_now: dt.datetime, args: argparse.Namespace,
                result: Result, workdir: Path) -> None:
    from sqlalchemy import event, func, select
    from telegram import Bot

    from bot.aiohttp_request import AiohttpRequest
    from db.models import OutboxMessage, OutboxStatus
    from db.session import make_engine, make_sessionmaker
    from scheduler.sender import OutboxSender, SenderConfig

    standin = StandIn(args, result.messages, workdir)
    await standin.start()
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    commits = [0]

    def count(_conn: Any) -> None:
        commits[0] += 1

    event.listen(engine.sync_engine, "commit", count)
    starts: dict[int, list[float]] = {}

    class TimedRequest(AiohttpRequest):
        """The bot's request as the application builds it (bot/app.py), noting when each
        send starts."""

        async def do_request(self, url: str, method: str, request_data: Any = None,
                             *args: Any, **kwargs: Any) -> tuple[int, bytes]:
            if request_data is not None and url.endswith("/sendMessage"):
                chat = int(request_data.parameters["chat_id"])
                starts.setdefault(chat, []).append(time.time())
            return await super().do_request(url, method, request_data, *args, **kwargs)

    bot = Bot(TOKEN, base_url=f"{standin.url}/bot", base_file_url=f"{standin.url}/file/bot",
              request=TimedRequest())
    try:
        await standin.add_users(chats)
        await bot.initialize()
        start = time.monotonic()
        # Several instances share the outbox (FOR UPDATE SKIP LOCKED on PostgreSQL) and the
        # rate (leased through the database): each is given the overall SEND_RATE.
        senders = [
            OutboxSender(
                bot, sessions,
                lambda: sweep_now + dt.timedelta(seconds=time.monotonic() - start),
                SenderConfig(rate=0 if args.no_limit else args.sender_rate,
                             per_chat=args.per_chat, concurrency=args.concurrency,
                             paid_broadcast=args.no_limit),
                name=f"bench-{i}",
            )
            for i in range(args.instances)
        ]
        # Generous: the 429 pauses and retries of a sender that misses must still show.
        deadline = start + result.messages / args.limit * 3 + 60
        unfinished = (OutboxStatus.pending, OutboxStatus.sending)
        watch = make_sessionmaker(make_engine(url))  # (its reads are not the sender's)
        commits[0] = 0
        cpu = time.process_time()
        standin_cpu = standin.cpu_seconds()
        profile = None
        if args.profile:
            import cProfile

            profile = cProfile.Profile()
            profile.enable()
        for sender in senders:
            sender.start()
        while time.monotonic() < deadline:
            async with watch() as session:
                left = await session.scalar(
                    select(func.count()).select_from(OutboxMessage)
                    .where(OutboxMessage.status.in_(unfinished))
                )
            if not left and all(sender.in_flight == 0 for sender in senders):
                break
            await asyncio.sleep(0.05)
        result.seconds = time.monotonic() - start
        if profile is not None:
            profile.disable()
            profile.dump_stats(args.profile)
        result.sender_cpu_ms_per_message = round(
            1000 * (time.process_time() - cpu) / max(1, result.messages), 3)
        if standin_cpu is not None:
            used = (standin.cpu_seconds() or 0.0) - standin_cpu
            result.standin_cpu_ms_per_message = round(1000 * used / max(1, result.messages), 3)
        result.transactions = commits[0]
        result.transactions_per_message = commits[0] / max(1, result.messages)
        for sender in senders:
            await sender.stop()
        await watch.kw["bind"].dispose()
        sends = await standin.control("GET", "/calls", params={"method": "sendMessage"})
        stats = await standin.control("GET", "/stats")
        await collect(sends, stats["rate_limited"], sessions, result)
        transit = sorted(call["time"] - starts[chat][i] for chat, calls in by_chat(sends).items()
                         for i, call in enumerate(calls) if i < len(starts.get(chat, [])))
        if transit:
            def ms(q: float) -> float:
                return round(1000 * transit[min(len(transit) - 1, int(q * len(transit)))], 2)
            result.transit_ms = {"min": ms(0), "p50": ms(0.5), "p99": ms(0.99),
                                 "max": ms(1.0)}
    finally:
        await bot.shutdown()
        await standin.stop()
        await engine.dispose()


def by_chat(sends: list[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    calls: dict[int, list[dict[str, Any]]] = {}
    for call in sends:
        calls.setdefault(int(call["params"]["chat_id"]), []).append(call)
    return calls


async def collect(sends: list[dict[str, Any]], rate_limited: int, sessions: Any,
                  result: Result) -> None:
    """Compare the sends the stand-in accepted with the outbox: duplicates, losses, rate."""
    from sqlalchemy import func, select

    from db.models import OutboxMessage

    async with sessions() as session:
        result.outbox_status = {
            str(getattr(status, "value", status)): n for status, n in (await session.execute(
                select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
            )).all()
        }
        rows = (await session.execute(select(OutboxMessage.chat_id, OutboxMessage.payload))).all()
    accepted = [c for c in sends if c["ok"]]
    copies: Counter[tuple[int, str]] = Counter(
        (int(c["params"]["chat_id"]), str(c["params"].get("text", ""))) for c in accepted
    )
    expected: Counter[tuple[int, str]] = Counter(
        (int(chat_id), (payload or {}).get("text", "")) for chat_id, payload in rows
    )
    for key, wanted in expected.items():
        got = copies.get(key, 0)
        result.delivered += min(got, wanted)
        result.lost += max(0, wanted - got)
        result.duplicates += max(0, got - wanted)
    result.duplicates += sum(n for key, n in copies.items() if key not in expected)

    errors = [c["error"] or {} for c in sends if c["ok"] is False]
    result.rate_limited_429 = rate_limited
    result.other_errors = sum(1 for e in errors if e.get("error_code") != 429)
    if result.seconds > 0:
        result.messages_per_second = result.delivered / result.seconds
        result.limit_pct = 100 * result.messages_per_second / result.limit
    ok_times = sorted(c["time"] for c in accepted)
    if len(ok_times) > 1:
        result.window_seconds = ok_times[-1] - ok_times[0]
        if result.window_seconds > 0:
            result.window_messages_per_second = (len(ok_times) - 1) / result.window_seconds
            result.window_limit_pct = 100 * result.window_messages_per_second / result.limit
    per_chat: dict[int, list[float]] = {}
    for call in accepted:
        per_chat.setdefault(int(call["params"]["chat_id"]), []).append(call["time"])
    gaps = [b - a for times in per_chat.values() for a, b in itertools.pairwise(sorted(times))]
    result.min_same_chat_gap = round(min(gaps), 3) if gaps else None


async def run(args: argparse.Namespace) -> Result:
    from db.migrate import upgrade

    with tempfile.TemporaryDirectory(prefix="fanout-") as tmp:
        workdir = Path(tmp)
        url = args.database_url or f"sqlite+aiosqlite:///{workdir / 'bench.sqlite3'}"
        kind = url.split(":", 1)[0].split("+", 1)[0]
        sender_file = ROOT / "scheduler" / "sender.py"
        result = Result(agencies=args.agencies, database=kind,
                        limit=NO_LIMIT_TARGET if args.no_limit else args.limit,
                        latency_ms=args.latency_ms, no_limit=args.no_limit, commit=commit_id(),
                        python_ref_ms=python_ref_ms(),
                        sender_sha256=hashlib.sha256(sender_file.read_bytes()).hexdigest()[:12],
                        limiter="off" if args.no_limit else
                        f"token bucket {args.burst}" if args.burst else "window 1 s",
                        per_chat_interval=args.per_chat, sender_rate=args.sender_rate,
                        sender_concurrency=args.concurrency)
        started = time.monotonic()
        await asyncio.to_thread(upgrade, url)
        chats, sweep_now = await build(url, args.agencies, workdir)
        result.members = len(chats)
        result.setup_seconds = time.monotonic() - started
        started = time.monotonic()
        result.messages = await sweep(url, sweep_now)
        result.sweep_seconds = time.monotonic() - started
        print(f"setup {result.setup_seconds:.1f} s, sweep at {sweep_now.isoformat()} wrote "
              f"{result.messages} messages in {result.sweep_seconds:.1f} s; draining at "
              f"{args.limit:g}/s (≈ {result.messages / args.limit:.0f} s)…", flush=True)
        await drain(url, chats, sweep_now, args, result, workdir)
        result.judge(window_only=args.smoke)
        return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agencies", "-n", type=int, default=None,
                        help=f"N (default 1000, or {SMOKE_AGENCIES} with --smoke)")
    parser.add_argument("--smoke", action="store_true",
                        help=f"small run for CI: N={SMOKE_AGENCIES} unless --agencies is given")
    parser.add_argument("--database-url", help="an empty database (default: temporary SQLite)")
    parser.add_argument("--limit", type=float, default=30.0,
                        help="the stand-in's overall limit, messages/s (default 30)")
    parser.add_argument("--burst", type=int, default=None,
                        help="the stand-in lets bursts of this many through (a token bucket) "
                        "instead of its strict 1 s sliding window")
    parser.add_argument("--per-chat", type=float, default=1.0,
                        help="seconds between two messages to one chat (default 1)")
    parser.add_argument("--sender-rate", type=float, default=None,
                        help="the sender's configured rate (default: --limit)")
    parser.add_argument("--concurrency", type=int, default=None,
                        help=f"sender workers (default 8, {NO_LIMIT_CONCURRENCY} with --no-limit)")
    parser.add_argument("--latency-ms", type=float, default=0.0,
                        help="the stand-in answers every call this many ms after it arrived")
    parser.add_argument("--no-limit", action="store_true",
                        help="the stand-in's limits off, the sender unpaced (paid broadcasts): "
                        f"its ceiling, judged against {NO_LIMIT_TARGET:g} msg/s")
    parser.add_argument("--event-loop", choices=["uvloop", "asyncio"], default="uvloop",
                        help="the sender's event loop (EVENT_LOOP; default as the bot's)")
    parser.add_argument("--instances", type=int, default=1,
                        help="senders sharing the outbox and the overall rate (default 1)")
    parser.add_argument("--in-process", action="store_true",
                        help="run the stand-in in the benchmark's event loop, not its own process")
    parser.add_argument("--profile", metavar="FILE",
                        help="cProfile the drain (the sender's process) into FILE (pstats)")
    parser.add_argument("--verbose", "-v", action="store_true", help="log every send")
    args = parser.parse_args(argv)
    if args.agencies is None:
        args.agencies = SMOKE_AGENCIES if args.smoke else 1000
    if args.concurrency is None:
        args.concurrency = NO_LIMIT_CONCURRENCY if args.no_limit else 8
    if args.sender_rate is None:
        args.sender_rate = args.limit
    if args.agencies < 1:
        parser.error("--agencies must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    # The sender runs in this process: on the loop the bot's own process would use.
    loop = use_event_loop(args.event_loop)
    result = asyncio.run(run(args))
    result.event_loop = loop
    print(result.human())
    print(json.dumps(asdict(result), ensure_ascii=False))
    return 0 if result.target_met else 1


if __name__ == "__main__":
    sys.exit(main())
