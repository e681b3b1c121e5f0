"""Run the real `python -m bot run` process against an in-process Bot API stand-in."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from sandbox.botapi import BotApiState, StandInServer
from sandbox.client import StandInClient

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "123456:TEST-TOKEN"


@dataclass
class RunningBot:
    process: asyncio.subprocess.Process
    state: BotApiState
    server: StandInServer
    client: StandInClient
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


@asynccontextmanager
async def running_bot(
    database_url: str,
    log_path: Path,
    state: BotApiState | None = None,
    **env: str,
) -> AsyncIterator[RunningBot]:
    state = state or BotApiState()
    server = StandInServer(state)
    await server.start()
    full_env = {k: v for k, v in os.environ.items()
                if k not in ("BOT_TOKEN", "DATABASE_URL") and not k.startswith("ZALO_")}
    full_env.update(
        BOT_TOKEN=TOKEN,
        TELEGRAM_API_URL=server.url,
        DATABASE_URL=database_url,
        PYTHONPATH=str(ROOT),
        PYTHONUNBUFFERED="1",
    )
    full_env.update(env)
    log_file = log_path.open("wb")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run",
        cwd=ROOT, env=full_env, stdout=log_file, stderr=asyncio.subprocess.STDOUT,
    )
    client = StandInClient(server.url)
    try:
        # Ready once it polls: the first getUpdates proves start-up finished.
        await client.wait_for_call("getUpdates", timeout=30)
        yield RunningBot(process, state, server, client, log_path)
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), 20)
            except TimeoutError:
                process.kill()
                await process.wait()
        log_file.close()
        await client.close()
        await server.stop()
