"""The browser sandbox: the real bot, the Bot API stand-in and a chat page in one process.

``python -m bot sandbox`` (or ``make run`` without ``BOT_TOKEN``) calls :func:`main`:

1. a :class:`~sandbox.botapi.BotApiState` and :class:`~sandbox.botapi.StandInServer` on a
   free local port play Telegram;
2. a fresh database (``data/sandbox.sqlite3`` unless ``--database-url``) is migrated and
   the Đống Đa 2022 plan is imported;
3. the production ``Application`` (built by the :class:`~sandbox.hooks.BotHooks` the caller
   passes: ``bot/cli.py`` hands in ``bot.app``'s factory and hooks) polls the stand-in, with
   its clock at Monday 07/03/2022 08:00 (Hà Nội) and no periodic sweep: the page's clock
   control moves the clock and runs the sweep;
4. the demo people join exactly as real officials do: an invite per person, then
   ``/start CODE`` typed by that person into the stand-in;
5. the page (:mod:`sandbox.app`) is served at http://127.0.0.1:8080.

When the hooks carry the Zalo application (``BotHooks.zalo``, as ``bot/cli.py`` hands them
in), a :class:`~sandbox.zaloapi.ZaloApiState` and :class:`~sandbox.zaloapi.ZaloStandInServer`
play Zalo next to Telegram: the Zalo application runs on the same engine and clock (built
with ``sweeps=False``; the Telegram application sweeps), a poller long-polls the stand-in,
and one more persona, a ward official on Zalo, joins by sending her invite code alone. Her
chat is shown in Zalo's look: plain text, the bot's choices as numbered lists, no buttons.

Tests call :func:`start_sandbox` (``port=0``, with ``BotHooks`` built from ``bot.app``) and
:meth:`Sandbox.stop`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import logging
import signal
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from telegram import Update
from telegram.ext import Application

from core.planfile import load_plan
from core.settings import ROOT, Settings
from db.invites import create_invite, find_agency
from db.migrate import upgrade
from db.models import Member, OutboxMessage, OutboxStatus, Plan, Role
from db.plan_import import import_plan
from db.session import make_engine, make_sessionmaker
from sandbox.app import create_web_app
from sandbox.botapi import BotApiState, StandInServer
from sandbox.history import seed_history
from sandbox.hooks import BotHooks, Poller
from sandbox.moments import TZ
from sandbox.zaloapi import ZaloApiState, ZaloStandInServer
from scheduler.jobs import sweep_once

log = logging.getLogger(__name__)

PLAN_FILE = ROOT / "plans" / "dongda-2022.yaml"
PLAN_CODE = "dongda-2022"
DEFAULT_DB = ROOT / "data" / "sandbox.sqlite3"
TOKEN = "123456:SANDBOX"
ZALO_TOKEN = "2718281828:SANDBOX-zalo"
ZALO_BOT_NAME = "BCĐ 138 Đống Đa"
BOT_USERNAME = "bcd138_dongda_sandbox_bot"
# A Monday a week before the March monthly reports are due (last day 12/03/2022).
START_AT = dt.datetime(2022, 3, 7, 8, 0, tzinfo=TZ)
# When the clock jumps over several days, the sweep also runs at each day's digest time in
# between (as the every-minute sweep of a real deployment would), at most this many days.
MAX_INTERMEDIATE_DAYS = 31
SWEEP_TIME = dt.time(8, 0)
JOIN_TIMEOUT = 30.0
DELIVERY_WAIT = 10.0  # seconds the clock waits for the sender after each sweep


TELEGRAM = "telegram"
ZALO = "zalo"


@dataclass(frozen=True)
class Persona:
    """A demo person: a Telegram (or Zalo) user bound to an agency and role through an
    invite. A Zalo persona's ``user_id`` is the Zalo user id (a string)."""

    key: str
    user_id: int | str
    name: str
    title: str  # what the persona list shows, e.g. «Cán bộ phường»
    role: str | None  # db.models.Role value; None: not invited (joins from a link)
    agency: str | None  # agency code in the plan
    agency_label: str
    about: str  # what this persona can do (Vietnamese, plain text)
    hint: str  # first thing to try
    channel: str = TELEGRAM  # "telegram" or "zalo"

    @property
    def on_zalo(self) -> bool:
        return self.channel == ZALO

    def public(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "user_id": self.user_id,
            "name": self.name,
            "title": self.title,
            "role": self.role,
            "agency": self.agency,
            "agency_label": self.agency_label,
            "about": self.about,
            "hint": self.hint,
            "channel": self.channel,
        }


