"""Admin tools in the bot: invites, members, deadlines and reminders, pauses, audit log.

Entry: /admin, /audit. Callback prefixes: ai (invite), ar (revoke invite), am (members),
md (deactivate member), as (schedules), ap (pause reminders), al (audit log), ax (cancel a
typed input).
Typed inputs wait in `member.pending_action` like every other multi-step action.
Every change is written to the audit log and takes effect at the next sweep.

Changing a schedule's deadline day shows a preview first (as:c:{schedule}:{o|a}:{nonce}
applies it): only the periods whose deadline has not passed move, unless the admin chooses
the past ones too; reports already sent and extensions given to one agency keep their
deadline; the reporters (else heads) concerned are told at once through the outbox, one
message each (scheduler.notices).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import lazyload
from telegram.ext import Application, CallbackQueryHandler, CommandHandler

from core import callbacks
from core.calendar import RECURRING, plan_occurrences
from core.choices import Choice
from core.collation import vi_sorted
from core.dates import read_day, read_range, resolve, resolve_range
from core.formatting import format_date, format_datetime
from core.i18n import Gettext, pick_language, translator
from core.textlimits import button_label
from core.texts import day_with_weekday, deadline_text, esc, last_day, period_label, split_message
from db.audit import record
from db.invites import create_invite, deep_link, revoke_invite
from db.models import (
    OPEN_STATUSES,
    Agency,
    AuditLog,
    Committee,
    Invite,
    Member,
    Obligation,
    Plan,
    Role,
    Schedule,
)
from db.obligations import rule_of
from db.queries import agency_people
from handlers import pending
from handlers.context import Turn, with_turn
from handlers.groups import FEATURES
from handlers.render import member_role_name
from scheduler.escalation_edit import escalation_with_delays
from scheduler.messages import role_name
from scheduler.notices import enqueue, first_told

INVITE = callbacks.route("ai")
REVOKE = callbacks.route("ar")
MEMBERS = callbacks.route("am")
DEACTIVATE = callbacks.route("md")
SCHEDULES = callbacks.route("as")
PAUSES = callbacks.route("ap")
AUDIT = callbacks.route("al")
CANCEL = callbacks.route("ax")
AUDIT_ARGS = re.compile(r"([0-9]{1,4})(?:\s+(\S+))?|(\S+)")


async def committee_id_of(t: Turn) -> int | None:
    """An admin's committee: their own, else (BOT_ADMINS without agency) the latest plan's."""
    if t.member and t.member.committee_id:
        return t.member.committee_id
    return await t.session.scalar(select(Plan.committee_id).order_by(Plan.year.desc(),
                                                                      Plan.id.desc()).limit(1))


async def _role_word(t: Turn, role: Role, agency_id: int | None) -> str:
    """A role in the plan's own words for this agency (e.g. the consolidating office)."""
    committee_id = await committee_id_of(t)
    committee = await t.session.get(Committee, committee_id) if committee_id else None
    return member_role_name(t._, role, committee, agency_id)


def _cancel(t: Turn) -> list[Choice]:
    return [pending.cancel_choice(t, CANCEL)]


async def show_admin_menu(t: Turn) -> None:
    _ = t._
    t.send("⚙️ " + _("<b>Administration</b>"), choices=[
        [Choice("🔗 " + _("Invite someone"), INVITE.data()),
         Choice("🚫 " + _("Revoke invites"), REVOKE.data())],
        [Choice("👥 " + _("Members"), MEMBERS.data()),
         Choice("🗓 " + _("Deadlines and reminders"), SCHEDULES.data())],
        [Choice("⏸ " + _("Pause reminders"), PAUSES.data()),
         Choice("📜 " + _("Audit log"), AUDIT.data())],
    ])


async def _agency_picker(t: Turn, route: callbacks.Route, kind: str | None) -> None:
    _ = t._
    committee = await committee_id_of(t)
    if kind is None:
        kinds = (await t.session.execute(
            select(Agency.kind, Agency.kind_label, func.count())
            .where(Agency.committee_id == committee, Agency.active.is_(True))
            .group_by(Agency.kind, Agency.kind_label).order_by(Agency.kind))).all()
        rows = [[Choice(button_label(f"{label or k} ({n})"), route.data("k", k)[:64])]
                for k, label, n in kinds]
        t.send(_("Which kind of agency?"), choices=[*rows, _cancel(t)])
        return
    agencies = (await t.session.scalars(
        select(Agency).options(lazyload("*"))
        .where(Agency.committee_id == committee, Agency.kind == kind, Agency.active.is_(True))
        )).all()
    rows = [[Choice(button_label(a.display_name), route.data("a", a.id))]
            for a in vi_sorted(agencies, key=lambda a: a.display_name)[:60]]
    t.send(_("Which agency?"), choices=[*rows, _cancel(t)])


