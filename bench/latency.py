"""Answer latency under concurrent users: p50/p95/p99 from an update sent to the bot's reply
received, through the real bot process (`python -m bot run`) and the local Bot API stand-in.

USERS officials (20) answer a report of QUESTIONS questions at the same time, each answer the
moment the previous reply arrived (no think time unless `--think`): every second question is
a yes/no answered with its button, the others a typed number. The driver is the one of
bench/updates.py: the stand-in wakes it when the bot writes in the chat. Target: p99 ≤ 300 ms
on SQLite and on PostgreSQL.

    python bench/latency.py                      # 20 users × 20 answers, temporary SQLite
    python bench/latency.py --database-url postgresql://postgres@127.0.0.1/bench_latency
    python bench/latency.py --smoke              # 5 users × 4 answers

`--database-url` needs an empty database. The last line on stdout is the result as JSON,
with the git commit.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

# The shared driver, next to this file (it also puts the project on the path).
from updates import (
    BotApiState,
    StandInServer,
    commit_id,
    database_kind,
    measured_play,
    normalize_url,
    open_forms,
    percentile,
    prepare,
    python_ref_ms,
    start_bot,
)

TARGET_P99_MS = 300


async def run(users: int, questions: int, database_url: str | None, think: float,
              seed: int) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-latency-"))
    rng = random.Random(seed)

    async def pause() -> None:
        await asyncio.sleep(rng.uniform(0, 2 * think))  # a person reading: think on average

    try:
        url = normalize_url(database_url or f"sqlite+aiosqlite:///{tmp / 'bench.sqlite3'}")
        obligations = await prepare(url, tmp, users, questions, buttons=True)
        state = BotApiState()
        server = StandInServer(state)
        await server.start()
        try:
            bot = await start_bot(server, url, tmp)
            try:
                shown = await open_forms(state, obligations)
                measured = await measured_play(bot, state, list(obligations), questions, shown,
                                               pause if think > 0 else None)
            finally:
                await bot.stop()
        finally:
            await server.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    ms = [1000 * s for s in measured.play.latencies]
    p99 = percentile(ms, 99)
    return {"benchmark": "latency", "commit": commit_id(), "python_ref_ms": python_ref_ms(),
            "database": database_kind(url),
            "users": users, "answers": len(ms), "typed": measured.play.typed,
            "pressed": measured.play.pressed, "think_s": think,
            "p50_ms": round(percentile(ms, 50), 1), "p95_ms": round(percentile(ms, 95), 1),
            "p99_ms": round(p99, 1), "max_ms": round(max(ms), 1),
            "mean_ms": round(statistics.fmean(ms), 1),
            "answers_per_s": round(len(ms) / measured.play.seconds, 1),
            **measured.per_answer(), "target_p99_ms": TARGET_P99_MS,
            "target_met": p99 <= TARGET_P99_MS}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--questions", type=int, default=20)
    parser.add_argument("--think", type=float, default=0.0,
                        help="mean seconds a person waits before answering (default 0)")
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--database-url", help="an empty database (default: temporary SQLite)")
    parser.add_argument("--smoke", action="store_true", help="5 users × 4 answers")
    args = parser.parse_args()
    users, questions = (5, 4) if args.smoke else (args.users, args.questions)
    result = asyncio.run(run(users, questions, args.database_url, args.think, args.seed))
    print(f"{result['answers']} answers by {users} users on {result['database']}: "
          f"p50 {result['p50_ms']} ms, p95 {result['p95_ms']} ms, p99 {result['p99_ms']} ms "
          f"(target ≤ {TARGET_P99_MS} ms), max {result['max_ms']} ms; "
          f"{result['sql_statements_per_answer']} SQL statements per answer")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
