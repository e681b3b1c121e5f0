"""The sweep over the database: load a snapshot, decide (pure), write the outbox.

Only what can be due is loaded: open obligations whose period has begun and whose deadline is
near or past, so the cost grows with what is due, not with the history.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gc
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Row, Table, and_, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from core.calendar import WorkCalendar
from core.i18n import pick_language
from core.lateness import supplement_days, supplement_due
from db.audit import record
from db.bulk import existing, insert_linked, insert_rows
from db.models import (
    OPEN_STATUSES,
    Agency,
    Committee,
    Member,
    MemberRole,
    Obligation,
    ObligationStatus,
    OutboxItem,
    OutboxMessage,
    OutboxStatus,
    Plan,
    Role,
    Schedule,
    Submission,
    SubmissionState,
)
from db.queries import member_levels
from scheduler import levels as escalation_levels
from scheduler.arrivals import write_arrivals
from scheduler.buttons import OPEN_REPORT
from scheduler.committees import committee_view
from scheduler.messages import personal_budget, render_decision
from scheduler.sweep import (
    ByPerson,
    CommitteeView,
    Decision,
    Item,
    ObligationView,
    Policy,
    Recipient,
    Snapshot,
    decide,
    decide_digests,
    decide_personal,
    digest_lines,
    finish,
)

_PERSONAL_RANK = {"notice": 0, "reminder": 1, "overdue": 2}
_MESSAGE_RANK = {"notice": 0, "reminder": 1, "overdue": 2, "weekly": 3, "digest": 4}
LOOKAHEAD_DAYS = 31  # reminders are at most this far ahead; notices this far back
BLOCKED_NEWS_DAYS = 7
_OUTBOX = cast(Table, OutboxMessage.__table__)
_OUTBOX_ITEM = cast(Table, OutboxItem.__table__)
# How far back a leader's last digest is looked up (Snapshot.last_digests): older than this,
# the next digest goes out whatever it lists.
LAST_DIGEST_DAYS = 14
# Never two overdue messages to one person within this: a chair's nudge («Remind everyone»)
# and the sweep's overdue notice about the same reports are one message (see write_decisions
# and handlers.committee.remind_all).
OVERDUE_WINDOW = dt.timedelta(hours=1)


# Runs stored at once on PostgreSQL, each on a connection of its own (_Runs): the server
# inserts one while this process prepares the next, and a second when this process waits.
WRITERS = 2
# IN lists are read in pieces of this many ids (PostgreSQL allows 32,767 parameters).
ID_CHUNK = 1000
# The streamed sweep's first part, in agencies (_stream): about one run's worth of people.
FIRST_PART = 100


# What the sweep writes of each message and item (db.bulk.insert_rows), in this order.
_OUTBOX_COLUMNS = ("dedupe_key", "kind", "member_id", "chat_id", "payload", "status",
                   "attempts", "next_attempt_at", "created_at")
_ITEM_COLUMNS = ("dedupe_key", "outbox_id", "kind", "level", "obligation_id", "created_at")


def _chunks(ids: Iterable[int], size: int | None = None) -> Iterator[list[int]]:
    ordered = sorted(ids)
    size = size or ID_CHUNK  # read when called (tests make it small)
    for start in range(0, len(ordered), size):
        yield ordered[start:start + size]


async def _core(session: AsyncSession) -> AsyncConnection:
    """The session's connection, for the sweep's bulk reads and writes as plain Core
    statements (rows as tuples, no ORM loading or bulk machinery: at 100,000 members that
    machinery was seconds of the sweep); what the session holds is flushed first, as its
    own execute would."""
    await session.flush()
    return await session.connection()


async def _by_ids(session: AsyncSession, query: Any, column: Any,
                  ids: Iterable[int]) -> list[Row[Any]]:
    """The rows of `query` whose `column` is one of `ids`, read in pieces."""
    found: list[Row[Any]] = []
    for chunk in _chunks(ids):
        found += (await (await _core(session)).execute(query.where(column.in_(chunk)))).all()
    return found


class _Person(NamedTuple):
    """An active member as the snapshot files them: where they belong, and as a Recipient."""

    agency_id: int | None
    committee_id: int | None
    recipient: Recipient


async def _people(session: AsyncSession, agency_ids: set[int], committee_ids: list[int]
                  ) -> list[_Person]:
    """The active members of these agencies or committees with their roles, in member
    order: columns only (no ORM objects, no joined agency), each role set kept once."""
    columns = (Member.id, Member.chat_id, Member.telegram_user_id, Member.zalo_user_id,
               Member.agency_id, Member.committee_id, Member.language, Member.telegram_language)
    found: dict[int, tuple[Any, ...]] = {}
    held: dict[int, set[str]] = defaultdict(set)
    names: dict[Any, str] = {}  # a role as read -> its name
    # Of a committee, only who may be at one of its levels: a role beyond the agency's own
    # (reporter and head are agency levels only: db.queries.member_levels). At a province's
    # scale every reporter has a committee: they are read with their agency.
    beyond_agency = Member.id.in_(select(MemberRole.member_id).where(
        MemberRole.role.not_in([Role.reporter, Role.head])))
    for column, ids, which in ((Member.agency_id, agency_ids, true()),
                               (Member.committee_id, committee_ids, beyond_agency)):
        for chunk in _chunks(ids):
            # Each member with each of their roles: one row per role (one query, not two).
            for row in (await (await _core(session)).execute(
                    select(*columns, MemberRole.role)
                    .outerjoin(MemberRole, MemberRole.member_id == Member.id)
                    .where(Member.active.is_(True), column.in_(chunk), which))).all():
                member_id, role = row[0], row[-1]
                if member_id not in found:
                    found[member_id] = tuple(row[:-1])
                if role is not None:
                    if role not in names:
                        names[role] = Role(role).value
                    held[member_id].add(names[role])
    role_sets: dict[frozenset[str], frozenset[str]] = {}
    languages: dict[tuple[str | None, str | None], str] = {}
    people: list[_Person] = []
    for member_id in sorted(found):
        (_id, chat_id, telegram_user_id, zalo_user_id, agency_id, committee_id, language,
         telegram_language) = found[member_id]
        roles = frozenset(held.get(member_id, ()))
        spoken = (language, telegram_language)
        if spoken not in languages:
            languages[spoken] = pick_language(language, telegram_language)
        people.append(_Person(agency_id, committee_id, Recipient(
            member_id=member_id,
            chat_id=chat_id or telegram_user_id or zalo_user_id or 0,  # Member.reach
            roles=role_sets.setdefault(roles, roles),
            agency_id=agency_id,
            language=languages[spoken],
        )))
    return people


def _recipient(m: Member) -> Recipient:
    return Recipient(
        member_id=m.id,
        chat_id=m.reach,
        roles=frozenset(r.value for r in m.role_set),
        agency_id=m.agency_id,
        language=pick_language(m.language, m.telegram_language),
    )


async def _obligations(session: AsyncSession, now: dt.datetime, tz: ZoneInfo
                       ) -> tuple[dict[int, CommitteeView], list[ObligationView]]:
    """The committees and the open obligations that can be due (load_snapshot), in id order.

    At a province's scale (100,000 members, tens of thousands of due reports) this is most
    of the sweep's memory: only the obligation columns the views need are read, and each
    schedule, plan and agency once (their policies, calendars and names are shared by the
    views), never a join that repeats each plan's and schedule's JSON on every row."""
    today = now.astimezone(tz).date()
    horizon = now + dt.timedelta(days=LOOKAHEAD_DAYS)
    rows = (
        await (await _core(session)).execute(
            select(Obligation.id, Obligation.schedule_id, Obligation.agency_id,
                   Obligation.status, Obligation.period_type, Obligation.period_key,
                   Obligation.period_start, Obligation.due_at, Obligation.extended_due_at,
                   Schedule.plan_id)
            .join(Schedule, Schedule.id == Obligation.schedule_id)
            .join(Plan, Plan.id == Schedule.plan_id)
            .join(Agency, Agency.id == Obligation.agency_id)
            .where(
                Obligation.status.in_(OPEN_STATUSES),
                Obligation.period_start <= today,
                Schedule.active.is_(True),
                Agency.active.is_(True),
                Plan.ends_on >= today - dt.timedelta(days=3650),
                or_(
                    Obligation.due_at <= horizon,
                    and_(Obligation.extended_due_at.is_not(None),
                         Obligation.extended_due_at <= horizon),
                    Obligation.period_start >= today - dt.timedelta(days=LOOKAHEAD_DAYS),
                ),
            )
            # The first report of a committee names the plan whose calendar it keeps.
            .order_by(Obligation.id)
        )
    ).all()
    plans = {p.id: p for p in await _by_ids(
        session, select(Plan.id, Plan.committee_id, Plan.calendar, Plan.ends_on, Plan.defaults),
        Plan.id, {r.plan_id for r in rows})}
    schedules = {s.id: s for s in await _by_ids(
        session, select(Schedule.id, Schedule.name, Schedule.reminder_offsets,
                        Schedule.escalation_policy),
        Schedule.id, {r.schedule_id for r in rows})}
    agencies = {a.id: (a.short_name or a.name, a.escalate) for a in await _by_ids(
        session, select(Agency.id, Agency.name, Agency.short_name, Agency.escalate),
        Agency.id, {r.agency_id for r in rows})}
    policies = {s.id: Policy.from_rows(s.reminder_offsets, s.escalation_policy)
                for s in schedules.values()}
    committees: dict[int, CommitteeView] = {}
    for row in rows:
        plan = plans[row.plan_id]
        if plan.committee_id not in committees:
            committee = await session.get(Committee, plan.committee_id)
            committees[plan.committee_id] = committee_view(plan.committee_id, committee,
                                                           plan.calendar)
    returned_at = await return_times(session, [row.id for row in rows
                                               if row.status == ObligationStatus.returned])
    supplement: dict[int, tuple[WorkCalendar, int]] = {}  # plan id -> chase_due's rule
    # Equal values of many rows kept once (a period's key, start and deadline).
    texts: dict[str, str] = {}
    days: dict[dt.date, dt.date] = {}
    instants: dict[dt.datetime, dt.datetime] = {}
    obligations: list[ObligationView] = []
    for row in rows:
        plan = plans[row.plan_id]
        agency_name, escalate = agencies[row.agency_id]
        due = row.extended_due_at or row.due_at
        if (returned := returned_at.get(row.id)) is not None:
            if row.plan_id not in supplement:
                supplement[row.plan_id] = (WorkCalendar.from_dict(plan.calendar),
                                           supplement_days(plan.defaults))
            calendar, extra_days = supplement[row.plan_id]
            due = max(due, supplement_due(returned, tz, calendar, extra_days))
        obligations.append(ObligationView(
            id=row.id, committee_id=plan.committee_id, agency_id=row.agency_id,
            agency_name=agency_name, schedule_name=schedules[row.schedule_id].name,
            period_type=texts.setdefault(row.period_type, row.period_type),
            period_key=texts.setdefault(row.period_key, row.period_key),
            period_start=days.setdefault(row.period_start, row.period_start),
            due_at=instants.setdefault(due, due), plan_ends_on=plan.ends_on,
            policy=policies[row.schedule_id], escalate=escalate,
        ))
    return committees, obligations


def _file(people: list[_Person], agency_ids: set[int], committees: dict[int, CommitteeView],
          members: dict[int, list[Recipient]], by_level: dict[int, dict[str, list[Recipient]]],
          at_levels: dict[tuple[frozenset[str], int, bool], list[str]]) -> None:
    """File people as Snapshot.members (the reporters and heads of `agency_ids`) and
    Snapshot.by_level (the committee levels of `committees`), in member order."""
    committee_levels = escalation_levels.with_audience("committee")
    for person in people:
        r = person.recipient
        if person.agency_id in agency_ids and r.roles & {"reporter", "head"}:
            members.setdefault(person.agency_id, []).append(r)
        view = committees.get(person.committee_id) if person.committee_id else None
        if view is None:
            continue
        standing_office = view.agency_for("standing_office")
        key = (r.roles, view.id, person.agency_id == standing_office)
        if key not in at_levels:
            # (role set, committee, in its standing office agency) -> the committee levels,
            # in climbing order: worked out once for the thousands of people who share them.
            # The member role standing_office is the committee office's staff: the
            # consolidating agency's people, except those of a standing office agency of
            # its own, who are the Thường trực (db.queries.member_levels).
            levels = member_levels(r.roles, person.agency_id,
                                   view.agency_for("consolidating"), standing_office)
            at_levels[key] = [level.name for level in committee_levels
                              if level.name in levels]
        for name in at_levels[key]:  # each level's people in member order
            by_level.setdefault(view.id, {}).setdefault(name, []).append(r)


async def _blocked(session: AsyncSession, committees: dict[int, CommitteeView],
                   now: dt.datetime) -> dict[int, list[int]]:
    """Snapshot.blocked: committee id -> who blocked the bot within BLOCKED_NEWS_DAYS."""
    blocked: dict[int, list[int]] = defaultdict(list)
    if committees:
        recent = now - dt.timedelta(days=BLOCKED_NEWS_DAYS)
        for member_id, committee_id in await session.execute(
                select(Member.id, Member.committee_id).where(
                    Member.active.is_(False), Member.inactive_reason == "blocked",
                    Member.committee_id.in_(list(committees)), Member.updated_at >= recent,
                ).order_by(Member.id)):
            if committee_id is not None:  # selected by committee
                blocked[committee_id].append(member_id)
    return dict(blocked)


def _leaders(by_level: dict[int, dict[str, list[Recipient]]]) -> set[int]:
    return {r.member_id for per in by_level.values() for people in per.values() for r in people}


async def load_snapshot(session: AsyncSession, now: dt.datetime, tz: ZoneInfo) -> Snapshot:
    """What the sweep decides on (scheduler.sweep.Snapshot), read in a few narrow queries
    (_obligations; the people as columns: _people)."""
    committees, obligations = await _obligations(session, now, tz)
    agency_ids = {o.agency_id for o in obligations}
    members: dict[int, list[Recipient]] = {}
    # committee id -> level name -> its people (Snapshot.by_level)
    by_level: dict[int, dict[str, list[Recipient]]] = {}
    if committees:
        _file(await _people(session, agency_ids, list(committees)), agency_ids, committees,
              members, by_level, {})
    return Snapshot(committees=committees, obligations=obligations, members=members,
                    by_level=by_level, blocked=await _blocked(session, committees, now),
                    last_digests=await last_digests(session, _leaders(by_level), now, tz))


async def last_digests(session: AsyncSession, member_ids: set[int], now: dt.datetime,
                       tz: ZoneInfo) -> dict[int, tuple[dt.date, frozenset[str]]]:
    """member id -> (local day, what it listed: scheduler.sweep.digest_listing) of their
    latest digest written before `now` that recorded it (OutboxMessage.payload "listed" and
    "outside", see write_decisions)."""
    found: dict[int, tuple[dt.date, frozenset[str]]] = {}
    if not member_ids:
        return found
    rows = (await session.execute(
        select(OutboxMessage.member_id, OutboxMessage.created_at, OutboxMessage.payload)
        .where(OutboxMessage.kind.in_(["digest", "weekly"]),
               OutboxMessage.member_id.in_(sorted(member_ids)),
               OutboxMessage.created_at >= now - dt.timedelta(days=LAST_DIGEST_DAYS),
               OutboxMessage.created_at <= now)
        .order_by(OutboxMessage.created_at, OutboxMessage.id)
    )).all()
    for member_id, created_at, payload in rows:
        listed = (payload or {}).get("listed")
        if member_id is None or not isinstance(listed, list):
            continue
        outside = (payload or {}).get("outside") or []
        found[member_id] = (created_at.astimezone(tz).date(),
                            frozenset([str(oid) for oid in listed]
                                      + [str(note) for note in outside]))
    return found


async def recent_overdue(session: AsyncSession, member_ids: list[int], now: dt.datetime,
                         kinds: tuple[str, ...] = ("overdue", "nudge"),
                         ) -> dict[int, dict[int, set[int]]]:
    """member id -> outbox message id -> the reports it named, for the overdue messages
    (`kinds` items) written to these people within OVERDUE_WINDOW before `now`."""
    found: dict[int, dict[int, set[int]]] = {}
    ids = sorted(set(member_ids))
    for start in range(0, len(ids), 500):
        rows = (await session.execute(
            select(OutboxMessage.member_id, OutboxItem.outbox_id, OutboxItem.obligation_id)
            .select_from(OutboxItem)
            .join(OutboxMessage, OutboxMessage.id == OutboxItem.outbox_id)
            .where(OutboxItem.kind.in_(list(kinds)),
                   OutboxMessage.member_id.in_(ids[start:start + 500]),
                   OutboxItem.created_at > now - OVERDUE_WINDOW,
                   OutboxItem.created_at <= now)
        )).all()
        for member_id, outbox_id, obligation_id in rows:
            if member_id is not None and obligation_id is not None:
                found.setdefault(member_id, {}).setdefault(outbox_id, set()).add(
                    obligation_id)
    return found


async def return_times(session: AsyncSession, obligation_ids: list[int]
                       ) -> dict[int, dt.datetime]:
    """obligation id -> when the office last returned it for changes."""
    if not obligation_ids:
        return {}
    rows = (await session.execute(
        select(Submission.obligation_id, func.max(Submission.reviewed_at))
        .where(Submission.obligation_id.in_(obligation_ids),
               Submission.state == SubmissionState.returned)
        .group_by(Submission.obligation_id))).all()
    return {oid: at if at.tzinfo else at.replace(tzinfo=dt.UTC)
            for oid, at in rows if at is not None}


def chase_due(obligation: Obligation, returned_at: dt.datetime | None, plan: Plan,
              tz: ZoneInfo) -> dt.datetime:
    """The deadline a report is chased against: its own, or, once returned for changes, the
    end of the time the return gave when that is later (core.lateness.supplement_due; the
    same rule that judges the correction on time), so a report sent on time and returned is
    not called overdue while its correction is still on time."""
    due = obligation.effective_due_at
    if returned_at is None:
        return due
    return max(due, supplement_due(returned_at, tz, WorkCalendar.from_dict(plan.calendar),
                                   supplement_days(plan.defaults)))


def view_of(obligation: Obligation, schedule: Schedule, plan: Plan, agency_name: str,
            policy: Policy | None = None, *, escalate: bool = True,
            due_at: dt.datetime | None = None) -> ObligationView:
    """The sweep's view of one obligation, for messages written outside the sweep too.

    `policy`: the schedule's own (reminders and escalation chain) unless given; `escalate`:
    the agency's Agency.escalate (an overdue notice says who hears of late reports);
    `due_at`: when it is chased against another deadline than its own (a returned report:
    the time the return gave, `chase_due`)."""
    return ObligationView(
        id=obligation.id, committee_id=plan.committee_id, agency_id=obligation.agency_id,
        agency_name=agency_name, schedule_name=schedule.name,
        period_type=obligation.period_type, period_key=obligation.period_key,
        period_start=obligation.period_start, due_at=due_at or obligation.effective_due_at,
        plan_ends_on=plan.ends_on,
        policy=policy or Policy.from_rows(schedule.reminder_offsets, schedule.escalation_policy),
        escalate=escalate,
    )


@dataclass
class SweepResult:
    decisions: list[Decision]
    written: list[OutboxMessage]
    snapshot: Snapshot
    # How many outbox messages the sweep wrote: len(written), unless the sweep was asked not
    # to keep them (run_sweep's keep_written=False, the bot's sweep at a province's scale).
    count: int = -1

    def __post_init__(self) -> None:
        if self.count < 0:
            self.count = len(self.written)


# The bot's sweep writes the outbox in transactions of about this many people's messages, each
# committed: the sender starts on the first ones while the rest are written, and SQLite's
# single write lock is never held for long (issue 16: ≤ 1 s at 100,000 members).
SWEEP_CHUNK = 1000
# The runs after the first (what matters for the sender is that the first is committed
# soon) are this many times larger: fewer commits (each one a disk sync), the write lock
# still held well under a second (about 0.1 s per 1,000 people).
RUN_GROWTH = 3
# Called after each committed chunk with the number of messages written so far (e.g. the
# sender's notify: scheduler.jobs.sweep_once).
OnCommit = Callable[[int], Awaitable[None]]


KEY_CHUNK = 2500


async def existing_keys(session: AsyncSession, keys: list[str]) -> set[str]:
    # A run's keys (about two per person) in a few statements. One parameter per key, not a
    # PostgreSQL array: the server would cache a plan for `= ANY(array)` made while the
    # table was small (a scan of the whole table per lookup once the sweep has filled it).
    await session.flush()  # as the ORM's autoflush would: items added and not yet written
    return await existing(await session.connection(), _OUTBOX_ITEM, "dedupe_key", keys,
                          KEY_CHUNK)


class _Renderer:
    """render_decision, with one rendering per distinct personal message of a sweep.

    Everyone of an agency usually gets the same reminder, and every agency of a period the
    same words: a personal message's text depends only on what render_personal reads (the
    language, the room left for a digest, the items' kinds, and of each report its title,
    deadline and escalation chain: _content; the plan's words for its roles), not on who
    receives it nor on which agency's report it is. Only its buttons name the reports (by id):
    a rendering made for one agency's reports is given to another's with the buttons' reports
    swapped, position by position. So 100,000 members cost one rendering per distinct
    message, not per person or agency. A rendering is kept only while people counted
    beforehand (`expect`) are still to get it, so a sweep where every message differs keeps
    none. Digests (their own queries) and nudges are rendered each time."""

    def __init__(self, session: AsyncSession, obligations: dict[int, ObligationView],
                 now: dt.datetime, tz: ZoneInfo) -> None:
        self.session, self.obligations, self.now, self.tz = session, obligations, now, tz
        # key -> the items' reports -> the rendering made for them (the first one rendered,
        # the others that one with its buttons' reports swapped)
        self.cache: dict[tuple[Any, ...], dict[tuple[int | None, ...], dict[str, Any]]] = {}
        self.uses: dict[tuple[Any, ...], int] = {}
        # obligation id -> the number of its content (equal numbers: equal words)
        self.contents: dict[int | None, int] = {}
        self.numbers: dict[tuple[Any, ...] | None, int] = {}
        self.said: dict[tuple[tuple[str, int | None], ...], tuple[Any, ...]] = {}
        self.budgets: dict[frozenset[str], int] = {}  # personal_budget by role set
        # id of a decision counted by `expect` -> (it, its items and kind then, its key):
        # the key again when it is rendered with the same items (a decision is kept here
        # until rendered or forgotten, so its id is not reused meanwhile).
        self.expected: dict[int, tuple[Decision, list[Item], str, tuple[Any, ...]]] = {}

    def _content(self, obligation_id: int | None) -> int:
        """What a personal message says of a report, as a number: everything of its view
        render_personal (and render_decision) reads but its id and agency."""
        number = self.contents.get(obligation_id)
        if number is None:
            o = self.obligations.get(obligation_id) if obligation_id is not None else None
            content = None if o is None else (
                o.committee_id, o.schedule_name, o.period_type, o.period_key, o.due_at,
                o.policy, o.escalate)
            number = self.contents[obligation_id] = self.numbers.setdefault(
                content, len(self.numbers))
        return number

    def _key(self, decision: Decision) -> tuple[Any, ...] | None:
        if decision.kind not in _PERSONAL_RANK or decision.extra:
            return None  # a digest, or a nudge's request (its words are not worth a key)
        items = tuple([(i.kind, i.obligation_id) for i in decision.items])
        said = self.said.get(items)
        if said is None:
            # What the items say: each one's kind and report's content, and which items
            # share a report. Worked out once per agency (its people share their items).
            first: dict[int | None, int] = {}
            said = self.said[items] = tuple([
                (kind, self._content(obligation_id), first.setdefault(obligation_id, n))
                for n, (kind, obligation_id) in enumerate(items)])
        roles = decision.recipient.roles
        budget = self.budgets.get(roles)
        if budget is None:
            budget = self.budgets[roles] = personal_budget(decision.recipient)
        return (decision.kind, decision.committee_id, decision.recipient.language, budget,
                said, tuple(decision.labels.items()))

    def expect(self, decisions: Iterable[Decision]) -> None:
        """Count how many people will get each message (a message whose items change
        before it is rendered is just rendered again)."""
        for decision in decisions:
            if (key := self._key(decision)) is not None:
                self.uses[key] = self.uses.get(key, 0) + 1
                self.expected[id(decision)] = (decision, decision.items, decision.kind, key)

    def forget(self, decision: Decision) -> None:
        """A decision counted by `expect` that will not be rendered (nothing new in it)."""
        self.expected.pop(id(decision), None)

    async def __call__(self, decision: Decision) -> dict[str, Any]:
        expected = self.expected.pop(id(decision), None)
        key = expected[3] if (expected is not None and expected[1] is decision.items
                              and expected[2] == decision.kind) else self._key(decision)
        ids = tuple([i.obligation_id for i in decision.items])
        if key is None:
            return dict(await render_decision(self.session, decision, self.obligations,
                                              self.now, self.tz))
        made = self.cache.get(key)
        if made is None:
            made = self.cache[key] = {ids: await render_decision(
                self.session, decision, self.obligations, self.now, self.tz)}
        payload = made.get(ids)
        if payload is None:
            # Made for other reports of the same words: each button opens this person's
            # report in the same place (OPEN_REPORT, render_personal's only buttons).
            made_for, some = next(iter(made.items()))
            swap = {OPEN_REPORT.data(old): OPEN_REPORT.data(new)
                    for old, new in zip(made_for, ids, strict=True)
                    if old is not None and new is not None}
            payload = made[ids] = {**some, "buttons": [
                [{**b, "data": swap.get(b["data"], b["data"])} for b in row]
                for row in some["buttons"]]}
        left = self.uses.get(key, 1) - 1
        if left > 0:
            self.uses[key] = left
        else:
            self.uses.pop(key, None)
            self.cache.pop(key, None)
        # Shared by everyone who gets the same message (never changed: _write builds new
        # dicts), so that it is converted to JSON once (db.bulk).
        return payload


async def write_decisions(
    session: AsyncSession, decisions: list[Decision], obligations: dict[int, ObligationView],
    now: dt.datetime, tz: ZoneInfo, dry_run: bool = False,
) -> tuple[list[Decision], list[OutboxMessage]]:
    """Keep only the items not sent before; one outbox message per remaining decision."""
    fresh, written = await _write(session, decisions, _Renderer(session, obligations, now, tz),
                                  now, dry_run)
    assert isinstance(written, list)  # kept
    return fresh, written


async def _write(session: AsyncSession, decisions: list[Decision], render: _Renderer,
                 now: dt.datetime, dry_run: bool = False, keep: bool = True,
                 ) -> tuple[list[Decision], list[OutboxMessage] | int]:
    """write_decisions' work, in the session's transaction: (the fresh decisions, the
    messages written), or, with `keep=False`, how many were written instead of the
    messages (none are built)."""
    fresh, batch = await _prepare(session, decisions, render, now, dry_run)
    if dry_run:
        return fresh, [] if keep else 0
    written = await _store(await _core(session), batch, now, keep)
    await session.flush()
    return fresh, written


@dataclass
class _Batch:
    """A run's messages, rendered, for _store: each message's row (in the order of
    _OUTBOX_COLUMNS) with its items, and the items folded into messages sent before."""

    rows: list[tuple[Any, ...]]
    items: list[list[Item]]
    folded: list[tuple[int, Item]]  # (outbox id, item)


async def _prepare(session: AsyncSession, decisions: list[Decision], render: _Renderer,
                   now: dt.datetime, dry_run: bool) -> tuple[list[Decision], _Batch]:
    """The decisions with the items not sent before, and their messages rendered (none on
    a dry run): only reads."""
    keys = [item.dedupe_key for d in decisions for item in d.items]
    seen = await existing_keys(session, keys)
    fresh: list[Decision] = []
    # A chair's nudge sent within the hour already told the person these reports are late:
    # the sweep's overdue items about the same reports are folded into that message (their
    # dedupe keys stored against it, so no later sweep sends them) instead of a second
    # overdue message (issue §3: never two overdue messages to one person within the hour).
    unsaid = [[i for i in d.items if i.dedupe_key not in seen] for d in decisions]
    overdue_to = [d.recipient.member_id for d, items in zip(decisions, unsaid, strict=True)
                  if any(i.kind == "overdue" for i in items)]
    nudged = await recent_overdue(session, overdue_to, now, kinds=("nudge",)) \
        if overdue_to else {}
    batch = _Batch([], [], [])
    for decision, items in zip(decisions, unsaid, strict=True):
        for outbox_id, named in nudged.get(decision.recipient.member_id, {}).items():
            covered = [i for i in items if i.kind == "overdue" and i.obligation_id in named]
            batch.folded += [(outbox_id, i) for i in covered]
            items = [i for i in items if i not in covered]
        if not items:
            render.forget(decision)
            continue
        if len(items) != len(decision.items):  # else the same items (render's key holds)
            decision.items = items
        # The message is about what is left to say: a reminder is not an overdue notice
        # just because an overdue item of the same sweep was sent before.
        personal = [i.kind for i in items if i.kind in _PERSONAL_RANK]
        if personal:
            decision.kind = max(personal, key=_PERSONAL_RANK.__getitem__)
            decision.level = max(i.level for i in items)
        fresh.append(decision)
    if dry_run:
        return fresh, batch
    # Everything one person gets in one sweep is one message (their own reports and, for
    # the standing office and chairs, the digest).
    by_person: dict[int, list[Decision]] = defaultdict(list)
    for decision in fresh:
        by_person[decision.recipient.member_id].append(decision)
    # Rendered here, before _store writes anything: a digest's queries run while nothing
    # of the run holds SQLite's write lock.
    for group in by_person.values():
        payloads = [await render(d) for d in group]
        payload = payloads[0] if len(payloads) == 1 else {
            "text": "\n\n".join(p["text"] for p in payloads),
            "parse_mode": "HTML",
            "buttons": [row for p in payloads for row in p.get("buttons", [])],
        }
        digests = [d for d in group if d.kind in ("digest", "weekly")]
        if digests:
            # What the digest listed: the next one goes out only when this changes
            # (Snapshot.last_digests, scheduler.sweep._unchanged_digest).
            payload = {**payload, "listed": sorted(
                {oid for d in digests for oid, _late in d.lines}),
                "outside": sorted({f"{level}:{oid}" for d in digests
                                   for level, _label, oid in d.outside})}
        items = [item for d in group for item in d.items]
        head = max(group, key=lambda d: _MESSAGE_RANK.get(d.kind, 0))
        batch.rows.append((f"msg:{items[0].dedupe_key}", head.kind, head.recipient.member_id,
                           head.recipient.chat_id, payload, OutboxStatus.pending, 0, now, now))
        batch.items.append(items)
    return fresh, batch


async def _store(connection: AsyncConnection, batch: _Batch, now: dt.datetime, keep: bool
                 ) -> list[OutboxMessage] | int:
    """Insert a run's messages and items (in the connection's transaction): the messages
    (`keep`), else how many.

    Through the driver (db.bulk), not SQLAlchemy's per-row bulk machinery: at a province's
    scale that machinery was most of the sweep. Each message's id comes back with its
    unique dedupe key (RETURNING gives rows in no set order)."""
    rows = batch.rows
    ids: dict[str, int] = dict(await insert_rows(connection, _OUTBOX, _OUTBOX_COLUMNS, rows,
                                                 returning=("dedupe_key", "id")))
    await insert_rows(connection, _OUTBOX_ITEM, _ITEM_COLUMNS,
                      _item_rows(batch, now, ids.__getitem__))
    if not keep:
        return len(rows)
    return [OutboxMessage(id=ids[row[0]], **dict(zip(_OUTBOX_COLUMNS, row, strict=True)))
            for row in rows]


async def _store_linked(writer: AsyncConnection, batch: _Batch, now: dt.datetime) -> int:
    """_store in one statement (db.bulk.insert_linked, on a connection in autocommit): each
    item names its message by the message's dedupe key, or, folded, by its id."""
    await insert_linked(writer, _OUTBOX, _OUTBOX_COLUMNS, batch.rows, "dedupe_key",
                        _OUTBOX_ITEM, _ITEM_COLUMNS, _item_rows(batch, now, str), "outbox_id")
    return len(batch.rows)


