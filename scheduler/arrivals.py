"""The office is told when reports arrive: «📥 Báo cáo mới nhận (N)», batched.

Once per sweep (`write_arrivals`, called by scheduler.sweeper.run_sweep), each person who
reviews the committee's reports (below: `reviewers`) gets at most one arrivals message per
ARRIVALS_EVERY, only when unprompted messages may go out (scheduler.sweep.allowed_now:
working day, no pause, outside quiet hours). It lists every report sent since the last
arrivals message to that person: the message's payload keeps the end of what it covered
(`until`, an ISO instant), the next one starts there. Nothing is listed twice and nothing is
lost across quiet hours, weekends or pauses: the first message of the morning lists the
night's reports.

A window ends SETTLE before the sweep's `now`, so a report whose transaction was still open
when the sweep read (its `submitted_at` is the start of its turn) is listed next time instead
of falling behind the watermark. The first message a person ever gets goes back at most
FIRST_LOOKBACK.

The dedupe key is the person and the ARRIVALS_EVERY slot of `now`: a repeated or concurrent
sweep adds nothing.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import lazyload

from core.i18n import Gettext, ngettext, pick_language, translator
from core.lateness import Lateness
from core.texts import esc, report_title
from db.drafts import lateness_by_obligation, lateness_of
from db.models import (
    Agency,
    Committee,
    Member,
    MemberRole,
    Obligation,
    OutboxMessage,
    OutboxStatus,
    Plan,
    Role,
    Schedule,
    Submission,
    SubmissionState,
)
from db.queries import member_levels
from scheduler.buttons import REVIEW_QUEUE
from scheduler.committees import committee_view
from scheduler.sweep import allowed_now

KIND = "arrivals"
ARRIVALS_EVERY = dt.timedelta(hours=1)  # at most one arrivals message per person this often
SETTLE = dt.timedelta(minutes=1)  # a window ends this long before the sweep
FIRST_LOOKBACK = dt.timedelta(days=3)  # a person's first arrivals message goes back this far
MAX_LINES = 10  # reports listed one by one; the rest are «… and N more reports»
MAX_CHARS = 1000  # the whole text, tags included
MAX_NAME = 60  # an agency's or a schedule's name is shortened beyond this


@dataclass(frozen=True)
class Arrival:
    submission_id: int
    submitted_at: dt.datetime
    agency: str
    schedule: str
    period_type: str
    period_key: str
    receipt_no: str | None
    verdict: Lateness


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def reviews(member: Member, committee: Committee) -> bool:
    """Whether `member` reviews the committee's reports: an active member of the committee
    with the role standing_office at the consolidating level (db.queries.member_levels: the
    consolidating agency's people, who open the review queue and accept or return reports).
    Chairs and admins may open the queue too, but they are told of reports by the digests."""
    return bool(
        member.active and member.committee_id == committee.id
        and "consolidating" in member_levels(member.role_set, member.agency_id,
                                             committee.consolidating_id,
                                             committee.standing_office_id))


async def reviewers(session: AsyncSession) -> dict[int, list[Member]]:
    """committee id -> the people who review its reports, in member order."""
    office = select(MemberRole.member_id).where(MemberRole.role == Role.standing_office)
    members = (await session.scalars(
        select(Member).where(Member.active.is_(True), Member.committee_id.is_not(None),
                             Member.id.in_(office))
        .order_by(Member.id))).all()
    out: dict[int, list[Member]] = defaultdict(list)
    committees: dict[int, Committee | None] = {}
    for m in members:
        assert m.committee_id is not None  # selected so
        if m.committee_id not in committees:
            committees[m.committee_id] = await session.get(Committee, m.committee_id)
        committee = committees[m.committee_id]
        if committee is not None and reviews(m, committee):
            out[committee.id].append(m)
    return dict(out)


async def _calendar_of(session: AsyncSession, committee_id: int) -> dict[str, Any] | None:
    """The calendar of the committee's latest plan."""
    return await session.scalar(
        select(Plan.calendar).where(Plan.committee_id == committee_id)
        .order_by(Plan.ends_on.desc(), Plan.id.desc()).limit(1))


async def _last_message(session: AsyncSession, member_id: int) -> OutboxMessage | None:
    return await session.scalar(
        select(OutboxMessage).where(OutboxMessage.kind == KIND,
                                    OutboxMessage.member_id == member_id)
        .order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc()).limit(1))


def _until(message: OutboxMessage | None) -> dt.datetime | None:
    """Where the previous arrivals message's list ended (its payload's `until`)."""
    raw = (message.payload or {}).get("until") if message is not None else None
    try:
        return _aware(dt.datetime.fromisoformat(raw)) if isinstance(raw, str) else None
    except ValueError:
        return None


