"""One sweep at a province's scale: 100,000 members.

Builds, in a child process, a province: a synthetic plan file of AGENCIES agencies
(communes, wards, schools and units) with a monthly report, imported with the real importer,
and MEMBERS reporters spread over them, inserted directly (as bench/fanout.py and
bench/memory.py do). Then, in this process, one sweep as the bot runs it
(scheduler.jobs.sweep_once: `run_sweep` writing and committing the outbox in runs of
SWEEP_CHUNK people) on the morning of the reminder three days before the March deadline, so
that every member gets a message (the reports whose deadline has passed were received). It
prints one JSON line:

- sweep_s: the sweep, from the first query to the last commit (sweep_cpu_s: the CPU time
  it took, less noisy on a shared machine);
- first_commit_s: from the start of the sweep to the first outbox rows committed (the
  moment the bot wakes the sender);
- longest_write_s: the longest time SQLite's write lock was held, i.e. the longest
  transaction from its first write statement to its commit;
- peak_mb: the peak resident set of this process (the sweep; the build is a child process);
- written: outbox messages written, and how many the database holds.

    python bench/sweep_scale.py               # 100,000 members in 10,000 agencies
    python bench/sweep_scale.py --smoke       # 300 members
    python bench/sweep_scale.py --keep /tmp/province.sqlite3 [--profile]
        # build once into that file and sweep a copy of it on every run; --profile: the
        # sweep under cProfile, its top 30 functions (cumulative, then own time) to stderr
    python bench/sweep_scale.py --database-url postgresql://postgres@127.0.0.1/EMPTY
        # the same on PostgreSQL, in an empty database (the schema is created; one run per
        # database). longest_write_s is then the longest transaction from its first write.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import datetime as dt
import json
import pstats
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from sqlalchemy import event, func, insert, make_url, select, update  # noqa: E402

from bench.commit import commit_id  # noqa: E402
from bench.machine import python_ref_ms  # noqa: E402
from bot.eventloop import use_event_loop  # noqa: E402
from core.planfile import load_plan  # noqa: E402
from core.settings import Settings  # noqa: E402
from db.migrate import upgrade  # noqa: E402
from db.models import (  # noqa: E402
    Agency,
    Member,
    MemberRole,
    Obligation,
    ObligationStatus,
    OutboxMessage,
    Role,
)
from db.plan_import import import_plan  # noqa: E402
from db.session import make_engine, make_sessionmaker, normalize_url  # noqa: E402
from scheduler.sweeper import SWEEP_CHUNK, run_sweep  # noqa: E402

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
# The morning of the 3-day reminder of March's report (due on the 20th, a Sunday: moved to
# Monday 21/03), a Friday; April's period (from 15/03) is announced in the same message.
NOW = dt.datetime(2022, 3, 18, 8, 0, tzinfo=TZ)
# The province's agencies, by kind, as shares of AGENCIES.
KINDS = (("xa", "Xã", "UBND xã", 0.30), ("phuong", "Phường", "UBND phường", 0.10),
         ("truong", "Trường học", "Trường", 0.50), ("don_vi", "Đơn vị", "Đơn vị", 0.10))


def peak_mb(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # Linux: KiB


def plan_text(agencies: int) -> str:
    blocks: list[str] = []
    first = 1
    for n, (kind, _label, prefix, share) in enumerate(KINDS):
        count = agencies - first + 1 if n == len(KINDS) - 1 else max(1, round(agencies * share))
        names = "\n".join(f"      - {{name: \"{i}\", code: {kind}{i}}}"
                          for i in range(first, first + count))
        blocks.append(f"  - kind: {kind}\n    name: \"{prefix} {{name}}\"\n    list:\n{names}")
        first += count
    kinds = ", ".join(f"{kind}: \"{label}\"" for kind, label, _p, _s in KINDS)
    listed = "\n".join(blocks)
    return f"""format: 1
plan: {{code: tinh, title: "Kế hoạch cấp tỉnh", year: 2022}}
committee: {{code: bcd-tinh, name: "BCĐ tỉnh", standing_office: so-ldtbxh}}
kinds: {{so: "Sở, ngành", {kinds}}}
agencies:
  - {{code: so-ldtbxh, name: "Sở LĐ-TBXH", kind: so}}
{listed}
forms:
  - code: bc
    title: "Báo cáo tháng"
    fields:
      - {{code: co_so, label: "Số cơ sở", type: integer, min: 0}}
      - {{code: kiem_tra, label: "Số cơ sở được kiểm tra", type: integer, min: 0}}
    checks:
      - {{rule: "kiem_tra <= co_so", message: "Kiểm tra không quá số cơ sở."}}
