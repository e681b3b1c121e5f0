"""Operations: backup, doctor (Telegram and Zalo), and the bot's username from Telegram."""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
from collections.abc import Callable
from pathlib import Path

from alembic.script import ScriptDirectory
from babel.messages.pofile import read_po
from sqlalchemy.engine import make_url
from telegram import Bot
from telegram.error import TelegramError

from bot.zalo.client import MAX_SECRET_LENGTH, MIN_SECRET_LENGTH, ZaloApiError, ZaloClient
from core.i18n import LOCALES_DIR
from core.settings import Settings
from db.migrate import alembic_config, current
from db.session import normalize_url

ZAPPS_API_URL = "https://bot-api.zapps.me"  # the other host some bots answer on only

Report = Callable[[bool, str, str], None]  # the doctor's report(ok, what, detail)


def backup(settings: Settings, directory: str | Path) -> str:
    """SQLite: an online backup (sqlite3's backup API) into a timestamped file.
    PostgreSQL: the pg_dump command to run (the password is never printed)."""
    url = make_url(normalize_url(settings.database_url))
    if url.get_backend_name() == "sqlite":
        source = url.database
        if not source or source == ":memory:":
            raise SystemExit("nothing to back up: the database is in memory")
        target_dir = Path(directory)
        target_dir.mkdir(parents=True, exist_ok=True)
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        target = target_dir / f"{Path(source).stem}-{stamp}.sqlite3"
        with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
            src.backup(dst)  # consistent even while the bot writes
        return f"backed up {source} to {target}"
    parts = ["pg_dump", "--format=custom", f"--file=backup-{dt.date.today():%Y%m%d}.dump"]
    if url.host:
        parts.append(f"--host={url.host}")
    if url.port:
        parts.append(f"--port={url.port}")
    if url.username:
        parts.append(f"--username={url.username}")
    parts.append(url.database or "")
    return ("PostgreSQL: run this (the password comes from PGPASSWORD or ~/.pgpass):\n  "
            + " ".join(parts))


def telegram_bot(settings: Settings) -> Bot:
    token = settings.bot_token.get_secret_value() if settings.bot_token else ""
    return Bot(token, base_url=f"{settings.telegram_api_url}/bot",
               base_file_url=f"{settings.telegram_api_url}/file/bot")


async def username_from_telegram(settings: Settings) -> str | None:
    """The bot's username as getMe gives it (for invite links when BOT_USERNAME is unset);
    None without a token or when the Bot API does not answer."""
    if settings.bot_token is None:
        return None
    try:
        async with telegram_bot(settings) as bot:
            return bot.username
    except (TelegramError, OSError):
        return None


async def doctor(settings: Settings) -> list[str]:
    """Check what a deployment needs; print one line per check. Returns the problems
    (a WARN line is printed but is not a problem). Never prints a token or a secret."""
    problems: list[str] = []

    def report(ok: bool, what: str, detail: str = "") -> None:
        print(f"{'OK  ' if ok else 'FAIL'} {what}" + (f" — {detail}" if detail else ""))
        if not ok:
            problems.append(what)

    def warn(what: str, detail: str) -> None:
        print(f"WARN {what} — {detail}")

    token = settings.bot_token.get_secret_value() if settings.bot_token else None
    zalo_token = settings.zalo_bot_token.get_secret_value() if settings.zalo_bot_token else None
    # Either token alone is enough; neither is a problem (reported on the BOT_TOKEN line).
    telegram = token is not None or zalo_token is None
    if telegram:
        report(token is not None and ":" in token, "BOT_TOKEN is set",
               "" if token else "set BOT_TOKEN (from @BotFather) or ZALO_BOT_TOKEN (from Zalo "
               "Bot Creator), or use the sandbox")
        report(settings.telegram_api_url.startswith(("http://", "https://")),
               f"TELEGRAM_API_URL {settings.telegram_api_url}")
        if settings.webhook_url or settings.webhook_secret:
            report(bool(settings.webhook_url and settings.webhook_url.startswith("https://")),
                   "WEBHOOK_URL is https", "Telegram only calls https webhooks")
            report(settings.webhook_secret is not None, "WEBHOOK_SECRET is set")
    else:
        report(True, "BOT_TOKEN is unset", "Telegram is off; Zalo alone (ZALO_BOT_TOKEN)")
    if zalo_token is not None:
        zalo_settings(settings, zalo_token, report, warn)

    try:
        revision = await asyncio.to_thread(current, settings.database_url)
        head = ScriptDirectory.from_config(alembic_config(settings.database_url)).get_current_head()
        report(True, "database reachable", make_url(normalize_url(
            settings.database_url)).render_as_string(hide_password=True))
        report(revision == head, "migrations up to date",
               "" if revision == head else f"at {revision}, head is {head}: run "
               "`python -m bot db upgrade`")
    except Exception as exc:
        report(False, "database reachable", type(exc).__name__)

    configured = settings.bot_username.lstrip("@") if settings.bot_username else None
    if token:
        try:
            async with telegram_bot(settings) as bot:
                me = await bot.get_me()
        except (TelegramError, OSError) as exc:
            report(False, "Bot API reachable", type(exc).__name__ + (
                f"; invite links use BOT_USERNAME @{configured}" if configured else
                "; BOT_USERNAME is unset too, so invite links cannot name the bot"))
        else:
            report(True, "Bot API reachable", f"@{me.username}" + (
                "" if configured else " (BOT_USERNAME is unset: invite links use this)"))
            if configured and configured.casefold() != (me.username or "").casefold():
                report(False, "BOT_USERNAME matches the bot",
                       f"BOT_USERNAME is @{configured} but the token is @{me.username}'s: "
                       "invite links would open another bot; unset it or correct it")
    if zalo_token is not None:
        await zalo_reachable(settings, zalo_token, report)

    mo = LOCALES_DIR / "vi" / "LC_MESSAGES" / "messages.mo"
    po = mo.with_suffix(".po")
    fresh = mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime
    report(fresh, "Vietnamese catalog compiled", "" if fresh else "run `make catalogs`")
    if po.exists():
        with po.open("rb") as fh:
            catalog = read_po(fh, locale="vi")
        missing = [m.id for m in catalog if m.id and not m.string]
        report(not missing, "Vietnamese catalog complete",
               f"{len(missing)} untranslated" if missing else "")
    return problems