def _item_rows(batch: _Batch, now: dt.datetime, message: Callable[[str], int | str]
               ) -> list[tuple[Any, ...]]:
    """A run's items as rows of _ITEM_COLUMNS: each new message's items with
    `message(its dedupe key)` for outbox_id, then the folded items with their message's id."""
    return [
        (item.dedupe_key, message(row[0]), item.kind, item.level, item.obligation_id, now)
        for row, items in zip(batch.rows, batch.items, strict=True) for item in items
    ] + [
        (item.dedupe_key, outbox_id, item.kind, item.level, item.obligation_id, now)
        for outbox_id, item in batch.folded
    ]


async def _writer(session: AsyncSession, keep: bool) -> AsyncConnection | None:
    """On PostgreSQL, a connection of the session's engine of its own, for _Runs to store
    runs on while the session reads and decides the next (in autocommit unless the
    messages are kept: each run is then one statement); None elsewhere."""
    engine = (await session.connection()).engine
    if engine.dialect.name != "postgresql":
        return None
    writer = await engine.connect()
    if not keep:
        await writer.execution_options(isolation_level="AUTOCOMMIT")
    return writer


class _Runs:
    """Writes decisions in runs of `size` people, each committed, `on_commit` awaited after
    each (`size` None: one run, in the session's transaction, not committed); after the
    first run has woken the sender, runs of RUN_GROWTH × `size`. Each person's decisions
    must come together, in one call of `add`: they are one message, so never split between
    two runs.

    On PostgreSQL a run is stored and committed on a connection of its own (_writer), in a
    task, while the next run is read and rendered on the session: the server inserts runs
    (most of the sweep's time there: its indexes and foreign keys) while this process
    decides the next. Up to WRITERS runs are stored at once, each on its own connection
    (one when the messages are kept: they are kept in the order of the runs); `wait` waits
    for them, `close`, after an error, stops them (their statements rolled back). On SQLite
    the runs are stored on the session: its driver is a thread of this process, which the
    two would share, and the write lock would be held while the next run is prepared."""

    def __init__(self, session: AsyncSession, render: _Renderer, now: dt.datetime,
                 dry_run: bool, size: int | None, on_commit: OnCommit | None,
                 keep: bool) -> None:
        self.session, self.render, self.now, self.dry_run = session, render, now, dry_run
        self.size, self.on_commit, self.keep = size, on_commit, keep
        self.later = size * RUN_GROWTH if size is not None else None
        self.run: list[Decision] = []
        self.people: set[int] = set()
        self.fresh: list[Decision] = []
        self.written: list[OutboxMessage] = []
        self.count = 0
        self.depth = 1 if keep else WRITERS
        self.idle: list[AsyncConnection] = []  # writers with nothing to store
        self.storing: list[tuple[asyncio.Future[None], AsyncConnection]] = []

    async def add(self, decisions: list[Decision]) -> None:
        self.render.expect(decisions)
        for decision in decisions:
            member = decision.recipient.member_id
            if (self.size is not None and member not in self.people
                    and len(self.people) >= self.size):
                await self.flush()
            self.run.append(decision)
            self.people.add(member)
        if self.size is not None and len(self.people) >= self.size:
            # A full run, all of whose people's decisions are here (each call gives whole
            # people): written now, not when the next part is read.
            await self.flush()

    async def flush(self) -> None:
        if not self.run:
            return
        run, self.run, self.people = self.run, [], set()
        fresh, batch = await _prepare(self.session, run, self.render, self.now, self.dry_run)
        gc.freeze()  # see _stream
        if self.keep:
            self.fresh += fresh
        if not batch.rows and not batch.folded:
            return
        if self.size is not None:
            if len(self.storing) >= self.depth:
                await self._oldest()
            writer = self.idle.pop() if self.idle else await _writer(self.session, self.keep)
            if writer is not None:
                self.storing.append(
                    (asyncio.ensure_future(self._store_apart(writer, batch)), writer))
                self.size = self.later
                return
        self._wrote(await _store(await _core(self.session), batch, self.now, self.keep))
        if self.size is None:  # one run, in the caller's transaction
            await self.session.flush()
            return
        await self.session.commit()
        await self._committed()
        self.size = self.later

    async def _store_apart(self, writer: AsyncConnection, batch: _Batch) -> None:
        if self.keep:
            async with writer.begin():
                self._wrote(await _store(writer, batch, self.now, self.keep))
        else:
            # One statement, committed as it ends: a single round trip, so the server is
            # not left waiting between statements for a loop busy with the next run.
            self._wrote(await _store_linked(writer, batch, self.now))
        await self._committed()

    def _wrote(self, written: list[OutboxMessage] | int) -> None:
        if isinstance(written, int):
            self.count += written
        else:
            self.count += len(written)
            self.written += written

    async def _committed(self) -> None:
        if self.on_commit is not None:
            await self.on_commit(self.count)

    async def _oldest(self) -> None:
        """Wait for the first run being stored (its error raised here); its writer idles."""
        storing, writer = self.storing.pop(0)
        try:
            await storing
        except BaseException:
            self.storing.append((storing, writer))  # for close
            raise
        self.idle.append(writer)

    async def wait(self) -> None:
        """Wait for the runs being stored, in order."""
        while self.storing:
            await self._oldest()

    async def close(self) -> None:
        """Stop the runs being stored, if any (after an error: they have not been waited
        for), and give the writers' connections back."""
        storing, self.storing = self.storing, []
        try:
            for future, _writer in storing:
                future.cancel()
            await asyncio.gather(*[future for future, _writer in storing],
                                 return_exceptions=True)
        finally:
            writers = self.idle + [writer for _future, writer in storing]
            self.idle = []
            for writer in writers:
                await writer.close()


