"""The urging letter (công văn đôn đốc, issue 15 §3): from the office's digest or the status
view, a letter in the Decree 30 layout to the agencies whose reports are overdue, listing
for each the reports missing and their deadlines, with a new deadline the office types;
one more tap sends it to those agencies through the bot, and the audit log records it.

Routes (scheduler.buttons.URGE): ug:c:{committee} (all the committee's overdue reports, as
the digest lists them), ug:p:{schedule}:{period} (one period, from the status view);
ug:s:{yyyymmdd}:c:… / ug:s:{yyyymmdd}:p:… sends the letter of that scope and deadline.
Each agency's notice carries the letter itself: uf:{audit entry} sends its .docx, rebuilt
from what the audit log recorded, to the agencies it was addressed to and the committee.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import defaultdict
from typing import Any

from sqlalchemy import select
from telegram.ext import Application, CallbackQueryHandler

from core import callbacks
from core.choices import Choice
from core.dates import parse_day
from core.formatting import format_date, format_datetime
from core.i18n import N_, ngettext, pick_language, translator
from core.texts import esc, report_title
from db.audit import record
from db.documents import urging_docx
from db.models import Agency, AuditLog, Committee, Member, Obligation, Plan, Schedule
from db.queries import agency_people
from handlers import pending
from handlers.context import Turn, with_turn
from handlers.groups import FEATURES
from scheduler.buttons import OPEN_REPORT, URGE
from scheduler.messages import LateReport, late_tally
from scheduler.notices import enqueue, first_told

ASK_DEADLINE = N_("Urging letter to the agencies whose reports are overdue ({n}). Type the "
                  "new deadline, e.g. <code>{example}</code>.")
NOTHING_LATE = N_("No report is overdue right now: there is nobody to urge.")
LETTER = callbacks.route("uf")
AUDIT_ACTION = "committee.urging_letter"


def _scope(parts: list[str]) -> tuple[str, ...] | None:
    if parts[:1] == ["c"] and len(parts) == 2 and callbacks.parse_id(parts[1]):
        return ("c", parts[1])
    if parts[:1] == ["p"] and len(parts) == 3 and callbacks.parse_id(parts[1]):
        return ("p", parts[1], parts[2])
    return None


async def late_reports(t: Turn, scope: tuple[str, ...]) -> list[LateReport] | None:
    """The overdue reports of the scope, as the digest counts them; None when the scope is
    not this member's committee."""
    committee_id = t.member.committee_id if t.member else None
    if committee_id is None:
        return None
    if scope[0] == "c" and int(scope[1]) != committee_id:
        return None
    tally = await late_tally(t.session, committee_id, t.now, t.tz, exempt_too=True)
    committee = await t.session.get(Committee, committee_id)
    # The letter is the consolidating agency's: it does not urge itself.
    late = [r for r in tally.late
            if committee is None or r.agency_id != committee.consolidating_id]
    if scope[0] == "p":
        schedule = await t.session.get(Schedule, int(scope[1]))
        plan = await t.session.get(Plan, schedule.plan_id) if schedule else None
        if schedule is None or plan is None or plan.committee_id != committee_id:
            return None
        late = [r for r in late if r.obligation.schedule_id == schedule.id
                and r.obligation.period_key == scope[2]]
    return late


async def _late_or_say(t: Turn, scope: tuple[str, ...] | None) -> list[LateReport]:
    """The scope's overdue reports; [] after saying why there are none to urge."""
    late = await late_reports(t, scope) if scope else None
    if late is None:
        t.stale()
    elif not late:
        t.send(t._(NOTHING_LATE))
    return late or []


@with_turn(role="committee")
async def on_urge(t: Turn) -> None:
    _ = t._
    parts = URGE.parse(t.data)
    if parts[:1] == ["s"] and len(parts) >= 3:
        await send_letter(t, parts[1], _scope(parts[2:]))
        return
    scope = _scope(parts)
    late = await _late_or_say(t, scope)
    if not late or scope is None:
        return
    assert t.member is not None
    t.member.pending_action = {"kind": "urge", "scope": list(scope or ())}
    example = format_date(t.now.astimezone(t.tz).date() + dt.timedelta(days=5))
    t.send(_(ASK_DEADLINE).format(n=len({r.agency_id for r in late}), example=example),
           choices=[[pending.cancel_choice(t)]], typed=True)


async def finish_urge(t: Turn, text: str) -> bool:
    """The typed deadline: the letter, with the choice to send it."""
    _ = t._
    waiting = t.member.pending_action if t.member else None
    if not waiting or waiting.get("kind") != "urge" or t.member is None:
        return False
    today = t.now.astimezone(t.tz).date()
    day = parse_day(text, today=today)
    if day is None or day < today:
        t.send("⚠️ " + _("Please type a deadline from today on, e.g. <code>{example}</code>.")
               .format(example=format_date(today + dt.timedelta(days=5))),
               choices=[[pending.cancel_choice(t)]], typed=True)
        return True
    scope = tuple(str(p) for p in waiting.get("scope", []))
    t.member.pending_action = None
    late = await late_reports(t, scope) if _scope(list(scope)) else None
    if not late:
        t.send(_(NOTHING_LATE))
        return True
    content, name = await _letter(t, late, day)
    agencies = len({r.agency_id for r in late})
    n_ = ngettext(t.locale)
    send = URGE.data("s", day.strftime("%Y%m%d"), *scope)
    t.send_file(content, name, caption="📨 " + _("Urging letter, deadline {day}.").format(
        day=format_date(day)))
    t.send(_("Check the letter, then send it to the agencies through the bot:"), choices=[
        [Choice("📤 " + n_("Send to {n} agency", "Send to {n} agencies", agencies).format(
            n=agencies), send)]])
    return True