def _audit(t: Turn, action: str, committee_id: int | None, agency_id: int | None = None,
           entity: tuple[str, int] | None = None, **details: Any) -> None:
    record(t.session, action, actor=t.member, committee_id=committee_id, agency_id=agency_id,
           entity=entity, details=details, now=t.now)


# ----------------------------------------------------------------------------- invites

async def invites(t: Turn, parts: list[str]) -> None:
    _ = t._
    if not parts or parts == [""]:
        await _agency_picker(t, INVITE, None)
    elif parts[0] == "k":
        await _agency_picker(t, INVITE, parts[1])
    elif parts[0] == "a":
        agency_id = int(parts[1])
        picked = await t.session.get(Agency, agency_id)
        if picked is None or picked.committee_id != await committee_id_of(t):
            t.stale()
            return
        rows = [[Choice(button_label(await _role_word(t, role, agency_id)),
                   INVITE.data("r", agency_id, role.value))]
                for role in Role]
        t.send(_("Which role?"), choices=[*rows, _cancel(t)])
    elif parts[0] == "r":
        agency = await t.session.get(Agency, int(parts[1]))
        if agency is None or agency.committee_id != await committee_id_of(t):
            t.stale()
            return
        role = Role(parts[2])
        created = await create_invite(t.session, agency, role,
                                      dt.timedelta(days=t.settings.invite_ttl_days),
                                      created_by_member_id=t.member.id if t.member else None,
                                      now=t.now)
        what = dict(agency=esc(agency.name), role=esc(await _role_word(t, role, agency.id)),
                    time=format_datetime(created.invite.expires_at, t.locale, t.tz))
        lines = []
        if t.settings.bot_token is not None:
            # (On Zalo this turn's bot is the Zalo bot: the link names Telegram's, from
            # the settings.)
            link = deep_link(t.settings.bot_username or t.context.bot.username, created.code)
            lines.append("🔗 " + _("Invite for {agency} as {role}, valid until {time}, single "
                                  "use. Forward this link to the person:").format(**what))
            lines.append(esc(link))
        else:
            lines.append("🔗 " + _("Invite for {agency} as {role}, valid until {time}, single "
                                  "use. Forward this code to the person:").format(**what))
        if t.settings.zalo_bot_token is not None:
            lines.append(_("On Zalo: send the code {code} to the committee's Zalo bot.").format(
                code=f"<code>{esc(created.code)}</code>"))
        t.send("\n".join(lines))


async def revoke_invites(t: Turn, parts: list[str]) -> None:
    _ = t._
    committee = await committee_id_of(t)
    if parts and parts[0].isdigit():
        invite = await t.session.get(Invite, int(parts[0]))
        if invite is None or invite.committee_id != committee:
            t.stale()
            return
        await revoke_invite(t.session, str(invite.id), actor_member_id=t.member.id
                            if t.member else None, now=t.now)
        t.send(_("Invite #{id} revoked.").format(id=invite.id))
        return
    active = (await t.session.scalars(
        select(Invite).where(Invite.committee_id == committee, Invite.used_at.is_(None),
                             Invite.revoked_at.is_(None), Invite.expires_at > t.now)
        .order_by(Invite.id.desc()).limit(20))).all()
    if not active:
        t.send(_("No active invites."))
        return
    rows = [[Choice(f"#{i.id} {i.agency.display_name} · {await _role_word(t, i.role, i.agency_id)}"
               [:60], REVOKE.data(i.id))] for i in active]
    t.send(_("Tap an invite to revoke it:"), choices=[*rows, _cancel(t)])


# ----------------------------------------------------------------------------- members

async def members(t: Turn, parts: list[str]) -> None:
    _ = t._
    if not parts or parts == [""]:
        await _agency_picker(t, MEMBERS, None)
        return
    if parts[0] == "k":
        await _agency_picker(t, MEMBERS, parts[1])
        return
    agency = await t.session.get(Agency, int(parts[1]))
    if agency is None or agency.committee_id != await committee_id_of(t):
        t.stale()
        return
    people = (await t.session.scalars(
        select(Member).where(Member.agency_id == agency.id).order_by(Member.id))).all()
    if not people:
        t.send(_("{agency} has no members yet.").format(agency=esc(agency.name)))
        return
    lines = [_("<b>Members of {agency}</b>").format(agency=esc(agency.name))]
    rows = []
    for m in people:
        roles = ", ".join(dict.fromkeys([await _role_word(t, r, m.agency_id)
                                         for r in sorted(m.role_set)]))
        # The reason is stored in English for the audit trail; a person reads the state only.
        state = _("active") if m.active else _("inactive")
        lines.append(f"• {esc(m.full_name)} — {esc(roles)} — {state}")
        if m.active:
            rows.append([Choice(button_label(_("Deactivate {name}").format(name=m.full_name)),
                           DEACTIVATE.data(m.id))])
    t.send("\n".join(lines), choices=rows or None)


