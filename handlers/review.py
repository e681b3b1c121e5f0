"""The standing office's review queue: open a submission, accept it, or return it.

Callback data: rq: (queue) · rv:{submission} (open) · ac:{submission} (accept) ·
rt:{submission} (return: choose fields, then type the comment) · rf:{submission}:{pos}
(toggle a field to fix) · rx: (cancel the pending return).
Returning waits for the reviewer's next text as the comment; that wait is a row
(`member.pending_action`), so it survives restarts like everything else.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import lazyload
from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import TelegramError

from core.formengine import FormState, visible_fields
from core.texts import esc, period_label, split_message
from db.drafts import load_state, submission_spec
from db.models import (
    Agency,
    Attachment,
    AuditLog,
    Member,
    Obligation,
    ObligationStatus,
    Plan,
    Schedule,
    Submission,
    SubmissionState,
)
from db.queries import agency_people
from handlers.context import Turn
from handlers.render import value_text
from handlers.status import oversees
from scheduler.sweep import Decision, Item
from scheduler.sweeper import _recipient, view_of, write_decisions

QUEUE_LIMIT = 20


async def _submission_in_committee(t: Turn, submission_id: int
                                   ) -> tuple[Submission, Obligation, Schedule, Agency] | None:
    _ = t._
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
        t.send(_("This button is no longer valid. Open «Reports due» for the current list."))
        return None
    return row[0], row[1], row[2], row[3]


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
        period = period_label(_, obligation.period_type, obligation.period_key)
        flag = (" ⏰" + _("late {n} d").format(n=submission.late_days)
                if submission.late_days else "")
        version = f" v{submission.version}" if submission.version > 1 else ""
        lines.append(f"{number}. {esc(agency.display_name)} — {esc(schedule.name)} · "
                     f"{esc(period)}{version}{flag}")
        buttons.append([InlineKeyboardButton(f"{number}. {agency.display_name} · {period}"[:60],
                                             callback_data=f"rv:{submission.id}")])
    if len(rows) > QUEUE_LIMIT:
        lines.append(_("… and more; review these first."))
    chunks = split_message(lines)
    for chunk in chunks[:-1]:
        t.send(chunk)
    t.send(chunks[-1], reply_markup=InlineKeyboardMarkup(buttons))


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
    from core.formatting import format_datetime

    period = period_label(_, obligation.period_type, obligation.period_key)
    lines = [
        f"📄 <b>{esc(agency.name)}</b>",
        f"{esc(schedule.name)} · {esc(period)}"
        + (f" — v{submission.version}" if submission.version > 1 else ""),
        _("Receipt: {receipt} · sent {time} by {name}").format(
            receipt=esc(submission.receipt_no or "—"),
            time=format_datetime(submission.submitted_at, t.locale, t.tz)
            if submission.submitted_at else "—",
            name=esc(submitter.full_name if submitter else "?")),
        ("⏰ " + _("Late by {n} day(s).").format(n=submission.late_days))
        if submission.late_days else ("🟢 " + _("On time.")),
        "",
    ]
    if submission.no_report:
        lines.append(_("Recorded as: nothing to report in this period."))
    else:
        # Numbered as the reporter saw them: among the questions actually asked. Answers are
        # shown whole (a long one goes on in the next message; see split_message).
        for number, spec in enumerate(visible_fields(form, state.answers), start=1):
            if spec.code in state.answers:
                shown = value_text(_, spec, state.answers[spec.code], t.locale)
            elif spec.code in state.skipped:
                shown = "— " + _("(skipped)")
            else:
                continue
            lines.append(f"{number}. {esc(spec.label)}: <b>{shown}</b>")
    history = (await t.session.scalars(
        select(Submission).where(Submission.obligation_id == obligation.id,
                                 Submission.id != submission.id)
        .order_by(Submission.version))).all()
    for old in history:
        if old.review_comment:
            lines.append("")
            lines.append(_("Version {version} was returned: «{comment}»").format(
                version=old.version, comment=esc(old.review_comment)))
    markup = InlineKeyboardMarkup([[
        InlineKeyboardButton("✅ " + _("Accept"), callback_data=f"ac:{submission.id}"),
        InlineKeyboardButton("↩️ " + _("Ask for changes"), callback_data=f"rt:{submission.id}"),
    ]]) if submission.state == SubmissionState.submitted else None
    chunks = split_message(lines)  # the buttons go on the last message
    for chunk in chunks[:-1]:
        t.send(chunk)
    t.send(chunks[-1], reply_markup=markup)
    files = (await t.session.scalars(
        select(Attachment).where(Attachment.submission_id == submission.id))).all()
    chat = t.update.effective_chat
    for f in files:
        async def send_file(file_id: str = f.telegram_file_id, name: str | None = f.file_name,
                            mime: str | None = f.mime_type) -> None:
            try:
                if mime and mime.startswith("image/"):
                    await chat.send_photo(file_id, caption=name)  # type: ignore[union-attr]
                else:
                    await chat.send_document(file_id, caption=name)  # type: ignore[union-attr]
            except TelegramError:
                await chat.send_message(  # type: ignore[union-attr]
                    t._("The attachment {name} could not be shown.").format(name=name or ""))

        t.later(send_file)


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
    t.session.add(AuditLog(
        at=t.now, actor_member_id=t.member.id, actor_telegram_id=t.member.telegram_user_id,
        action="submission.accept", committee_id=t.member.committee_id,
        agency_id=obligation.agency_id, entity_type="submission", entity_id=submission.id,
    ))
    await notify_agency(t, obligation, schedule, agency, "accepted", submission)
    period = period_label(_, obligation.period_type, obligation.period_key)
    t.send("✅ " + _("Accepted: {agency} — {report}.").format(
        agency=esc(agency.display_name), report=f"{esc(schedule.name)} {esc(period)}"))


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
    pending = t.member.pending_action or {}
    fields: list[str] = list(pending.get("fields", [])) if pending.get(
        "submission") == submission.id else []
    if toggle_pos is not None and 0 <= toggle_pos < len(form.fields):
        code = form.fields[toggle_pos].code
        fields = [f for f in fields if f != code] if code in fields else [*fields, code]
    t.member.pending_action = {"kind": "return", "submission": submission.id, "fields": fields}
    rows = []
    state = await load_state(t.session, submission)
    for number, spec in enumerate(visible_fields(form, state.answers), start=1):
        mark = "☑️" if spec.code in fields else "⬜"
        rows.append([InlineKeyboardButton(f"{mark} {number}. {spec.label}"[:60],
                                          callback_data=f"rf:{submission.id}:"
                                                        f"{form.position(spec.code)}")])
    rows.append([InlineKeyboardButton(_("Cancel"), callback_data="rx:")])
    text = (_("Returning the report of {agency}. Tick the questions to fix (optional), then "
              "<b>type your comment</b> as a message.").format(agency=esc(agency.display_name)))
    query = t.update.callback_query
    if toggle_pos is not None and query is not None:
        markup = InlineKeyboardMarkup(rows)

        async def refresh() -> None:
            try:
                await query.edit_message_reply_markup(reply_markup=markup)
            except TelegramError:
                pass

        t.later(refresh)
        return
    t.send(text, reply_markup=InlineKeyboardMarkup(rows))


async def finish_return(t: Turn, comment: str) -> bool:
    """The reviewer's typed comment completes a pending return; False if none is pending."""
    _ = t._
    pending = t.member.pending_action if t.member else None
    if not pending or pending.get("kind") != "return":
        return False
    assert t.member is not None
    t.member.pending_action = None
    found = await _submission_in_committee(t, int(pending["submission"]))
    if found is None:
        return True
    submission, obligation, schedule, agency = found
    if submission.state != SubmissionState.submitted:
        t.send(_("This report was already reviewed."))
        return True
    comment = comment.strip()[:1000]
    submission.state = SubmissionState.returned
    submission.review_comment = comment
    submission.review_fields = list(pending.get("fields") or [])
    submission.reviewed_by_member_id = t.member.id
    submission.reviewed_at = t.now
    obligation.status = ObligationStatus.returned
    t.session.add(AuditLog(
        at=t.now, actor_member_id=t.member.id, actor_telegram_id=t.member.telegram_user_id,
        action="submission.return", committee_id=t.member.committee_id,
        agency_id=obligation.agency_id, entity_type="submission", entity_id=submission.id,
        details={"comment": comment, "fields": submission.review_fields},
    ))
    await notify_agency(t, obligation, schedule, agency, "returned", submission)
    t.send("↩️ " + _("Returned to {agency} with your comment. They have been told.").format(
        agency=esc(agency.display_name)))
    return True


