"""Webhook mode end to end: the real `python -m bot web` process (Starlette + uvicorn)
against the in-process Bot API stand-in, on SQLite and on PostgreSQL.

Telegram is played by this test: it builds each update with the stand-in's player actions
(so the user, the chat and the bot's messages exist there) and POSTs it to the webhook
instead of leaving it for getUpdates. Nothing sleeps: every step polls with a deadline.

The helpers here (`web_instances`, `WebhookUser`, `fill_ward_form`, the Đống Đa database
fixtures) are also used by tests/test_instances.py.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import os
import re
import shutil
import signal
import socket
import sys
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from db.models import Answer, Member, OutboxMessage, OutboxStatus, Submission
from sandbox.botapi import BotApiState, Injection, StandInServer
from sandbox.client import StandInClient, format_transcript
from tests.conftest import PLANS, ROOT
from tests.support.chat import button, buttons, is_review, question_at

PLAN = PLANS / "dongda-2022.yaml"
PLAN_CODE = "dongda-2022"
AGENCY = "p-cat-linh"
TOKEN = "123456:WEB-token-Sx9Qp2"
SECRET = "whsec-7Zq2-Lm8vR4"
WEBHOOK_URL = "https://bot.example.org/tg"
FORM_NOW = "2022-03-05T08:00:00+07:00"  # the March report is open, last day 12/03
OFFICIAL = 890_001
USER = {"first_name": "Lan", "last_name": "Nguyễn", "language_code": "vi"}
# A unique answer: it must reach the database and never the log.
PRIVATE_TEXT = "Thiếu kinh phí bí-mật-123"
HEADER = "X-Telegram-Bot-Api-Secret-Token"
START_TIMEOUT = 30.0
JSON = dict[str, Any]
Predicate = Callable[[JSON], bool]

UPDATE_LINE = re.compile(r"INFO bot\.updates: update id=(\d+) kind=\w+ chat=\S+ latency_ms=\d+$",
                         re.MULTILINE)
SENT_LINE = re.compile(r"INFO scheduler\.sender: sent outbox=(\d+) kind=\S+ chat=(\d+) "
                       r"latency_ms=\d+$", re.MULTILINE)

# Settings read from the environment: the test decides every one of them for the children.
_BOT_ENV = {"BOT_TOKEN", "DATABASE_URL", "TELEGRAM_API_URL", "WEBHOOK_URL", "WEBHOOK_SECRET",
            "PORT", "HOST", "BOT_FAKE_NOW", "SWEEP_INTERVAL_SECONDS", "BOT_ADMINS",
            "BOT_USERNAME", "SEND_RATE", "SEND_PER_CHAT_SECONDS", "SEND_CONCURRENCY",
            "FLOOD_LIMIT", "FLOOD_WINDOW", "BOT_TIMEZONE"}


# ============================================================================ databases


def _ward_form() -> dict[str, str]:
    plan = yaml.safe_load(PLAN.read_text(encoding="utf-8"))
    form = next(f for f in plan["forms"] if f["code"] == "phuong")
    return {f["code"]: f["label"] for f in form["fields"]}


LABELS = _ward_form()


async def _import_dongda(url: str) -> None:
    from core.planfile import load_plan
    from core.settings import Settings
    from db.plan_import import import_plan
    from db.session import make_engine, make_sessionmaker

    settings = Settings(_env_file=None, database_url=url, bot_token="123456:TEST")
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            await import_plan(session, load_plan(PLAN), settings)
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def dongda_sqlite_template(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
                           ) -> Path:
    path = tmp_path_factory.mktemp("web-dongda") / "dongda.sqlite3"
    shutil.copy(sqlite_template, path)
    asyncio.run(_import_dongda(f"sqlite+aiosqlite:///{path}"))
    return path


@pytest.fixture(scope="session")
def dongda_pg_template() -> Iterator[str]:
    """A migrated PostgreSQL database with the Đống Đa plan, to copy (skips without one)."""
    from tests.conftest import _pg_url
    from tests.support.harness import postgres_template

    for name in postgres_template():
        asyncio.run(_import_dongda(_pg_url(name)))
        yield name


@pytest.fixture
def dongda_sqlite_url(dongda_sqlite_template: Path, tmp_path: Path) -> str:
    path = tmp_path / "bot.sqlite3"
    shutil.copy(dongda_sqlite_template, path)
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture
def dongda_pg_url(dongda_pg_template: str) -> Iterator[str]:
    from tests.support.harness import postgres_copy

    yield from postgres_copy(dongda_pg_template)


@pytest.fixture(params=["sqlite", "postgresql"])
def dongda_url(request: pytest.FixtureRequest) -> str:
    return request.getfixturevalue(f"dongda_{request.param.replace('postgresql', 'pg')}_url")


class Db:
    """The test's own connection to the bot's database (SQLite or PostgreSQL)."""

    def __init__(self, url: str) -> None:
        from db.session import make_engine, make_sessionmaker

        self.url = url
        self.engine: AsyncEngine = make_engine(url)
        self.sessions: async_sessionmaker[AsyncSession] = make_sessionmaker(self.engine)

    async def close(self) -> None:
        await self.engine.dispose()

    async def all(self, query: Any) -> list[Any]:
        async with self.sessions() as session:
            return list((await session.execute(query)).all())

    async def scalars(self, query: Any) -> list[Any]:
        async with self.sessions() as session:
            return list((await session.scalars(query)).all())

    async def scalar(self, query: Any) -> Any:
        async with self.sessions() as session:
            return await session.scalar(query)

    async def add(self, *rows: Any) -> None:
        async with self.sessions() as session, session.begin():
            session.add_all(rows)

    async def invite(self, agency: str = AGENCY, role: str = "reporter",
                     now: str = FORM_NOW) -> str:
        from db.invites import create_invite, find_agency
        from db.models import Role

        async with self.sessions() as session, session.begin():
            found = await find_agency(session, agency, PLAN_CODE)
            created = await create_invite(session, found, Role(role), dt.timedelta(days=7),
                                          actor_label="test", now=dt.datetime.fromisoformat(now))
            return created.code

    async def outbox_row(self, chat_id: int, key: str, text: str,
                         due: dt.datetime) -> int:
        row = OutboxMessage(dedupe_key=key, kind="test", chat_id=chat_id,
                            payload={"text": text}, status=OutboxStatus.pending,
                            next_attempt_at=due, created_at=due)
        await self.add(row)
        return row.id


@asynccontextmanager
async def open_db(url: str) -> AsyncIterator[Db]:
    db = Db(url)
    try:
        yield db
    finally:
        await db.close()


async def poll(what: str, check: Callable[[], Awaitable[Any]], timeout: float = 20.0,  # noqa: ASYNC109
               interval: float = 0.05) -> Any:
    """Call `check` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s (last: {result!r})")
        await asyncio.sleep(interval)