async def deactivate(t: Turn, parts: list[str]) -> None:
    _ = t._
    member = await t.session.get(Member, int(parts[0]))
    if member is None or member.committee_id != await committee_id_of(t):
        t.stale()
        return
    if len(parts) < 2 or parts[1] != "y":
        t.send(_("Deactivate {name}? They will no longer receive or send reports.").format(
            name=esc(member.full_name)), choices=[[
                Choice("✅ " + _("Confirm"), DEACTIVATE.data(member.id, "y")),
                *_cancel(t)]])
        return
    member.active = False
    member.inactive_reason = "revoked"
    member.active_submission_id = None
    _audit(t, "member.deactivate", member.committee_id, member.agency_id,
                 ("member", member.id))
    t.send(_("{name} has been deactivated.").format(name=esc(member.full_name)))


# ----------------------------------------------------------------------------- schedules

async def schedules(t: Turn, parts: list[str]) -> None:
    _ = t._
    committee = await committee_id_of(t)
    if not parts or parts == [""]:
        rows = (await t.session.scalars(
            select(Schedule).options(lazyload("*")).join(Plan, Plan.id == Schedule.plan_id)
            .where(Plan.committee_id == committee, Schedule.active.is_(True))
            .order_by(Plan.year.desc(), Schedule.position))).all()
        t.send(_("Which schedule?"), choices=(
            [[Choice(button_label(s.name), SCHEDULES.data("s", s.id))] for s in rows]
            + [_cancel(t)]))
        return
    schedule = await t.session.get(Schedule, int(parts[1]))
    plan = await t.session.get(Plan, schedule.plan_id) if schedule else None
    if schedule is None or plan is None or plan.committee_id != committee:
        t.stale()
        return
    action = parts[0]
    assert t.member is not None
    if action == "s":
        esc_policy = schedule.escalation_policy or {}
        steps = ", ".join(str(s["after_days"]) for s in esc_policy.get("steps", []))
        t.send("\n".join([
            f"🗓 <b>{esc(schedule.name)}</b>",
            _("Deadline rule: {rule}").format(rule=esc(_rule_text(schedule.due_rule, _))),
            _("Reminders (days before): {days}").format(
                days=", ".join(map(str, schedule.reminder_offsets or [])) or "—"),
            _("Escalation after (days): {steps}; repeat every {k} working days, {r} rounds")
            .format(steps=steps or "—", k=esc_policy.get("repeat_every", "—"),
                    r=esc_policy.get("rounds", "—")),
        ]), choices=[
            [Choice(_("Change the deadline day"), SCHEDULES.data("d", schedule.id)),
             Choice(_("One period's deadline"), SCHEDULES.data("p", schedule.id))],
            [Choice(_("Reminders"), SCHEDULES.data("r", schedule.id)),
             Choice(_("Escalation"), SCHEDULES.data("e", schedule.id))],
        ])
    elif action == "d" and schedule.period_type not in RECURRING:
        t.send(_("This report has one fixed last day; change it with «One period's "
                 "deadline»."))
    elif action == "d":
        t.member.pending_action = {"kind": "due_rule", "schedule": schedule.id}
        t.send("\n".join([
            f"🗓 <b>{esc(schedule.name)}</b>",
            _("Deadline now: {rule}.").format(rule=esc(_rule_text(schedule.due_rule, _))),
            _("Type the day of the month that is the last day for the report. For example "
              "«15» means by the end of the 15th each month (a report sent on the 15th is on "
              "time); «trước 15» means before the 15th, so the last day is the 14th."),
            _("Nothing changes until you confirm.")]),
            choices=[_cancel(t)])
    elif action == "c" and len(parts) == 4:
        await _apply_due_rule(t, schedule, plan, everything=parts[2] == "a", nonce=parts[3])
    elif action == "p" and len(parts) == 2:
        keys = (await t.session.execute(
            select(Obligation.period_key, func.min(Obligation.due_at))
            .where(Obligation.schedule_id == schedule.id)
            .group_by(Obligation.period_key).order_by(func.min(Obligation.due_at)))).all()
        periods = [[Choice(period_label(_, schedule.period_type, k)[:60],
                      SCHEDULES.data("p", schedule.id, k)[:64])]
                   for k, _d in keys if _d is not None]
        t.send(_("Which period?"),
               choices=[*periods[:40], _cancel(t)])
    elif action == "p":
        t.member.pending_action = {"kind": "period_due", "schedule": schedule.id,
                                   "period": parts[2]}
        t.send(_("Type the new last day for this period as day/month (the year may be left "
                 "out), e.g. {example}.").format(example=format_date(_today(t) + dt.timedelta(
                     days=7))),
               choices=[_cancel(t)])
    elif action == "r":
        t.member.pending_action = {"kind": "reminders", "schedule": schedule.id}
        t.send(_("Type the reminder days before the last day, e.g. «7, 3, 1, 0» (0 = the "
                 "morning of the last day)."), choices=[_cancel(t)])
    elif action == "e":
        t.member.pending_action = {"kind": "escalation", "schedule": schedule.id}
        record = await t.session.get(Committee, committee)
        labels = (record.role_labels or {}) if record else {}
        names = {level: esc(role_name(_, labels, level))
                 for level in ("reporter", "head", "consolidating", "chair")}
        t.send(_("Type five numbers: days late before {reporter} and {head}, then "
                 "{consolidating}, then {chair} are told; working days between rounds; "
                 "rounds. E.g. «1 3 7 5 5».").format(**names),
               choices=[_cancel(t)])


