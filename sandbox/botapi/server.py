"""The stand-in on a local port: :class:`StandInServer` for tests and tools, and
``python -m sandbox.botapi`` (:func:`main`) to run it on its own."""

from __future__ import annotations

import argparse
import asyncio
import logging

from aiohttp import web

from sandbox.botapi.errors import JSON
from sandbox.botapi.http_api import create_app
from sandbox.botapi.state import BotApiState
from sandbox.localserver import LocalServer


class StandInServer(LocalServer):
    """Runs :func:`create_app` on a local port (``port=0`` picks a free one)."""

    def __init__(self, state: BotApiState | None = None) -> None:
        super().__init__()
        self.state = state if state is not None else BotApiState()

    def app(self) -> web.Application:
        return create_app(self.state)

    def opening(self) -> None:
        self.state._closing = False

    async def closing(self) -> None:
        self.state.shutdown()  # let pending long polls answer [] instead of hanging shutdown

    @property
    def bot_kwargs(self) -> JSON:
        """Keyword arguments for ``telegram.Bot`` / ``ApplicationBuilder`` URLs."""
        return {"base_url": f"{self.url}/bot", "base_file_url": f"{self.url}/file/bot"}


async def _serve_forever(args: argparse.Namespace) -> None:
    state = BotApiState(
        bot_username=args.bot_username,
        token=args.token,
        rate_limit=args.rate_limit,
        per_chat_interval=args.per_chat_interval,
        rate_burst=args.rate_burst,
        call_log_size=args.call_log_size,
    )
    state.response_delay = args.latency_ms / 1000
    server = StandInServer(state)
    await server.start(args.host, args.port)
    print(f"Telegram Bot API stand-in listening on {server.url}", flush=True)
    print(f"  Bot(token, base_url='{server.url}/bot', base_file_url='{server.url}/file/bot')")
    print(f"  control API: {server.url}/_control/", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await server.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Local Telegram Bot API stand-in")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--token", default=None, help="accept only this token")
    parser.add_argument("--bot-username", default="plan_report_bot")
    parser.add_argument(
        "--rate-limit",
        type=float,
        default=None,
        metavar="PER_SECOND",
        help="answer sends over this many messages per second with 429 (Telegram: 30)",
    )
    parser.add_argument(
        "--rate-burst",
        type=int,
        default=None,
        metavar="N",
        help="with --rate-limit: a token bucket of N messages instead of the strict 1 s window",
    )
    parser.add_argument(
        "--per-chat-interval",
        type=float,
        default=None,
        metavar="SECONDS",
        help="answer a second send to one chat within this many seconds with 429 (Telegram: 1)",
    )
    parser.add_argument(
        "--call-log-size",
        type=int,
        default=10_000,
        metavar="N",
        help="keep the last N Bot API calls for /_control/calls (default 10000)",
    )
    parser.add_argument(
        "--latency-ms",
        type=float,
        default=0.0,
        metavar="MS",
        help="added network latency: answer every Bot API call this many ms after it arrived",
    )
    parser.add_argument(
        "--quiet",
        action="store_true",
        help="no access log line per request (benchmarks: writing it took a tenth of the "
        "stand-in's CPU)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    if args.quiet:
        logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    try:
        asyncio.run(_serve_forever(args))
    except KeyboardInterrupt:
        pass