async def _letter(t: Turn, late: list[LateReport], day: dt.date) -> tuple[bytes, str]:
    assert t.member is not None and t.member.committee_id is not None
    content = await urging_docx(t.session, t.member.committee_id, late, day, t.tz)
    return content, f"cong-van-don-doc_{day.isoformat()}.docx"


async def send_letter(t: Turn, stamp: str, scope: tuple[str, ...] | None) -> None:
    _ = t._
    try:
        day = dt.datetime.strptime(stamp, "%Y%m%d").date()
    except ValueError:
        t.stale()
        return
    late = await _late_or_say(t, scope)
    if not late:
        return
    assert t.member is not None
    committee = await t.session.get(Committee, t.member.committee_id)
    issuer = (await t.session.get(Agency, committee.consolidating_id)
              if committee and committee.consolidating_id else None)
    by_agency: dict[int, list[LateReport]] = defaultdict(list)
    for report in late:
        by_agency[report.agency_id].append(report)
    people = first_told((await t.session.scalars(agency_people(by_agency))).all())
    schedules = {s.id: s for s in (await t.session.scalars(select(Schedule).where(
        Schedule.id.in_({r.obligation.schedule_id for r in late})))).all()}
    key = hashlib.sha256(",".join(sorted(str(r.obligation.id) for r in late)).encode()
                         ).hexdigest()[:12]
    details: dict[str, Any] = {
        "deadline": day.isoformat(), "agencies": sorted(by_agency),
        "obligations": [r.obligation.id for r in late]}
    entry = record(t.session, AUDIT_ACTION, actor=t.member, committee_id=t.member.committee_id,
                   details=details, now=t.now)
    await t.session.flush()  # the entry's id goes on the notices' letter button
    written = 0
    for agency_id, reports in by_agency.items():
        for person in people.get(agency_id, []):
            payload = _notice(person, reports, schedules, day, t, issuer, entry.id)
            if await enqueue(t.session, person, kind="urge", now=t.now, payload=payload,
                             dedupe_key=f"urge:{key}:{stamp}:{person.id}"):
                written += 1
    entry.details = {**details, "messages": written}
    sender = t.context.application.bot_data.get("sender")
    if sender is not None and written:
        async def wake() -> None:
            sender.notify()

        t.later(wake)
    reached = sum(1 for a in by_agency if people.get(a))
    t.send("📤 " + _("Urging letter sent to {reached} of {total} agencies ({messages} "
                    "messages); recorded in the log.").format(
                        reached=reached, total=len(by_agency), messages=written))


def _notice(person: Member, reports: list[LateReport], schedules: dict[int, Schedule],
            day: dt.date, t: Turn, issuer: Agency | None, letter: int) -> dict[str, Any]:
    _ = translator(pick_language(person.language, person.telegram_language))
    lines = ["📨 " + _("{issuer} urges your agency to send these reports by {day}:").format(
        issuer=esc(issuer.display_name if issuer else _("The standing office")),
        day=f"<b>{format_date(day)}</b>")]
    buttons = []
    for report in reports:
        o: Obligation = report.obligation
        schedule = schedules.get(o.schedule_id)
        title = report_title(_, schedule.name if schedule else "", o.period_type, o.period_key)
        lines.append(f"• {esc(title)} — " + _("deadline was {due}").format(
            due=format_datetime(o.effective_due_at - dt.timedelta(seconds=1), "vi", t.tz)))
        buttons.append([{"text": title[:48], "data": OPEN_REPORT.data(o.id)}])
    buttons = [*buttons[:7], [{"text": "📄 " + _("The letter (.docx)"),
                               "data": LETTER.data(letter)}]]
    return {"text": "\n".join(lines), "parse_mode": "HTML", "buttons": buttons}


@with_turn
async def on_letter_file(t: Turn) -> None:
    """The letter an agency was sent, for the people of the agencies it was addressed to and
    for the committee's overseers; rebuilt from its audit entry, so it lists what was
    missing when it was sent."""
    parts = LETTER.parse(t.data)
    entry = (await t.session.get(AuditLog, int(parts[0]))
             if len(parts) == 1 and callbacks.parse_id(parts[0]) else None)
    member = t.member
    if entry is None or entry.action != AUDIT_ACTION or member is None or not (
            member.agency_id in entry.details.get("agencies", [])
            or (t.oversees and member.committee_id == entry.committee_id)):
        t.stale()
        return
    wanted = [int(i) for i in entry.details.get("obligations", [])]
    rows = {o.id: (o, a) for o, a in (await t.session.execute(
        select(Obligation, Agency).join(Agency, Agency.id == Obligation.agency_id)
        .where(Obligation.id.in_(wanted)))).all()}
    late = [LateReport(o, o.agency_id, a.display_name, "", 0)
            for o, a in (rows[i] for i in wanted if i in rows)]
    day = dt.date.fromisoformat(entry.details["deadline"])
    assert entry.committee_id is not None
    await t.answer_now()  # building a file takes a moment
    content = await urging_docx(t.session, entry.committee_id, late, day, t.tz)
    t.send_file(content, f"cong-van-don-doc_{day.isoformat()}.docx",
                caption="📨 " + t._("Urging letter, deadline {day}.").format(
                    day=format_date(day)))


def register(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    app.add_handler(CallbackQueryHandler(on_urge, pattern=URGE.pattern), group=FEATURES)
    app.add_handler(CallbackQueryHandler(on_letter_file, pattern=LETTER.pattern),
                    group=FEATURES)
    pending.register("urge", finish_urge)
