"""The levels of an escalation chain, declared once, as data.

A plan's escalation steps (core.planfile.EscalationStep) name these levels; the sweep
(scheduler.sweep.decide) interprets the steps with this table and nothing else. To add a
level: add one `Level` here, in the order the chain climbs, and its word to the plan schema
(core.planfile.EscalationTarget). Who a committee member is at each level comes from their
roles and agency (db.queries.member_levels); the sweeper files them under these names
(scheduler.sweep.Snapshot.by_level).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from core.i18n import N_

# Who is told at a level:
# - "agency": the late agency's own people (overdue notices, not digests);
# - "committee": committee members in the bot (a daily digest of late reports);
# - "outside": nobody in the bot; the digests of the levels below carry a line saying which
#   reports are now due to be reported there.
Audience = Literal["agency", "committee", "outside"]


@dataclass(frozen=True)
class Level:
    name: str  # the word in a plan's step (`to: [...]`) and in committee.labels
    rank: int  # Decision.level and OutboxItem.level of its messages
    audience: Audience
    title: str  # generic name in messages, for a plan that gives none (msgid)
    # A committee level held by an agency the committee names (CommitteeView.agency_for):
    # when it names none, nobody in the bot is this level and it is an "outside" line.
    by_agency: bool = False
    # The desk that receives the reports: it lists every late report the chain takes to
    # the committee (from its own step, else the chain's first step above it), a report of
    # an agency nobody can be reminded at after one day, and, after the last round, the
    # long-overdue ones in a weekly summary.
    desk: bool = False
    # Only agencies that escalate reach it (an agency whose reports the plan only requests
    # stops below: core.planfile.ABOVE_CONSOLIDATING).
    escalated_only: bool = False


# In the order the chain climbs.
LEVEL_TABLE: tuple[Level, ...] = (
    Level("reporter", 1, "agency", N_("reporting official")),
    Level("head", 1, "agency", N_("head of agency")),
    Level("consolidating", 2, "committee", N_("consolidating agency"), desk=True),
    Level("standing_office", 3, "committee", N_("standing office"), by_agency=True,
          escalated_only=True),
    Level("chair", 4, "committee", N_("committee chair"), escalated_only=True),
    Level("external", 5, "outside", N_("a level outside the committee"), escalated_only=True),
)

# What follows reads the table when called (a few entries: a scan costs nothing), so the
# table stays the only place a level is declared.


def level(name: str) -> Level:
    """The level a plan's step names; KeyError for a word that is no level."""
    for entry in LEVEL_TABLE:
        if entry.name == name:
            return entry
    raise KeyError(name)


def rank(name: str) -> int:
    """Decision.level of a level's messages."""
    return level(name).rank


def ranks() -> dict[str, int]:
    """level name -> rank, in the order the chain climbs."""
    return {entry.name: entry.rank for entry in LEVEL_TABLE}


def escalated_only(name: str) -> bool:
    """Whether only escalating agencies reach `name` (False for a word that is no level)."""
    return any(entry.name == name and entry.escalated_only for entry in LEVEL_TABLE)


def with_audience(audience: Audience) -> tuple[Level, ...]:
    """The levels with this audience, in climbing order."""
    return tuple(entry for entry in LEVEL_TABLE if entry.audience == audience)


def desk() -> Level:
    """The level that receives the reports (Level.desk)."""
    return next(entry for entry in LEVEL_TABLE if entry.desk)


def above(start: Level) -> tuple[Level, ...]:
    """`start` and the levels the chain climbs to after it."""
    return LEVEL_TABLE[LEVEL_TABLE.index(start):]