PERSONAS: tuple[Persona, ...] = (
    Persona(
        key="ward", user_id=9001, name="Nguyễn Thị Lan", title="Cán bộ phường",
        role="reporter", agency="p-cat-linh", agency_label="UBND phường Cát Linh",
        about="Cán bộ báo cáo của phường: xem các báo cáo cần nộp và hạn nộp, trả lời biểu "
              "mẫu từng câu (số, Có/Không, tệp đính kèm), xem lại rồi gửi và nhận biên nhận; "
              "«Không phát sinh» khi kỳ này không có gì; nhận nhắc hạn và cảnh báo quá hạn.",
        hint="Bấm «Báo cáo cần nộp», chọn «Báo cáo tháng · tháng 03/2022» và trả lời câu hỏi.",
    ),
    Persona(
        key="police", user_id=9002, name="Trần Văn Hùng", title="Công an quận",
        role="reporter", agency="ca", agency_label="Công an quận",
        about="Cán bộ báo cáo của Công an quận: biểu mẫu riêng (vụ án, chuyên án, xử phạt, "
              "kiểm tra cơ sở kinh doanh), nhắc hạn, quá hạn và lời nhắc của Trưởng ban.",
        hint="Bấm «Lịch báo cáo» để xem các hạn sắp tới và khi nào bot nhắc.",
    ),
    Persona(
        key="office", user_id=9003, name="Phạm Thu Mai", title="Cơ quan tổng hợp",
        role="standing_office", agency="ldtbxh", agency_label="Phòng LĐ-TBXH",
        about="Cơ quan tổng hợp của Ban Chỉ đạo: «Tình hình báo cáo» (đã nộp, còn thiếu, "
              "tỉ lệ, xuất Excel, biểu đồ, gia hạn, yêu cầu báo cáo đột xuất), «Báo cáo chờ "
              "tiếp nhận» (tiếp nhận hoặc trả lại để bổ sung) và bản tổng hợp báo cáo quá hạn.",
        hint="Sau khi cán bộ phường gửi báo cáo, bấm «Báo cáo chờ tiếp nhận».",
    ),
    Persona(
        key="chair", user_id=9004, name="Lê Văn Bình", title="Trưởng ban",
        role="chair", agency="ldtbxh", agency_label="Ban Chỉ đạo 138 (qua Phòng LĐ-TBXH)",
        about="Trưởng ban Chỉ đạo (kế hoạch không có đơn vị riêng cho Trưởng ban nên tài khoản "
              "gắn với cơ quan tổng hợp): nhận bản tổng hợp khi báo cáo quá hạn 7 ngày, "
              "«Nhắc tất cả» các đơn vị quá hạn, xem «Tình hình báo cáo».",
        hint="Nhảy đồng hồ tới «21/03 08:00», chờ bản tổng hợp rồi bấm «Nhắc tất cả».",
    ),
    Persona(
        key="admin", user_id=9005, name="Đỗ Minh Quân", title="Quản trị",
        role="admin", agency="ldtbxh", agency_label="Phòng LĐ-TBXH",
        about="Quản trị viên: /admin để tạo lời mời (liên kết gửi cho cán bộ), thu hồi, xem "
              "thành viên của đơn vị, đổi hạn nộp, lịch nhắc, tạm dừng nhắc (Tết) và "
              "/audit xem nhật ký.",
        hint="Gõ /admin, tạo lời mời rồi bấm liên kết t.me trong tin nhắn để "
             "«Người dùng mới» tham gia.",
    ),
    Persona(
        key="newcomer", user_id=9006, name="Vũ Hoàng Nam", title="Người dùng mới",
        role=None, agency=None, agency_label="chưa thuộc đơn vị nào",
        about="Một người chưa có tài khoản: chỉ dùng được bot sau khi mở liên kết mời. Bấm "
              "một liên kết mời t.me/… trong khung chat của Quản trị để tham gia bằng người này.",
        hint="Gõ /start để xem bot nói gì với người lạ.",
    ),
)