schedules:
  - {{code: thang, name: "Báo cáo tháng", period: monthly, due: {{day: 20}}, form: bc,
     agencies: {{kinds: [{", ".join(kind for kind, *_rest in KINDS)}]}}}}
"""


async def build(url: str, agencies: int, members: int) -> dict[str, Any]:
    """The province in a fresh database (a new SQLite file, or an empty PostgreSQL
    database): the plan imported, the members inserted."""
    started = time.perf_counter()
    await asyncio.to_thread(upgrade, url)
    settings = Settings(_env_file=None, database_url=url)
    with tempfile.TemporaryDirectory() as tmp:
        plan = Path(tmp) / "province.yaml"
        plan.write_text(plan_text(agencies), encoding="utf-8")
        return await _fill(url, settings, plan, agencies, members, started)


async def _fill(url: str, settings: Settings, plan: Path, agencies: int, members: int,
                started: float) -> dict[str, Any]:
    engine = make_engine(settings.database_url)
    try:
        sessions = make_sessionmaker(engine)
        async with sessions() as session, session.begin():
            await import_plan(session, load_plan(plan), settings)
        imported = time.perf_counter() - started
        async with sessions() as session, session.begin():
            rows = (await session.execute(
                select(Agency.id, Agency.committee_id).where(Agency.kind != "so")
                .order_by(Agency.id))).all()
            now = dt.datetime.now(dt.UTC)
            for start in range(0, members, 5000):
                people = [{"telegram_user_id": 1_000_000 + n, "chat_id": 1_000_000 + n,
                           "agency_id": rows[n % len(rows)][0],
                           "committee_id": rows[n % len(rows)][1],
                           "full_name": f"Cán bộ {n}", "language": "vi", "active": True,
                           "created_at": now, "updated_at": now}
                          for n in range(start, min(members, start + 5000))]
                await session.execute(insert(Member), people)
            # A province that reports: the months before March were received.
            await session.execute(update(Obligation).where(Obligation.due_at < NOW)
                                  .values(status=ObligationStatus.accepted))
            ids = (await session.scalars(select(Member.id).order_by(Member.id))).all()
            for start in range(0, len(ids), 5000):
                await session.execute(insert(MemberRole), [
                    {"member_id": m, "role": Role.reporter, "granted_at": now}
                    for m in ids[start:start + 5000]])
    finally:
        await engine.dispose()
    return {"import_s": round(imported, 1),
            "build_s": round(time.perf_counter() - started, 1),
            "build_peak_mb": round(peak_mb(), 1)}


class WriteLock:
    """How long each transaction held SQLite's write lock: from its first write statement
    (a deferred transaction takes the lock there) to its commit or rollback. A write in
    autocommit (PostgreSQL's sweep stores each run as one statement) is a transaction of
    its own: from the statement's start to its end."""

    def __init__(self, engine: Any) -> None:
        self.longest = 0.0
        self.transactions = 0
        self.first_commit: float | None = None
        event.listen(engine, "before_cursor_execute", self._statement)
        event.listen(engine, "after_cursor_execute", self._executed)
        event.listen(engine, "commit", self._end)
        event.listen(engine, "rollback", self._end)

    @staticmethod
    def _writes(statement: str) -> bool:
        head = statement.lstrip()[:6].upper()
        return head in ("INSERT", "UPDATE", "DELETE") or (
            head.startswith("WITH") and "INSERT" in statement.upper())

    def _statement(self, conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "write_start" not in conn.info and self._writes(statement):
            conn.info["write_start"] = time.perf_counter()

    def _executed(self, conn: Any, *_args: Any) -> None:
        if conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
            self._end(conn)

    def _end(self, conn: Any) -> None:
        start = conn.info.pop("write_start", None)
        if start is not None:
            self.longest = max(self.longest, time.perf_counter() - start)
            self.transactions += 1


async def sweep(url: str, profile: bool = False) -> dict[str, Any]:
    """One sweep as scheduler.jobs.sweep_once runs it, timed (`profile`: under cProfile, its
    top functions printed to stderr; the figures are then the profiler's, not the goals')."""
    engine = make_engine(url)
    lock = WriteLock(engine.sync_engine)
    first: list[float] = []
    try:
        async with make_sessionmaker(engine)() as session:
            started = time.perf_counter()
            cpu = time.process_time()

            async def committed(_count: int) -> None:
                if not first:
                    first.append(time.perf_counter() - started)

            profiler = cProfile.Profile() if profile else None
            if profiler is not None:
                profiler.enable()
            result = await run_sweep(session, NOW, TZ, commit_every=SWEEP_CHUNK,
                                     on_commit=committed, keep_written=False)
            await session.commit()
            if profiler is not None:
                profiler.disable()
                for order in ("cumulative", "tottime"):
                    pstats.Stats(profiler, stream=sys.stderr).sort_stats(order).print_stats(30)
            elapsed = time.perf_counter() - started
            cpu = time.process_time() - cpu
            stored = await session.scalar(select(func.count()).select_from(OutboxMessage))
    finally:
        await engine.dispose()
    return {"sweep_s": round(elapsed, 2), "sweep_cpu_s": round(cpu, 2),
            "first_commit_s": round(first[0] if first else elapsed, 2),
            "longest_write_s": round(lock.longest, 3),
            "write_transactions": lock.transactions,
            "written": result.count, "outbox_rows": stored}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--agencies", type=int, default=10_000)
    parser.add_argument("--smoke", action="store_true", help="300 members in 60 agencies")
    parser.add_argument("--profile", action="store_true",
                        help="run the sweep under cProfile, top 30 functions to stderr")
    parser.add_argument("--keep", type=Path, metavar="FILE",
                        help="reuse the province built in FILE (built there if missing); "
                             "each run sweeps a copy")
    parser.add_argument("--event-loop", choices=["uvloop", "asyncio"], default="uvloop",
                        help="the sweep's event loop (EVENT_LOOP; default as the bot's)")
    parser.add_argument("--database-url", metavar="URL",
                        help="an empty PostgreSQL database to build the province in and "
                             "sweep (default: a temporary SQLite file)")
    parser.add_argument("--build", help=argparse.SUPPRESS)  # the child process: its URL
    args = parser.parse_args()
    if args.smoke:
        args.members, args.agencies = 300, 60
    if args.build:
        print(json.dumps(asyncio.run(build(args.build, args.agencies, args.members))))
        return 0
    if args.keep is not None and args.database_url:
        parser.error("--keep is for SQLite only")
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "province.sqlite3"
        url = normalize_url(args.database_url or f"sqlite+aiosqlite:///{db}")
        built: dict[str, Any] = {}
        if args.keep is None or not args.keep.exists():
            # The build runs in a child process, so that this one's peak is the sweep's.
            child = subprocess.run(
                [sys.executable, __file__, "--build", url, "--agencies",
                 str(args.agencies), "--members", str(args.members)],
                capture_output=True, text=True, check=False)
            if child.returncode != 0:
                print(child.stderr[-3000:], file=sys.stderr)
                return 2
            built = json.loads(child.stdout.strip().splitlines()[-1])
            if args.keep is not None:
                shutil.copyfile(db, args.keep)
        else:
            shutil.copyfile(args.keep, db)
        baseline = peak_mb()
        loop = use_event_loop(args.event_loop)  # the sweep runs in the bot's process
        figures = asyncio.run(sweep(url, args.profile))
    result = {"members": args.members, "agencies": args.agencies,
              "database": make_url(url).get_backend_name(), **figures,
              "peak_mb": round(peak_mb(), 1), "baseline_mb": round(baseline, 1), **built,
              "event_loop": loop, "commit": commit_id(),
              "python_ref_ms": python_ref_ms()}
    print(json.dumps(result))
    goals = (result["sweep_s"] <= 10 and result["first_commit_s"] <= 3
             and result["longest_write_s"] <= 1 and result["peak_mb"] <= 400)
    held = ("write lock held at most" if result["database"] == "sqlite"
            else "longest write transaction")
    print(f"{args.members} members: sweep {result['sweep_s']} s, first rows committed after "
          f"{result['first_commit_s']} s, {held} {result['longest_write_s']}"
          f" s, peak RSS {result['peak_mb']} MB, {result['written']} messages "
          f"({'goals met' if goals else 'goals not met'})", file=sys.stderr)
    return 0 if goals or args.smoke else 1


if __name__ == "__main__":
    sys.exit(main())
