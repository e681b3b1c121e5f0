"""The CLI behind `python -m bot`: run, db, plan, invite.

Each command imports what it needs when it runs (the imports inside the `cmd_*` functions):
`--help`, `db` and `plan` start without loading the bot, the web server or matplotlib, and
`sandbox` is only imported by the command that starts it.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import functools
import json
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

from core.settings import get_settings


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # httpx logs every request URL, and those URLs carry the bot token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # a line a minute is noise
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)  # set-up noise
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:  # e.g. piped into `head`
        return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__)
    sub = parser.add_subparsers(title="commands")

    run = sub.add_parser("run", help="run the bot (long polling)")
    run.set_defaults(func=cmd_run)
    web = sub.add_parser("web", help="serve the Telegram webhook (WEBHOOK_URL, WEBHOOK_SECRET)")
    web.set_defaults(func=cmd_web)
    backup = sub.add_parser("backup", help="back up the database")
    backup.add_argument("--dir", default="data/backups")
    backup.set_defaults(func=cmd_backup)
    doctor = sub.add_parser("doctor", help="check configuration, database, Bot API, catalog")
    doctor.set_defaults(func=cmd_doctor)
    sandbox = sub.add_parser("sandbox", help="try every role in a browser, no Telegram token")
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port", type=int, default=8080)
    sandbox.add_argument("--database-url", default=None,
                         help="default: data/sandbox.sqlite3, recreated at every start")
    sandbox.add_argument("--keep-data", action="store_true",
                         help="do not delete the SQLite file first")
    sandbox.add_argument("--verbose", action="store_true", help="log every update and send")
    sandbox.set_defaults(func=cmd_sandbox)

    db = sub.add_parser("db", help="database schema").add_subparsers(title="db commands")
    up = db.add_parser("upgrade", help="create or upgrade the schema")
    up.add_argument("revision", nargs="?", default="head")
    up.set_defaults(func=cmd_db_upgrade)
    down = db.add_parser("downgrade", help="downgrade the schema")
    down.add_argument("revision")
    down.set_defaults(func=cmd_db_downgrade)
    cur = db.add_parser("current", help="show the schema revision")
    cur.set_defaults(func=cmd_db_current)

    plan = sub.add_parser("plan", help="plan files").add_subparsers(title="plan commands")
    val = plan.add_parser("validate", help="validate plan files (exit 1 on any error)")
    val.add_argument("files", nargs="+")
    val.set_defaults(func=cmd_plan_validate)
    imp = plan.add_parser("import", help="import a plan file (idempotent)")
    imp.add_argument("file")
    imp.add_argument(
        "--chase-from", metavar="DATE",
        help="a plan loaded in the middle of its year: reports whose last day was before "
             "DATE (25/03/2022 or 2022-03-25) are not chased (waived; they can still be "
             "sent). Without it, every period of the plan is chased.")
    imp.set_defaults(func=cmd_plan_import)
    cal = plan.add_parser("calendar", help="list the reporting deadlines of a plan")
    cal.add_argument("plan", help="a plan code or a plan file")
    cal.add_argument("--year", type=int, required=True)
    cal.add_argument("--agency")
    cal.add_argument("--format", choices=["table", "json"], default="table")
    cal.set_defaults(func=cmd_plan_calendar)
    lst = plan.add_parser("list", help="list imported plans")
    lst.set_defaults(func=cmd_plan_list)

    sweep = sub.add_parser("sweep", help="run one sweep (reminders, escalations, digests)")
    sweep.add_argument("--now", help="as if at this instant, ISO 8601 with offset "
                       "(default: the current time)")
    sweep.add_argument("--dry-run", action="store_true",
                       help="print the decisions as JSON lines and write nothing")
    sweep.set_defaults(func=cmd_sweep)

    exp = sub.add_parser("export", help="write the consolidated .xlsx of a schedule's period")
    exp.add_argument("--plan", required=True)
    exp.add_argument("--schedule", required=True)
    exp.add_argument("--period", required=True, help="YYYY-MM, YYYY-Qn, YYYY-Hn or YYYY")
    exp.add_argument("--out", required=True)
    exp.set_defaults(func=cmd_export)

    rep = sub.add_parser("report", help="write the consolidated report (.docx, Decree 30 "
                         "layout) of a schedule's period, and its annex, the workbook, "
                         "next to it (same name, .xlsx)")
    rep.add_argument("--plan", required=True)
    rep.add_argument("--schedule", required=True)
    rep.add_argument("--period", required=True, help="YYYY-MM, YYYY-Qn, YYYY-Hn or YYYY")
    rep.add_argument("--out", required=True)
    rep.set_defaults(func=cmd_report)

    inv = sub.add_parser("invite", help="invite codes").add_subparsers(title="invite commands")
    create = inv.add_parser("create", help="create an invite deep link")
    create.add_argument("--agency", required=True, help="agency code")
    create.add_argument(
        "--role", required=True, choices=["reporter", "head", "standing_office", "chair", "admin"]
    )
    create.add_argument("--expires", default=None, help="lifetime such as 7d, 12h or 30m")
    create.add_argument("--plan", help="the plan whose committee owns the agency")
    create.set_defaults(func=cmd_invite_create)
    ls = inv.add_parser("list", help="list invites")
    ls.add_argument("--all", action="store_true", help="include used, expired and revoked")
    ls.set_defaults(func=cmd_invite_list)
    rv = inv.add_parser("revoke", help="revoke an invite by its id or code")
    rv.add_argument("invite", help="the invite id, or the code itself")
    rv.set_defaults(func=cmd_invite_revoke)
    return parser


# ------------------------------------------------------------------------- commands

Command = Callable[[argparse.Namespace], int]


def needs_schema(command: Command) -> Command:
    """A command that reads or writes the tables: on a database that was never migrated (or
    is behind), one line saying to run `python -m bot db upgrade` first, not a traceback."""
    @functools.wraps(command)
    def run(args: argparse.Namespace) -> int:
        from sqlalchemy.exc import OperationalError, ProgrammingError

        try:
            return command(args)
        except (OperationalError, ProgrammingError):
            problem = _schema_problem(get_settings().database_url)
            if problem is None:
                raise
            print(f"{problem}: run `python -m bot db upgrade` first", file=sys.stderr)
            return 2
    return run


def _schema_problem(database_url: str) -> str | None:
    """Why the schema is not the code's (no tables, an older revision), or None: then the
    error was something else and is not explained away."""
    logging.getLogger("alembic").setLevel(logging.WARNING)  # one line, not alembic's set-up
    from alembic.script import ScriptDirectory

    from db.migrate import alembic_config, current

    try:
        revision = current(database_url)
    except Exception:  # unreachable, or not a database at all: the original error says more
        return None
    if revision is None:
        return "the database has no tables yet"
    head = ScriptDirectory.from_config(alembic_config(database_url)).get_current_head()
    if revision != head:
        return f"the database schema is at {revision}, the code needs {head}"
    return None


def refused_unmigrated(database_url: str) -> bool:
    """Before going live: a database the code's schema is not in (never migrated, or behind)
    is refused with one line saying what to run, instead of failing at the first update."""
    problem = _schema_problem(database_url)
    if problem is not None:
        print(f"{problem}: run `python -m bot db upgrade` first", file=sys.stderr)
        return True
    return False


def cmd_run(args: argparse.Namespace) -> int:
    settings = get_settings()
    if settings.bot_token is None and settings.zalo_bot_token is None:
        print(
            "Neither BOT_TOKEN (Telegram) nor ZALO_BOT_TOKEN (Zalo) is set.\n"
            "Get a token from @BotFather in Telegram, then run for example:\n"
            "  BOT_TOKEN=123456:ABC... make run\n"
            "or put BOT_TOKEN=... in a .env file next to the Makefile.",
            file=sys.stderr,
        )
        return 2
    if refused_unmigrated(settings.database_url):
        return 2
    from bot.app import run_polling
    from bot.eventloop import use_event_loop

    use_event_loop(settings.event_loop)
    run_polling(settings)
    return 0


def cmd_web(args: argparse.Namespace) -> int:
    settings = get_settings()
    if settings.bot_token is None and settings.zalo_bot_token is None:
        print("webhook mode needs BOT_TOKEN (Telegram) or ZALO_BOT_TOKEN (Zalo), or both "
              "(see README)", file=sys.stderr)
        return 2
    missing = []
    if settings.bot_token is not None:
        missing += [name for name, value in (("WEBHOOK_URL", settings.webhook_url),
                                             ("WEBHOOK_SECRET", settings.webhook_secret))
                    if not value]
    if settings.zalo_webhook_url and not settings.zalo_webhook_secret:
        missing.append("ZALO_WEBHOOK_SECRET")
    if missing:
        print(f"webhook mode needs {', '.join(missing)}; e.g. WEBHOOK_URL=https://host/tg "
              "WEBHOOK_SECRET=<random>, ZALO_WEBHOOK_URL=https://host/zalo "
              "ZALO_WEBHOOK_SECRET=<random> (see README)", file=sys.stderr)
        return 2
    if refused_unmigrated(settings.database_url):
        return 2
    from bot.eventloop import use_event_loop
    from bot.web import run_web

    use_event_loop(settings.event_loop)
    run_web(settings)
    return 0


def cmd_sandbox(args: argparse.Namespace) -> int:
    from bot.app import build_application, on_shutdown, on_startup, on_stop
    from bot.zalo.runner import ZaloPoller
    from core.channels import ZALO
    from sandbox.hooks import BotHooks
    from sandbox.runner import main as sandbox_main

    # The sandbox sits below bot/: it gets the application's factory and hooks from here,
    # the Zalo application's too (one persona uses Zalo; the Telegram application sweeps).
    hooks = BotHooks(build_application=build_application, on_startup=on_startup,
                     on_stop=on_stop, on_shutdown=on_shutdown,
                     build_zalo_application=lambda settings, engine: build_application(
                         settings, channel=ZALO, engine=engine, sweeps=False),
                     zalo_poller=ZaloPoller)
    return sandbox_main(hooks, args)


def cmd_backup(args: argparse.Namespace) -> int:
    from bot.ops import backup

    print(backup(get_settings(), args.dir))
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from bot.ops import doctor

    problems = asyncio.run(doctor(get_settings()))
    return 1 if problems else 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from db.migrate import upgrade

    settings = get_settings()
    upgrade(settings.database_url, args.revision)
    print(f"database is at revision {args.revision}")
    return 0


def cmd_db_downgrade(args: argparse.Namespace) -> int:
    from db.migrate import downgrade

    downgrade(get_settings().database_url, args.revision)
    return 0


def cmd_db_current(args: argparse.Namespace) -> int:
    from db.migrate import current

    print(current(get_settings().database_url) or "empty database")
    return 0


def _print_problems(errors: Sequence[object], warnings: Sequence[object]) -> None:
    """A plan file's errors, then its warnings (`warning: …`, which refuse nothing), on
    stderr: one `file:line: key.path: reason` per line."""
    for problem in (*errors, *warnings):
        print(problem, file=sys.stderr)


def cmd_plan_validate(args: argparse.Namespace) -> int:
    from core.planfile import PlanFileError, load_plan

    failed = False
    for name in args.files:
        try:
            spec = load_plan(name)
        except PlanFileError as exc:
            failed = True
            _print_problems(exc.errors, exc.warnings)
            continue
        _print_problems([], spec.warnings)
        print(
            f"{name}: OK — {spec.code}: {len(spec.agencies)} agencies, "
            f"{len(spec.doc.forms)} forms, {len(spec.doc.schedules)} schedules, "
            f"{len(spec.doc.targets)} targets"
        )
    return 1 if failed else 0


@needs_schema
def cmd_plan_import(args: argparse.Namespace) -> int:
    from core.planfile import PlanFileError, load_plan
    from db.plan_import import import_plan_file

    try:
        spec = load_plan(args.file)
    except PlanFileError as exc:
        _print_problems(exc.errors, exc.warnings)
        print("nothing was imported", file=sys.stderr)
        return 1
    _print_problems([], spec.warnings)
    chase_from = None
    if args.chase_from:
        chase_from = _cli_date(args.chase_from)
        if chase_from is None:
            print(f"--chase-from: {args.chase_from!r} is not a date (25/03/2022 or "
                  "2022-03-25)", file=sys.stderr)
            return 2
    report = asyncio.run(import_plan_file(get_settings(), spec, chase_from=chase_from))
    print(report.summary())
    if report.past_due and chase_from is None:
        print(f"note: {report.past_due} open reports of this plan are already past their "
              "deadline and will be chased as overdue from the next sweep; to start "
              "chasing from a later day, import again with --chase-from DATE",
              file=sys.stderr)
    return 0


def _cli_date(text: str) -> dt.date | None:
    """A full date as an admin types it: 25/03/2022, 25-3-2022 or 2022-03-25."""
    from core.dates import parse_day

    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        return parse_day(text)


@needs_schema
def cmd_plan_list(args: argparse.Namespace) -> int:
    from db.plan_import import list_plans

    for row in asyncio.run(list_plans(get_settings())):
        print(row)
    return 0


@needs_schema
def cmd_plan_calendar(args: argparse.Namespace) -> int:
    from bot.calendar_view import calendar_rows, is_plan_file, render_table
    from core.planfile import PlanFileError, load_plan

    try:
        plan = load_plan(args.plan) if is_plan_file(args.plan) else args.plan
        rows = asyncio.run(calendar_rows(get_settings(), plan, args.year, args.agency))
    except PlanFileError as exc:
        for err in exc.errors:
            print(err, file=sys.stderr)
        return 1
    except LookupError as exc:
        print(exc.args[0], file=sys.stderr)
        return 1
    if args.format == "json":
        for row in rows:
            print(json.dumps(row, ensure_ascii=False))
    else:
        print(render_table(rows))
    return 0


@needs_schema
def cmd_sweep(args: argparse.Namespace) -> int:
    from scheduler.sweeper import SweepResult, decision_json, run_sweep

    settings = get_settings()
    if args.now:
        try:
            now = dt.datetime.fromisoformat(args.now)
        except ValueError:
            print(f"cannot read --now {args.now!r}; use e.g. 2022-03-12T08:00:00+07:00",
                  file=sys.stderr)
            return 2
        if now.tzinfo is None:
            now = now.replace(tzinfo=settings.tz)
    else:
        now = dt.datetime.now(dt.UTC)

    async def _run() -> SweepResult:
        from db.session import make_engine, make_sessionmaker

        engine = make_engine(settings.database_url)
        try:
            async with make_sessionmaker(engine)() as session, session.begin():
                result = await run_sweep(session, now, settings.tz, dry_run=args.dry_run)
                if args.dry_run:
                    await session.rollback()
                return result
        finally:
            await engine.dispose()

    from sqlalchemy.exc import IntegrityError

    try:
        result = asyncio.run(_run())
    except IntegrityError:
        # Another sweep (the bot's, or another `sweep`) wrote the same messages at the same
        # time and committed first: its rows win and nothing is left to add, as the bot's own
        # sweep treats it (scheduler.jobs.sweep_once).
        print("0 messages queued in the outbox (another sweep queued the same messages "
              "first; nothing to add)", file=sys.stderr)
        return 0
    if args.dry_run:
        for decision in result.decisions:
            print(json.dumps(decision_json(decision, result.snapshot), ensure_ascii=False))
    else:
        print(f"{len(result.written)} messages queued in the outbox", file=sys.stderr)
    return 0


def _period_file(args: argparse.Namespace, build: Any) -> int:
    """A schedule's period written to `args.out` by `build(session, data, settings, now,
    out)`: the workbook (`export`), or the consolidated report and its workbook next to it
    (`report`, a list of (file name, content))."""
    from pathlib import Path

    from db.export import collect, find_schedule
    from db.session import make_engine, make_sessionmaker

    settings = get_settings()

    out = Path(args.out)

    async def _run() -> list[tuple[str, bytes]]:
        engine = make_engine(settings.database_url)
        try:
            async with make_sessionmaker(engine)() as session:
                plan, schedule = await find_schedule(session, args.plan, args.schedule)
                data = await collect(session, plan, schedule, args.period, settings.tz)
                built = await build(session, data, settings, dt.datetime.now(dt.UTC), out)
                return [(out.name, built)] if isinstance(built, bytes) else list(built)
        finally:
            await engine.dispose()

    try:
        files = asyncio.run(_run())
    except LookupError as exc:
        print(exc.args[0], file=sys.stderr)
        return 1
    for name, content in files:
        path = out.with_name(name)
        path.write_bytes(content)
        print(f"wrote {path} ({len(content)} bytes)")
    return 0


@needs_schema
def cmd_export(args: argparse.Namespace) -> int:
    from db.export import build_xlsx

    return _period_file(args, lambda session, data, settings, now, _out: build_xlsx(
        session, data, settings.tz, now))


@needs_schema
def cmd_report(args: argparse.Namespace) -> int:
    from db.documents import consolidated_files

    return _period_file(args, lambda session, data, settings, now, out: consolidated_files(
        session, data, now, settings.tz, out.stem))


@needs_schema
def cmd_invite_create(args: argparse.Namespace) -> int:
    from bot.ops import username_from_telegram
    from db.invites import create_invite_cli

    settings = get_settings()
    if not settings.bot_username:  # the link names the bot: ask Telegram (getMe)
        username = asyncio.run(username_from_telegram(settings))
        if username:
            settings = settings.model_copy(update={"bot_username": username})
        else:
            print("BOT_USERNAME is not set and Telegram could not be asked (BOT_TOKEN, "
                  "TELEGRAM_API_URL): put the bot's username in the link below, or set "
                  "BOT_USERNAME", file=sys.stderr)
    try:
        out = asyncio.run(create_invite_cli(settings, args.agency, args.role,
                                            args.expires, args.plan))
    except LookupError as exc:
        print(exc.args[0], file=sys.stderr)
        return 1
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(out)
    return 0


@needs_schema
def cmd_invite_list(args: argparse.Namespace) -> int:
    from db.invites import list_invites_cli

    print(asyncio.run(list_invites_cli(get_settings(), args.all)))
    return 0


@needs_schema
def cmd_invite_revoke(args: argparse.Namespace) -> int:
    from db.invites import revoke_invite_cli

    try:
        print(asyncio.run(revoke_invite_cli(get_settings(), args.invite)))
    except LookupError as exc:
        print(exc.args[0], file=sys.stderr)
        return 1
    return 0