# The persona on Zalo (when the hooks carry the Zalo application): a second ward's official,
# who joins by sending her invite code alone, as a Zalo user does (Zalo has no deep links).
ZALO_PERSONA = Persona(
    key="zalo", user_id="5a0b1c2d3e4f5a6b7c8d", name="Hoàng Thị Thu", title="Cán bộ phường · Zalo",
    role="reporter", agency="p-van-chuong", agency_label="UBND phường Văn Chương",
    about="Cán bộ báo cáo của phường Văn Chương, dùng Zalo thay cho Telegram: cùng một bot, "
          "nhưng Zalo không có nút bấm nên mỗi lựa chọn là một dòng đánh số — gõ số (hoặc "
          "tên lựa chọn) để chọn, «menu» để về danh sách chính. Ảnh gửi được, tệp thì không.",
    hint="Gõ «menu» rồi «1» («Báo cáo cần nộp»), rồi số của báo cáo tháng 03/2022. Một số "
         "chọn trong danh sách bot gửi sau cùng (kể cả danh sách trong tin nhắc hạn).",
    channel=ZALO,
)


def personas_for(zalo: bool) -> tuple[Persona, ...]:
    """The personas a sandbox shows: the Zalo one (after the Telegram reporters) only when
    it plays Zalo."""
    if not zalo:
        return PERSONAS
    reporters = [i for i, p in enumerate(PERSONAS) if p.role == "reporter"]
    at = reporters[-1] + 1 if reporters else len(PERSONAS)
    return (*PERSONAS[:at], ZALO_PERSONA, *PERSONAS[at:])


def persona(key: str) -> Persona:
    for p in (*PERSONAS, ZALO_PERSONA):
        if p.key == key:
            return p
    raise KeyError(key)


# ------------------------------------------------------------------------------ the clock


