"""The event loop the bot's long-running commands (`run`, `web`) use.

uvloop (libuv under asyncio's interface) is the loop asyncpg, aiohttp and uvicorn are
tuned for: the outbox sender's calls and each answer's database round trips cost less
CPU on it than on asyncio's own loop (docs/benchmarks.md). EVENT_LOOP=asyncio keeps the
standard loop, e.g. to debug with asyncio's debug mode; where uvloop is missing (a
platform without its wheels) the standard loop is used and said once.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Literal

log = logging.getLogger(__name__)


def use_event_loop(choice: Literal["uvloop", "asyncio"]) -> str:
    """Make `choice` the loop that `asyncio.run` and PTB's `run_polling` create; returns
    the one in use."""
    if choice != "uvloop":
        return "asyncio"
    try:
        import uvloop
    except ImportError:
        log.warning("EVENT_LOOP=uvloop but uvloop is not installed: using asyncio's loop")
        return "asyncio"
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return "uvloop"
