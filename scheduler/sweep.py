"""The sweep's decisions: a pure function of a snapshot of open obligations and `now`.

For each open obligation it finds the one step that is due now, if any:
- a *notice* when the period opens (or `notice_days` before the deadline);
- a *reminder* at the latest reminder offset that has arrived (7, 3, 1 days before, and 0:
  the morning of the last day); a reminder whose day is not a working day (or is paused)
  goes out on the working day before, so none is skipped and the last one always goes out
  on the last working day before the deadline; offsets that land on the same morning are
  one reminder;
- an *overdue* message to the reporters and the head, once per escalation round (level 1);
and, once per working day at the digest time, a *digest* for each committee level of the
plan's chain (scheduler.levels.LEVEL_TABLE, each after its own number of days), to the people
the snapshot files under that level (Snapshot.by_level):
- `consolidating` (the desk): a report of an agency nobody can be reminded at goes to them
  after 1 day; if the chain has no step of its own for them, they list a report from its
  first committee step on (Policy.desk_after); after R rounds they alone get a weekly summary;
- `standing_office`: the committee's standing office, when the plan names it as an agency;
- `chair`: the chairs;
- `external`: a level outside the committee, nobody in the bot: the digests of the levels
  below it get one line saying which reports are now due to be reported there (by the
  step's label). So does a `standing_office` step when the plan names no standing office
  agency (nobody in the bot is it).
An agency that does not escalate (ObligationView.escalate: the plan only requests its
reports) never reaches `standing_office`, `chair` or `external`: it gets its reminders and
its own overdue notices, and the consolidating agency lists it late.
What each level is (who hears, whether it gets digests, whether only escalating agencies
reach it) is data of the table; decide() walks the plan's steps and that table, so a chain
of any number of steps, and a level added to the table, need no change here.

Every item has a dedupe key that says what it is about; the wrapper stores items with a
unique index, so a second sweep, or two at once, add nothing. Items for one person in one
sweep become one message.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from core.calendar import WorkCalendar
from scheduler import levels
from scheduler.levels import Level

MORNING = dt.time(8, 0)

# level name -> rank (Decision.level, OutboxItem.level), in the order the chain climbs; the
# levels themselves are scheduler.levels.LEVEL_TABLE.
LEVELS: dict[str, int] = levels.ranks()
# Levels an agency that does not escalate never reaches (core.planfile.ABOVE_CONSOLIDATING).
ABOVE_CONSOLIDATING = frozenset(name for name in LEVELS if levels.escalated_only(name))


@dataclass(frozen=True)
class Policy:
    """A schedule's reminder and escalation settings (from the plan file)."""

    reminders: tuple[int, ...] = (7, 3, 1, 0)
    notice_days: int | None = None  # None: notice when the period opens
    # (after_days, roles) per escalation step, increasing after_days
    steps: tuple[tuple[int, tuple[str, ...]], ...] = (
        (1, ("reporter", "head")), (3, ("standing_office",)), (7, ("chair",)),
    )
    repeat_every: int = 5  # working days between rounds
    rounds: int = 5
    stop_after_plan_days: int = 60
    # Each step's label (the plan's name for a level outside the committee), aligned with
    # `steps`; () when no step has one. Data of the plan, never a default.
    step_labels: tuple[str | None, ...] = ()
    # How often a leader's digest may come (escalation.digest in the plan): "daily" (at most
    # once a working day, only when what it lists changed) or "weekly" (at most once a week).
    digest: str = "daily"

    @classmethod
    def from_rows(cls, reminders: Iterable[int] | None,
                  escalation: dict[str, Any] | None) -> Policy:
        esc = escalation or {}
        raw_steps = esc.get("steps", [])
        steps = tuple(
            (int(s["after_days"]), tuple(s["to"])) for s in raw_steps
        ) or cls.steps
        labels = tuple(s.get("label") or None for s in raw_steps)
        return cls(
            # None means "not set" (defaults); an empty list means "no reminders".
            reminders=cls.reminders if reminders is None
            else tuple(sorted({int(r) for r in reminders}, reverse=True)),
            steps=steps,
            repeat_every=int(esc.get("repeat_every", 5)),
            rounds=int(esc.get("rounds", 5)),
            stop_after_plan_days=int(esc.get("stop_after_plan_days", 60)),
            step_labels=labels if any(labels) else (),
            digest="weekly" if esc.get("digest") == "weekly" else "daily",
        )

    def level_after(self, role: str) -> int | None:
        """After how many days the chain first reaches `role` (a level name), or None."""
        for after_days, roles in self.steps:
            if role in roles:
                return after_days
        return None

    def steps_to(self, level: str) -> list[tuple[int, str | None]]:
        """(after_days, the step's label) of every step that names `level`, in order."""
        return [
            (after, self.step_labels[i] if i < len(self.step_labels) else None)
            for i, (after, roles) in enumerate(self.steps) if level in roles
        ]

    @property
    def external(self) -> tuple[tuple[int, str], ...]:
        """(after_days, label) of the steps to the level outside the committee."""
        return tuple((after, label or "") for after, label in self.steps_to("external"))

    def desk_after(self) -> int | None:
        """After how many days the desk (the consolidating agency: Level.desk)
        lists a late report: its own step, else the chain's first step above it (a chain
        written before the consolidating agency was a level of its own: its
        `standing_office` was that agency). The desk that receives the reports always sees
        who is late, whoever else is told; None only for a chain that stops at the agency's
        own people."""
        for level in levels.above(levels.desk()):
            after = self.level_after(level.name)
            if after is not None:
                return after
        return None

    def levels(self) -> list[str]:
        """The levels the chain names, each once, in the order they climb (LEVEL_TABLE)."""
        named = {role for _after, roles in self.steps for role in roles}
        return [level.name for level in levels.LEVEL_TABLE if level.name in named]


