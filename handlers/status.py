"""Completeness and timeliness per schedule and period; progress against targets.

Entry: /status, /targets, the «Reporting status» menu button. Callback data:
st:{schedule}:{period} (a schedule's period) · tg: / tg:all (targets, accepted reports only or
with submitted ones) · xp:{schedule}:{period} (Excel) · ch:{schedule}:{period} (chart) ·
cy:{schedule}:{period} (the chart over the periods of that year).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import lazyload
from telegram.ext import Application, CallbackQueryHandler, CommandHandler

from core import callbacks
from core.choices import Choice
from core.formatting import format_number, format_percent
from core.lateness import Lateness
from core.stats import (
    ObligationFact,
    TargetProgress,
    TargetSpec,
    completeness,
    meets,
)
from core.texts import esc, report_title, split_message
from db.documents import consolidated_files
from db.drafts import lateness_by_obligation
from db.export import (
    build_xlsx,
    collect,
    completeness_chart,
    period_title,
    periods_figure,
    png,
)
from db.models import (
    Agency,
    Obligation,
    Plan,
    Schedule,
    Submission,
)
from db.targets import latest_plan, targets_progress
from handlers.context import Turn, with_turn
from handlers.groups import FEATURES
from handlers.screens import ADHOC, EXTEND, STATUS_MENU, menu_button
from scheduler.buttons import REVIEW_QUEUE, URGE

STATUS = callbacks.route("st")
TARGETS = callbacks.route("tg")
EXCEL = callbacks.route("xp")
CHART = callbacks.route("ch")
CHART_YEAR = callbacks.route("cy")
REPORT = callbacks.route("rp")


async def committee_schedules(t: Turn) -> list[Schedule]:
    assert t.member is not None
    return list((await t.session.scalars(
        select(Schedule).options(lazyload("*"))
        .join(Plan, Plan.id == Schedule.plan_id)
        .where(Plan.committee_id == t.member.committee_id, Schedule.active.is_(True),
               # Ad-hoc requests count once they have been sent (they have obligations).
               (Schedule.period_type != "ad_hoc")
               | Schedule.id.in_(select(Obligation.schedule_id).distinct()))
        .order_by(Plan.year.desc(), Schedule.position)
    )).all())


async def period_keys(t: Turn, schedule_id: int) -> list[str]:
    rows = (await t.session.execute(
        select(Obligation.period_key, func.min(Obligation.due_at))
        .where(Obligation.schedule_id == schedule_id)
        .group_by(Obligation.period_key).order_by(func.min(Obligation.due_at))
    )).all()
    return [key for key, _due in rows]


async def default_period(t: Turn, schedule_id: int) -> str | None:
    """The latest period whose deadline has passed, else the first one."""
    row = await t.session.scalar(
        select(Obligation.period_key).where(Obligation.schedule_id == schedule_id,
                                            Obligation.due_at <= t.now)
        .order_by(Obligation.due_at.desc()).limit(1)
    )
    if row is not None:
        return row
    keys = await period_keys(t, schedule_id)
    return keys[0] if keys else None


async def facts_for(t: Turn, schedule_id: int, period_key: str
                    ) -> tuple[list[ObligationFact], dict[int, Lateness]]:
    """The period's obligations as facts, and the lateness of each one sent."""
    first = (
        select(Submission.obligation_id, func.min(Submission.submitted_at).label("first"))
        .where(Submission.submitted_at.is_not(None))
        .group_by(Submission.obligation_id).subquery()
    )
    rows = (await t.session.execute(
        select(Obligation, Agency.short_name, Agency.name, first.c.first)
        .options(lazyload("*"))
        .join(Agency, Agency.id == Obligation.agency_id)
        .outerjoin(first, first.c.obligation_id == Obligation.id)
        .where(Obligation.schedule_id == schedule_id, Obligation.period_key == period_key)
    )).all()
    lateness = await lateness_by_obligation(t.session, [row[0] for row in rows], t.tz)
    out = []
    for o, short, name, first_at in rows:
        if first_at is not None and first_at.tzinfo is None:
            first_at = first_at.replace(tzinfo=dt.UTC)
        verdict = lateness.get(o.id)
        out.append(ObligationFact(o.id, o.agency_id, short or name, o.status.value,
                                  o.effective_due_at, first_at,
                                  verdict.on_time if verdict else None))
    return out, lateness