TYPED_KINDS = ("due_rule", "period_due", "reminders", "escalation", "pause")
# «15», «ngày 15», «hết ngày 15» (the 15th is the last day); «trước 15» (the 14th is).
DUE_DAY = re.compile(r"(trước|truoc|before)?\s*(?:hết|het)?\s*(?:ngày|ngay)?\s*(\d{1,2})")
SHOWN_PERIODS = 6  # periods listed in a preview or a notice; then «… and N more periods»


@dataclass
class _Moved:
    """The reports of one period whose deadline a new due rule moves."""

    period_key: str
    old_due: dt.datetime  # aware
    new_due: dt.datetime  # aware
    past: bool  # the old deadline has passed
    obligations: list[Obligation] = field(default_factory=list)

    @property
    def agencies(self) -> set[int]:
        return {o.agency_id for o in self.obligations}


async def _deadline_changes(t: Turn, schedule: Schedule, plan: Plan, rule: dict[str, Any]
                            ) -> list[_Moved]:
    """The periods whose deadline `rule` moves, with their reports not yet sent (open, draft
    or returned) and not extended (an extension given to one agency stays), in period
    order. Reports already sent keep the deadline they were sent against."""
    new_rule = rule_of(period_type=schedule.period_type, cutoff_rule=schedule.cutoff_rule,
                       due_rule=rule, holiday_rule=schedule.holiday_rule,
                       starts_on=schedule.starts_on, plan_starts_on=plan.starts_on,
                       plan_calendar=plan.calendar)
    new_due = {occ.period.key: occ.deadline.due_at
               for occ in plan_occurrences(new_rule, plan.starts_on, plan.ends_on, t.tz)}
    rows = (await t.session.scalars(
        select(Obligation).options(lazyload("*"))
        .where(Obligation.schedule_id == schedule.id, Obligation.status.in_(OPEN_STATUSES),
               Obligation.extended_due_at.is_(None))
        .order_by(Obligation.due_at, Obligation.id))).all()
    moved: dict[str, _Moved] = {}
    for o in rows:
        due = new_due.get(o.period_key)
        if due is None or o.due_at == due:
            continue
        entry = moved.get(o.period_key)
        if entry is None:
            entry = moved[o.period_key] = _Moved(o.period_key, o.due_at, due,
                                                 past=o.due_at <= t.now)
        entry.obligations.append(o)
    return sorted(moved.values(), key=lambda m: (m.old_due, m.period_key))


def _moved_line(t: Turn, schedule: Schedule, m: _Moved) -> str:
    _ = t._
    return _("• {period}: last day {old} → {new} ({n} reports)").format(
        period=esc(period_label(_, schedule.period_type, m.period_key)),
        old=day_with_weekday(_, last_day(m.old_due, t.tz)),
        new=day_with_weekday(_, last_day(m.new_due, t.tz)), n=len(m.obligations))