@dataclass(frozen=True)
class Recipient:
    member_id: int
    chat_id: int
    roles: frozenset[str]
    agency_id: int | None
    language: str = "vi"


@dataclass(frozen=True)
class CommitteeView:
    id: int
    # The committee's standing office (Thường trực), when the plan names it as an agency;
    # None: nobody in the bot is the standing_office level.
    standing_office_agency_id: int | None
    calendar: WorkCalendar
    quiet_start: dt.time = dt.time(21, 0)
    quiet_end: dt.time = dt.time(7, 0)
    digest_time: dt.time = MORNING
    # Ranges (first day, last day) in which nothing is sent, e.g. Tết.
    pauses: tuple[tuple[dt.date, dt.date], ...] = ()
    # The agency that receives and consolidates the reports (cơ quan tổng hợp).
    consolidating_agency_id: int | None = None
    # The plan's own words for its roles, (role, label) pairs (committee.labels).
    labels: tuple[tuple[str, str], ...] = ()

    def label(self, role: str) -> str | None:
        """The plan's name for a role, or None (messages then use a generic name)."""
        return dict(self.labels).get(role)

    def agency_for(self, level: str) -> int | None:
        """The agency the committee names for a level (Committee.consolidating_id,
        Committee.standing_office_id), or None."""
        return {"consolidating": self.consolidating_agency_id,
                "standing_office": self.standing_office_agency_id}.get(level)

    def in_bot(self, level: Level) -> bool:
        """Whether the people of `level` are in the bot for this committee (else the level
        is a line in the digests of the levels below it)."""
        if level.audience == "outside":
            return False
        return not level.by_agency or self.agency_for(level.name) is not None


@dataclass(frozen=True)
class ObligationView:
    id: int
    committee_id: int
    agency_id: int
    agency_name: str
    schedule_name: str
    period_type: str
    period_key: str
    period_start: dt.date
    due_at: dt.datetime  # effective (extension applied), aware
    plan_ends_on: dt.date
    policy: Policy
    # False: the plan only requests this agency's reports; it never reaches the levels
    # only escalating agencies reach (Level.escalated_only: ABOVE_CONSOLIDATING).
    escalate: bool = True

    def reaches(self, level: str) -> bool:
        """Whether this report can be taken to `level` at all (by its agency's setting)."""
        return self.escalate or not levels.escalated_only(level)


@dataclass(frozen=True)
class Item:
    """One thing a person should be told about one obligation (or a digest line)."""

    dedupe_key: str
    kind: str  # notice | reminder | overdue | digest | weekly
    level: int
    obligation_id: int | None
    days: int = 0  # days left (reminders) or days late (overdue, digests)