async def show_status(t: Turn, schedule_id: int | None = None,
                      period_key: str | None = None) -> None:
    _ = t._
    schedules = await committee_schedules(t)
    if not schedules:
        t.send(_("No plan has been loaded for your committee yet."))
        return
    schedule = next((s for s in schedules if s.id == schedule_id), schedules[0])
    keys = await period_keys(t, schedule.id)
    if period_key not in keys:
        period_key = await default_period(t, schedule.id)
    if period_key is None:
        t.send(_("This schedule has no reporting periods yet."))
        return
    facts, lateness = await facts_for(t, schedule.id, period_key)
    stats = completeness(facts, t.now, t.tz)
    by_status = {key: sum(1 for f in facts if f.status == key)
                 for key in ("accepted", "submitted", "returned")}
    lines = [
        "📈 " + _("<b>Reporting status</b> — {report}").format(
            report=esc(report_title(_, schedule.name, schedule.period_type, period_key))),
        "",
        _("Expected: {n}").format(n=stats.expected),
        _("Received: {n} (on time {on_time}, late {late})").format(
            n=stats.received, on_time=stats.on_time, late=stats.late),
        _("Accepted: {accepted} · awaiting review: {waiting} · returned: {returned}").format(
            accepted=by_status["accepted"], waiting=by_status["submitted"],
            returned=by_status["returned"]),
        _("Missing: {n}").format(n=stats.missing),
        _("Completeness: {pct}").format(pct=format_percent(stats.completeness_pct, t.locale)),
        _("Timeliness: {pct}").format(pct=format_percent(stats.timeliness_pct, t.locale)),
    ]
    supplements = [lateness[f.obligation_id] for f in facts
                   if f.obligation_id in lateness and lateness[f.obligation_id].supplement]
    if supplements:
        overdue = sum(1 for v in supplements if v.supplement_late_days)
        lines.append(_("Supplements after a return: {n} (on time {on_time}, late {late})").format(
            n=len(supplements), on_time=len(supplements) - overdue, late=overdue))
    if stats.missing_agencies:
        lines += ["", _("<b>Not yet received</b>")]
        for name, days in stats.missing_agencies:
            late = _("{n} days late").format(n=days) if days else _("not yet due")
            lines.append(f"• {esc(name)} — {late}")
    index = keys.index(period_key)
    nav = []
    if index > 0:
        nav.append(Choice("« " + _("Previous period"),
                          STATUS.data(schedule.id, keys[index - 1])))
    if index + 1 < len(keys):
        nav.append(Choice(_("Next period") + " »", STATUS.data(schedule.id, keys[index + 1])))
    rows = [nav] if nav else []
    others = [s for s in schedules if s.id != schedule.id][:6]
    for i in range(0, len(others), 2):
        rows.append([Choice(s.name[:30], STATUS.data(s.id, "")) for s in others[i:i + 2]])
    here = (schedule.id, period_key)
    rows.append([Choice("📊 " + _("Excel"), EXCEL.data(*here)),
                 Choice("🖼 " + _("Chart"), CHART.data(*here)),
                 Choice("⏳ " + _("Extend"), EXTEND.data(*here))])
    rows.append([Choice("📝 " + _("Consolidated report"), REPORT.data(*here)),
                 Choice("📨 " + _("Urging letter"), URGE.data("p", *here))])
    rows.append([Choice("🎯 " + _("Targets"), TARGETS.data()),
                 Choice("📥 " + _("Review queue"), REVIEW_QUEUE.data()),
                 Choice("📨 " + _("Ad-hoc request"), ADHOC.data("new"))])
    chunks = split_message(lines)
    for chunk in chunks[:-1]:
        t.send(chunk)
    t.send(chunks[-1], choices=rows)