async def _preview_due_rule(t: Turn, schedule: Schedule, plan: Plan, rule: dict[str, Any],
                            nonce: str) -> None:
    """What the new rule would change, and the buttons to apply it; nothing changes yet."""
    _ = t._
    changes = await _deadline_changes(t, schedule, plan, rule)
    current = [m for m in changes if not m.past]
    past = [m for m in changes if m.past]
    lines = [
        "🗓 " + _("<b>Change the deadline of «{schedule}»?</b>").format(
            schedule=esc(schedule.name)),
        _("Now: {old}. New: {new}.").format(old=esc(_rule_text(schedule.due_rule, _)),
                                          new=esc(_rule_text(rule, _))),
        "",
    ]
    if current:
        lines.append(_("Periods not yet due ({n} reports not yet sent):").format(
            n=sum(len(m.obligations) for m in current)))
        lines += [_moved_line(t, schedule, m) for m in current[:SHOWN_PERIODS]]
        if len(current) > SHOWN_PERIODS:
            lines.append(_("… and {n} more periods.").format(n=len(current) - SHOWN_PERIODS))
    else:
        lines.append(_("No period that is not yet due has reports whose deadline changes."))
    if past:
        lines += ["", _("Periods already past: {periods} ({n} reports not yet sent). They keep "
                        "their deadline unless you choose «Apply to past periods too».").format(
                            periods=", ".join(
                                esc(period_label(_, schedule.period_type, m.period_key))
                                for m in past[:SHOWN_PERIODS])
                            + (" …" if len(past) > SHOWN_PERIODS else ""),
                            n=sum(len(m.obligations) for m in past))]
    lines += ["", _("Reports already sent and deadlines extended for one agency stay as they "
                    "are. The reporters concerned are told at once."),
              "<i>" + _("Nothing has changed yet.") + "</i>"]
    buttons = [[Choice("✅ " + _("Apply"), SCHEDULES.data("c", schedule.id, "o", nonce))]]
    if past:
        buttons.append([Choice(_("Apply to past periods too"),
                          SCHEDULES.data("c", schedule.id, "a", nonce))])
    buttons.append([Choice("✖ " + _("Cancel"), CANCEL.data())])
    t.send("\n".join(lines), choices=buttons)


async def _apply_due_rule(t: Turn, schedule: Schedule, plan: Plan, *, everything: bool,
                          nonce: str) -> None:
    """The confirmed change: the rule, the chosen reports' deadlines, the audit entry and
    one message to each reporter concerned. Only the preview still waiting in the member
    row (same schedule, same nonce) is applied: a second press or an old preview's button
    changes nothing."""
    _ = t._
    assert t.member is not None
    waiting = t.member.pending_action or {}
    if (waiting.get("kind") != "due_rule" or waiting.get("schedule") != schedule.id
            or waiting.get("nonce") != nonce or not isinstance(waiting.get("rule"), dict)):
        t.stale()
        return
    rule = dict(waiting["rule"])
    t.member.pending_action = None
    changes = [m for m in await _deadline_changes(t, schedule, plan, rule)
               if everything or not m.past]
    for m in changes:
        for o in m.obligations:
            o.due_at = m.new_due.astimezone(dt.UTC)
    old = schedule.due_rule
    schedule.due_rule = rule
    moved = sum(len(m.obligations) for m in changes)
    agencies = set().union(*(m.agencies for m in changes)) if changes else set()
    told = await _tell_reporters(t, schedule, changes, nonce)
    _audit(t, "schedule.deadline_changed", plan.committee_id, entity=("schedule", schedule.id),
           old=old, new=rule, scope="all" if everything else "open", change=nonce,
           periods=[m.period_key for m in changes], obligations=moved,
           agencies=len(agencies), told=told)
    _wake_sender(t, told)
    t.send("✅ " + _("Deadline changed to {rule}: {n} reports in {p} periods moved; {m} "
                    "people were told.").format(rule=esc(_rule_text(rule, _)), n=moved,
                                                p=len(changes), m=told))


def _wake_sender(t: Turn, written: int) -> None:
    """Messages were written to the outbox: the sender takes them now, after the commit,
    not at its next poll."""
    sender = t.context.application.bot_data.get("sender")
    if sender is not None and written:
        async def wake() -> None:
            sender.notify()

        t.later(wake)


async def _tell_reporters(t: Turn, schedule: Schedule, changes: list[_Moved], nonce: str
                          ) -> int:
    """One message to each reporter (else head) of the agencies concerned, listing their
    periods' old and new last day; how many people it was written for."""
    agency_ids = set().union(*(m.agencies for m in changes)) if changes else set()
    if not agency_ids:
        return 0
    people = (await t.session.scalars(agency_people(sorted(agency_ids)))).all()
    told = 0
    for agency_id, members in first_told(people).items():
        periods = [m for m in changes if agency_id in m.agencies]
        for person in members:
            _ = translator(pick_language(person.language, person.telegram_language))
            lines = ["📆 " + _("<b>Deadline changed</b>"), f"<b>{esc(schedule.name)}</b>"]
            lines += [_("• {period}: now {new} (was {old})").format(
                period=esc(period_label(_, schedule.period_type, m.period_key)),
                new=deadline_text(_, m.new_due, t.tz), old=deadline_text(_, m.old_due, t.tz))
                for m in periods[:SHOWN_PERIODS]]
            if len(periods) > SHOWN_PERIODS:
                lines.append(_("… and {n} more periods.").format(
                    n=len(periods) - SHOWN_PERIODS))
            lines += ["", _("Reminders follow the new deadline.")]
            if await enqueue(t.session, person, kind="deadline",
                             dedupe_key=f"deadline:{schedule.id}:{nonce}:{person.id}",
                             payload={"text": "\n".join(lines), "parse_mode": "HTML"},
                             now=t.now) is not None:
                told += 1
    return told