@dataclass
class Decision:
    """One message to one person: all their items of this sweep."""

    recipient: Recipient
    kind: str
    level: int
    items: list[Item] = field(default_factory=list)
    committee_id: int | None = None
    # Digests: (obligation id, days late) per overdue report; agencies without an active
    # member; members who blocked the bot.
    lines: list[tuple[int, int]] = field(default_factory=list)
    orphans: list[int] = field(default_factory=list)
    blocked: list[int] = field(default_factory=list)
    # Review outcomes and extensions: the reviewer's comment, the questions to fix, …
    extra: dict[str, Any] = field(default_factory=dict)
    # Digests: (level, its label or None, obligation id) per report now due to be reported
    # to a level nobody in the bot is (an `external` step; a `standing_office` step when the
    # plan names no standing office agency). One line per level in the message.
    outside: list[tuple[str, str | None, int]] = field(default_factory=list)
    # The plan's words for its roles (CommitteeView.labels), for the message's text.
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def dedupe_key(self) -> str:
        return self.items[0].dedupe_key if self.items else f"{self.kind}:{self.recipient.member_id}"


@dataclass(frozen=True)
class Snapshot:
    committees: dict[int, CommitteeView]
    obligations: list[ObligationView]
    # agency id -> active members
    members: dict[int, list[Recipient]]
    # committee id -> level name (a committee level of LEVEL_TABLE) -> its active people
    # (db.queries.member_levels): the consolidating agency's, the standing office's, the
    # chairs, and whatever level the table gains.
    by_level: dict[int, dict[str, list[Recipient]]] = field(default_factory=dict)
    # committee id -> members who blocked the bot since their last digest
    blocked: dict[int, list[int]] = field(default_factory=dict)
    # member id -> (local day of their last digest, what it listed: digest_listing), for the
    # digests that say only what changed (see decide: unchanged digests are skipped).
    last_digests: dict[int, tuple[dt.date, frozenset[str]]] = field(default_factory=dict)

    def at(self, committee_id: int, level: str) -> list[Recipient]:
        """The active people of one committee at one level."""
        return self.by_level.get(committee_id, {}).get(level, [])

    def level_people(self, level: str) -> dict[int, list[Recipient]]:
        """committee id -> the active people at `level`, for the committees that have any."""
        return {cid: people[level] for cid, people in self.by_level.items() if level in people}

    # Read-only views by the former fields' names, for callers not yet moved to by_level.
    @property
    def standing(self) -> dict[int, list[Recipient]]:
        return self.level_people("consolidating")

    @property
    def standing_office(self) -> dict[int, list[Recipient]]:
        return self.level_people("standing_office")

    @property
    def chairs(self) -> dict[int, list[Recipient]]:
        return self.level_people("chair")


def in_quiet_hours(local: dt.datetime, committee: CommitteeView) -> bool:
    t = local.time()
    start, end = committee.quiet_start, committee.quiet_end
    if start <= end:
        return start <= t < end
    return t >= start or t < end


def allowed_now(now: dt.datetime, committee: CommitteeView, tz: ZoneInfo) -> bool:
    """Unprompted messages go out on working days outside quiet hours only."""
    local = now.astimezone(tz)
    return may_send_on(local.date(), committee) and not in_quiet_hours(local, committee)


def _at(day: dt.date, time: dt.time, tz: ZoneInfo) -> dt.datetime:
    return dt.datetime.combine(day, time, tz)


def last_day(due_at: dt.datetime, tz: ZoneInfo) -> dt.date:
    return (due_at.astimezone(tz) - dt.timedelta(microseconds=1)).date()


def first_overdue_morning(o: ObligationView, cal: WorkCalendar, tz: ZoneInfo) -> dt.date:
    """The morning after the last day (the next working day if that one is not)."""
    return _first_overdue_morning(o.due_at, cal, tz)


@lru_cache(maxsize=4096)
def _first_overdue_morning(due_at: dt.datetime, cal: WorkCalendar, tz: ZoneInfo) -> dt.date:
    return cal.next_working_day(last_day(due_at, tz) + dt.timedelta(days=1))