# ============================================================================ the process


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class WebBot:
    """One `python -m bot web` process."""

    name: str
    process: asyncio.subprocess.Process
    port: int
    log_path: Path
    env: dict[str, str] = field(repr=False, default_factory=dict)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def webhook(self) -> str:
        return f"{self.base}/tg"

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def sender_name(self) -> str:
        """What its outbox sender writes in `outbox.claimed_by`."""
        return f"{socket.gethostname()}:{self.pid}"

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def update_ids(self) -> list[int]:
        return [int(m) for m in UPDATE_LINE.findall(self.log())]

    async def healthz(self, http: aiohttp.ClientSession) -> tuple[int, JSON]:
        async with http.get(f"{self.base}/healthz") as resp:
            return resp.status, await resp.json()

    async def stop(self, sig: int = signal.SIGTERM, timeout: float = 25.0) -> int:  # noqa: ASYNC109
        if self.process.returncode is None:
            self.process.send_signal(sig)
            try:
                await asyncio.wait_for(self.process.wait(), timeout)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
                raise AssertionError(f"{self.name} did not stop within {timeout} s:\n"
                                     f"{self.log()[-3000:]}") from None
        assert self.process.returncode is not None
        return self.process.returncode


def child_env(database_url: str, api_url: str, port: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k.upper() not in _BOT_ENV}
    env.update(
        BOT_TOKEN=TOKEN, TELEGRAM_API_URL=api_url, DATABASE_URL=database_url,
        WEBHOOK_URL=WEBHOOK_URL, WEBHOOK_SECRET=SECRET, PORT=str(port), HOST="127.0.0.1",
        PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1", FLOOD_LIMIT="1000",
        SWEEP_INTERVAL_SECONDS="0",
    )
    env.update(extra)
    return env