def sweep_points(start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
    """The instants a jump from `start` to `end` sweeps at: each day's 08:00 strictly between
    them (the last MAX_INTERMEDIATE_DAYS of them), then `end` itself."""
    points: list[dt.datetime] = []
    day = start.astimezone(TZ).date()
    last = end.astimezone(TZ).date()
    while day <= last:
        moment = dt.datetime.combine(day, SWEEP_TIME, tzinfo=TZ)
        if start < moment < end:
            points.append(moment)
        day += dt.timedelta(days=1)
    return [*points[-MAX_INTERMEDIATE_DAYS:], end]


# ------------------------------------------------------------------------------ the sandbox


@dataclass
class Sandbox:
    """Everything the sandbox runs; :meth:`stop` ends it all."""

    settings: Settings
    state: BotApiState
    standin: StandInServer
    application: Application[Any, Any, Any, Any, Any, Any]
    hooks: BotHooks
    personas: tuple[Persona, ...] = PERSONAS
    url: str = ""
    host: str = "127.0.0.1"
    port: int = 0
    sweeps: list[dict[str, Any]] = field(default_factory=list)
    # Zalo, when the hooks carry it: the stand-in, the Zalo application and its poller.
    zalo_state: ZaloApiState | None = None
    zalo_standin: ZaloStandInServer | None = None
    zalo_application: Application[Any, Any, Any, Any, Any, Any] | None = None
    zalo_poller: Poller | None = None
    # Images the Zalo persona "uploaded": token -> (bytes, mime), served at /api/zalo-images.
    zalo_images: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    # Zalo message id -> the name of a file Zalo withheld from the bot (shown in the chat).
    zalo_withheld: dict[str, str] = field(default_factory=dict)
    _web_runner: web.AppRunner | None = None
    _clock_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _stopped: bool = False

    @property
    def clock(self) -> Any:
        return self.application.bot_data["clock"]

    @property
    def applications(self) -> list[Application[Any, Any, Any, Any, Any, Any]]:
        """Every channel's application (Telegram first)."""
        return [app for app in (self.application, self.zalo_application) if app is not None]

    def now(self) -> dt.datetime:
        return self.clock.now().astimezone(TZ)

    def set_clock(self, moment: dt.datetime) -> None:
        """Every application's clock to `moment` (each application has its own Clock)."""
        for app in self.applications:
            app.bot_data["clock"].set(moment)

    def persona(self, key: str) -> Persona:
        for p in self.personas:
            if p.key == key:
                return p
        raise KeyError(key)

    def chat_messages(self, p: Persona) -> list[dict[str, Any]]:
        """The persona's transcript in its channel's stand-in (oldest first)."""
        if p.on_zalo:
            return self.zalo_state.chat_messages(str(p.user_id)) if self.zalo_state else []
        return self.state.chat_messages(int(p.user_id))

    async def sweep(self) -> int:
        """One sweep at the current simulated time; the running sender delivers."""

        written = await sweep_once(self.application)
        self.sweeps.append({"at": self.now().isoformat(), "written": written})
        return written

    async def move_clock(self, target: dt.datetime) -> dict[str, Any]:
        """Set the bot's clock forward to `target` and sweep (at each day's 08:00 on the way
        too). The clock never goes back: outbox rows and drafts written "later" would
        confuse a rehearsal; restart the sandbox to begin again."""
        if target.tzinfo is None:
            raise ValueError("the clock needs an aware datetime")
        async with self._clock_lock:
            start = self.now()
            if target < start - dt.timedelta(seconds=1):
                raise ValueError(
                    "Không thể lùi đồng hồ về quá khứ; khởi động lại sandbox để làm lại từ đầu."
                )
            written = 0
            points = sweep_points(start, target)
            for moment in points:
                self.set_clock(moment)
                written += await self.sweep()
                # Deliver before moving on, so each message carries the time it was sent at.
                with contextlib.suppress(TimeoutError):
                    await self.wait_outbox_idle(timeout=DELIVERY_WAIT)
            return {"from": start.isoformat(), "to": self.now().isoformat(),
                    "sweeps": len(points), "written": written}

    async def advance(self, delta: dt.timedelta) -> dict[str, Any]:
        return await self.move_clock(self.now() + delta)

    async def wait_outbox_idle(self, timeout: float = 20.0) -> None:  # noqa: ASYNC109
        """Until the sender has delivered everything due (tests)."""


        deadline = time.monotonic() + timeout
        while True:
            async with self.application.bot_data["db"]() as session:
                left = await session.scalar(
                    select(func.count()).select_from(OutboxMessage).where(
                        OutboxMessage.status.in_([OutboxStatus.pending, OutboxStatus.sending]),
                        OutboxMessage.next_attempt_at <= self.clock.now(),
                    ))
            if not left:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{left} outbox messages still waiting after {timeout}s")
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        app = self.application
        if self._web_runner is not None:
            await self._web_runner.cleanup()
        if self.zalo_poller is not None:
            with contextlib.suppress(Exception):
                await self.zalo_poller.stop()
        with contextlib.suppress(Exception):
            if app.updater is not None and app.updater.running:
                await app.updater.stop()
        # Zalo first: its on_shutdown disposes the engine both applications share (the
        # Telegram one's disposes it again, harmlessly).
        apps = list(reversed(self.applications))
        for each in apps:
            with contextlib.suppress(Exception):
                if each.running:
                    await each.stop()
            with contextlib.suppress(Exception):
                await self.hooks.on_stop(each)
        for each in apps:
            with contextlib.suppress(Exception):
                await each.shutdown()
            with contextlib.suppress(Exception):
                await self.hooks.on_shutdown(each)
        if self.zalo_standin is not None:
            await self.zalo_standin.stop()
        await self.standin.stop()


def _sqlite_path(url: str) -> Path | None:
    try:
        parsed = make_url(url)
    except Exception:
        return None
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def _fresh_sqlite(url: str) -> None:
    path = _sqlite_path(url)
    if path is None:
        return
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


async def _prepare_database(settings: Settings, fresh: bool) -> None:

    if fresh:
        _fresh_sqlite(settings.database_url)
    # Alembic's env runs its own event loop: keep it off ours.
    await asyncio.to_thread(upgrade, settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            await import_plan(session, load_plan(PLAN_FILE), settings, now=START_AT)
    finally:
        await engine.dispose()


async def _invite_codes(app: Application[Any, Any, Any, Any, Any, Any],
                        now: dt.datetime, personas: tuple[Persona, ...]) -> dict[str, str]:

    codes: dict[str, str] = {}
    async with app.bot_data["db"]() as session, session.begin():
        for p in personas:
            if p.role is None or p.agency is None:
                continue
            agency = await find_agency(session, p.agency, PLAN_CODE)
            created = await create_invite(session, agency, Role(p.role), dt.timedelta(days=30),
                                          actor_label="sandbox", now=now)
            codes[p.key] = created.code
    return codes


async def _join_personas(sandbox: Sandbox) -> None:
    """Each demo person opens their invite: ``/start CODE`` on Telegram, like a real
    official; on Zalo (no deep links) the code alone, as the invite message says."""
    state = sandbox.state
    for p in sandbox.personas:
        if p.on_zalo:
            assert sandbox.zalo_state is not None
            sandbox.zalo_state.add_user(str(p.user_id), p.name)
        else:
            state.add_user(int(p.user_id), first_name=p.name, language_code="vi")
    codes = await _invite_codes(sandbox.application, sandbox.now(), sandbox.personas)
    for p in sandbox.personas:
        if p.key not in codes:
            continue
        if p.on_zalo:
            assert sandbox.zalo_state is not None
            sandbox.zalo_state.user_sends_text(str(p.user_id), codes[p.key], display_name=p.name)
        else:
            state.user_sends_text(int(p.user_id), f"/start {codes[p.key]}")
        deadline = time.monotonic() + JOIN_TIMEOUT
        while not any(m["from_bot"] and (m.get("text") or "").startswith(("✅", "⚠️"))
                      for m in sandbox.chat_messages(p)):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the bot did not welcome {p.name} within {JOIN_TIMEOUT}s")
            await asyncio.sleep(0.02)
        welcome = next(m for m in sandbox.chat_messages(p)
                       if m["from_bot"] and (m.get("text") or "").startswith(("✅", "⚠️")))
        if not (welcome.get("text") or "").startswith("✅"):
            raise RuntimeError(f"{p.name} could not join: {welcome.get('text')}")


async def _seed_history(sandbox: Sandbox) -> None:
    """The ward's January and February, sent and accepted (sandbox/history.py)."""
    by_key = {p.key: p for p in sandbox.personas}
    async with sandbox.application.bot_data["db"]() as session, session.begin():
        plan = await session.scalar(select(Plan.id).where(Plan.code == PLAN_CODE))
        people = {m.telegram_user_id: m.id for m in (await session.scalars(select(Member).where(
            Member.telegram_user_id.in_([by_key["ward"].user_id, by_key["office"].user_id])
        ))).all()}
        ward = people.get(int(by_key["ward"].user_id))
        if plan is not None and ward is not None:
            await seed_history(session, plan, ward, people.get(int(by_key["office"].user_id)),
                               TZ)


def sandbox_settings(database_url: str, telegram_api_url: str,
                     fake_now: dt.datetime = START_AT,
                     zalo_api_url: str | None = None) -> Settings:
    # Explicit either way: a ZALO_BOT_TOKEN in the environment must not reach the sandbox.
    zalo: dict[str, Any] = {"zalo_bot_token": None, "zalo_webhook_url": None}
    if zalo_api_url is not None:
        zalo = {"zalo_bot_token": ZALO_TOKEN, "zalo_api_url": zalo_api_url,
                "zalo_webhook_url": None}
    return Settings(
        _env_file=None,
        bot_token=TOKEN,
        telegram_api_url=telegram_api_url,
        database_url=database_url,
        bot_admins=frozenset(),
        bot_username=BOT_USERNAME,
        timezone="Asia/Ho_Chi_Minh",
        fake_now=fake_now,
        sweep_interval_seconds=0,  # the page's clock drives the sweeps
        flood_limit=100_000,
        send_rate=30.0,
        send_per_chat_seconds=0.2,
        webhook_url=None,
        webhook_secret=None,
        zalo_send_rate=30.0,
        **zalo,
    )


async def start_sandbox(
    hooks: BotHooks,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    database_url: str | None = None,
    fresh: bool = True,
    fake_now: dt.datetime = START_AT,
    initial_sweep: bool = True,
) -> Sandbox:
    """Start everything and return the handles; the page is at ``sandbox.url``.

    ``hooks`` builds and runs the bot's application (``bot.app``, handed in by the caller);
    with ``hooks.zalo`` the Zalo application runs too, against a Zalo stand-in.
    """

    database_url = database_url or f"sqlite+aiosqlite:///{DEFAULT_DB}"
    state = BotApiState(bot_username=BOT_USERNAME, bot_first_name="BCĐ 138 Đống Đa",
                        token=TOKEN)
    standin = StandInServer(state)
    await standin.start()
    zalo_state: ZaloApiState | None = None
    zalo_standin: ZaloStandInServer | None = None
    application = None
    sandbox = None
    try:
        if hooks.zalo:
            zalo_state = ZaloApiState(token=ZALO_TOKEN, account_name=ZALO_BOT_NAME)
            zalo_standin = ZaloStandInServer(zalo_state)
            await zalo_standin.start()
        settings = sandbox_settings(database_url, standin.url, fake_now,
                                    zalo_standin.api_root if zalo_standin else None)
        await _prepare_database(settings, fresh)
        application = hooks.build_application(settings)
        clock = application.bot_data["clock"]
        # Messages carry the simulated time, as the bot sees it.
        state.clock = lambda: clock.now().timestamp()
        sandbox = Sandbox(settings=settings, state=state, standin=standin,
                          application=application, hooks=hooks, host=host,
                          personas=personas_for(zalo_state is not None),
                          zalo_state=zalo_state, zalo_standin=zalo_standin)
        await application.initialize()
        await hooks.on_startup(application)  # commands, the outbox sender (no periodic sweep)
        assert application.updater is not None
        await application.updater.start_polling(allowed_updates=Update.ALL_TYPES, timeout=10)
        await application.start()
        if zalo_state is not None:
            await _start_zalo(sandbox, zalo_state)
        await _join_personas(sandbox)
        await _seed_history(sandbox)
        if initial_sweep:
            await sandbox.sweep()
            # The page opens on a settled chat: everything the first sweep wrote is delivered
            # (a message landing a moment after the page loads reads as a glitch).
            with contextlib.suppress(TimeoutError):
                await sandbox.wait_outbox_idle(timeout=DELIVERY_WAIT)
        runner = web.AppRunner(create_web_app(sandbox), access_log=None,
                               handler_cancellation=True, shutdown_timeout=1.0)
        await runner.setup()
        sandbox._web_runner = runner
        site = web.TCPSite(runner, host, port)
        await site.start()
        sandbox.port = int(runner.addresses[0][1])
        sandbox.url = f"http://{host}:{sandbox.port}"
    except BaseException:
        if sandbox is not None:
            await sandbox.stop()
        else:
            if application is not None:
                with contextlib.suppress(Exception):
                    await application.shutdown()
                with contextlib.suppress(Exception):
                    await hooks.on_shutdown(application)
            if zalo_standin is not None:
                await zalo_standin.stop()
            await standin.stop()
        raise
    return sandbox


async def _start_zalo(sandbox: Sandbox, zalo_state: ZaloApiState) -> None:
    """The Zalo application on the Telegram one's engine, its life-cycle as
    ``bot.app.run_channels`` runs it; its clock follows the sandbox's (see set_clock)."""
    hooks = sandbox.hooks
    assert hooks.build_zalo_application is not None and hooks.zalo_poller is not None
    app = hooks.build_zalo_application(sandbox.settings,
                                       sandbox.application.bot_data["engine"])
    sandbox.zalo_application = app
    app.bot_data["clock"].set(sandbox.now())
    clock = app.bot_data["clock"]
    zalo_state.clock = lambda: clock.now().timestamp()
    await app.initialize()
    await hooks.on_startup(app)  # its own outbox sender: reminders to Zalo go through it
    await app.start()
    poller = hooks.zalo_poller(app)
    poller.start()
    sandbox.zalo_poller = poller


# ------------------------------------------------------------------------------ the command


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot sandbox",
        description="Try every role of the bot in a browser, without a Telegram token.",
    )
    add_arguments(parser)
    return parser


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--database-url", default=None,
                        help="default: a fresh SQLite file data/sandbox.sqlite3 (recreated at "
                             "every start)")
    parser.add_argument("--keep-data", action="store_true",
                        help="do not delete the SQLite file first")
    parser.add_argument("--verbose", action="store_true", help="log every update and send")


