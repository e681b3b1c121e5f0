"""The standing office's review queue: open a submission, accept it, or return it.

Callback data: rq: (queue) · rv:{submission} (open; also an earlier version) ·
ac:{submission} (accept) · rt:{submission} (return: choose fields, then type the comment) ·
rf:{submission}:{pos} (toggle a field to fix) · rd:{submission} (what changed since the
version before it) · rx: (cancel the pending return; handlers.pending owns it).
Returning waits for the reviewer's next text as the comment; that wait is a row
(`member.pending_action`), so it survives restarts like everything else.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import lazyload
from telegram.ext import Application, CallbackQueryHandler, CommandHandler

from core import callbacks
from core.choices import Choice
from core.formatting import format_datetime
from core.formengine import FormState, visible_fields
from core.i18n import ngettext
from core.lateness import Lateness
from core.textlimits import button_label
from core.texts import esc, period_label, report_title, split_message
from db.audit import record
from db.documents import report_docx, report_filename
from db.drafts import lateness_of, load_state, submission_spec
from db.models import (
    Agency,
    Attachment,
    Member,
    Obligation,
    ObligationStatus,
    Plan,
    Schedule,
    Submission,
    SubmissionState,
)
from db.queries import agency_people
from handlers import pending
from handlers.context import Turn, with_turn
from handlers.groups import FEATURES
from handlers.render import answer_lines, compare_choices, lateness_text, version_changes
from handlers.screens import REVIEW_MENU, menu_button
from scheduler.buttons import REVIEW_QUEUE
from scheduler.sweep import Decision, Item
from scheduler.sweeper import _recipient, view_of, write_decisions

QUEUE_LIMIT = 20
OPEN = callbacks.route("rv")
ACCEPT = callbacks.route("ac")
RETURN = callbacks.route("rt")
TOGGLE = callbacks.route("rf")
CHANGES = callbacks.route("rd")
DOCUMENT = callbacks.route("dc")


async def _submission_in_committee(t: Turn, submission_id: int
                                   ) -> tuple[Submission, Obligation, Schedule, Agency] | None:
    row = (await t.session.execute(
        select(Submission, Obligation, Schedule, Agency, Plan.committee_id)
        .options(lazyload("*"))
        .join(Obligation, Obligation.id == Submission.obligation_id)
        .join(Schedule, Schedule.id == Obligation.schedule_id)
        .join(Plan, Plan.id == Schedule.plan_id)
        .join(Agency, Agency.id == Obligation.agency_id)
        .where(Submission.id == submission_id)
    )).first()
    # A draft is the agency's own until it is sent: a forged «rv:{draft}» is told what a
    # stale button is told, and learns nothing of it.
    if (row is None or t.member is None or row[4] != t.member.committee_id
            or row[0].state == SubmissionState.draft):
        t.stale()
        return None
    return row[0], row[1], row[2], row[3]


async def _lateness(t: Turn, submission: Submission, obligation: Obligation) -> Lateness:
    sent_at = submission.submitted_at or t.now
    if sent_at.tzinfo is None:  # SQLite gives naive UTC back
        sent_at = sent_at.replace(tzinfo=dt.UTC)
    return await lateness_of(t.session, obligation, submission.version, sent_at, t.tz)


async def show_queue(t: Turn) -> None:
    _ = t._
    assert t.member is not None
    rows = (await t.session.execute(
        select(Submission, Obligation, Schedule, Agency)
        .options(lazyload("*"))
        .join(Obligation, Obligation.id == Submission.obligation_id)
        .join(Schedule, Schedule.id == Obligation.schedule_id)
        .join(Plan, Plan.id == Schedule.plan_id)
        .join(Agency, Agency.id == Obligation.agency_id)
        .where(Plan.committee_id == t.member.committee_id,
               Submission.state == SubmissionState.submitted)
        .order_by(Submission.submitted_at)
        .limit(QUEUE_LIMIT + 1)
    )).all()
    if not rows:
        t.send("📥 " + _("No report is waiting for review."))
        return
    lines = ["📥 " + _("<b>Reports waiting for review</b>"), ""]
    buttons = []
    for number, (submission, obligation, schedule, agency) in enumerate(rows[:QUEUE_LIMIT], 1):
        title = report_title(_, schedule.name, obligation.period_type, obligation.period_key)
        period = period_label(_, obligation.period_type, obligation.period_key)
        verdict = await _lateness(t, submission, obligation)
        flag = (" " + _("supplement") if verdict.supplement else "") + (
            " ⏰" + _("late {n} d").format(n=verdict.late_days) if verdict.late_days else "")
        version = f" v{submission.version}" if submission.version > 1 else ""
        lines.append(f"{number}. {esc(agency.display_name)} — {esc(title)}{version}{flag}")
        buttons.append([Choice(button_label(f"{number}. {agency.display_name} · {period}"),
                               OPEN.data(submission.id))])
    if len(rows) > QUEUE_LIMIT:
        lines.append(_("… and more; review these first."))
    chunks = split_message(lines)
    for chunk in chunks[:-1]:
        t.send(chunk)
    t.send(chunks[-1], choices=buttons)


async def open_submission(t: Turn, submission_id: int) -> None:
    _ = t._
    found = await _submission_in_committee(t, submission_id)
    if found is None:
        return
    submission, obligation, schedule, agency = found
    form = await submission_spec(t.session, submission)
    state: FormState = await load_state(t.session, submission)
    submitter = (await t.session.get(Member, submission.submitted_by_member_id)
                 if submission.submitted_by_member_id else None)
    lines = [
        f"📄 <b>{esc(agency.name)}</b>",
        esc(report_title(_, schedule.name, obligation.period_type, obligation.period_key))
        + (f" — v{submission.version}" if submission.version > 1 else ""),
        _("Receipt: {receipt} · sent {time} by {name}").format(
            receipt=esc(submission.receipt_no or "—"),
            time=format_datetime(submission.submitted_at, t.locale, t.tz)
            if submission.submitted_at else "—",
            name=esc(submitter.full_name if submitter else "?")),
        lateness_text(t._, await _lateness(t, submission, obligation), t.tz, t.locale),
        "",
    ]
    if submission.no_report:
        lines.append(_("Recorded as: nothing to report in this period."))
    else:
        # Answers are shown whole (a long one goes on in the next message).
        lines += answer_lines(_, form, state, t.locale)
    history = (await t.session.scalars(
        select(Submission).where(Submission.obligation_id == obligation.id,
                                 Submission.id != submission.id)
        .order_by(Submission.version))).all()
    for old in history:
        if old.review_comment:
            lines.append("")
            lines.append(_("Version {version} was returned: «{comment}»").format(
                version=old.version, comment=esc(old.review_comment)))
    rows = [[
        Choice("✅ " + _("Accept"), ACCEPT.data(submission.id)),
        Choice("↩️ " + _("Ask for changes"), RETURN.data(submission.id)),
    ]] if submission.state == SubmissionState.submitted else []
    rows += _version_buttons(t, submission, history)
    rows.append([Choice("📝 " + _("Report to sign (.docx)"), DOCUMENT.data(submission.id))])
    chunks = split_message(lines)  # the buttons go on the last message
    for chunk in chunks[:-1]:
        t.send(chunk)
    t.send(chunks[-1], choices=rows or None)
    files = (await t.session.scalars(
        select(Attachment).where(Attachment.submission_id == submission.id))).all()
    for f in files:
        t.send_attachment(f.telegram_file_id, f.file_name, f.mime_type)


def _version_buttons(t: Turn, submission: Submission, others: Sequence[Submission]
                     ) -> list[list[Choice]]:
    """The other sent versions of the report (to open), and what changed since the last one
    before this version."""
    sent = [s for s in others if s.state != SubmissionState.draft]
    rows = [[Choice(f"📄 v{s.version}", OPEN.data(s.id))
             for s in sent[i:i + 4]] for i in range(0, len(sent), 4)]
    if any(s.version < submission.version for s in sent):
        rows.append([Choice("🔀 " + t._("Changes since the previous version"),
                            CHANGES.data(submission.id))])
    return rows


async def show_changes(t: Turn, submission_id: int) -> None:
    """Question by question, what this version changed from the sent version before it."""
    found = await _submission_in_committee(t, submission_id)
    if found is None:
        return
    submission, obligation, schedule, agency = found
    previous = await t.session.scalar(
        select(Submission).where(Submission.obligation_id == obligation.id,
                                 Submission.version < submission.version,
                                 Submission.state != SubmissionState.draft)
        .order_by(Submission.version.desc()).limit(1))
    if previous is None:
        t.send(t._("This is the first version of the report: nothing to compare."))
        return
    title = report_title(t._, schedule.name, obligation.period_type, obligation.period_key)
    lines = [f"📄 <b>{esc(agency.name)}</b>", esc(title), ""]
    lines += await version_changes(t.session, t._, ngettext(t.locale), previous, submission,
                                   t.locale)
    t.send("\n".join(lines), choices=compare_choices(OPEN, previous, submission))


async def accept(t: Turn, submission_id: int) -> None:
    _ = t._
    found = await _submission_in_committee(t, submission_id)
    if found is None:
        return
    submission, obligation, schedule, agency = found
    if submission.state != SubmissionState.submitted:
        t.send(_("This report was already reviewed."))
        return
    assert t.member is not None
    submission.state = SubmissionState.accepted
    submission.reviewed_by_member_id = t.member.id
    submission.reviewed_at = t.now
    obligation.status = ObligationStatus.accepted
    record(t.session, "submission.accept", actor=t.member, committee_id=t.member.committee_id,
           agency_id=obligation.agency_id, entity=("submission", submission.id), now=t.now)
    await notify_agency(t, obligation, schedule, agency, "accepted", submission)
    t.send("✅ " + _("Accepted: {agency} — {report}.").format(
        agency=esc(agency.display_name), report=esc(report_title(
            _, schedule.name, obligation.period_type, obligation.period_key))))


async def start_return(t: Turn, submission_id: int, toggle_pos: int | None = None) -> None:
    _ = t._
    found = await _submission_in_committee(t, submission_id)
    if found is None:
        return
    submission, _obligation, _schedule, agency = found
    if submission.state != SubmissionState.submitted:
        t.send(_("This report was already reviewed."))
        return
    assert t.member is not None
    form = await submission_spec(t.session, submission)
    waiting = t.member.pending_action or {}
    fields: list[str] = list(waiting.get("fields", [])) if waiting.get(
        "submission") == submission.id else []
    if toggle_pos is not None and 0 <= toggle_pos < len(form.fields):
        code = form.fields[toggle_pos].code
        fields = [f for f in fields if f != code] if code in fields else [*fields, code]
    t.member.pending_action = {"kind": "return", "submission": submission.id, "fields": fields}
    rows: list[list[Choice]] = []
    state = await load_state(t.session, submission)
    for number, spec in enumerate(visible_fields(form, state.answers), start=1):
        mark = "☑️" if spec.code in fields else "⬜"
        rows.append([Choice(button_label(f"{mark} {number}. {spec.label}"),
                            TOGGLE.data(submission.id, form.position(spec.code)))])
    rows.append([pending.cancel_choice(t)])
    text = (_("Returning the report of {agency}. Tick the questions to fix (optional), then "
              "<b>type your comment</b> as a message.").format(agency=esc(agency.display_name)))
    if toggle_pos is not None and t.update.callback_query is not None:
        t.edit_choices(rows)
        return
    t.send(text, choices=rows)


async def finish_return(t: Turn, comment: str) -> bool:
    """The reviewer's typed comment completes a pending return; False if none is pending."""
    _ = t._
    waiting = t.member.pending_action if t.member else None
    if not waiting or waiting.get("kind") != "return":
        return False
    assert t.member is not None
    t.member.pending_action = None
    found = await _submission_in_committee(t, int(waiting["submission"]))
    if found is None:
        return True
    submission, obligation, schedule, agency = found
    if submission.state != SubmissionState.submitted:
        t.send(_("This report was already reviewed."))
        return True
    comment = comment.strip()[:1000]
    submission.state = SubmissionState.returned
    submission.review_comment = comment
    submission.review_fields = list(waiting.get("fields") or [])
    submission.reviewed_by_member_id = t.member.id
    submission.reviewed_at = t.now
    obligation.status = ObligationStatus.returned
    record(t.session, "submission.return", actor=t.member, committee_id=t.member.committee_id,
           agency_id=obligation.agency_id, entity=("submission", submission.id),
           details={"comment": comment, "fields": submission.review_fields}, now=t.now)
    await notify_agency(t, obligation, schedule, agency, "returned", submission)
    t.send("↩️ " + _("Returned to {agency} with your comment. They have been told.").format(
        agency=esc(agency.display_name)))
    return True