async def start_web(name: str, database_url: str, api_url: str, log_path: Path,
                    **extra: str) -> WebBot:
    port = free_port()
    env = child_env(database_url, api_url, port, **extra)
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "web", cwd=ROOT, env=env,
            stdout=log, stderr=asyncio.subprocess.STDOUT,
        )
    return WebBot(name, process, port, log_path, env)


async def wait_healthy(bot: WebBot, http: aiohttp.ClientSession,
                       timeout: float = START_TIMEOUT) -> JSON:  # noqa: ASYNC109
    """Poll /healthz until it answers 200 (the lifespan start-up, setWebhook included, is
    done by then)."""
    deadline = time.monotonic() + timeout
    while True:
        if bot.process.returncode is not None:
            raise AssertionError(f"{bot.name} exited with {bot.process.returncode}:\n{bot.log()}")
        try:
            status, body = await bot.healthz(http)
            if status == 200:
                return body
        except (aiohttp.ClientError, OSError):
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{bot.name} not healthy within {timeout} s:\n{bot.log()}")
        await asyncio.sleep(0.05)


@dataclass
class Deployment:
    server: StandInServer
    state: BotApiState
    client: StandInClient
    http: aiohttp.ClientSession
    bots: list[WebBot]


@asynccontextmanager
async def web_instances(database_url: str, log_dir: Path, count: int = 1,
                        state: BotApiState | None = None,
                        per_instance: list[dict[str, str]] | None = None,
                        **extra: str) -> AsyncIterator[Deployment]:
    """`count` web instances on one database and one stand-in, started together."""
    server = StandInServer(state or BotApiState())
    await server.start()
    client = StandInClient(server.url)
    http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
    bots: list[WebBot] = []
    try:
        for i in range(count):
            own = (per_instance or [{}] * count)[i]
            bots.append(await start_web(f"web-{i + 1}", database_url, server.url,
                                        log_dir / f"web-{i + 1}.log", **{**extra, **own}))
        await asyncio.gather(*(wait_healthy(b, http) for b in bots))
        yield Deployment(server, server.state, client, http, bots)
    finally:
        for bot in bots:
            if bot.process.returncode is None:
                bot.process.send_signal(signal.SIGTERM)
        for bot in bots:
            try:
                await asyncio.wait_for(bot.process.wait(), 25)
            except TimeoutError:
                bot.process.kill()
                await bot.process.wait()
        await http.close()
        await client.close()
        await server.stop()


# ============================================================================ the official


def question_of(msg: JSON) -> str | None:
    """The field code of a question message, else None."""
    found = question_at(msg, LABELS)
    return found[2] if found else None


def is_question(msg: JSON) -> bool:
    return question_of(msg) is not None


