"""Ad-hoc requests (báo cáo đột xuất): agencies, a form (existing or typed), a deadline.

A small wizard whose state is `member.pending_action` ({"kind": "adhoc", "step": …}):
title → agencies (all, one kind, or a list) → form (a plan form, or quick questions typed one
per line) → deadline → confirm. The request becomes a schedule of period type ad_hoc with
one obligation per agency, so reminders and escalation work as for any report. Its
reporters (else heads) are told at once through the outbox, with the sweep's notice items,
so the sweep does not announce it again (scheduler.notices).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import lazyload
from telegram.ext import Application, CallbackQueryHandler, CommandHandler

from core.choices import Choice
from core.collation import vi_sorted
from core.dates import resolve, split_leading_day
from core.i18n import pick_language, translator
from core.textlimits import button_label
from core.texts import day_with_weekday, deadline_text, esc
from db.audit import record
from db.models import (
    Agency,
    Form,
    FormField,
    FormVersion,
    Obligation,
    Plan,
    Schedule,
    ScheduleAgency,
)
from db.queries import agency_people
from handlers import pending as typed
from handlers.context import Turn, with_turn
from handlers.groups import FEATURES
from handlers.screens import ADHOC
from scheduler.buttons import OPEN_REPORT
from scheduler.notices import announced_items, enqueue, first_told
from scheduler.sweeper import view_of

MAX_QUESTIONS = 10
_TIME = re.compile(r"^(\d{1,2})[:hg](\d{2})$")  # «17:00», «17h00»


def _cancel_row(t: Turn) -> list[Choice]:
    return [typed.cancel_choice(t)]


async def _plan(t: Turn) -> Plan | None:
    assert t.member is not None
    return await t.session.scalar(
        select(Plan).options(lazyload("*")).where(Plan.committee_id == t.member.committee_id)
        .order_by(Plan.year.desc()).limit(1))


async def start(t: Turn) -> None:
    _ = t._
    if await _plan(t) is None:
        t.send(_("No plan has been loaded for your committee yet."))
        return
    assert t.member is not None
    t.member.pending_action = {"kind": "adhoc", "step": "title"}
    t.send("📨 " + _("<b>New ad-hoc request</b>\nType its title, e.g. «Báo cáo nhanh tình hình "
                     "tụ điểm sau Tết».")
           , choices=[_cancel_row(t)])


def _pending(t: Turn) -> dict[str, Any] | None:
    pending = t.member.pending_action if t.member else None
    # A copy: changing the loaded dict in place would hide the change from the ORM.
    return dict(pending) if pending and pending.get("kind") == "adhoc" else None


def _save(t: Turn, pending: dict[str, Any]) -> None:
    assert t.member is not None
    t.member.pending_action = dict(pending)  # a new dict so the JSON column is rewritten


async def on_text(t: Turn, text: str) -> bool:
    pending = _pending(t)
    if pending is None:
        return False
    _ = t._
    step = pending.get("step")
    text = text.strip()
    if step == "title":
        if not 3 <= len(text) <= 200:
            t.send("⚠️ " + _("Please type a title of 3 to 200 characters."))
            return True
        pending.update(title=text, step="agencies")
        _save(t, pending)
        await ask_agencies(t)
    elif step == "questions":
        questions = [q.strip(" -•") for q in text.splitlines() if q.strip(" -•")]
        if not 1 <= len(questions) <= MAX_QUESTIONS:
            t.send("⚠️ " + _("Please type 1 to {n} questions, one per line.").format(
                n=MAX_QUESTIONS))
            return True
        pending.update(questions=questions, step="deadline")
        _save(t, pending)
        ask_deadline(t)
    elif step == "deadline":
        # One parser for typed days (core.dates): the year may be left out (the next such
        # day from today), and a time may follow.
        typed_day, rest = split_leading_day(text)
        today = t.now.astimezone(t.tz).date()
        day = resolve(typed_day, today=today) if typed_day is not None else None
        time = _TIME.match(rest) if rest else None
        if time and (int(time.group(1)) > 23 or int(time.group(2)) > 59):
            time = None
        if day is None or (rest and time is None):
            t.send("⚠️ " + _("Please type the last day as day/month (the year may be left "
                             "out), optionally with a time, e.g. {example} or {example} "
                             "17:00.").format(example=_example(t)))
            return True
        if day < today:
            t.send("⚠️ " + _("The new last day cannot be in the past."))
            return True
        pending.update(day=day.isoformat(),
                       time=f"{int(time.group(1)):02d}:{time.group(2)}" if time else None,
                       step="confirm")
        _save(t, pending)
        await ask_confirm(t, pending)
    else:
        t.send(_("Use the buttons below to change an answer or to send the report."))
    return True


async def ask_agencies(t: Turn) -> None:
    _ = t._
    plan = await _plan(t)
    assert plan is not None
    kinds = (await t.session.execute(
        select(Agency.kind, Agency.kind_label, func.count())
        .where(Agency.committee_id == plan.committee_id, Agency.active.is_(True))
        .group_by(Agency.kind, Agency.kind_label).order_by(Agency.kind))).all()
    rows = [[Choice(_("All agencies"), ADHOC.data("all"))]]
    for kind, label, count in kinds:
        rows.append([Choice(button_label(f"{label or kind} ({count})"),
                            ADHOC.data("k", kind)[:64])])
    rows.append([Choice(_("Choose agencies one by one"), ADHOC.data("p"))])
    rows.append(_cancel_row(t))
    t.send(_("Which agencies must answer?"), choices=rows)


async def pick_keyboard(t: Turn, chosen: list[int]) -> list[list[Choice]]:
    plan = await _plan(t)
    assert plan is not None
    agencies = (await t.session.scalars(
        select(Agency).options(lazyload("*"))
        .where(Agency.committee_id == plan.committee_id, Agency.active.is_(True)))).all()
    rows = [[Choice(button_label(("☑️ " if a.id in chosen else "⬜ ") + a.display_name),
                    ADHOC.data("t", a.id))]
            for a in vi_sorted(agencies, key=lambda a: a.display_name)[:60]]
    rows.append([Choice("✔️ " + t._("Done"), ADHOC.data("d")), *_cancel_row(t)])
    return rows


async def ask_form(t: Turn) -> None:
    _ = t._
    plan = await _plan(t)
    assert plan is not None
    forms = (await t.session.scalars(
        select(Form).where(Form.plan_id == plan.id, ~Form.code.startswith("adhoc-"))
        .order_by(Form.id))).all()
    rows = [[Choice(button_label(f.title), ADHOC.data("f", f.id))] for f in forms]
    rows.append([Choice("✍️ " + _("Type a few questions"), ADHOC.data("q"))])
    rows.append(_cancel_row(t))
    t.send(_("Which form should they fill in?"), choices=rows)


async def _plan_form(t: Turn, form_id: int) -> Form | None:
    """A form of the member's own plan that an ad-hoc request may use, else None."""
    plan = await _plan(t)
    form = await t.session.get(Form, form_id)
    if plan is None or form is None or form.plan_id != plan.id or form.code.startswith("adhoc-"):
        return None
    return form