async def notify_agency(t: Turn, obligation: Obligation, schedule: Schedule, agency: Agency,
                        outcome: str, submission: Submission) -> None:
    """Tell the agency's reporters (and the sender) through the outbox."""
    people = (await t.session.scalars(agency_people([agency.id]))).all()
    plan = await t.session.get(Plan, schedule.plan_id)
    assert plan is not None
    view = view_of(obligation, schedule, plan, agency.display_name)
    form = await submission_spec(t.session, submission)
    shown = [f.code for f in visible_fields(form, (await load_state(t.session,
                                                                    submission)).answers)]
    labels = [f"{shown.index(code) + 1}. {form.field(code).label}"
              for code in submission.review_fields or [] if code in shown]
    decisions = []
    for person in people:
        if outcome == "accepted" and person.id != submission.submitted_by_member_id:
            continue  # acceptance interests the sender; a return, the whole agency
        decision = Decision(_recipient(person), outcome, 0,
                            extra={"comment": submission.review_comment, "fields": labels})
        decision.items.append(Item(f"{outcome}:{submission.id}:{person.id}", outcome, 0,
                                   obligation.id))
        decisions.append(decision)
    await write_decisions(t.session, decisions, {obligation.id: view}, t.now, t.tz)
    sender = t.context.application.bot_data.get("sender")
    if sender is not None:
        async def wake() -> None:
            sender.notify()

        t.later(wake)