class WebhookUser:
    """One Telegram user whose updates are POSTed to the webhook(s), round-robin, the way a
    load balancer in front of several instances would; every action waits for the answer."""

    def __init__(self, dep: Deployment, user_id: int = OFFICIAL,
                 targets: list[WebBot] | None = None) -> None:
        self.dep = dep
        self.user_id = user_id
        self.targets = itertools.cycle(targets or dep.bots)
        self.posted: dict[str, list[int]] = defaultdict(list)  # instance → update ids

    async def post(self, update: JSON, target: WebBot | None = None,
                   secret: str | None = SECRET) -> int:
        target = target or next(self.targets)
        headers = {HEADER: secret} if secret is not None else {}
        async with self.dep.http.post(target.webhook, json=update, headers=headers) as resp:
            await resp.read()
            if resp.status == 200:
                self.posted[target.name].append(update["update_id"])
            return resp.status

    def last_message_id(self) -> int:
        return max((m["message_id"] for m in self.dep.state.chat_messages(self.user_id)),
                   default=0)

    async def say(self, text: str, until: Predicate = is_question) -> JSON:
        update = self.dep.state.user_sends_text(self.user_id, text, **USER)
        status = await self.post(update)
        assert status == 200, f"the webhook answered {status}"
        return await self.dep.client.wait_for_message(
            self.user_id, until, after_message_id=update["message"]["message_id"])

    async def document(self, filename: str, content: bytes, mime_type: str,
                       until: Predicate = is_question) -> JSON:
        update = self.dep.state.user_sends_document(self.user_id, filename, content, mime_type,
                                                    **USER)
        status = await self.post(update)
        assert status == 200, f"the webhook answered {status}"
        return await self.dep.client.wait_for_message(
            self.user_id, until, after_message_id=update["message"]["message_id"])

    async def press(self, msg: JSON, data: str, until: Predicate = is_question) -> JSON:
        after = self.last_message_id()
        update = self.dep.state.user_presses(self.user_id, msg["message_id"], data)
        status = await self.post(update)
        assert status == 200, f"the webhook answered {status}"
        reply = await self.dep.client.wait_for_message(self.user_id, until,
                                                       after_message_id=after)
        query = update["callback_query"]["id"]

        async def answered() -> bool:
            return self.dep.state.callback_answer(query) is not None

        await poll("the button press is answered", answered, timeout=5)
        return reply


# What the official answers, question by question (the path of tests/test_e2e_forms.py's
# second test): (field, "say" text | "press" button label).
FLOW: list[tuple[str, str, str]] = [
    ("co_so_quan_ly", "say", "12"),
    ("co_so_kiem_tra", "say", "10"),
    ("co_so_vi_pham", "say", "0"),
    ("buoi_tuyen_truyen", "say", "1.234"),
    ("nguoi_xu_phat_hc", "say", "7"),
    ("co_diem_phat_sinh", "press", "Không"),
    ("so_diem_triet_xoa", "say", "0"),
    ("duy_tri_mo_hinh", "press", "Có"),
    ("nguoi_co_nhu_cau", "say", "0"),
    ("khong_te_nan", "press", "Có"),
    ("kho_khan", "say", PRIVATE_TEXT),
    ("van_ban", "document", "bao-cao-thang-3.pdf"),  # required in Đống Đa
]
SIGNED_PDF = b"%PDF-1.4 signed report"
EXPECTED_ANSWERS: dict[str, tuple[Any, bool]] = {
    "co_so_quan_ly": (12, False),
    "co_so_kiem_tra": (10, False),
    "co_so_vi_pham": (0, False),
    "buoi_tuyen_truyen": (1234, False),
    "nguoi_xu_phat_hc": (7, False),
    "co_diem_phat_sinh": (False, False),
    "so_diem_triet_xoa": (0, False),
    "duy_tri_mo_hinh": (True, False),
    "nguoi_co_nhu_cau": (0, False),
    "khong_te_nan": (True, False),
    "kho_khan": (PRIVATE_TEXT, False),
    "van_ban": ({"file_name": "bao-cao-thang-3.pdf", "mime_type": "application/pdf",
                 "size": len(SIGNED_PDF)}, False),
}


async def saved_answers(db: Db) -> list[tuple[str, Any, bool]]:
    """(field, value, skipped) of the official's draft or report, in the order saved."""
    rows = await db.all(
        select(Answer.field_code, Answer.value, Answer.skipped)
        .join(Submission, Submission.id == Answer.submission_id)
        .order_by(Answer.id)
    )
    return [(code, value, bool(skipped)) for code, value, skipped in rows]


async def open_march_report(me: WebhookUser, code: str) -> JSON:
    """Join P. Cát Linh with the invite and open March's report; returns question 1."""
    welcome = await me.say(f"/start {code}", until=lambda m: "Chào mừng" in (m["text"] or ""))
    assert "UBND phường Cát Linh" in welcome["text"], welcome["text"]
    listing = await me.say("Báo cáo cần nộp", until=lambda m: bool(buttons(m)))
    return await me.press(listing, button(
        listing, lambda t: "Báo cáo tháng" in t and "tháng 03/2022" in t))