def _port_free(host: str, port: int) -> bool:
    if port == 0:
        return True
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


async def _serve(hooks: BotHooks, args: argparse.Namespace) -> int:
    if not _port_free(args.host, args.port):
        print(f"Sandbox: {args.host}:{args.port} is already in use (another sandbox?). "
              f"Try --port {args.port + 10}.", flush=True)
        return 1
    try:
        sandbox = await start_sandbox(hooks, host=args.host, port=args.port,
                                      database_url=args.database_url,
                                      fresh=not args.keep_data)
    except OSError as exc:
        print(f"Sandbox: cannot listen on {args.host}:{args.port} ({exc.strerror or exc}). "
              f"Try --port {args.port + 10}.", flush=True)
        return 1
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    print(f"Sandbox: {sandbox.url}", flush=True)
    print("  Mở địa chỉ trên trong trình duyệt; Ctrl-C để dừng. "
          "(Open it in a browser; Ctrl-C stops.)", flush=True)
    try:
        await stop.wait()
    finally:
        print("Sandbox: stopping…", flush=True)
        await sandbox.stop()
    return 0


def main(hooks: BotHooks, args: argparse.Namespace | list[str] | None = None) -> int:
    """``python -m bot sandbox``: ``bot/cli.py`` passes ``bot.app``'s hooks and its args."""
    if not isinstance(args, argparse.Namespace):
        args = build_parser().parse_args(args)
    if not getattr(args, "verbose", False):
        # One line per update and per send is for production logs, not for a demo console.
        for name in ("", "bot", "handlers", "scheduler", "telegram", "aiohttp", "sandbox"):
            logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    try:
        return asyncio.run(_serve(hooks, args))
    except KeyboardInterrupt:
        return 0