# ----------------------------------------------------------------------------- wiring


def _submission_id(t: Turn, route: callbacks.Route, count: int = 1) -> list[int] | None:
    parts = route.parse(t.data)
    ids = [callbacks.parse_id(p) for p in parts[:count]]
    found = [i for i in ids if i is not None]
    if len(found) < count:
        t.stale()
        return None
    return found


@with_turn(role="committee")
async def on_open(t: Turn) -> None:
    if ids := _submission_id(t, OPEN):
        await open_submission(t, ids[0])


@with_turn(role="committee")
async def on_changes(t: Turn) -> None:
    if ids := _submission_id(t, CHANGES):
        await show_changes(t, ids[0])


@with_turn(role="committee")
async def on_accept(t: Turn) -> None:
    if ids := _submission_id(t, ACCEPT):
        await accept(t, ids[0])


@with_turn(role="committee")
async def on_return(t: Turn) -> None:
    if ids := _submission_id(t, RETURN):
        await start_return(t, ids[0])


@with_turn(role="committee")
async def on_toggle(t: Turn) -> None:
    if ids := _submission_id(t, TOGGLE, count=2):
        await start_return(t, ids[0], toggle_pos=ids[1])


@with_turn(role="committee")
async def on_document(t: Turn) -> None:
    """Any submission's report in the administrative format, for the office to file."""
    parts = DOCUMENT.parse(t.data)
    submission_id = callbacks.parse_id(parts[0]) if parts else None
    found = await _submission_in_committee(t, submission_id) if submission_id else None
    if found is None:
        if submission_id is None:
            t.stale()
        return
    submission, obligation, _schedule, agency = found
    await t.answer_now()  # building a file takes a moment
    content = await report_docx(t.session, submission, t.tz)
    t.send_file(content, report_filename(agency.code, obligation.period_key, submission.version),
                caption=esc(agency.name))


def register(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    app.add_handler(CommandHandler("review", with_turn(show_queue, members_only=False,
                                                       role="committee")), group=FEATURES)
    for route, handler in ((REVIEW_QUEUE, with_turn(show_queue, role="committee")),
                           (OPEN, on_open), (ACCEPT, on_accept), (RETURN, on_return),
                           (TOGGLE, on_toggle), (CHANGES, on_changes),
                           (DOCUMENT, on_document)):
        app.add_handler(CallbackQueryHandler(handler, pattern=route.pattern), group=FEATURES)
    pending.register("return", finish_return)
    menu_button(REVIEW_MENU, show_queue, allowed=lambda t: t.oversees)