async def fill_ward_form(me: WebhookUser, code: str,
                         after_answer: Callable[[str], Awaitable[None]] | None = None) -> JSON:
    """Join with the invite, open March's report, answer FLOW, send it; returns the
    receipt. `after_answer(field)` runs after each answer was acknowledged."""
    q = await open_march_report(me, code)
    for i, (code_, action, value) in enumerate(FLOW):
        assert question_of(q) == code_, (
            f"expected the question {code_}:\n"
            f"{format_transcript(me.dep.state.chat_messages(me.user_id)[-4:])}")
        last = i == len(FLOW) - 1
        until = is_review if last else is_question
        if action == "say":
            q = await me.say(value, until=until)
        elif action == "document":
            q = await me.document(value, SIGNED_PDF, "application/pdf", until=until)
        else:
            q = await me.press(q, button(q, value), until=until)
        assert not (q.get("text") or "").startswith("⚠️"), q["text"]
        if after_answer is not None:
            await after_answer(code_)
    review = q
    confirm = await me.press(review, button(review, "✅ Gửi báo cáo"),
                             until=lambda m: "ngay bây giờ?" in m["text"])
    receipt = await me.press(confirm, button(confirm, "✅ Xác nhận gửi"),
                             until=lambda m: "Đã nhận báo cáo" in m["text"])
    assert "BC-" in receipt["text"] and "Đúng hạn" in receipt["text"], receipt["text"]
    return receipt


def assert_clean_log(log: str, *private: str) -> None:
    """No secret and no message contents in a log; no crash either."""
    assert TOKEN not in log and TOKEN.split(":")[1] not in log, "the bot token is in the log"
    assert SECRET not in log, "the webhook secret is in the log"
    for text in private:
        assert text not in log, f"message contents in the log: {text!r}"
    assert "Traceback" not in log, log


# ============================================================================ the tests