def _rule_text(rule: dict[str, Any] | None, _: Gettext) -> str:
    """A due rule as an admin reads it: «trước ngày 13» (the last day is the 12th) or «hết
    ngày 15» (the 15th is the last day)."""
    if not rule:
        return "—"
    if "date" in rule:
        try:
            return format_date(dt.date.fromisoformat(str(rule["date"])))
        except ValueError:
            return str(rule["date"])
    if "after_cutoff_days" in rule:
        return f"+{rule['after_cutoff_days']}"
    text = (_("before day {day}") if rule.get("before") else _("by the end of day {day}")
            ).format(day=rule.get("day"))
    return text + (f" ({rule.get('month')})" if rule.get("month") not in (None, "last")
                   else "")


async def finish_typed(t: Turn, text: str) -> bool:
    """Typed inputs of admin actions; False when none is pending."""
    _ = t._
    waiting = dict(t.member.pending_action) if t.member and t.member.pending_action else None
    if not waiting or waiting.get("kind") not in TYPED_KINDS:
        return False
    assert t.member is not None
    if not t.is_admin:
        t.member.pending_action = None
        return False
    kind = waiting["kind"]
    text = text.strip()
    if kind == "pause":
        return await _finish_pause(t, text)
    schedule = await t.session.get(Schedule, int(waiting["schedule"]))
    plan = await t.session.get(Plan, schedule.plan_id) if schedule else None
    if schedule is None or plan is None or plan.committee_id != await committee_id_of(t):
        t.member.pending_action = None
        t.stale()
        return True
    if kind == "due_rule":
        match = DUE_DAY.fullmatch(text.lower())
        if not match or not 1 <= int(match.group(2)) <= 28:
            t.send("⚠️ " + _("Please type a day from 1 to 28, e.g. «13» or «trước 13»."))
            return True
        rule = dict(schedule.due_rule or {})
        rule.pop("after_cutoff_days", None)
        rule.pop("date", None)
        rule.update(day=int(match.group(2)), before=bool(match.group(1)))
        nonce = secrets.token_hex(4)
        # The preview waits in the member row, like any typed input: the confirm button
        # carries the nonce, so a stale preview's button applies nothing.
        t.member.pending_action = {"kind": "due_rule", "schedule": schedule.id,
                                   "rule": rule, "nonce": nonce}
        await _preview_due_rule(t, schedule, plan, rule, nonce)
        return True
    elif kind == "period_due":
        day = _typed_day(t, text)
        if day is None:
            return True
        due = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0, 0), t.tz)
        rows = (await t.session.scalars(
            select(Obligation).where(Obligation.schedule_id == schedule.id,
                                     Obligation.period_key == waiting["period"],
                                     Obligation.status.in_(OPEN_STATUSES)))).all()
        moved = [o for o in rows if o.due_at != due and o.extended_due_at is None]
        nonce = secrets.token_hex(4)
        told = await _tell_reporters(t, schedule, [
            _Moved(waiting["period"], min(o.due_at for o in moved), due, past=False,
                   obligations=moved)] if moved else [], nonce)
        for o in rows:
            o.due_at = due.astimezone(dt.UTC)
        _audit(t, "schedule.period_due", plan.committee_id,
                     entity=("schedule", schedule.id), period=waiting["period"],
                     due=due.isoformat(), obligations=len(rows), told=told, change=nonce)
        _wake_sender(t, told)
        t.send(_("The last day of {period} is now {day} for {n} open reports.").format(
            period=esc(period_label(_, schedule.period_type, waiting["period"])),
            day=format_date(day), n=len(rows)))
    elif kind == "reminders":
        try:
            days = sorted({int(x) for x in re.split(r"[,\s;]+", text) if x}, reverse=True)
        except ValueError:
            days = []
        if not days or any(d < 0 or d > 90 for d in days):
            t.send("⚠️ " + _("Please type whole days from 0 to 90, e.g. «7, 3, 1, 0»."))
            return True
        _audit(t, "schedule.reminders", plan.committee_id,
                     entity=("schedule", schedule.id), old=schedule.reminder_offsets, new=days)
        schedule.reminder_offsets = days
        t.send(_("Reminders set to {days} days before the last day.").format(
            days=", ".join(map(str, days))))
    elif kind == "escalation":
        numbers = [int(x) for x in re.findall(r"\d+", text)]
        if len(numbers) != 5 or not numbers[0] <= numbers[1] <= numbers[2] or min(
                numbers[3:]) < 1:
            t.send("⚠️ " + _("Please type five numbers in order, e.g. «1 3 7 5 5»."))
            return True
        # The three delays the admin types; the plan's other levels (its standing office, a
        # level outside the committee with its label) keep their own steps.
        try:
            policy = escalation_with_delays(
                schedule.escalation_policy,
                {"reporter": numbers[0], "head": numbers[0], "consolidating": numbers[1],
                 "chair": numbers[2]},
                repeat_every=numbers[3], rounds=numbers[4])
        except ValueError:  # a chain the plan schema refuses (e.g. too many rounds)
            t.send("⚠️ " + _("Please type five numbers in order, e.g. «1 3 7 5 5»."))
            return True
        _audit(t, "schedule.escalation", plan.committee_id,
                     entity=("schedule", schedule.id), old=schedule.escalation_policy, new=policy)
        schedule.escalation_policy = policy
        t.send(_("Escalation updated."))
    t.member.pending_action = None
    return True


