"""Peak memory with a province-sized committee loaded.

Imports a plan with AGENCIES agencies (a monthly and a quarterly schedule, so 16 obligations
each), binds one reporter per agency (in a child process, as `bot plan import` runs in its own),
then does what the bot does every minute at a busy moment — a sweep at the March deadline
that writes a message for every agency, as scheduler.jobs.sweep_once runs it — and reports
the peak resident set size of each (import_peak_mb: the child; sweep_peak_mb: this process),
with the time each step took.

    python bench/memory.py                 # 10,000 agencies
    python bench/memory.py --smoke         # 300 agencies
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from sqlalchemy import insert, select  # noqa: E402

from bench.commit import commit_id  # noqa: E402
from bench.machine import python_ref_ms  # noqa: E402
from core.planfile import load_plan  # noqa: E402
from core.settings import Settings  # noqa: E402
from db.migrate import upgrade  # noqa: E402
from db.models import Agency, Member, MemberRole, Role  # noqa: E402
from db.plan_import import import_plan  # noqa: E402
from db.session import make_engine, make_sessionmaker  # noqa: E402
from scheduler.sweeper import SWEEP_CHUNK, run_sweep  # noqa: E402

TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def plan_text(agencies: int) -> str:
    names = "\n".join(f"      - {{name: \"Xã {i}\", code: x{i}}}" for i in range(1, agencies + 1))
    return f"""format: 1
plan: {{code: tinh, title: "Kế hoạch cấp tỉnh", year: 2022}}
committee: {{code: bcd-tinh, name: "BCĐ tỉnh", standing_office: so-ldtbxh}}
kinds: {{so: "Sở, ngành", xa: "Xã, phường"}}
agencies:
  - {{code: so-ldtbxh, name: "Sở LĐ-TBXH", kind: so}}
  - kind: xa
    name: "UBND {{name}}"
    list:
{names}
forms:
  - code: xa
    title: "Báo cáo của xã"
    fields:
      - {{code: co_so, label: "Số cơ sở", type: integer, min: 0}}
      - {{code: kiem_tra, label: "Số cơ sở được kiểm tra", type: integer, min: 0}}
    checks:
      - {{rule: "kiem_tra <= co_so", message: "Kiểm tra không quá số cơ sở."}}
schedules:
  - {{code: thang, name: "Báo cáo tháng", period: monthly, due: {{day: 20}}, form: xa,
     agencies: {{kind: xa}}}}
  - {{code: quy, name: "Báo cáo quý", period: quarterly, due: {{day: 20}}, form: xa,
     agencies: {{kind: xa}}}}
"""


async def load(db: Path, agencies: int) -> dict[str, float]:
    """The committee imported (`bot plan import` does this, in its own process) and one
    reporter bound per agency."""
    steps: dict[str, float] = {}
    path = db.with_suffix(".yaml")
    path.write_text(plan_text(agencies), encoding="utf-8")
    await asyncio.to_thread(upgrade, f"sqlite:///{db}")
    settings = Settings(_env_file=None, database_url=f"sqlite+aiosqlite:///{db}")
    engine = make_engine(settings.database_url)
    sessions = make_sessionmaker(engine)
    started = time.perf_counter()
    spec = load_plan(path)
    async with sessions() as session, session.begin():
        await import_plan(session, spec, settings)
    steps["import_s"] = round(time.perf_counter() - started, 1)
    steps["import_peak_mb"] = round(peak_mb(), 1)
    started = time.perf_counter()
    async with sessions() as session, session.begin():
        rows = (await session.execute(select(Agency.id, Agency.committee_id)
                                      .where(Agency.kind == "xa"))).all()
        now = dt.datetime.now(dt.UTC)
        await session.execute(insert(Member), [
            {"telegram_user_id": 1_000_000 + a, "chat_id": 1_000_000 + a, "agency_id": a,
             "committee_id": c, "full_name": f"Cán bộ {a}", "active": True,
             "created_at": now, "updated_at": now} for a, c in rows])
        ids = (await session.scalars(select(Member.id))).all()
        await session.execute(insert(MemberRole), [
            {"member_id": m, "role": Role.reporter, "granted_at": now} for m in ids])
    steps["members_s"] = round(time.perf_counter() - started, 1)
    await engine.dispose()
    return steps


async def sweep(db: Path) -> dict[str, float]:
    """The sweep as the bot runs it (scheduler.jobs.sweep_once: committed runs of people)."""
    engine = make_engine(f"sqlite+aiosqlite:///{db}")
    started = time.perf_counter()
    async with make_sessionmaker(engine)() as session:
        result = await run_sweep(session, dt.datetime(2022, 3, 21, 8, 0, tzinfo=TZ), TZ,
                                 commit_every=SWEEP_CHUNK, keep_written=False)
        await session.commit()
    await engine.dispose()
    return {"sweep_s": round(time.perf_counter() - started, 1), "messages": result.count}


def run(agencies: int) -> dict[str, float]:
    """The import in a child process, as `bot plan import` runs, and the sweep in this one,
    as the bot runs it: each peak is its own (ru_maxrss only grows)."""
    steps: dict[str, float] = {"baseline_mb": round(peak_mb(), 1)}
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.sqlite3"
        child = subprocess.run(
            [sys.executable, __file__, "--load", str(db), "--agencies", str(agencies)],
            capture_output=True, text=True, check=False)
        if child.returncode != 0:
            raise SystemExit(child.stderr[-3000:])
        steps.update(json.loads(child.stdout.strip().splitlines()[-1]))
        steps.update(asyncio.run(sweep(db)))
    steps["sweep_peak_mb"] = round(peak_mb(), 1)
    steps["agencies"] = agencies
    steps["peak_mb"] = max(steps["import_peak_mb"], steps["sweep_peak_mb"])
    return steps


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--agencies", type=int, default=10_000)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--load", type=Path, help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args()
    agencies = 300 if args.smoke else args.agencies
    if args.load:
        print(json.dumps(asyncio.run(load(args.load, agencies))))
        return 0
    result: dict[str, Any] = {**run(agencies), "commit": commit_id(),
                              "python_ref_ms": python_ref_ms()}
    print(json.dumps(result))
    print(f"{result['agencies']} agencies and members: import peak RSS "
          f"{result['import_peak_mb']} MB ({result['import_s']} s), sweep peak RSS "
          f"{result['sweep_peak_mb']} MB (writing {result['messages']} messages "
          f"{result['sweep_s']} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