async def test_webhook_checks_the_secret_answers_updates_saves_forms_and_logs_cleanly(
    dongda_url: str, tmp_path: Path
) -> None:
    async with open_db(dongda_url) as db:
        code = await db.invite()
        async with web_instances(dongda_url, tmp_path, BOT_FAKE_NOW=FORM_NOW,
                                 SEND_PER_CHAT_SECONDS="600") as dep:
            [bot] = dep.bots
            state = dep.state

            # Start-up registered the webhook with its secret.
            [hook] = state.calls("setWebhook")
            assert hook["ok"] and hook["params"]["url"] == WEBHOOK_URL
            assert hook["params"]["secret_token"] == SECRET
            assert state.webhook["url"] == WEBHOOK_URL

            # /healthz: the database answers and nothing is waiting in the outbox.
            status, health = await bot.healthz(dep.http)
            assert status == 200 and health["database"] is True, health
            assert health["outbox_pending"] == 0 and health["outbox_lag_seconds"] == 0, health
            # Served without a secret: up/down and figures, nothing else.
            assert set(health) == {"status", "database", "outbox_pending",
                                   "outbox_lag_seconds"}, health
            assert health["status"] == "ok", health

            # Without the secret, or with a wrong one: 403 and the update is not processed.
            me = WebhookUser(dep)
            joining = state.user_sends_text(OFFICIAL, f"/start {code}", **USER)
            assert await me.post(joining, secret=None) == 403
            assert await me.post(joining, secret=SECRET[:-1] + "x") == 403
            assert await me.post(joining, secret="") == 403
            # An update PTB cannot read (no chat, no date) is answered 200 and skipped, so
            # Telegram does not resend it forever; its text never reaches the log.
            broken = {"update_id": joining["update_id"] + 10_000,
                      "message": {"message_id": 1, "text": PRIVATE_TEXT}}
            async with dep.http.post(bot.webhook, json=broken,
                                     headers={HEADER: SECRET}) as resp:
                assert resp.status == 200
            # Updates of one chat are handled in arrival order: when the answer to this
            # later /help comes, a refused update would have been handled already.
            helped = await me.say("/help", until=lambda m: True)
            assert "Chào mừng" not in helped["text"]
            assert [m["message_id"] for m in state.bot_messages(OFFICIAL)] == [
                helped["message_id"]], "a refused update was processed"
            assert await db.scalar(select(Member).where(
                Member.telegram_user_id == OFFICIAL)) is None, "the invite was used"
            assert joining["update_id"] not in bot.update_ids()
            # With the secret but not an update: 400.
            async with dep.http.post(bot.webhook, data=b"{not json", headers={
                    HEADER: SECRET, "Content-Type": "application/json"}) as resp:
                assert resp.status == 400

            # With the secret: the official joins and fills in March's report.
            receipt = await fill_ward_form(me, code)
            [submission] = await db.scalars(select(Submission))
            assert submission.state == "submitted" and submission.receipt_no
            assert submission.receipt_no in receipt["text"]
            saved = {c: (v, s) for c, v, s in await saved_answers(db)}
            assert saved == EXPECTED_ANSWERS

            # /healthz reports how far behind the sender is: two messages for one chat,
            # 10 minutes overdue; the second waits for the chat's turn (SEND_PER_CHAT 600 s).
            state.add_user(890_002, first_name="Mai")
            due = dt.datetime.fromisoformat(FORM_NOW) - dt.timedelta(minutes=10)
            first = await db.outbox_row(890_002, "web:1", "Tin thứ nhất", due)
            await db.outbox_row(890_002, "web:2", "Tin thứ hai", due)

            async def first_sent() -> bool:
                row = await db.scalar(select(OutboxMessage).where(OutboxMessage.id == first))
                return row.status == OutboxStatus.sent

            await poll("the first outbox message is sent", first_sent)
            status, health = await bot.healthz(dep.http)
            assert status == 200 and health["database"] is True
            assert health["outbox_pending"] == 1, health
            assert 600 <= health["outbox_lag_seconds"] < 600 + 300, health

            posted = me.posted[bot.name]
        assert await bot.stop() in (0, -signal.SIGTERM)

    # The log: one line per update and per send, with latency; no secret, no contents.
    log = bot.log()
    assert_clean_log(log, PRIVATE_TEXT, code, "Tin thứ nhất", "1.234")
    logged = bot.update_ids()
    assert sorted(logged) == sorted(posted) and len(set(logged)) == len(logged), (
        f"one line per update: posted {posted}, logged {logged}")
    assert joining["update_id"] not in logged
    assert [int(o) for o, _chat in SENT_LINE.findall(log)] == [first]
    assert "webhook request refused" in log


async def test_sigterm_lets_the_send_in_flight_finish_and_exits_cleanly(
    database_url: str, tmp_path: Path
) -> None:
    url = database_url
    chat = 890_101
    state = BotApiState()
    state.add_user(chat, first_name="Hùng")
    # Telegram takes 2 s to answer this send (no error): SIGTERM arrives in the middle of it.
    state.injections.append(Injection("sendMessage", None, chat_id=chat, times=1, delay=2.0))
    async with open_db(url) as db, web_instances(url, tmp_path, state=state) as dep:
        [bot] = dep.bots
        row_id = await db.outbox_row(chat, "term:1", "Nhắc hạn báo cáo",
                                     dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5))

        async def send_started() -> bool:
            return any(c["ok"] is None for c in state.calls("sendMessage"))

        await poll("the send starts", send_started)
        started = time.monotonic()
        code = await bot.stop(signal.SIGTERM)
        assert time.monotonic() - started >= 1.0, "it did not wait for the send"
        assert code in (0, -signal.SIGTERM), f"exit code {code}:\n{bot.log()}"

        row = await db.scalar(select(OutboxMessage).where(OutboxMessage.id == row_id))
        [delivered] = state.bot_messages(chat)
        assert row.status == OutboxStatus.sent, (row.status, row.last_error, bot.log())
        assert row.telegram_message_id == delivered["message_id"]
        assert [c["ok"] for c in state.calls("sendMessage")] == [True]

    log = bot.log()
    assert_clean_log(log, "Nhắc hạn báo cáo")
    assert [(int(o), int(c)) for o, c in SENT_LINE.findall(log)] == [(row_id, chat)]
    assert "Application shutdown complete" in log
