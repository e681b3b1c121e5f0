"""Sweep cost against the size of the history.

Builds a database with a fixed amount of work due now (AGENCIES agencies × 1 open report
near its deadline, each with a reporter) and HISTORY closed obligations from earlier
periods, then times `run_sweep` (decisions + outbox writes, rolled back) a few times.
The cost should stay flat as the history grows: the sweep reads only what can be due.

    python bench/sweep_cost.py                       # 10k, 100k, 1M history rows
    python bench/sweep_cost.py --history 10000 --smoke
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from db.migrate import upgrade  # noqa: E402
from db.session import make_engine, make_sessionmaker  # noqa: E402
from scheduler.sweeper import run_sweep  # noqa: E402

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
NOW = dt.datetime(2022, 3, 9, 8, 0, tzinfo=TZ)  # a Wednesday, 3 days before the deadline


def build(path: Path, agencies: int, history: int) -> None:
    upgrade(f"sqlite:///{path}")
    con = sqlite3.connect(path)
    cur = con.cursor()
    ts = "2022-01-01 00:00:00.000000"
    cur.execute("insert into committee (id, code, name, created_at) values (1, 'c', 'C', ?)",
                (ts,))
    cur.execute(
        "insert into plan (id, committee_id, code, title, year, starts_on, ends_on, calendar,"
        " defaults, imported_at) values (1, 1, 'p', 'P', 2022, '2022-01-01', '2022-12-31',"
        " '{}', '{}', ?)", (ts,))
    cur.execute("insert into form (id, plan_id, code, title) values (1, 1, 'f', 'F')")
    cur.execute(
        "insert into schedule (id, plan_id, code, name, period_type, cutoff_rule, due_rule,"
        " holiday_rule, reminder_offsets, escalation_policy, form_id, active, position)"
        " values (1, 1, 's', 'Báo cáo tháng', 'monthly', '\"decree09\"',"
        " '{\"day\": 13, \"before\": true}', 'keep', '[7, 3, 1, 0]', '{}', 1, 1, 0)")
    cur.executemany(
        "insert into agency (id, committee_id, code, name, kind, active) values (?, 1, ?, ?,"
        " 'k', 1)", [(i, f"a{i}", f"Đơn vị {i}") for i in range(1, agencies + 1)])
    cur.executemany(
        "insert into member (id, telegram_user_id, chat_id, committee_id, agency_id, full_name,"
        " active, created_at, updated_at) values (?, ?, ?, 1, ?, ?, 1, ?, ?)",
        [(i, 10_000 + i, 10_000 + i, i, f"Cán bộ {i}", ts, ts) for i in range(1, agencies + 1)])
    cur.executemany("insert into member_role (member_id, role, granted_at) values (?,"
                    " 'reporter', ?)", [(i, ts) for i in range(1, agencies + 1)])
    # What is due now: March's report of every agency, deadline 13/03 00:00 (+07).
    due = "2022-03-12 17:00:00.000000"
    rows = [(i, i, 0, "monthly", "2022-03", "2022-02-15", "2022-03-14", due, "open", ts, ts)
            for i in range(1, agencies + 1)]
    # The history: closed reports of earlier periods (accepted), spread over ten years.
    for n in range(history):
        agency = n % agencies + 1
        period = n // agencies
        year, month = 2011 + period // 12, period % 12 + 1
        key = f"h{period:06d}"
        rows.append((agency, agency, 0, "monthly", key, f"{year}-{month:02d}-01",
                     f"{year}-{month:02d}-14", f"{year}-{month:02d}-12 17:00:00.000000",
                     "accepted", ts, ts))
    cur.executemany(
        "insert into obligation (schedule_id, agency_id, subject_id, period_type, period_key,"
        " period_start, period_end, due_at, status, created_at, updated_at, form_id)"
        " select 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1",
        [r[1:] for r in rows])
    con.commit()
    con.execute("analyze")
    con.close()


async def time_sweeps(path: Path, repeat: int) -> list[float]:
    engine = make_engine(f"sqlite+aiosqlite:///{path}")
    sessions = make_sessionmaker(engine)
    timings = []
    try:
        for _ in range(repeat):
            async with sessions() as session:
                started = time.perf_counter()
                async with session.begin():
                    result = await run_sweep(session, NOW, TZ)
                    written = len(result.written)
                    await session.rollback()  # measure the same work every time
                timings.append(time.perf_counter() - started)
    finally:
        await engine.dispose()
    assert written > 0, "the benchmark should have something due"
    return timings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--agencies", type=int, default=1000)
    parser.add_argument("--history", type=int, action="append")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--smoke", action="store_true", help="small sizes, for CI")
    args = parser.parse_args()
    sizes = args.history or ([2_000, 20_000] if args.smoke else [10_000, 100_000, 1_000_000])
    agencies = 100 if args.smoke else args.agencies
    results = []
    for history in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "bench.sqlite3"
            started = time.perf_counter()
            build(path, agencies, history)
            built = time.perf_counter() - started
            timings = asyncio.run(time_sweeps(path, args.repeat))
        result = {
            "history": history, "due": agencies, "build_s": round(built, 1),
            "sweep_median_s": round(statistics.median(timings), 3),
            "sweep_min_s": round(min(timings), 3),
        }
        results.append(result)
        print(json.dumps(result))
    base = results[0]["sweep_median_s"]
    worst = max(r["sweep_median_s"] for r in results)
    print(f"sweep of {agencies} due reports: {base:.3f}s with {sizes[0]} history rows, "
          f"at most {worst:.3f}s with up to {sizes[-1]} (×{worst / base:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