@lru_cache(maxsize=4096)
def _working_days_after(day: dt.date, days: int, cal: WorkCalendar) -> dt.date:
    """cal.add_working_days, once per (day, days) of a sweep: agencies share deadlines."""
    return cal.add_working_days(day, days)


def current_round(o: ObligationView, today: dt.date, cal: WorkCalendar, tz: ZoneInfo) -> int:
    """0 for the first round of escalation, 1 after `repeat_every` working days, …"""
    return _current_round(o.due_at, o.policy.rounds, o.policy.repeat_every, today, cal, tz)


@lru_cache(maxsize=4096)
def _current_round(due_at: dt.datetime, rounds_max: int, repeat_every: int, today: dt.date,
                   cal: WorkCalendar, tz: ZoneInfo) -> int:
    # Every agency of a period shares its deadline: counted once per deadline and day, not
    # per report and level (at a province's scale the sweep's main cost without it).
    start = _first_overdue_morning(due_at, cal, tz)
    if today < start:
        return -1
    rounds = 0
    boundary = start
    # Past the last round the exact number no longer matters: stop counting there, so an
    # old unsubmitted report costs the same every day.
    while rounds <= rounds_max:
        boundary = cal.add_working_days(boundary, repeat_every)
        if boundary > today:
            return rounds
        rounds += 1
    return rounds


def _days_late(o: ObligationView, today: dt.date, tz: ZoneInfo) -> int:
    return max(1, (today - last_day(o.due_at, tz)).days)


def may_send_on(day: dt.date, committee: CommitteeView) -> bool:
    """Whether unprompted messages go out on `day` at all: a working day outside any pause."""
    return committee.calendar.is_working_day(day) and not any(
        start <= day <= end for start, end in committee.pauses
    )


def reminder_day(nominal: dt.date, due_at: dt.datetime, committee: CommitteeView,
                 tz: ZoneInfo) -> dt.date:
    """The day whose morning a reminder meant for `nominal` goes out: `nominal` itself when
    messages may be sent that day and its morning is before the deadline, else the latest
    earlier day that qualifies. A reminder is never skipped because its day is a weekend, a
    holiday or a pause, and the reminder for the last day (0) goes out on the last working
    day before the deadline."""
    day = nominal
    for _ in range(366):
        if may_send_on(day, committee) and _at(day, MORNING, tz) < due_at:
            return day
        day -= dt.timedelta(days=1)
    return nominal  # nothing may be sent for a year before: leave it where it was


def reminder_days(o: ObligationView, committee: CommitteeView,
                  tz: ZoneInfo) -> list[tuple[int, dt.date]]:
    """(offset, day whose morning it goes out) for each of the obligation's reminders, for
    its effective deadline. Larger offsets never land after smaller ones; several offsets
    may share a day (they are then one reminder)."""
    return list(_reminder_days(o.due_at, tuple(o.policy.reminders), committee, tz))


@lru_cache(maxsize=4096)
def _reminder_days(due_at: dt.datetime, reminders: tuple[int, ...], committee: CommitteeView,
                   tz: ZoneInfo) -> tuple[tuple[int, dt.date], ...]:
    # Every agency of a period shares its deadline: computed once per deadline, not per report.
    last = last_day(due_at, tz)
    return tuple((d, reminder_day(last - dt.timedelta(days=d), due_at, committee, tz))
                 for d in reminders)


