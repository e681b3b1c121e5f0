"""The guided report form: one question per message, stateless over the draft row.

Callback data (≤ 64 bytes, checked against the database on every press):
  o:{obligation}                 open (or resume) a report
  v:{submission}:{pos}:{index}   a button answer (yes/no: 1/0; choice: option index)
  t:{submission}:{pos}:{index}   toggle a multi-choice option;  d:{s}:{pos}  done
  k:{s}:{pos} skip · b:{s}:{pos} back · c:{s} cancel · R:{s} review · e:{s}:{pos} change
  s:{s} submit? · S:{s}:{lock} submit! · n:{obligation} nothing to report? · N:{o} confirm
`pos` is the question's position in the form version: a press on a question that is no
longer the current one is stale and only shows where the form is now.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, select
from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, MessageHandler, filters

from core import callbacks
from core import formengine as engine
from core.answers import FieldSpec, FileInfo, Ok, Problem, check_file, parse, validate_value
from core.choices import Choice, Choices
from core.fields import field_type
from core.fields.base import Choice as KeyChoice
from core.fields.base import FieldType, Keyboard
from core.formatting import format_date, format_datetime, format_number
from core.formengine import REVIEW, FormSpec, FormState
from core.i18n import N_, ngettext
from core.textlimits import button_label
from core.texts import (
    days_left_text,
    deadline_text,
    esc,
    label_value,
    report_title,
    split_message,
)
from db.documents import report_docx, report_filename
from db.drafts import (
    draft_and_obligation,
    lateness_of,
    load_state,
    open_draft,
    save_state,
    submission_spec,
    submit,
)
from db.models import (
    Agency,
    Attachment,
    Member,
    Obligation,
    ObligationStatus,
    Submission,
    SubmissionState,
)
from handlers import pending
from handlers.context import Turn, with_turn
from handlers.groups import FEATURES
from handlers.render import lateness_text, type_hint, value_text
from handlers.screens import menu_for
from scheduler.buttons import OPEN_REPORT

OTHER_EDITOR_WINDOW = dt.timedelta(hours=2)
# One route per button kind (see the module docstring); o: is declared with the menu that
# shows it. The per-type answer buttons (v:, t:, d:) are written by question_keyboard from
# the buttons its field type offers (core.fields: FieldType.keyboard).
VALUE, TOGGLE, DONE = callbacks.route("v"), callbacks.route("t"), callbacks.route("d")
SKIP, BACK, CANCEL = callbacks.route("k"), callbacks.route("b"), callbacks.route("c")
REVIEW_ROUTE, EDIT = callbacks.route("R"), callbacks.route("e")
SUBMIT, SUBMIT_NOW = callbacks.route("s"), callbacks.route("S")
NO_REPORT, NO_REPORT_NOW = callbacks.route("n"), callbacks.route("N")
USE_PROPOSAL = callbacks.route("y")  # the figure year to date: y:{submission}:{position}
ROUTES = (OPEN_REPORT, VALUE, TOGGLE, DONE, SKIP, BACK, CANCEL, REVIEW_ROUTE, EDIT, SUBMIT,
          SUBMIT_NOW, NO_REPORT, NO_REPORT_NOW, USE_PROPOSAL)
PERIOD_WORDS = {"monthly": N_("months"), "quarterly": N_("quarters")}


# ----------------------------------------------------------------------------- loading


async def obligation_for(t: Turn, obligation_id: int) -> Obligation | None:
    """The obligation if this member may work on it; otherwise tell them why not."""
    _ = t._
    obligation = await t.session.get(Obligation, obligation_id)
    if obligation is None:
        t.stale()
        return None
    if not t.may_report or obligation.agency_id != t.member.agency_id:  # type: ignore[union-attr]
        t.send(_("Sorry, this report belongs to another agency, so you cannot open it."))
        return None
    return obligation


async def draft_for(t: Turn, submission_id: int) -> tuple[Submission, Obligation] | None:
    _ = t._
    loaded = await draft_and_obligation(t.session, submission_id)
    if loaded is None:
        t.stale()
        return None
    submission, obligation = loaded
    if not t.may_report or obligation.agency_id != t.member.agency_id:  # type: ignore[union-attr]
        t.send(_("Sorry, this report belongs to another agency, so you cannot open it."))
        return None
    if submission.state != SubmissionState.draft:
        t.send(_("This report has already been sent; the button is no longer valid."))
        return None
    return submission, obligation


# ----------------------------------------------------------------------------- rendering


def _title(t: Turn, obligation: Obligation) -> str:
    return esc(report_title(t._, obligation.schedule.name, obligation.period_type,
                            obligation.period_key))


def _nav_row(t: Turn, sid: int, pos: int, spec: FieldSpec, editing: bool,
             first: bool) -> list[Choice]:
    _ = t._
    row = [] if first else [Choice("« " + _("Back"), BACK.data(sid, pos))]
    if not spec.required:
        row.append(Choice(_("Skip"), SKIP.data(sid, pos)))
    if editing:
        row.append(Choice(_("Review"), REVIEW_ROUTE.data(sid)))
    row.append(Choice(_("Cancel"), CANCEL.data(sid)))
    return row


_UNKNOWN_TYPE = FieldType()  # no module defines it: typed answers only, no buttons, no file


def _type_of(spec: FieldSpec) -> FieldType:
    """The registered type of `spec` (core.fields); a type no module defines offers
    nothing but the typed answer, which core.answers refuses as unsupported."""
    try:
        return field_type(spec.type)
    except KeyError:
        return _UNKNOWN_TYPE


def _button_label(kb: Keyboard, choice: KeyChoice) -> str:
    if kb.one_row:  # short words side by side (Yes / No): shown whole
        return choice.label
    if kb.several:
        return button_label(f"{'☑️' if choice.picked else '⬜'} {choice.label}")
    return button_label(choice.label)


def question_keyboard(t: Turn, sid: int, form: FormSpec, state: FormState) -> list[list[Choice]]:
    _ = t._
    spec = form.field(state.current)  # type: ignore[arg-type]
    pos = form.position(spec.code)
    rows: list[list[Choice]] = []
    kb = _type_of(spec).keyboard(_, spec, state.answers.get(spec.code))
    if kb is not None:
        press = TOGGLE if kb.several else VALUE
        buttons = [Choice(_button_label(kb, choice), press.data(sid, pos, choice.key))
                   for choice in kb.choices]
        rows += [buttons] if kb.one_row else [[button] for button in buttons]
        if kb.done:
            rows.append([Choice("✔️ " + _("Done"), DONE.data(sid, pos))])
    proposal = spec.settings.get("proposal")
    if proposal and spec.code not in state.answers:
        rows.append([Choice("✔️ " + _("Use {value}").format(
            value=format_number(proposal["value"], t.locale)), USE_PROPOSAL.data(sid, pos))])
    first = engine.progress(form, state)[0] == 1
    rows.append(_nav_row(t, sid, pos, spec, state.editing, first))
    return rows


def proposal_text(t: Turn, proposal: dict[str, Any]) -> str:
    """«Đề xuất: 14 (cộng 3 tháng) — chọn để dùng hoặc nhập số khác.»"""
    n_ = ngettext(t.locale)
    value = f"<b>{format_number(proposal['value'], t.locale)}</b>"
    n = int(proposal.get("periods") or 0)
    periods = t._(PERIOD_WORDS.get(str(proposal.get("period_type")), N_("periods")))
    how = proposal.get("how")
    if how == "last":
        line = t._("Proposed: {value} (the latest of {n} {periods})")
    elif how == "max":
        line = t._("Proposed: {value} (the largest of {n} {periods})")
    else:
        line = n_("Proposed: {value} (sum of {n} {periods})",
                  "Proposed: {value} (sum of {n} {periods})", n)
    return "💡 " + line.format(value=value, n=n, periods=periods) + " — " + t._(
        "choose it, or type another figure.")


def question_text(t: Turn, obligation: Obligation, form: FormSpec, state: FormState) -> str:
    _ = t._
    spec = form.field(state.current)  # type: ignore[arg-type]
    number, total = engine.progress(form, state)
    lines = [
        _("<b>Question {number}/{total}</b>").format(number=number, total=total)
        + f" · {_title(t, obligation)}",
        "",
        f"<b>{esc(spec.label)}</b>" + (f" ({esc(spec.unit)})" if spec.unit else ""),
    ]
    if spec.help:
        lines.append(f"<i>{esc(spec.help)}</i>")
    lines.append(type_hint(_, spec))
    if not spec.required:
        lines.append(_("(optional)"))
    if spec.settings.get("proposal") and spec.code not in state.answers:
        lines.append(proposal_text(t, spec.settings["proposal"]))
    if spec.code in state.answers:
        lines.append(_("Current answer: {value}").format(
            value=f"<b>{value_text(_, spec, shorten(state.answers[spec.code]), t.locale)}</b>"))
    elif spec.code in state.skipped:
        lines.append(_("Current answer: skipped"))
    return "\n".join(lines)


def shorten(value: Any, limit: int = 300) -> Any:
    """Long texts are cut on screens that also show other things (under 4096 characters)."""
    if isinstance(value, str) and len(value) > limit:
        return value[:limit].rstrip() + "…"
    return value


def _mark_shown(t: Turn, submission: Submission, code: str) -> None:
    """Remember on the draft which question this member now sees (written with the
    draft's row, which an answer writes anyway; nothing when it is the same)."""
    if t.member is None:
        return
    shown = submission.shown_to or {}
    if shown.get(str(t.member.id)) != code:
        submission.shown_to = {**shown, str(t.member.id): code}  # a new dict: seen as changed


def shown_to(t: Turn, submission: Submission) -> str | None:
    """The question of this draft this member was last shown (None: not known)."""
    if t.member is None:
        return None
    return (submission.shown_to or {}).get(str(t.member.id))


def show_question(t: Turn, submission: Submission, obligation: Obligation, form: FormSpec,
                  state: FormState, note: str | None = None) -> None:
    if state.current == REVIEW or state.current is None:
        show_review(t, submission, obligation, form, state, note)
        return
    _mark_shown(t, submission, state.current)
    text = question_text(t, obligation, form, state)
    if note:
        text = f"{note}\n\n{text}"
    spec = form.field(state.current)
    typed = _type_of(spec).keyboard(t._, spec, state.answers.get(spec.code)) is None
    t.send(text, choices=question_keyboard(t, submission.id, form, state), typed=typed)


def show_review(t: Turn, submission: Submission, obligation: Obligation, form: FormSpec,
                state: FormState, note: str | None = None) -> None:
    _ = t._
    _mark_shown(t, submission, REVIEW)
    answers = engine.effective_answers(form, state)
    lines = []
    if note:
        lines += [note, ""]
    lines += [_("<b>Review your report</b>") + f" · {_title(t, obligation)}",
              _("Check every answer. Tap a number to change that answer."), ""]
    visible = engine.visible_fields(form, state.answers)
    buttons = []
    for number, spec in enumerate(visible, start=1):
        if spec.code in answers:
            shown = value_text(_, spec, shorten(answers[spec.code]), t.locale)
        elif spec.code in state.skipped or not spec.required:
            shown = "— " + _("(skipped)")
        else:
            shown = "⚠️ " + _("not answered yet")
        lines.append(f"{number}. " + label_value(spec.label, shown))
        buttons.append(Choice(f"✏️ {number}",
                              EDIT.data(submission.id, form.position(spec.code))))
    rows = [buttons[i:i + 5] for i in range(0, len(buttons), 5)]
    rows.append([
        Choice("✅ " + _("Send report"), SUBMIT.data(submission.id)),
        Choice(_("Cancel"), CANCEL.data(submission.id)),
    ])
    chunks = split_message(lines)
    for chunk in chunks[:-1]:
        t.send(chunk)
    t.send(chunks[-1], choices=rows)


def question_number(form: FormSpec, state: FormState | None, code: str) -> int:
    """The number the official sees («Câu k/N»): among the questions actually asked."""
    if state is not None:
        codes = [f.code for f in engine.visible_fields(form, state.answers)]
        if code in codes:
            return codes.index(code) + 1
    return form.position(code) + 1


def _problem_text(t: Turn, form: FormSpec, problem: Problem,
                  state: FormState | None = None) -> str:
    _ = t._
    if problem.key == engine.CHECK:
        names = []
        for code in problem.params["fields"]:
            try:
                spec = form.field(code)
            except KeyError:
                continue
            number = question_number(form, state, code)
            names.append(_("question {number} «{label}»").format(number=number,
                                                                  label=esc(spec.label)))
        text = "⚠️ " + esc(problem.params["message"])
        if names:
            text += "\n" + _("Please check: {fields}.").format(fields=", ".join(names))
        return text
    params = {k: _format_param(v) for k, v in problem.params.items()}
    return "⚠️ " + _(problem.key).format(**params)


def _format_param(value: Any) -> str:
    if isinstance(value, Decimal | int | float) and not isinstance(value, bool):
        return format_number(value)
    if isinstance(value, dt.date):
        return format_date(value)
    return str(value)


def _strip_keyboard(t: Turn) -> None:
    """Remove the buttons of the message that was pressed, so old questions stay inert."""
    t.edit_choices(None)


# ----------------------------------------------------------------------------- actions


async def open_report(t: Turn, obligation_id: int) -> None:
    _ = t._
    obligation = await obligation_for(t, obligation_id)
    if obligation is None:
        return
    assert t.member is not None
    if obligation.status == ObligationStatus.waived:
        t.send(_("This report has been waived; nothing to send."))
        return
    opened = await open_draft(t.session, obligation, t.member, t.now)
    if opened.submission is None:
        final = opened.final
        assert final is not None and final.submitted_at is not None
        t.send(_("This report was already sent on {time}. Receipt: <b>{receipt}</b>.").format(
            time=_when(t, final.submitted_at), receipt=esc(final.receipt_no or "")))
        return
    submission = opened.submission
    form = await submission_spec(t.session, submission)
    state = engine.start(form, await load_state(t.session, submission))
    if opened.created and obligation.status == ObligationStatus.returned:
        # Start at the first question the reviewer named; answering returns to review.
        returned = await t.session.scalar(
            select(Submission).where(Submission.obligation_id == obligation.id,
                                     Submission.state == SubmissionState.returned)
            .order_by(Submission.version.desc()).limit(1))
        state = engine.revisit(form, state, list(returned.review_fields or [])
                               if returned else [])
    notes = []
    if (
        not opened.created
        and submission.last_editor_member_id not in (None, t.member.id)
        and submission.last_edited_at is not None
        and t.now - submission.last_edited_at < OTHER_EDITOR_WINDOW
    ):
        other = await t.session.get(Member, submission.last_editor_member_id)
        t.send("👥 " + _(
            "{name} is also working on this report (last answer at {time}). You share one "
            "draft: for each question, the latest answer counts."
        ).format(name=esc(other.full_name if other else "?"),
                 time=_when(t, submission.last_edited_at)))
    t.member.active_submission_id = submission.id
    if state.current != submission.current_field:
        await save_state(t.session, submission, await load_state(t.session, submission), state,
                         t.member, t.now)
    due = obligation.effective_due_at
    intro = [
        f"📋 <b>{esc(form.title)}</b>",
        _title(t, obligation),
        _("Deadline: {deadline}").format(deadline=deadline_text(_, due, t.tz))
        + f" — {days_left_text(t.locale, _, due, t.now, t.tz)}",
    ]
    if submission.version > 1:
        intro.append(_("This is version {version} of the report.").format(
            version=submission.version))
    if obligation.status == ObligationStatus.returned:
        previous = await t.session.scalar(
            select(Submission).where(Submission.obligation_id == obligation.id,
                                     Submission.state == SubmissionState.returned)
            .order_by(Submission.version.desc()).limit(1))
        if previous is not None and previous.review_comment:
            intro.append(_("Returned with the comment: «{comment}»").format(
                comment=esc(previous.review_comment)))
        verdict = await lateness_of(t.session, obligation, submission.version, t.now, t.tz)
        last = verdict.last_day(t.tz)
        if last is not None:
            intro.append(_("Time given for the supplement: until the end of {date}.").format(
                date=format_date(last, t.locale)))
    answered = len(state.answers) + len(state.skipped)
    if answered and state.current != REVIEW and not opened.created:
        notes.append(_("Continuing where you left off."))
    choices: Choices | None = None
    if form.allow_no_report and not state.answers:
        intro.append(_("If nothing happened in this period, tap «Nothing to report»."))
        choices = [[Choice(_("Nothing to report"), NO_REPORT.data(obligation.id))]]
    t.send("\n".join(intro + notes), choices=choices)
    show_question(t, submission, obligation, form, state)


def _when(t: Turn, moment: dt.datetime) -> str:
    return format_datetime(moment, t.locale, t.tz)


async def apply(
    t: Turn, submission: Submission, obligation: Obligation, form: FormSpec,
    old: FormState, result: FormState | Problem,
) -> None:
    if isinstance(result, Problem):
        show_question(t, submission, obligation, form, old,
                      note=_problem_text(t, form, result, old))
        return
    await save_state(t.session, submission, old, result, t.member, t.now)
    show_question(t, submission, obligation, form, result)


async def current_draft(t: Turn) -> tuple[Submission, Obligation, FormSpec, FormState] | None:
    """The draft this member is answering, if any (and still theirs to answer)."""
    if t.member is None or t.member.active_submission_id is None:
        return None
    loaded = await draft_and_obligation(t.session, t.member.active_submission_id)
    if loaded is None or loaded[0].state != SubmissionState.draft:
        t.member.active_submission_id = None
        return None
    submission, obligation = loaded
    if not t.may_report or obligation.agency_id != t.member.agency_id:
        t.member.active_submission_id = None
        return None
    form = await submission_spec(t.session, submission, obligation)
    state = engine.start(form, await load_state(t.session, submission))
    return submission, obligation, form, state


async def on_text_answer(t: Turn, text: str) -> bool:
    """Answer the current question with typed text; False when no form is open."""
    found = await current_draft(t)
    if found is None:
        return False
    submission, obligation, form, state = found
    if shown_to(t, submission) not in (None, state.current):
        show_question(t, submission, obligation, form, state, note="ℹ️ " + t._(
            "Someone else answered that question meanwhile. Here is where the report is now:"))
        return True
    if state.current == REVIEW:
        show_review(t, submission, obligation, form, state,
                    note=t._("Use the buttons below to change an answer or to send the report."))
        return True
    spec = form.field(state.current)  # type: ignore[arg-type]
    parsed = parse(spec, text)
    if isinstance(parsed, Problem):
        show_question(t, submission, obligation, form, state, note=_problem_text(t, form, parsed))
        return True
    if _type_of(spec).several:
        new = replace(state, answers={**state.answers, spec.code: parsed.value})
        await apply(t, submission, obligation, form, state, engine.answer(form, new, spec.code,
                                                                           parsed.value))
        return True
    await apply(t, submission, obligation, form, state,
                engine.answer(form, state, spec.code, parsed.value))
    return True


async def on_file_answer(t: Turn, file_id: str, unique_id: str | None, info: FileInfo) -> bool:
    found = await current_draft(t)
    if found is None:
        return False
    submission, obligation, form, state = found
    _ = t._
    spec = None if state.current in (None, REVIEW) else form.field(state.current)
    if spec is None or not _type_of(spec).accepts_file:
        show_question(t, submission, obligation, form, state,
                      note="⚠️ " + _("A file is not expected here; please answer the question."))
        return True
    problem = check_file(spec, info)
    if problem is not None:
        show_question(t, submission, obligation, form, state, note=_problem_text(t, form, problem))
        return True
    await t.session.execute(delete(Attachment).where(
        Attachment.submission_id == submission.id, Attachment.field_code == spec.code))
    t.session.add(Attachment(
        submission_id=submission.id, field_code=spec.code, telegram_file_id=file_id,
        telegram_file_unique_id=unique_id, file_name=info.file_name, mime_type=info.mime_type,
        file_size=info.size, uploaded_by_member_id=t.member.id if t.member else None,
        created_at=t.now,
    ))
    value = {"file_name": info.file_name, "mime_type": info.mime_type, "size": info.size}
    await apply(t, submission, obligation, form, state,
                engine.answer(form, state, spec.code, value))
    return True


async def remind_current_question(t: Turn) -> bool:
    """A sticker, voice note… where an answer was expected: say so and ask again."""
    found = await current_draft(t)
    if found is None:
        return False
    submission, obligation, form, state = found
    show_question(t, submission, obligation, form, state,
                  note="⚠️ " + t._("Please answer with text (or the buttons)."))
    return True


async def cancel(t: Turn) -> None:
    _ = t._
    had_draft = t.member is not None and t.member.active_submission_id is not None
    if t.member is not None and t.member.pending_action:
        # A committee action waiting for typed input (a return, an extension, …).
        t.member.pending_action = None
        t.send(_("Cancelled; the report stays as it was."), menu=menu_for(t))
        return
    if t.member is not None:
        t.member.active_submission_id = None
    if had_draft:
        t.send(_("Stopped. Your draft is saved; open the report again to continue."),
               menu=menu_for(t))
    else:
        t.send(_("Nothing to cancel."), menu=menu_for(t))


# ----------------------------------------------------------------------------- callbacks


MAX_ID = 2**31 - 1  # ids beyond a 32-bit integer are tampered data, not rows


def _ints(parts: list[str], count: int) -> list[int] | None:
    if len(parts) != count:
        return None
    try:
        numbers = [int(p) for p in parts]
    except ValueError:
        return None
    return numbers if all(0 <= n <= MAX_ID for n in numbers) else None


@with_turn
async def on_callback(t: Turn) -> None:
    """Dispatch a form button. Malformed data is treated as a stale button."""
    _ = t._
    kind, _sep, rest = t.data.partition(":")
    parts = rest.split(":") if rest else []
    if kind == "o" and (ids := _ints(parts, 1)):
        _strip_keyboard(t)
        await open_report(t, ids[0])
        return
    if kind in ("n", "N") and (ids := _ints(parts, 1)):
        await no_report(t, ids[0], confirmed=kind == "N")
        return
    expected = {"v": 3, "t": 3, "d": 2, "k": 2, "b": 2, "e": 2, "c": 1, "R": 1, "s": 1, "S": 2,
                "y": 2}
    ids = _ints(parts, expected.get(kind, -1)) if kind in expected else None
    if not ids:
        t.stale()
        return
    loaded = await draft_for(t, ids[0])
    if loaded is None:
        return
    submission, obligation = loaded
    assert t.member is not None
    t.member.active_submission_id = submission.id
    form = await submission_spec(t.session, submission, obligation)
    state = engine.start(form, await load_state(t.session, submission))
    if kind == "c":
        _strip_keyboard(t)
        await cancel(t)
        return
    if kind == "R":
        _strip_keyboard(t)
        new = engine.review(form, state)
        await save_state(t.session, submission, state, new, t.member, t.now)
        show_review(t, submission, obligation, form, new)
        return
    if kind == "s":
        _strip_keyboard(t)
        await ask_submit(t, submission, obligation, form, state)
        return
    if kind == "S":
        _strip_keyboard(t)
        if ids[1] != submission.lock_version:
            show_review(t, submission, obligation, form, state, note="⚠️ " + _(
                "The report changed since you asked to send it; please check it again."))
            return
        await do_submit(t, submission, obligation, form, state)
        return
    pos = ids[1]
    if not 0 <= pos < len(form.fields):
        t.stale()
        return
    spec = form.fields[pos]
    if kind == "e":
        _strip_keyboard(t)
        await apply(t, submission, obligation, form, state, engine.edit(form, state, spec.code))
        return
    if state.current != spec.code:
        _strip_keyboard(t)
        show_question(t, submission, obligation, form, state, note="ℹ️ " + _(
            "That question is no longer the current one. Here is where the report is now:"))
        return
    if kind == "b":
        _strip_keyboard(t)
        await apply(t, submission, obligation, form, state, engine.back(form, state))
    elif kind == "k":
        _strip_keyboard(t)
        await apply(t, submission, obligation, form, state, engine.skip(form, state, spec.code))
    elif kind == "v":
        ftype = _type_of(spec)
        # A several-type's buttons toggle (t:); a v: press on one is not a button it sent.
        value = None if ftype.several else ftype.button_value(spec, ids[2])
        if value is None:
            _strip_keyboard(t)
            t.stale()
            return
        checked = validate_value(spec, value)
        if isinstance(checked, Ok):
            # The question keeps what was chosen under it, as a typed answer would.
            t.mark_answered("✔ <b>" + value_text(_, spec, checked.value, t.locale) + "</b>")
        else:
            _strip_keyboard(t)
        result = engine.answer(form, state, spec.code, checked.value) if isinstance(
            checked, Ok) else checked
        await apply(t, submission, obligation, form, state, result)
    elif kind == "y":
        proposal = spec.settings.get("proposal")
        # Read as if typed (Vietnamese figures), so the field's own rules apply to it.
        usable = parse(spec, format_number(proposal["value"], "vi")) if proposal else None
        if not isinstance(usable, Ok):
            _strip_keyboard(t)
            show_question(t, submission, obligation, form, state, note="⚠️ " + _(
                "The proposed figure cannot be used here; please type the figure."))
            return
        t.mark_answered("✔ <b>" + value_text(_, spec, usable.value, t.locale) + "</b>")
        await apply(t, submission, obligation, form, state,
                    engine.answer(form, state, spec.code, usable.value))
    elif kind == "t":
        await toggle(t, submission, form, state, spec, ids[2])
    elif kind == "d":
        chosen = list(state.answers.get(spec.code) or [])
        if chosen:
            t.mark_answered("✔ <b>" + value_text(_, spec, chosen, t.locale) + "</b>")
        else:
            _strip_keyboard(t)
        if not chosen:
            if spec.required:
                show_question(t, submission, obligation, form, state,
                              note="⚠️ " + _("Please choose at least one option."))
                return
            await apply(t, submission, obligation, form, state,
                        engine.skip(form, state, spec.code))
            return
        await apply(t, submission, obligation, form, state,
                    engine.answer(form, state, spec.code, chosen))


async def toggle(t: Turn, submission: Submission, form: FormSpec, state: FormState,
                 spec: FieldSpec, index: int) -> None:
    chosen = _type_of(spec).toggle(spec, state.answers.get(spec.code), index)
    if chosen is None:
        t.stale()
        return
    answers = {**state.answers, spec.code: chosen}
    if not chosen:
        answers.pop(spec.code)
    new = replace(state, answers=answers)
    # Saved at once, but the question stays until «Done».
    await save_state(t.session, submission, state, new, t.member, t.now)
    t.edit_choices(question_keyboard(t, submission.id, form, new))


async def ask_submit(t: Turn, submission: Submission, obligation: Obligation, form: FormSpec,
                     state: FormState) -> None:
    _ = t._
    check = engine.check_for_submit(form, state)
    if not check.ok:
        show_review(t, submission, obligation, form, state,
                    note=_submit_problems(t, form, check, state))
        return
    verdict = await lateness_of(t.session, obligation, submission.version, t.now, t.tz)
    lines = [_("Send «{title}» now?").format(title=_title(t, obligation))]
    if verdict.supplement and verdict.supplement_late_days:
        lines.append(_("The time given for the supplement has passed; it will be accepted and "
                       "marked late."))
    elif not verdict.on_time and not verdict.supplement:
        lines.append(_("The deadline has passed; the report will be accepted and marked late."))
    lines.append(_("After sending, changes need the standing office to return the report."))
    t.send("\n".join(lines), choices=[[
        Choice("✅ " + _("Confirm and send"),
               SUBMIT_NOW.data(submission.id, submission.lock_version)),
        Choice("« " + _("Back to review"), REVIEW_ROUTE.data(submission.id)),
    ]])


def _submit_problems(t: Turn, form: FormSpec, check: engine.SubmitCheck,
                     state: FormState) -> str:
    _ = t._
    lines = []
    if check.missing:
        numbers = ", ".join(str(question_number(form, state, code)) for code in check.missing)
        lines.append("⚠️ " + _("Some required questions are not answered yet: {numbers}.")
                     .format(numbers=numbers))
    for failure in check.failures:
        lines.append(_problem_text(t, form, Problem(engine.CHECK, {
            "message": failure.message, "fields": failure.fields}), state))
    return "\n".join(lines)


async def do_submit(t: Turn, submission: Submission, obligation: Obligation, form: FormSpec,
                    state: FormState, no_report: bool = False) -> None:
    _ = t._
    if not no_report:
        check = engine.check_for_submit(form, state)
        if not check.ok:
            show_review(t, submission, obligation, form, state,
                        note=_submit_problems(t, form, check, state))
            return
    assert t.member is not None
    await submit(t.session, submission, obligation, form, state, t.member, t.now, t.tz,
                 no_report=no_report)
    verdict = await lateness_of(t.session, obligation, submission.version, t.now, t.tz)
    t.member.active_submission_id = None
    lines = ["✅ " + _("Report received. Thank you!"),
             _title(t, obligation),
             _("Receipt number: <b>{receipt}</b>").format(receipt=esc(submission.receipt_no)),
             _("Time: {time}").format(time=_when(t, t.now)),
             _("Sent by: {name}").format(name=esc(t.member.full_name))]
    if no_report:
        lines.append(_("Recorded as: nothing to report in this period."))
    lines.append(lateness_text(t._, verdict, t.tz, t.locale))
    if submission.version > 1:
        lines.append(_("Version {version}; earlier versions are kept.").format(
            version=submission.version))
    t.send("\n".join(lines), menu=menu_for(t))
    agency = await t.session.get(Agency, obligation.agency_id)
    content = await report_docx(t.session, submission, t.tz)
    t.send_file(content, report_filename(agency.code if agency else "bao-cao",
                                         obligation.period_key, submission.version),
                caption=_("The report in the administrative format, ready to sign."))


async def no_report(t: Turn, obligation_id: int, confirmed: bool) -> None:
    _ = t._
    obligation = await obligation_for(t, obligation_id)
    if obligation is None:
        return
    assert t.member is not None
    opened = await open_draft(t.session, obligation, t.member, t.now)
    if opened.submission is None:
        t.send(_("This report has already been sent; the button is no longer valid."))
        return
    submission = opened.submission
    form = await submission_spec(t.session, submission)
    if not form.allow_no_report:
        t.send(_("This report cannot be sent as «Nothing to report»."))
        return
    _strip_keyboard(t)
    if not confirmed:
        t.send(_("Record «Nothing to report» for {title}? Nothing happened in this period, "
                 "so no figures will be sent.").format(title=_title(t, obligation)),
               choices=[[
                   Choice("✅ " + _("Confirm"), NO_REPORT_NOW.data(obligation.id)),
                   Choice(_("Cancel"), CANCEL.data(submission.id)),
               ]])
        return
    state = await load_state(t.session, submission)
    await do_submit(t, submission, obligation, form, state, no_report=True)


def file_info_from(update: Update) -> tuple[str, str | None, FileInfo] | None:
    message = update.effective_message
    if message is None:
        return None
    if message.document is not None:
        d = message.document
        return d.file_id, d.file_unique_id, FileInfo(d.file_name, d.mime_type, d.file_size)
    if message.photo:
        p = message.photo[-1]  # the largest size
        return p.file_id, p.file_unique_id, FileInfo("photo.jpg", "image/jpeg", p.file_size)
    return None


# ----------------------------------------------------------------------------- wiring


@with_turn
async def on_file(t: Turn) -> None:
    found = file_info_from(t.update)
    if found is None or not await on_file_answer(t, *found):
        t.send(t._("A file is only needed when a report asks for it. Open «Reports due» "
                   "to continue a report."), menu=menu_for(t))


def register(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    app.add_handler(CommandHandler("cancel", with_turn(cancel)), group=FEATURES)
    for route in ROUTES:
        app.add_handler(CallbackQueryHandler(on_callback, pattern=route.pattern),
                        group=FEATURES)
    app.add_handler(MessageHandler(filters.Document.ALL | filters.PHOTO, on_file),
                    group=FEATURES)
    pending.register_form(on_text_answer, remind_current_question)