def _example(t: Turn) -> str:
    """A day a week from today, as people type it: never in the past."""
    day = t.now.astimezone(t.tz).date() + dt.timedelta(days=7)
    return f"{day.day:02d}/{day.month:02d}"


def ask_deadline(t: Turn) -> None:
    t.send(t._("By when? Type the last day as day/month (the year may be left out), "
               "optionally with a time, e.g. {example} or {example} 17:00.").format(
                   example=_example(t)), choices=[_cancel_row(t)])


async def _selected_agencies(t: Turn, pending: dict[str, Any]) -> list[Agency]:
    plan = await _plan(t)
    assert plan is not None
    query = select(Agency).options(lazyload("*")).where(
        Agency.committee_id == plan.committee_id, Agency.active.is_(True))
    target = pending.get("agencies")
    if isinstance(target, dict):
        query = query.where(Agency.kind == target["kind"])
    elif isinstance(target, list):
        query = query.where(Agency.id.in_(target))
    return list((await t.session.scalars(query.order_by(Agency.id))).all())


async def ask_confirm(t: Turn, pending: dict[str, Any]) -> None:
    _ = t._
    agencies = await _selected_agencies(t, pending)
    day = dt.date.fromisoformat(pending["day"])
    if pending.get("form_id"):
        form = await _plan_form(t, pending["form_id"])
        form_text = esc(form.title if form else "?")
    else:
        form_text = "; ".join(esc(q) for q in pending.get("questions", []))
    when = day_with_weekday(_, day) + (f" {pending['time']}" if pending.get("time") else "")
    t.send("\n".join([
        "📨 " + _("<b>Send this ad-hoc request?</b>"),
        _("Title: {title}").format(title=esc(pending["title"])),
        _("Agencies: {n}").format(n=len(agencies)) + " — " + ", ".join(
            esc(a.display_name) for a in agencies[:8]) + (" …" if len(agencies) > 8 else ""),
        _("Form: {form}").format(form=form_text),
        _("Deadline: {deadline}").format(deadline=when),
    ]), choices=[[
        Choice("✅ " + _("Send request"), ADHOC.data("ok")),
        *_cancel_row(t)]])


