"""Named queries used in several places."""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum

from sqlalchemy import Select, select

from db.models import Member, MemberRole, Role


def agency_people(agency_ids: Iterable[int]) -> Select[Member]:
    """Active reporters and heads of these agencies: who hears about their reports.

    A subquery rather than JOIN + DISTINCT: PostgreSQL cannot DISTINCT over json columns."""
    with_role = select(MemberRole.member_id).where(
        MemberRole.role.in_([Role.reporter, Role.head]))
    return (select(Member)
            .where(Member.agency_id.in_(list(agency_ids)), Member.active.is_(True),
                   Member.id.in_(with_role))
            .order_by(Member.id))


def member_levels(roles: Iterable[str | Enum], agency_id: int | None,
                  consolidating_id: int | None, standing_office_id: int | None) -> set[str]:
    """The escalation levels (scheduler.levels.LEVEL_TABLE) a committee member is at, from their
    roles (db.models.Role) and agency, given the committee's consolidating agency and
    standing office agency (Committee.consolidating_id, Committee.standing_office_id):

    - reporter, head, chair: their roles;
    - role standing_office: the committee office's staff, i.e. `consolidating`; those whose
      agency is the committee's standing office agency are `standing_office` instead, or
      both when that agency is also the consolidating agency.

    The sweep's audiences (scheduler.sweeper.load_snapshot) and the plan's role labels
    (Committee.role_labels, keyed by these levels) follow it. A level added to that table
    with people in the bot needs its rule here."""
    names = {r.value if isinstance(r, Enum) else str(r) for r in roles}
    levels = names & {"reporter", "head", "chair"}
    if "standing_office" in names:
        in_office = standing_office_id is not None and agency_id == standing_office_id
        if in_office:
            levels.add("standing_office")
        if not in_office or standing_office_id == consolidating_id:
            levels.add("consolidating")
    return levels