# The youngest generation's threshold during a sweep (CPython's default: 700 allocations).
SWEEP_GC_THRESHOLD = 20_000
# The sweeps under way in this process, and the collector's thresholds before the first.
_under_way: list[tuple[int, ...]] = []


@contextlib.contextmanager
def _collector_for_bulk() -> Iterator[None]:
    """The cyclic collector, while sweeps run: what the sweep loads and decides lives until
    its run is written and holds no reference cycle. Frozen (here, and after each part and
    run), the collector does not walk it again and again as the sweep allocates; the
    youngest generation is collected after SWEEP_GC_THRESHOLD allocations, not 700, so that
    most of a run's objects are freed (by their counts) before a collection sees them. At
    100,000 members that walking was a quarter of the sweep. Unfrozen and back to the usual
    thresholds when the last sweep of the process ends."""
    before = gc.get_threshold()
    if not _under_way:
        gc.set_threshold(max(before[0], SWEEP_GC_THRESHOLD), *before[1:])
    _under_way.append(before)
    gc.freeze()
    try:
        yield
    finally:
        first = _under_way[0]
        _under_way.pop()
        if not _under_way:
            gc.unfreeze()
            gc.set_threshold(*first)


async def run_sweep(
    session: AsyncSession, now: dt.datetime, tz: ZoneInfo, dry_run: bool = False, *,
    commit_every: int | None = None, on_commit: OnCommit | None = None,
    keep_written: bool = True,
) -> SweepResult:
    """One sweep: load, decide, write the outbox.

    By default everything is written in the caller's transaction. `commit_every`: the
    messages are written and committed in runs of about that many people (the session must
    not be inside `session.begin()`; the arrivals notice and the audit entry are left for
    the caller to commit), `on_commit` awaited after each; the agencies' people are then
    loaded and decided a part at a time (_stream), so the first run is committed (and the
    sender woken) long before the last people are read. A sweep stopped half-way (a crash,
    another sweeper's rows) leaves whole messages: what it did not write, the next sweep
    writes, as the dedupe keys say what was sent. `keep_written=False`: the written rows
    are not kept in the result (SweepResult.count says how many), so memory does not grow
    with them."""
    with _collector_for_bulk():
        if commit_every is not None:
            snapshot, runs = await _stream(session, now, tz, dry_run, commit_every, on_commit,
                                           keep_written)
        else:
            snapshot = await load_snapshot(session, now, tz)
            gc.freeze()
            decisions = decide(now, snapshot, tz)
            gc.freeze()
            runs = _Runs(session, _Renderer(session, {o.id: o for o in snapshot.obligations},
                                            now, tz),
                         now, dry_run, None, None, keep_written)
            await runs.add(decisions)
            await runs.flush()
        return await _finish_sweep(session, snapshot, runs, now, tz, dry_run, keep_written)


