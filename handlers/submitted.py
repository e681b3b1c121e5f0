"""«Submitted reports»: an agency's reporters see what they sent, version by version.

The list shows each report the agency has sent (latest first, a page at a time) with its
receipt number, its status in the committee's words, its timeliness and how many times it
was sent. Opening one shows a version's answers as the office reads them, the office's
comment when it asked for changes, every version with its receipt and status, and what
changed since the version before.

Callback data: sb:{page} (a page of the list) · sv:{submission} (open a version) ·
sc:{submission} (what changed since the version before it). Every press checks the role
and the agency again: a button for another agency's report is refused.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import lazyload
from telegram.ext import Application, CallbackQueryHandler, CommandHandler

from core import callbacks
from core.choices import Choice
from core.formatting import format_datetime
from core.i18n import N_, ngettext
from core.lateness import Lateness
from core.textlimits import button_label
from core.texts import esc, report_title, split_message
from db.drafts import lateness_by_obligation, lateness_of, load_state, submission_spec
from db.models import Member, Obligation, Schedule, Submission, SubmissionState
from handlers.context import Turn, with_turn
from handlers.groups import FEATURES
from handlers.render import (
    SUBMISSION_ICON,
    SUBMISSION_STATUS,
    answer_lines,
    compare_choices,
    lateness_text,
    version_changes,
)
from handlers.screens import SENT, menu_button

NOT_A_REPORTER = N_("Sorry, only an agency's reporting officials can see its sent reports.")
NOT_YOURS = N_("Sorry, you can only see the reports of your own agency.")
PAGE_SIZE = 8
PAGE = callbacks.route("sb")
OPEN = callbacks.route("sv")
CHANGES = callbacks.route("sc")


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment  # SQLite: naive


def _status(t: Turn, submission: Submission) -> str:
    return f"{SUBMISSION_ICON[submission.state]} {t._(SUBMISSION_STATUS[submission.state])}"


async def _sent_versions(t: Turn, obligation_id: int) -> list[Submission]:
    return list((await t.session.scalars(
        select(Submission).where(Submission.obligation_id == obligation_id,
                                 Submission.state != SubmissionState.draft)
        .order_by(Submission.version))).all())


async def _lateness(t: Turn, submission: Submission, obligation: Obligation) -> Lateness:
    sent_at = _aware(submission.submitted_at or t.now)
    return await lateness_of(t.session, obligation, submission.version, sent_at, t.tz)


# ----------------------------------------------------------------------------- the list


async def show_submitted(t: Turn, page: int = 0) -> None:
    _ = t._
    if not t.may_report:
        t.send(_(NOT_A_REPORTER))
        return
    assert t.member is not None and t.member.agency_id is not None
    rows = (await t.session.execute(
        select(Submission, Obligation, Schedule)
        .options(lazyload("*"))
        .join(Obligation, Obligation.id == Submission.obligation_id)
        .join(Schedule, Schedule.id == Obligation.schedule_id)
        .where(Obligation.agency_id == t.member.agency_id,
               Submission.state != SubmissionState.draft)
    )).all()
    by_obligation: dict[int, tuple[Obligation, Schedule, list[Submission]]] = {}
    for submission, obligation, schedule in rows:
        by_obligation.setdefault(obligation.id, (obligation, schedule, []))[2].append(submission)
    agency = t.member.agency
    header = "📨 " + _("<b>Submitted reports</b> — {agency}").format(
        agency=esc(agency.display_name if agency else ""))
    if not by_obligation:
        t.send(header + "\n\n" + _("Your agency has not sent any report yet."))
        return
    reports = sorted(by_obligation.values(), reverse=True, key=lambda r: (
        max(_aware(s.submitted_at or t.now) for s in r[2]), r[0].id))
    pages = (len(reports) + PAGE_SIZE - 1) // PAGE_SIZE
    page = min(max(page, 0), pages - 1)
    shown = reports[page * PAGE_SIZE:(page + 1) * PAGE_SIZE]
    verdicts = await lateness_by_obligation(t.session, [o for o, _s, _v in shown], t.tz)
    n_ = ngettext(t.locale)
    lines = [header, ""]
    buttons = []
    for number, (obligation, schedule, versions) in enumerate(shown, page * PAGE_SIZE + 1):
        latest = max(versions, key=lambda s: s.version)
        title = report_title(_, schedule.name, obligation.period_type, obligation.period_key)
        lines.append(f"{number}. <b>{esc(title)}</b>")
        lines.append("   " + _("Receipt: {receipt}").format(receipt=esc(latest.receipt_no or "—"))
                     + f" · {_status(t, latest)}")
        if obligation.id in verdicts:
            lines.append("   " + lateness_text(_, verdicts[obligation.id], t.tz, t.locale)
                         .replace("\n", "\n   "))
        lines.append("   " + n_("Sent {n} time", "Sent {n} times", len(versions)).format(
            n=len(versions)))
        buttons.append([Choice(button_label(f"{number}. {title}"), OPEN.data(latest.id))])
    if pages > 1:
        lines.append("")
        lines.append(_("Page {page} of {pages}").format(page=page + 1, pages=pages))
        nav = []
        if page > 0:
            nav.append(Choice("‹", PAGE.data(page - 1)))
        if page < pages - 1:
            nav.append(Choice("›", PAGE.data(page + 1)))
        buttons.append(nav)
    chunks = split_message(lines)
    for chunk in chunks[:-1]:
        t.send(chunk)
    t.send(chunks[-1], choices=buttons)


# ----------------------------------------------------------------------------- one report


async def _own_submission(t: Turn, submission_id: int
                          ) -> tuple[Submission, Obligation, Schedule] | None:
    """The sent version if it is the member's agency's; else the member is told why not."""
    if not t.may_report:
        t.send(t._(NOT_A_REPORTER))
        return None
    assert t.member is not None
    row = (await t.session.execute(
        select(Submission, Obligation, Schedule)
        .options(lazyload("*"))
        .join(Obligation, Obligation.id == Submission.obligation_id)
        .join(Schedule, Schedule.id == Obligation.schedule_id)
        .where(Submission.id == submission_id)
    )).first()
    # Another agency's report, or none at all: one answer, so a crafted button learns nothing.
    if row is None or row[1].agency_id != t.member.agency_id:
        t.send(t._(NOT_YOURS))
        return None
    if row[0].state == SubmissionState.draft:  # not sent (yet): «Reports due» has it
        t.stale()
        return None
    return row[0], row[1], row[2]


async def open_version(t: Turn, submission_id: int) -> None:
    _ = t._
    found = await _own_submission(t, submission_id)
    if found is None:
        return
    submission, obligation, schedule = found
    form = await submission_spec(t.session, submission)
    state = await load_state(t.session, submission)
    submitter = (await t.session.get(Member, submission.submitted_by_member_id)
                 if submission.submitted_by_member_id else None)
    title = report_title(_, schedule.name, obligation.period_type, obligation.period_key)
    lines = [
        f"📨 <b>{esc(title)}</b> — v{submission.version}",
        _("Receipt: {receipt} · sent {time} by {name}").format(
            receipt=esc(submission.receipt_no or "—"),
            time=format_datetime(submission.submitted_at, t.locale, t.tz)
            if submission.submitted_at else "—",
            name=esc(submitter.full_name if submitter else "?")),
        _("Status: {status}").format(status=_status(t, submission)),
        lateness_text(_, await _lateness(t, submission, obligation), t.tz, t.locale),
    ]
    if submission.review_comment and submission.state in (SubmissionState.returned,
                                                          SubmissionState.superseded):
        lines.append(_("Comment from the review: «{comment}»").format(
            comment=esc(submission.review_comment)))
    lines.append("")
    if submission.no_report:
        lines.append(_("Recorded as: nothing to report in this period."))
    else:
        lines += answer_lines(_, form, state, t.locale)
    versions = await _sent_versions(t, obligation.id)
    if len(versions) > 1:
        lines += ["", _("<b>Versions sent</b>")]
        for v in versions:
            mark = " ◀️" if v.id == submission.id else ""
            lines.append(f"v{v.version} · {esc(v.receipt_no or '—')} · {_status(t, v)}{mark}")
    others = [v for v in versions if v.id != submission.id]
    rows = [[Choice(f"📄 v{v.version}", OPEN.data(v.id))
             for v in others[i:i + 4]] for i in range(0, len(others), 4)]
    if any(v.version < submission.version for v in versions):
        rows.append([Choice("🔀 " + _("Compare with the previous version"),
                            CHANGES.data(submission.id))])
    rows.append([Choice("‹ " + _("All sent reports"), PAGE.data(0))])
    chunks = split_message(lines)
    for chunk in chunks[:-1]:
        t.send(chunk)
    t.send(chunks[-1], choices=rows)


async def show_changes(t: Turn, submission_id: int) -> None:
    found = await _own_submission(t, submission_id)
    if found is None:
        return
    submission, obligation, schedule = found
    earlier = [v for v in await _sent_versions(t, obligation.id)
               if v.version < submission.version]
    if not earlier:
        t.send(t._("This is the first version of the report: nothing to compare."))
        return
    previous = earlier[-1]
    title = report_title(t._, schedule.name, obligation.period_type, obligation.period_key)
    lines = [f"📨 <b>{esc(title)}</b>", ""]
    lines += await version_changes(t.session, t._, ngettext(t.locale), previous, submission,
                                   t.locale)
    t.send("\n".join(lines), choices=compare_choices(OPEN, previous, submission))


# ----------------------------------------------------------------------------- wiring


def _one_id(t: Turn, route: callbacks.Route) -> int | None:
    parts = route.parse(t.data)
    found = callbacks.parse_id(parts[0]) if parts else None
    if found is None:
        t.stale()
    return found


@with_turn
async def on_menu(t: Turn) -> None:
    await show_submitted(t)


@with_turn
async def on_page(t: Turn) -> None:
    page = _one_id(t, PAGE)
    if page is not None:
        await show_submitted(t, min(page, 10_000))


@with_turn
async def on_open(t: Turn) -> None:
    submission_id = _one_id(t, OPEN)
    if submission_id is not None:
        await open_version(t, submission_id)


@with_turn
async def on_changes(t: Turn) -> None:
    submission_id = _one_id(t, CHANGES)
    if submission_id is not None:
        await show_changes(t, submission_id)


def register(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    menu_button(SENT, show_submitted, allowed=lambda t: t.may_report)
    app.add_handler(CommandHandler("sent", on_menu), group=FEATURES)
    for route, handler in ((PAGE, on_page), (OPEN, on_open), (CHANGES, on_changes)):
        app.add_handler(CallbackQueryHandler(handler, pattern=route.pattern), group=FEATURES)