# ----------------------------------------------------------------------------- pauses

async def pauses(t: Turn, parts: list[str]) -> None:
    _ = t._
    committee = await committee_id_of(t)
    plans = (await t.session.scalars(
        select(Plan).options(lazyload("*")).where(Plan.committee_id == committee))).all()
    current = [(p, i, r) for p in plans for i, r in enumerate((p.calendar or {}).get(
        "pauses", []))]
    if parts and parts[0] == "x" and len(parts) == 3:
        plan = next((p for p in plans if p.id == int(parts[1])), None)
        if plan is not None:
            calendar = dict(plan.calendar or {})
            ranges = list(calendar.get("pauses", []))
            index = int(parts[2])
            if t.member is not None:
                t.member.pending_action = None  # removing is not typing new dates
            if 0 <= index < len(ranges):
                removed = ranges.pop(index)
                calendar["pauses"] = ranges
                plan.calendar = calendar
                _audit(t, "reminders.resume", committee, pause=removed)
                t.send(_("Pause removed."))
                return
        t.stale()
        return
    assert t.member is not None
    t.member.pending_action = {"kind": "pause"}
    lines = [_("Type the first and last day of the pause, e.g. «{example}». No reminders or "
               "escalations are sent in between.").format(example=_pause_example(t))]
    rows = []
    for plan, index, (start, end) in current:
        first, last = format_date(_as_date(start)), format_date(_as_date(end))
        lines.append(f"• {first} – {last}")
        rows.append([Choice(_("Remove {start} – {end}").format(start=first, end=last)[:60],
                       PAUSES.data("x", plan.id, index))])
    t.send("\n".join(lines), choices=[*rows, _cancel(t)])


def _today(t: Turn) -> dt.date:
    return t.now.astimezone(t.tz).date()


def _pause_example(t: Turn) -> str:
    """A week starting tomorrow, so that the example is never in the past."""
    start = _today(t) + dt.timedelta(days=1)
    return f"{format_date(start)} - {format_date(start + dt.timedelta(days=6))}"