@with_turn(role="committee")
async def on_callback(t: Turn) -> None:
    _ = t._
    pending = _pending(t)
    if t.data == ADHOC.data("new"):
        await start(t)
        return
    if pending is None:
        t.stale()
        return
    parts = [ADHOC.wire, *ADHOC.parse(t.data)]
    action = parts[1] if len(parts) > 1 else ""
    if action == "all":
        pending.update(agencies="all", step="form")
    elif action == "k" and len(parts) > 2:
        pending.update(agencies={"kind": parts[2]}, step="form")
    elif action == "p":
        pending.update(agencies=[], step="pick")
        _save(t, pending)
        t.send(_("Tick the agencies, then Done."),
               choices=await pick_keyboard(t, []))
        return
    elif action == "t" and len(parts) > 2 and parts[2].isdigit():
        chosen = list(pending.get("agencies") or [])
        agency_id = int(parts[2])
        chosen = [a for a in chosen if a != agency_id] if agency_id in chosen else [
            *chosen, agency_id]
        pending["agencies"] = chosen
        _save(t, pending)
        t.edit_choices(await pick_keyboard(t, chosen))
        return
    elif action == "d":
        if not pending.get("agencies"):
            t.send("⚠️ " + _("Please choose at least one option."))
            return
        pending["step"] = "form"
    elif action == "f" and len(parts) > 2 and parts[2].isdigit():
        if await _plan_form(t, int(parts[2])) is None:  # another plan's form: a forged button
            t.stale()
            return
        pending.update(form_id=int(parts[2]), step="deadline")
        _save(t, pending)
        ask_deadline(t)
        return
    elif action == "q":
        pending.update(form_id=None, step="questions")
        _save(t, pending)
        t.send(_("Type the questions, one per line (at most {n}). End a line with «(số)» for a "
                 "number or «(có/không)» for a yes/no question; other lines take text.")
               .format(n=MAX_QUESTIONS), choices=[_cancel_row(t)])
        return
    elif action == "ok" and pending.get("step") == "confirm":
        await create(t, pending)
        return
    else:
        t.stale()
        return
    _save(t, pending)
    if pending["step"] == "form":
        await ask_form(t)


def quick_fields(questions: list[str]) -> list[dict[str, Any]]:
    fields = []
    for i, question in enumerate(questions, start=1):
        label, kind = question, "long_text"
        lowered = question.lower()
        if lowered.endswith("(số)") or lowered.endswith("(so)"):
            label, kind = question[:-4].strip(), "integer"
        elif lowered.endswith("(có/không)") or lowered.endswith("(co/khong)"):
            label, kind = question[: question.rfind("(")].strip(), "yes_no"
        settings: dict[str, Any] = {"min": 0} if kind == "integer" else {}
        if kind == "long_text":
            settings["max_length"] = 2000
        fields.append({"code": f"q{i}", "label": label or question, "type": kind,
                       "settings": settings})
    return fields