async def cancel_return(t: Turn) -> None:
    if t.member is not None:
        t.member.pending_action = None
    t.send(t._("Cancelled; the report stays as it was."))


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


async def on_review_callback(t: Turn, data: str) -> bool:
    kind, _sep, rest = data.partition(":")
    if kind not in ("rq", "rv", "ac", "rt", "rf", "rx", "st", "tg", "xp", "ch", "xl", "ex", "ad"):
        return False
    _ = t._
    t.answer_callback()
    if not oversees(t):
        t.send(_("Sorry, only the committee's chairs and standing office can use this."))
        return True
    parts = rest.split(":") if rest else []
    try:
        if kind == "rq":
            await show_queue(t)
        elif kind == "rv":
            await open_submission(t, int(parts[0]))
        elif kind == "ac":
            await accept(t, int(parts[0]))
        elif kind == "rt":
            await start_return(t, int(parts[0]))
        elif kind == "rf":
            await start_return(t, int(parts[0]), toggle_pos=int(parts[1]))
        elif kind == "rx":
            await cancel_return(t)
        elif kind == "st":
            from handlers.status import show_status

            await show_status(t, int(parts[0]) if parts and parts[0] else None,
                              parts[1] if len(parts) > 1 and parts[1] else None)
        elif kind == "ad":
            from handlers import adhoc

            await adhoc.on_callback(t, data)
        elif kind == "xl":
            from handlers.extension import list_for_extension

            await list_for_extension(t, int(parts[0]), parts[1])
        elif kind == "ex":
            from handlers.extension import ask_extension

            await ask_extension(t, int(parts[0]))
        elif kind in ("xp", "ch"):
            from handlers.status import send_export

            await send_export(t, int(parts[0]), parts[1], chart=kind == "ch")
        elif kind == "tg":
            from handlers.status import show_targets

            await show_targets(t, include_submitted=rest == "all")
    except (ValueError, IndexError):
        t.send(_("This button is no longer valid. Open «Reports due» for the current list."))
    return True