async def arrivals(session: AsyncSession, committee_id: int, after: dt.datetime,
                   until: dt.datetime, tz: ZoneInfo) -> list[Arrival]:
    """The committee's reports sent in (after, until], oldest first, each with its lateness
    (core.lateness through db.drafts)."""
    rows = (await session.execute(
        select(Submission, Obligation, Schedule, Agency)
        .options(lazyload("*"))
        .join(Obligation, Obligation.id == Submission.obligation_id)
        .join(Schedule, Schedule.id == Obligation.schedule_id)
        .join(Plan, Plan.id == Schedule.plan_id)
        .join(Agency, Agency.id == Obligation.agency_id)
        .where(Plan.committee_id == committee_id,
               Submission.state != SubmissionState.draft,
               Submission.submitted_at > after, Submission.submitted_at <= until)
        .order_by(Submission.submitted_at, Submission.id)
    )).all()
    if not rows:
        return []
    obligations = list({o.id: o for _s, o, _sc, _a in rows}.values())
    latest_sent = {oid: version for oid, version in (await session.execute(
        select(Submission.obligation_id, func.max(Submission.version))
        .where(Submission.obligation_id.in_([o.id for o in obligations]),
               Submission.submitted_at.is_not(None))
        .group_by(Submission.obligation_id))).all()}
    latest = await lateness_by_obligation(session, obligations, tz)
    out: list[Arrival] = []
    for submission, obligation, schedule, agency in rows:
        sent_at = _aware(submission.submitted_at or until)
        verdict = latest.get(obligation.id)
        if verdict is None or latest_sent.get(obligation.id) != submission.version:
            # An earlier version than the obligation's latest one sent (both in the window).
            verdict = await lateness_of(session, obligation, submission.version, sent_at, tz)
        out.append(Arrival(
            submission_id=submission.id, submitted_at=sent_at, agency=agency.display_name,
            schedule=schedule.name, period_type=obligation.period_type,
            period_key=obligation.period_key, receipt_no=submission.receipt_no,
            verdict=verdict))
    return out


def _short(text: str, limit: int = MAX_NAME) -> str:
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


def verdict_text(_: Gettext, locale: str, verdict: Lateness) -> str:
    """«đúng hạn», «quá hạn N ngày», «bổ sung», «bổ sung, quá hạn N ngày»."""
    late = ngettext(locale)("late {n} day", "late {n} days", verdict.late_days).format(
        n=verdict.late_days) if verdict.late_days else ""
    if verdict.supplement:
        return ", ".join(p for p in (_("supplement"), late) if p)
    return late or _("on time")


def render(arrived: list[Arrival], locale: str) -> dict[str, Any]:
    """The message for one person: a header, one line per report (at most MAX_LINES, within
    MAX_CHARS), «… and N more reports», and the button to the review queue."""
    _ = translator(locale)
    header = "📥 " + _("<b>New reports received</b> ({count})").format(count=len(arrived))

    def more(n: int) -> str:
        return ngettext(locale)("… and {n} more report", "… and {n} more reports",
                                n).format(n=n)

    lines = [header]
    for number, a in enumerate(arrived, 1):
        title = report_title(_, _short(a.schedule), a.period_type, a.period_key)
        line = (f"{number}. {esc(_short(a.agency))} — {esc(title)} — "
                f"{esc(verdict_text(_, locale, a.verdict))}"
                + (f" · {esc(a.receipt_no)}" if a.receipt_no else ""))
        left = len(arrived) - number
        tail = ("\n" + more(left)) if left else ""
        if number > MAX_LINES or len("\n".join([*lines, line]) + tail) > MAX_CHARS:
            lines.append(more(len(arrived) - number + 1))
            break
        lines.append(line)
    return {
        "text": "\n".join(lines),
        "parse_mode": "HTML",
        "buttons": [[{"text": "📋 " + _("Open the review queue"),
                      "data": REVIEW_QUEUE.data()}]],
    }


def dedupe_key(member_id: int, now: dt.datetime) -> str:
    slot = int(now.timestamp() // ARRIVALS_EVERY.total_seconds())
    return f"{KIND}:{member_id}:{slot}"


async def write_arrivals(session: AsyncSession, now: dt.datetime,
                         tz: ZoneInfo) -> list[OutboxMessage]:
    """One arrivals message per reviewer who is due one and has new reports (see the module's
    docstring); the outbox rows written."""
    written: list[OutboxMessage] = []
    until = now - SETTLE
    for committee_id, people in (await reviewers(session)).items():
        committee = await session.get(Committee, committee_id)
        if committee is None:
            continue
        if not allowed_now(now, committee_view(committee.id, committee, await _calendar_of(
                session, committee_id)), tz):
            continue
        due: list[tuple[Member, dt.datetime]] = []
        for member in people:
            last = await _last_message(session, member.id)
            if last is not None and _aware(last.created_at) > now - ARRIVALS_EVERY:
                continue
            after = _until(last) or now - FIRST_LOOKBACK
            if after < until:
                due.append((member, after))
        if not due:
            continue
        found = await arrivals(session, committee_id, min(a for _m, a in due), until, tz)
        for member, after in due:
            mine = [a for a in found if a.submitted_at > after]
            key = dedupe_key(member.id, now)
            if not mine or await session.scalar(
                    select(OutboxMessage.id).where(OutboxMessage.dedupe_key == key)):
                continue
            payload = render(mine, pick_language(member.language, member.telegram_language))
            payload["until"] = until.astimezone(dt.UTC).isoformat()
            message = OutboxMessage(
                dedupe_key=key, kind=KIND, member_id=member.id,
                chat_id=member.reach, payload=payload,
                status=OutboxStatus.pending, next_attempt_at=now, created_at=now)
            session.add(message)
            written.append(message)
    if written:
        await session.flush()
    return written