def _as_date(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


def _typed_day(t: Turn, text: str) -> dt.date | None:
    """One typed day, the next such day from today without its year; a warning and None
    when it cannot be read."""
    _ = t._
    typed = read_day(text)
    day = resolve(typed, today=_today(t)) if typed is not None else None
    if typed is not None and day is None:
        t.send("⚠️ " + _("There is no day {day}. Please check the day and the month.").format(
            day=f"{typed.day:02d}/{typed.month:02d}"))
    elif day is None:
        t.send("⚠️ " + _("I could not read the date. Please type it as day/month, e.g. "
                         "{example}.").format(
                             example=format_date(_today(t) + dt.timedelta(days=7))))
    return day


async def _finish_pause(t: Turn, text: str) -> bool:
    _ = t._
    typed = read_range(text)
    if typed is None:
        t.send("⚠️ " + _("I could not read two dates. Please type the first and last day of "
                         "the pause, e.g. «{example}».").format(example=_pause_example(t)))
        return True
    first, last = resolve_range(*typed, today=_today(t))
    if first is None or last is None:
        wrong = typed[0] if first is None else typed[1]
        t.send("⚠️ " + _("There is no day {day}. Please check the day and the month.").format(
            day=f"{wrong.day:02d}/{wrong.month:02d}"))
        return True
    if first > last:
        t.send("⚠️ " + _("The first day of the pause ({start}) is after the last day ({end}). "
                         "Please type the first day first, e.g. «{example}».").format(
                             start=format_date(first), end=format_date(last),
                             example=_pause_example(t)))
        return True
    start, end = first, last
    committee = await committee_id_of(t)
    for plan in (await t.session.scalars(
            select(Plan).options(lazyload("*")).where(Plan.committee_id == committee))).all():
        calendar = dict(plan.calendar or {})
        calendar["pauses"] = [*calendar.get("pauses", []), [start.isoformat(), end.isoformat()]]
        plan.calendar = calendar
    _audit(t, "reminders.pause", committee, start=start.isoformat(), end=end.isoformat())
    assert t.member is not None
    t.member.pending_action = None
    t.send(_("Reminders paused from {start} to {end}.").format(start=format_date(start),
                                                              end=format_date(end)))
    return True


# ----------------------------------------------------------------------------- audit log

async def audit_log(t: Turn, limit: int = 20, agency_code: str | None = None,
                    as_csv: bool = False) -> None:
    _ = t._
    committee = await committee_id_of(t)
    query = (select(AuditLog, Member.full_name, Agency.short_name, Agency.name)
             .join(Member, Member.id == AuditLog.actor_member_id, isouter=True)
             .join(Agency, Agency.id == AuditLog.agency_id, isouter=True)
             .where(AuditLog.committee_id == committee)
             .order_by(AuditLog.at.desc(), AuditLog.id.desc()))
    if agency_code:
        agency = await t.session.scalar(select(Agency.id).where(
            Agency.committee_id == committee, Agency.code == agency_code))
        if agency is None:
            t.send(_("No agency with code {code}.").format(code=esc(agency_code)))
            return
        query = query.where(AuditLog.agency_id == agency)
    rows = (await t.session.execute(query.limit(max(1, min(limit, 5000) if as_csv
                                                      else min(limit, 100))))).all()
    if as_csv:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["time", "actor", "action", "agency", "entity", "details"])
        for entry, actor, short, name in rows:
            writer.writerow([entry.at.astimezone(t.tz).isoformat(), actor or entry.actor_label,
                             entry.action, short or name or "",
                             f"{entry.entity_type or ''}:{entry.entity_id or ''}",
                             json.dumps(entry.details, ensure_ascii=False, default=str)])
        content = buffer.getvalue().encode("utf-8-sig")  # Excel opens UTF-8 with a BOM
        t.send_file(content, "audit-log.csv")
        return
    if not rows:
        t.send(_("The audit log is empty."))
        return
    lines = ["📜 " + _("<b>Last {n} events</b>").format(n=len(rows))]
    for entry, actor, short, name in rows:
        who = esc(actor or entry.actor_label or "?")
        lines.append(f"{format_datetime(entry.at, t.locale, t.tz)} · {who}"
                     f" · <code>{esc(entry.action)}</code>"
                     + (f" · {esc(short or name)}" if (short or name) else ""))
    chunks = split_message(lines)
    for chunk in chunks[:-1]:
        t.send(chunk)
    t.send(chunks[-1], choices=[[
        Choice("⬇️ " + _("Export CSV"), AUDIT.data("csv"))]])


# ----------------------------------------------------------------------------- wiring


@with_turn(members_only=False, role="admin")
async def on_audit(t: Turn) -> None:
    """/audit [N] [AGENCY_CODE]: the last N events, optionally of one agency."""
    # ASCII digits only: str.isdigit() also takes «²», which int() refuses.
    found = AUDIT_ARGS.fullmatch(" ".join(t.context.args or []) or "20")
    if found is None:
        t.send(t._("Usage: /audit [N] [AGENCY_CODE], for example /audit 50 p-cat-linh."))
        return
    limit = int(found.group(1)) if found.group(1) else 20
    await audit_log(t, max(1, limit), found.group(2) or found.group(3))


async def _cancel_typed(t: Turn, parts: list[str]) -> None:
    pending.cancel(t)


async def _audit_button(t: Turn, parts: list[str]) -> None:
    csv_ = parts == ["csv"]
    await audit_log(t, limit=5000 if csv_ else 20, as_csv=csv_)


BUTTONS = {INVITE: invites, REVOKE: revoke_invites, MEMBERS: members, DEACTIVATE: deactivate,
           SCHEDULES: schedules, PAUSES: pauses, AUDIT: _audit_button, CANCEL: _cancel_typed}


@with_turn(role="admin")
async def on_admin_button(t: Turn) -> None:
    route = next(r for r in BUTTONS if r.matches(t.data))
    try:
        await BUTTONS[route](t, route.parse(t.data))
    except (ValueError, IndexError):
        t.stale()


def register(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    app.add_handler(CommandHandler("admin", with_turn(show_admin_menu, members_only=False,
                                                      role="admin")), group=FEATURES)
    app.add_handler(CommandHandler("audit", on_audit), group=FEATURES)
    for route in BUTTONS:
        app.add_handler(CallbackQueryHandler(on_admin_button, pattern=route.pattern),
                        group=FEATURES)
    for kind in TYPED_KINDS:
        pending.register(kind, finish_typed)