def personal_items(o: ObligationView, now: dt.datetime, committee: CommitteeView,
                   tz: ZoneInfo) -> tuple[str, list[Item]] | None:
    """What the agency's own people (reporters / head) should get now: (audience, items).

    audience is "reporters" (notice, reminder) or "level1" (reporters and head, overdue).
    """
    cal = committee.calendar
    local = now.astimezone(tz)
    today = local.date()
    if now < o.due_at:
        last = last_day(o.due_at, tz)
        offsets = [d for d, day in reminder_days(o, committee, tz) if _at(day, MORNING, tz) <= now]
        if offsets:
            # The latest reminder that has arrived. Offsets that share a morning (−1 and −0
            # of a Sunday deadline both go on Friday) are one reminder, keyed by the smallest.
            offset = min(offsets)
            # The deadline is part of the key: after an extension the reminders start over.
            return "reporters", [Item(f"reminder:{o.id}:{last.isoformat()}:{offset}",
                                      "reminder", 0, o.id,
                                      (last - today).days)]
        notice_at = (
            _at(o.period_start, MORNING, tz) if o.policy.notice_days is None
            else _at(last - dt.timedelta(o.policy.notice_days), MORNING, tz)
        )
        if notice_at <= now:
            return "reporters", [Item(f"notice:{o.id}", "notice", 0, o.id, (last - today).days)]
        return None
    if (today - o.plan_ends_on).days > o.policy.stop_after_plan_days:
        return None
    # The chain's first step to the agency's own people (reporter, else head).
    level1 = next((after for level in levels.with_audience("agency")
                   if (after := o.policy.level_after(level.name)) is not None), None)
    if level1 is None:
        return None
    round_ = current_round(o, today, cal, tz)
    if round_ < 0 or round_ >= o.policy.rounds:
        return None
    # Within a round, level 1 starts `after_days - 1` working days after the first morning
    # (after_days: 1 means the morning after the deadline).
    start = _working_days_after(first_overdue_morning(o, cal, tz),
                                round_ * o.policy.repeat_every + max(0, level1 - 1), cal)
    if _at(start, MORNING, tz) > now:
        return None
    deadline = last_day(o.due_at, tz).isoformat()
    return "level1", [Item(f"overdue:{o.id}:{deadline}:{round_}", "overdue", 1, o.id,
                           _days_late(o, today, tz))]


def outside_levels(o: ObligationView, committee: CommitteeView
                   ) -> list[tuple[str, int, str | None]]:
    """(level, after_days, label) of the steps of `o`'s chain to a level nobody in the bot
    is, in the order the chain climbs: `external` (named by the step's label), and
    `standing_office` when the plan names no standing office agency (named by the plan's
    label for it, if any): every level of LEVEL_TABLE not in the bot for `committee`
    (CommitteeView.in_bot) that `o` reaches."""
    out: list[tuple[str, int, str | None]] = []
    for level in levels.LEVEL_TABLE:
        if level.audience == "agency" or committee.in_bot(level) or not o.reaches(level.name):
            continue
        out += [(level.name, after, label or committee.label(level.name))
                for after, label in o.policy.steps_to(level.name)]
    return out


def digest_after(o: ObligationView, level: str, orphan: bool) -> int | None:
    """After how many days late `o` is listed in the digest of `level`, or None: never."""
    if not o.reaches(level):
        return None
    if levels.level(level).desk:
        # Nobody to tell at the agency: straight to the desk.
        return 1 if orphan else o.policy.desk_after()
    return o.policy.level_after(level)


def decide(now: dt.datetime, snapshot: Snapshot, tz: ZoneInfo) -> list[Decision]:
    """All messages due at `now`. Pure: same snapshot and now, same decisions."""
    by_person: dict[tuple[int, str], Decision] = {}
    decide_personal(now, snapshot, tz, by_person)
    lines = digest_lines(now, snapshot, tz, {a: len(m) for a, m in snapshot.members.items()})
    decide_digests(now, snapshot, tz, lines, by_person)
    return finish(now, snapshot, tz, lines, by_person)


# The parts of decide(), for a sweep that decides the agencies' own people a part at a time
# (scheduler.sweeper streams them) and the digests once at the end. by_person: (member id,
# "personal" | "digest") -> the person's decision, filled in by the parts.
ByPerson = dict[tuple[int, str], Decision]
# committee id -> (late report, how many of its agency's people can be reminded) per report
# a digest may list, in the snapshot's order.
DigestLines = dict[int, list[tuple[ObligationView, int]]]