async def show_targets(t: Turn, include_submitted: bool = False) -> None:
    _ = t._
    assert t.member is not None
    committee = t.member.committee_id
    plan = await latest_plan(t.session, committee) if committee is not None else None
    if plan is None:
        t.send(_("No plan has been loaded for your committee yet."))
        return
    results = await targets_progress(t.session, plan, include_submitted=include_submitted)
    if not results:
        t.send(_("This plan has no targets."))
        return
    names = {a.id: a.display_name for a in (await t.session.scalars(
        select(Agency).options(lazyload("*"))
        .where(Agency.committee_id == plan.committee_id))).all()}
    lines = ["🎯 " + _("<b>Progress against targets</b> — {plan}").format(plan=esc(plan.title)),
             _("From accepted reports") if not include_submitted
             else _("From accepted and submitted reports"), ""]
    for result in results:
        lines += target_lines(t, result.target.name, result.spec, result.progress,
                              result.has_figures, names)
    toggle = Choice(
        _("Include submitted reports") if not include_submitted
        else _("Accepted reports only"),
        TARGETS.data("all") if not include_submitted else TARGETS.data())
    chunks = split_message(lines)
    for chunk in chunks[:-1]:
        t.send(chunk)
    t.send(chunks[-1], choices=[[toggle]])


COMPARISON_SIGNS = {">=": "", ">": "> ", "<=": "≤ ", "<": "< ", "==": "= "}


def target_lines(t: Turn, name: str, spec: TargetSpec, progress: TargetProgress,
                 figures: bool, names: dict[int, str]) -> list[str]:
    """A target's progress as a person reads it: a figure against the target with its unit
    («3/5 vụ án (60%)», «2 điểm chưa triệt xóa (chỉ tiêu ≤ 0)»), or «chưa có số liệu» while
    nothing counts yet (never «—/0»)."""
    _ = t._
    mark = "✅" if progress.met else "⏳"
    unit = "" if not spec.unit else "%" if spec.unit == "%" else f" {esc(spec.unit)}"
    goal = (COMPARISON_SIGNS.get(spec.comparison, spec.comparison + " ")
            + format_number(spec.target, t.locale) + unit)
    head = f"{mark} {esc(name)}: "
    if not figures:
        return [head + _("no data yet (target {target})").format(target=goal)]
    if spec.count_where is not None:
        wanted = (COMPARISON_SIGNS.get(spec.comparison, spec.comparison + " ")
                  + format_number(spec.target, t.locale))
        return [head + f"<b>{progress.agencies_met}/{progress.agencies_total}</b>{unit} "
                + _("(target {target})").format(target=wanted)]
    if spec.per_agency:
        lines = [head + _("<b>{met}/{total}</b> meet the target ({target})").format(
            met=progress.agencies_met, total=progress.agencies_total, target=goal)]
        # Worst first: the ones the chair has to call about.
        ranked = sorted(progress.per_agency.items(),
                        key=lambda kv: (kv[1] is not None, kv[1] or 0))
        for agency_id, figure in ranked[:30]:
            shown = (_("no data yet") if figure is None
                     else format_number(figure, t.locale) + unit)
            ok = figure is not None and meets(figure, spec.comparison, spec.target)
            lines.append(f"   {'✅' if ok else '▫️'} {esc(names.get(agency_id, '?'))}: {shown}")
        if len(ranked) > 30:
            lines.append("   " + _("… and {n} more.").format(n=len(ranked) - 30))
        return lines
    if progress.actual is None:
        return [head + _("no data yet (target {target})").format(target=goal)]
    actual = format_number(progress.actual, t.locale)
    if spec.comparison in (">=", ">") and spec.target:
        pct = (f" ({format_percent(progress.pct, t.locale)})"
               if progress.pct is not None else "")
        return [head + f"<b>{actual}/{format_number(spec.target, t.locale)}</b>{unit}{pct}"]
    # «At most 0 left»: a fraction of the target means nothing; the figure and the target.
    return [head + f"<b>{actual}</b>{unit} " + _("(target {target})").format(target=goal)]