async def create(t: Turn, pending: dict[str, Any]) -> None:
    _ = t._
    plan = await _plan(t)
    assert plan is not None and t.member is not None
    agencies = await _selected_agencies(t, pending)
    if not agencies:
        t.send("⚠️ " + _("Please choose at least one option."))
        return
    number = (await t.session.scalar(
        select(func.count()).select_from(Schedule).where(Schedule.plan_id == plan.id,
                                                         Schedule.code.startswith("adhoc-")))
              or 0) + 1
    code = f"adhoc-{number}"
    if pending.get("form_id"):
        form = await t.session.get(Form, pending["form_id"])
        if form is None or form.plan_id != plan.id:
            t.stale()
            return
    else:
        fields = quick_fields(pending.get("questions", []))
        form = Form(plan_id=plan.id, code=code, title=pending["title"])
        t.session.add(form)
        await t.session.flush()
        digest = hashlib.sha256(json.dumps(fields, ensure_ascii=False).encode()).hexdigest()
        version = FormVersion(form_id=form.id, version=1, title=pending["title"],
                              definition_hash=digest, allow_no_report=True, checks=[])
        for position, f in enumerate(fields):
            version.fields.append(FormField(position=position, code=f["code"], label=f["label"],
                                            type=f["type"], required=True,
                                            settings=f["settings"]))
        t.session.add(version)
        await t.session.flush()
        form.current_version_id = version.id
    day = dt.date.fromisoformat(pending["day"])
    due_rule: dict[str, Any] = {"date": day.isoformat()}
    if pending.get("time"):
        hh, mm = (int(x) for x in pending["time"].split(":"))
        due_local = dt.datetime.combine(day, dt.time(hh, mm), t.tz)
        due_rule["time"] = pending["time"]
    else:
        due_local = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0, 0), t.tz)
    defaults = plan.defaults or {}
    schedule = Schedule(
        plan_id=plan.id, code=code, name=pending["title"], period_type="ad_hoc",
        cutoff_rule="end", due_rule=due_rule, holiday_rule="keep",
        reminder_offsets=[d for d in defaults.get("reminders", [3, 1, 0]) if d <= 7] or [0],
        escalation_policy=defaults.get("escalation", {}), form_id=form.id,
        starts_on=t.now.astimezone(t.tz).date(), position=1000 + number,
    )
    t.session.add(schedule)
    await t.session.flush()
    today = t.now.astimezone(t.tz).date()
    obligations: list[Obligation] = []
    for agency in agencies:
        t.session.add(ScheduleAgency(schedule_id=schedule.id, agency_id=agency.id,
                                     form_id=form.id))
        obligation = Obligation(
            schedule_id=schedule.id, agency_id=agency.id, subject_id=0, form_id=form.id,
            period_type="ad_hoc", period_key=f"{today.year}-{code}", period_start=today,
            period_end=day, due_at=due_local.astimezone(dt.UTC),
        )
        t.session.add(obligation)
        obligations.append(obligation)
    await t.session.flush()
    told = await _announce(t, plan, schedule, obligations, agencies)
    record(t.session, "adhoc.create", actor=t.member, committee_id=plan.committee_id,
           entity=("schedule", schedule.id),
           details={"title": pending["title"], "agencies": len(agencies),
                    "due": due_local.isoformat(), "told": told}, now=t.now)
    t.member.pending_action = None
    sender = t.context.application.bot_data.get("sender")
    if sender is not None and told:
        async def wake() -> None:
            sender.notify()

        t.later(wake)
    t.send("✅ " + _("Ad-hoc request sent to {n} agencies. {m} people were told at once; "
                     "they are reminded like any other report.").format(n=len(agencies),
                                                                        m=told))


async def _announce(t: Turn, plan: Plan, schedule: Schedule, obligations: list[Obligation],
                    agencies: list[Agency]) -> int:
    """Tell the reporters (else the heads) of each agency at once, through the outbox, with
    the sweep's notice item for each of them, so that the sweep does not announce the
    request again; how many people were told."""
    names = {a.id: a.display_name for a in agencies}
    people = (await t.session.scalars(agency_people([a.id for a in agencies]))).all()
    chosen = first_told(people)
    told = 0
    for obligation in obligations:
        view = view_of(obligation, schedule, plan, names[obligation.agency_id])
        items = announced_items(view, plan, t.now, t.tz)
        for person in chosen.get(obligation.agency_id, []):
            _ = translator(pick_language(person.language, person.telegram_language))
            text = "\n".join([
                "📌 " + _("<b>Ad-hoc report request:</b> {title} — due {deadline}").format(
                    title=esc(schedule.name), deadline=deadline_text(_, obligation.due_at, t.tz)),
                "", _("Tap the button below to answer it."),
            ])
            buttons = [[{"text": ("📝 " + _("Open the report"))[:60],
                         "data": OPEN_REPORT.data(obligation.id)}]]
            if await enqueue(t.session, person, kind="adhoc",
                             dedupe_key=f"adhoc:{obligation.id}:{person.id}",
                             payload={"text": text, "parse_mode": "HTML", "buttons": buttons},
                             now=t.now, items=items) is not None:
                told += 1
    return told


# ----------------------------------------------------------------------------- wiring


def register(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    app.add_handler(CommandHandler("adhoc", with_turn(start, members_only=False,
                                                      role="committee")), group=FEATURES)
    app.add_handler(CallbackQueryHandler(on_callback, pattern=ADHOC.pattern), group=FEATURES)
    typed.register("adhoc", on_text)