def decide_personal(now: dt.datetime, snapshot: Snapshot, tz: ZoneInfo,
                    by_person: ByPerson) -> None:
    """The notices, reminders and overdue messages of the agencies' own people
    (Snapshot.members) about snapshot.obligations."""
    sending: dict[int, bool] = {}  # committee id -> allowed_now, once per committee
    # (agency, audience) -> who hears: the same few lists for every report of an agency.
    audiences: dict[tuple[int, str], list[Recipient]] = {}
    # committee id -> its labels (Decision.labels): one dict for all its people's decisions
    # (never changed in place; render_decision replaces it when it has none).
    labels: dict[int, dict[str, str]] = {}
    for o in snapshot.obligations:
        committee = snapshot.committees[o.committee_id]
        if o.committee_id not in sending:
            sending[o.committee_id] = allowed_now(now, committee, tz)
        if not sending[o.committee_id]:
            continue
        found = personal_items(o, now, committee, tz)
        if found is None:
            continue
        audience, items = found
        people = audiences.get((o.agency_id, audience))
        if people is None:
            members = snapshot.members.get(o.agency_id, [])
            if audience == "reporters":
                people = [m for m in members if "reporter" in m.roles] or [
                    m for m in members if "head" in m.roles]
            else:
                people = [m for m in members if m.roles & {"reporter", "head"}]
            audiences[(o.agency_id, audience)] = people
        # What these items make a message: the highest kind and level among them.
        kind = max((item.kind for item in items), key=_KIND_RANK.__getitem__)
        level = max(item.level for item in items)
        if committee.id not in labels:
            labels[committee.id] = dict(committee.labels)
        for person in people:
            # Items of one person merge into one message (notice/reminder/overdue together).
            mine = [Item(f"{item.dedupe_key}:{person.member_id}", item.kind, item.level,
                         item.obligation_id, item.days) for item in items]
            key = (person.member_id, "personal")
            decision = by_person.get(key)
            if decision is None:
                by_person[key] = Decision(person, kind, level, mine, committee_id=committee.id,
                                          labels=labels[committee.id])
                continue
            decision.items += mine
            if _KIND_RANK[kind] > _KIND_RANK[decision.kind]:
                decision.kind = kind
            if level > decision.level:
                decision.level = level


def digest_lines(now: dt.datetime, snapshot: Snapshot, tz: ZoneInfo,
                 counts: dict[int, int]) -> DigestLines:
    """The reports past their deadline, by committee, each with how many of its agency's
    people can be reminded (`counts`: agency id -> Snapshot.members' length; 0: nobody)."""
    lines: DigestLines = {}
    sending: dict[int, bool] = {}
    for o in snapshot.obligations:
        if o.committee_id not in sending:
            sending[o.committee_id] = allowed_now(now, snapshot.committees[o.committee_id], tz)
        if sending[o.committee_id] and now >= o.due_at:
            lines.setdefault(o.committee_id, []).append((o, counts.get(o.agency_id, 0)))
    return lines


def decide_digests(now: dt.datetime, snapshot: Snapshot, tz: ZoneInfo,
                   digest_lines: DigestLines, by_person: ByPerson) -> None:
    """The digests of the committee levels (Snapshot.by_level) listing `digest_lines`."""
    for committee_id, lines in digest_lines.items():
        committee = snapshot.committees[committee_id]
        local = now.astimezone(tz)
        if local.time() < committee.digest_time or not allowed_now(now, committee, tz):
            continue
        today = local.date()
        cal = committee.calendar
        is_monday = today.weekday() == 0
        for step_level in levels.with_audience("committee"):
            if not committee.in_bot(step_level):
                continue  # nobody in the bot is this level: a line in the others' digests
            role = step_level.name
            recipients = snapshot.at(committee_id, role)
            level = step_level.rank
            daily: list[tuple[ObligationView, int]] = []
            weekly: list[tuple[ObligationView, int]] = []
            outside: list[tuple[str, str | None, int]] = []
            for o, member_count in lines:
                if (today - o.plan_ends_on).days > o.policy.stop_after_plan_days:
                    continue
                after = digest_after(o, role, orphan=member_count == 0)
                if after is None:
                    continue
                late = _days_late(o, today, tz)
                if late < after:
                    continue
                if current_round(o, today, cal, tz) >= o.policy.rounds:
                    if step_level.desk:
                        weekly.append((o, late))
                    continue
                daily.append((o, late))
                # Levels above this one that nobody in the bot is: one line each.
                outside += [(name, label, o.id)
                            for name, days, label in outside_levels(o, committee)
                            if levels.rank(name) > level and late >= days]
            if not daily and not (weekly and is_monday):
                continue
            for person in recipients:
                # One digest per person and working day, whatever it lists; a person who is
                # at several levels (consolidating agency and chair) gets the union.
                kind = "digest" if daily else "weekly"
                listed = [(o.id, late) for o, late in daily]
                if is_monday:
                    listed += [(o.id, late) for o, late in weekly]
                decision = by_person.get((person.member_id, "digest"))
                if decision is None:
                    decision = Decision(person, kind, level, committee_id=committee_id,
                                        labels=dict(committee.labels))
                    decision.items.append(Item(
                        f"digest:{committee_id}:{today.isoformat()}:{person.member_id}", kind,
                        level, None,
                    ))
                    by_person[(person.member_id, "digest")] = decision
                else:
                    decision.level = max(decision.level, level)
                    if kind == "digest":
                        decision.kind = "digest"
                known = {oid for oid, _late in decision.lines}
                decision.lines += [line for line in listed if line[0] not in known]
                noted = set(decision.outside)
                decision.outside += [note for note in dict.fromkeys(outside)
                                     if note not in noted]