async def send_export(t: Turn, schedule_id: int, period_key: str, chart: bool,
                      year: bool = False, report: bool = False) -> None:
    """The .xlsx of a schedule's period (as `python -m bot export` writes it), or its chart:
    per kind of agency, or (`year`) over the periods of that year."""
    _ = t._
    schedule = await t.session.get(Schedule, schedule_id)
    plan = await t.session.get(Plan, schedule.plan_id) if schedule else None
    if schedule is None or plan is None or t.member is None or (
            plan.committee_id != t.member.committee_id):
        t.stale()
        return
    await t.answer_now()  # building a file takes a moment
    if year:
        await send_year_chart(t, plan, schedule, period_key)
        return
    try:
        data = await collect(t.session, plan, schedule, period_key, t.tz)
    except LookupError:
        t.send(_("This schedule has no reporting periods yet."))
        return
    name = f"{plan.code}_{schedule.code}_{period_key}"
    # Captions go out as HTML (Turn.send_file, send_picture): the names are escaped.
    caption = esc(f"{schedule.name} · {period_title(_, schedule, period_key)}")
    if chart:
        # Drawing is CPU work: keep the event loop free for other chats.
        picture = await asyncio.to_thread(completeness_chart, data, t.now, t.tz, t.locale)
        more = [[Choice("📈 " + _("Periods of the year"),
                        CHART_YEAR.data(schedule.id, period_key))]]
        t.send_picture(picture, caption=caption, choices=more)
        return
    if report:
        files = await consolidated_files(t.session, data, t.now, t.tz, f"tong-hop_{name}")
        for (filename, content), note in zip(files, (caption, _("Annex: every agency's "
                                                                 "figures")), strict=True):
            t.send_file(content, filename, caption=note)
        return
    content = await build_xlsx(t.session, data, t.tz, t.now, t.locale)
    t.send_file(content, f"{name}.xlsx", caption=caption)


async def send_year_chart(t: Turn, plan: Plan, schedule: Schedule, period_key: str) -> None:
    """Completeness and timeliness over the periods of `period_key`'s year whose deadline
    has come (the chosen period at least)."""
    _ = t._
    year = period_key[:4]
    rows = (await t.session.execute(
        select(Obligation.period_key, func.min(Obligation.due_at))
        .where(Obligation.schedule_id == schedule.id)
        .group_by(Obligation.period_key).order_by(func.min(Obligation.due_at))
    )).all()
    keys = [key for key, due in rows if key.startswith(year) and (
        key == period_key or _aware(due) <= t.now)]
    if not keys:
        t.send(_("This schedule has no reporting periods yet."))
        return
    periods = [(key, (await facts_for(t, schedule.id, key))[0]) for key in keys]
    figure = await asyncio.to_thread(periods_figure, schedule, year, periods, t.now, t.tz,
                                     t.locale)
    content = await asyncio.to_thread(png, figure)
    caption = esc(f"{schedule.name} · {_('year {year}').format(year=year)}")
    t.send_picture(content, caption=caption)


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


# ----------------------------------------------------------------------------- wiring


@with_turn(role="committee")
async def on_status_button(t: Turn) -> None:
    parts = STATUS.parse(t.data)
    schedule = callbacks.parse_id(parts[0]) if parts and parts[0] else None
    if parts and parts[0] and schedule is None:
        t.stale()
        return
    await show_status(t, schedule, parts[1] if len(parts) > 1 and parts[1] else None)


@with_turn(role="committee")
async def on_targets_button(t: Turn) -> None:
    await show_targets(t, include_submitted=TARGETS.parse(t.data) == ["all"])


@with_turn(role="committee")
async def on_export_button(t: Turn) -> None:
    year = CHART_YEAR.matches(t.data)
    chart = year or CHART.matches(t.data)
    report = REPORT.matches(t.data)
    parts = (CHART_YEAR if year else CHART if chart else REPORT if report else EXCEL
             ).parse(t.data)
    schedule = callbacks.parse_id(parts[0]) if len(parts) >= 2 else None
    if schedule is None:
        t.stale()
        return
    await send_export(t, schedule, parts[1], chart=chart, year=year, report=report)


def register(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    app.add_handler(CommandHandler("status", with_turn(show_status, members_only=False,
                                                       role="committee")), group=FEATURES)
    app.add_handler(CommandHandler("targets", with_turn(show_targets, members_only=False,
                                                        role="committee")), group=FEATURES)
    app.add_handler(CallbackQueryHandler(on_status_button, pattern=STATUS.pattern),
                    group=FEATURES)
    app.add_handler(CallbackQueryHandler(on_targets_button, pattern=TARGETS.pattern),
                    group=FEATURES)
    for route in (EXCEL, CHART, CHART_YEAR, REPORT):
        app.add_handler(CallbackQueryHandler(on_export_button, pattern=route.pattern),
                        group=FEATURES)
    menu_button(STATUS_MENU, show_status, allowed=lambda t: t.oversees)