def zalo_settings(settings: Settings, token: str, report: Report,
                  warn: Callable[[str, str], None]) -> None:
    """The doctor's checks of the Zalo settings (ZALO_BOT_TOKEN is set)."""
    well_formed = ":" in token
    report(well_formed, "ZALO_BOT_TOKEN is set", "" if well_formed else
           "a Zalo bot token looks like <numeric id>:<secret> (from Zalo Bot Creator)")
    report(settings.zalo_api_url.startswith(("http://", "https://")),
           f"ZALO_API_URL {settings.zalo_api_url}", "")
    url = settings.zalo_webhook_url
    secret = (settings.zalo_webhook_secret.get_secret_value()
              if settings.zalo_webhook_secret else None)
    if url:
        report(url.startswith("https://"), "ZALO_WEBHOOK_URL is https",
               "Zalo only calls https webhooks")
        fits = secret is not None and MIN_SECRET_LENGTH <= len(secret) <= MAX_SECRET_LENGTH
        report(fits, f"ZALO_WEBHOOK_SECRET is {MIN_SECRET_LENGTH}–{MAX_SECRET_LENGTH} characters",
               "" if fits else "set it (Zalo sends it in X-Bot-Api-Secret-Token)"
               if secret is None else f"it has {len(secret)}: Zalo's setWebhook refuses it")
    else:
        report(True, "Zalo by long polling", "ZALO_WEBHOOK_URL is unset" + (
            " (ZALO_WEBHOOK_SECRET is not used without it)" if secret is not None else ""))
    public = settings.public_url
    if not public:
        warn("PUBLIC_URL is unset", "Zalo users get no files (Excel, CSV, charts): Zalo "
             "cannot carry them, so they go as links to PUBLIC_URL, served by `python -m bot web`")
    else:
        report(public.startswith("https://"), f"PUBLIC_URL {public}",
               f"Zalo users get files as links valid {settings.file_link_hours} h, served by "
               "`python -m bot web`" if public.startswith("https://") else
               "the links Zalo users open must be https://host")


async def zalo_reachable(settings: Settings, token: str, report: Report) -> None:
    """getMe on the Zalo Bot API (the token is in the URL: never printed)."""
    client = ZaloClient(token, settings.zalo_api_url)
    try:
        me = await client.get_me()
    except ZaloApiError as exc:
        detail = f"{exc.code} {exc.description}".replace(token, "…")
        if exc.fatal:
            detail += ": Zalo refuses ZALO_BOT_TOKEN (mistyped, or reset in Zalo Bot Creator)"
        elif exc.network and settings.zalo_api_url != ZAPPS_API_URL:
            detail += f"; some bots answer only on ZALO_API_URL={ZAPPS_API_URL}"
        report(False, "Zalo Bot API reachable", detail)
    else:
        name = me.get("account_name") if isinstance(me, dict) else None
        report(True, "Zalo Bot API reachable", str(name or "getMe answered"))
    finally:
        await client.close()