def finish(now: dt.datetime, snapshot: Snapshot, tz: ZoneInfo, digest_lines: DigestLines,
           by_person: ByPerson) -> list[Decision]:
    """The decisions of `by_person`, less the digests with no news, in member order."""
    decisions = [d for d in by_person.values() if not _unchanged_digest(d, snapshot, now, tz)]
    for d in decisions:
        if d.kind in ("digest", "weekly") and d.committee_id is not None:
            listed_ids = {obligation_id for obligation_id, _late in d.lines}
            d.orphans = sorted({o.agency_id for o, n in digest_lines.get(d.committee_id, [])
                                if n == 0 and o.id in listed_ids})
            if "standing_office" in d.recipient.roles:
                d.blocked = list(snapshot.blocked.get(d.committee_id, []))
    decisions.sort(key=lambda d: (d.recipient.member_id, d.kind))
    return decisions


def _unchanged_digest(d: Decision, snapshot: Snapshot, now: dt.datetime, tz: ZoneInfo) -> bool:
    """Whether a digest should not go out because the leader already has it.

    A leader reads a digest only when something changed: a digest that lists no late report
    (nor «outside» line) their last digest did not list (Snapshot.last_digests), while none
    of those was received meanwhile, is skipped. So that nobody is
    forgotten, the first digest of a new (ISO) week goes out even when unchanged. A plan whose
    escalation says `digest: weekly` (for every report the digest lists) gets at most one
    digest a week: the first one due in each week. A digest already written today is left to
    the dedupe key (the same key: nothing new is sent)."""
    if d.kind not in ("digest", "weekly") or d.committee_id is None:
        return False
    last = snapshot.last_digests.get(d.recipient.member_id)
    if last is None:
        return False
    last_day_, last_listed = last
    today = now.astimezone(tz).date()
    if last_day_ >= today:
        return False
    new_week = last_day_.isocalendar()[:2] != today.isocalendar()[:2]
    if new_week:
        return False
    by_id = {o.id: o for o in snapshot.obligations}
    weekly = bool(d.lines) and all(
        by_id[oid].policy.digest == "weekly" for oid, _late in d.lines if oid in by_id)
    if weekly:
        return True
    # News: a late report (or an «outside» line) the last digest did not have, or one of
    # its reports received since (no longer open). A report that only leaves the list (the
    # Monday-only lines of long-overdue reports, scheduler.sweep's `weekly`) is no news.
    listing = digest_listing(d.lines, d.outside)
    received = {x for x in last_listed - listing if ":" not in x and int(x) not in by_id}
    return not (listing - last_listed or received)


def digest_listing(lines: Iterable[tuple[int, int]],
                   outside: Iterable[tuple[str, str | None, int]]) -> frozenset[str]:
    """What a digest says, to tell whether the next one has news: the late reports it lists
    ("<obligation id>") and the reports it says are due to be reported to a level outside
    the bot ("<level>:<obligation id>"). Stored with the digest (OutboxMessage.payload
    "listed" and "outside", scheduler.sweeper.write_decisions)."""
    return frozenset([str(oid) for oid, _late in lines]
                     + [f"{level}:{oid}" for level, _label, oid in outside])


_KIND_RANK = {"notice": 0, "reminder": 1, "overdue": 2, "digest": 3, "weekly": 3}
