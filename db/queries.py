"""Named queries used in several places."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Select, select

from db.models import Member, MemberRole, Role


def agency_people(agency_ids: Iterable[int]) -> Select[tuple[Member]]:
    """Active reporters and heads of these agencies: who hears about their reports.

    A subquery rather than JOIN + DISTINCT: PostgreSQL cannot DISTINCT over json columns."""
    with_role = select(MemberRole.member_id).where(
        MemberRole.role.in_([Role.reporter, Role.head]))
    return (select(Member)
            .where(Member.agency_id.in_(list(agency_ids)), Member.active.is_(True),
                   Member.id.in_(with_role))
            .order_by(Member.id))