async def _stream(session: AsyncSession, now: dt.datetime, tz: ZoneInfo, dry_run: bool,
                  size: int, on_commit: OnCommit | None, keep_written: bool,
                  ) -> tuple[Snapshot, _Runs]:
    """The sweep in parts: the obligations and the committees' people first (few), then the
    agencies' people ID_CHUNK agencies at a time, each part decided (decide_personal) and
    written in runs before the next is read; the digests last. A person the digests may
    reach (a committee level's) gets their own reports and their digest in one message, as
    in one transaction: their personal decisions wait for the digests. The snapshot returned
    has no Snapshot.members (they were read a part at a time and not kept)."""
    committees, obligations = await _obligations(session, now, tz)
    by_level: dict[int, dict[str, list[Recipient]]] = {}
    if committees:
        _file(await _people(session, set(), list(committees)), set(), committees, {},
              by_level, {})
    leaders = _leaders(by_level)
    snapshot = Snapshot(committees=committees, obligations=obligations, members={},
                        by_level=by_level, blocked=await _blocked(session, committees, now),
                        last_digests=await last_digests(session, leaders, now, tz))
    gc.freeze()
    by_agency: dict[int, list[ObligationView]] = defaultdict(list)
    for o in obligations:
        by_agency[o.agency_id].append(o)
    runs = _Runs(session, _Renderer(session, {o.id: o for o in obligations}, now, tz), now,
                 dry_run, size, on_commit, keep_written)
    try:
        counts: dict[int, int] = {}  # agency id -> its people (digest_lines)
        held: ByPerson = {}
        # A small first part, so that the first run (and the sender) starts soon.
        agency_ids = sorted(by_agency) if committees else []
        first = agency_ids[:FIRST_PART]
        for chunk in [first, *_chunks(agency_ids[FIRST_PART:])] if first else []:
            members: dict[int, list[Recipient]] = {}
            _file(await _people(session, set(chunk), []), set(chunk), {}, members, {}, {})
            by_person: ByPerson = {}
            decide_personal(now, Snapshot(committees=committees,
                                          obligations=[o for a in chunk for o in by_agency[a]],
                                          members=members), tz, by_person)
            counts.update((agency_id, len(members.get(agency_id, ()))) for agency_id in chunk)
            decisions: list[Decision] = []
            for key, decision in by_person.items():
                if key[0] in leaders:
                    held[key] = decision
                else:
                    decisions.append(decision)
            # Agency by agency: its people's messages are one rendering, converted to JSON once
            # per run (db.bulk) when they are in the same run.
            decisions.sort(key=lambda d: (d.recipient.agency_id or 0, d.recipient.member_id,
                                          d.kind))
            del members, by_person
            # Frozen too (see run_sweep): the collector's full passes over each part's people
            # and decisions, alive until their run is written, were a quarter of the sweep.
            gc.freeze()
            await runs.add(decisions)
        lines = digest_lines(now, snapshot, tz, counts)
        decide_digests(now, snapshot, tz, lines, held)
        await runs.add(finish(now, snapshot, tz, lines, held))
        await runs.flush()
        await runs.wait()
    finally:
        await runs.close()
    return snapshot, runs


async def _finish_sweep(session: AsyncSession, snapshot: Snapshot, runs: _Runs,
                        now: dt.datetime, tz: ZoneInfo, dry_run: bool,
                        keep_written: bool) -> SweepResult:
    count = runs.count
    written = runs.written
    if not dry_run:
        # The office's «new reports» notice, at most hourly (scheduler.arrivals).
        arrivals = await write_arrivals(session, now, tz)
        count += len(arrivals)
        if keep_written:
            written += arrivals
    if count:
        record(session, "sweep.run", actor_label="sweep", details={"messages": count},
               now=now)
    return SweepResult(runs.fresh, written, snapshot, count)


def decision_json(decision: Decision, snapshot: Snapshot) -> dict[str, Any]:
    by_id = {o.id: o for o in snapshot.obligations}
    obligation_ids = [i.obligation_id for i in decision.items if i.obligation_id is not None]
    obligation_ids += [oid for oid, _late in decision.lines]
    return {
        "recipient": decision.recipient.chat_id,
        "member": decision.recipient.member_id,
        "kind": decision.kind,
        "level": decision.level,
        "obligations": [
            {"id": oid, "agency": by_id[oid].agency_name, "schedule": by_id[oid].schedule_name,
             "period": by_id[oid].period_key}
            for oid in obligation_ids if oid in by_id
        ],
        "dedupe_key": decision.items[0].dedupe_key if decision.items else None,
        "dedupe_keys": [i.dedupe_key for i in decision.items],
        # Digests: reports now due to be reported to a level nobody in the bot is.
        "outside": [
            {"level": level, "label": label, "id": oid,
             "agency": by_id[oid].agency_name if oid in by_id else None}
            for level, label, oid in decision.outside
        ],
    }
