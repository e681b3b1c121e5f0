"""Text for the chat: periods, deadlines, statuses, questions, review, receipts.

Everything user-facing goes through gettext; plan content (labels, agency names) is data and
is HTML-escaped because messages use HTML formatting.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any
from zoneinfo import ZoneInfo

from core.fields import FIELD_TYPES
from core.fields.base import FieldSpec
from core.formatting import format_date
from core.i18n import N_, Gettext
from core.lateness import Lateness
from core.texts import esc
from db.models import Committee, ObligationStatus, Role
from db.queries import member_levels
from scheduler.messages import role_name

STATUS = {
    ObligationStatus.open: N_("not started"),
    ObligationStatus.draft: N_("draft in progress"),
    ObligationStatus.submitted: N_("submitted"),
    ObligationStatus.accepted: N_("accepted"),
    ObligationStatus.returned: N_("returned for changes"),
    ObligationStatus.waived: N_("waived"),
}
STATUS_ICON = {
    ObligationStatus.open: "⚪",
    ObligationStatus.draft: "📝",
    ObligationStatus.submitted: "✅",
    ObligationStatus.accepted: "✅",
    ObligationStatus.returned: "↩️",
    ObligationStatus.waived: "➖",
}
ROLE = {
    Role.reporter: N_("reporting official"),
    Role.head: N_("head of agency"),
    Role.standing_office: N_("standing office"),
    Role.chair: N_("committee chair"),
    Role.admin: N_("admin"),
}


def member_role_name(_: Gettext, role: Role, committee: Committee | None,
                     agency_id: int | None) -> str:
    """What a person is called in their committee, in the plan's own words: a member with the
    office role works for the consolidating agency (cơ quan tổng hợp), or for the
    committee's standing office when they belong to that agency (db.queries.member_levels)."""
    if role == Role.admin or committee is None:
        return _(ROLE[role])
    labels = committee.role_labels or {}
    levels = member_levels([role], agency_id, committee.consolidating_id,
                           committee.standing_office_id)
    order = ("reporter", "head", "consolidating", "standing_office", "chair")
    names = [role_name(_, labels, level) for level in order if level in levels]
    return ", ".join(dict.fromkeys(names)) or _(ROLE[role])


class _TypeHints(Mapping[str, str]):
    """Each registered type's hint msgid, read from the registry when asked."""

    def __getitem__(self, name: str) -> str:
        return FIELD_TYPES[name].hint_msgid

    def __iter__(self) -> Iterator[str]:
        return iter(FIELD_TYPES)

    def __len__(self) -> int:
        return len(FIELD_TYPES)


# The hint shown with each type's question (a msgid; the file hint has placeholders, so
# prefer `type_hint`, which fills them in).
TYPE_HINT: Mapping[str, str] = _TypeHints()


def type_hint(_: Gettext, spec: FieldSpec) -> str:
    """The hint shown with the question, translated and filled in."""
    return FIELD_TYPES.get(spec.type, FIELD_TYPES["text"]).hint(_, spec)


def value_text(_: Gettext, spec: FieldSpec, value: Any, locale: str = "vi") -> str:
    """An answer as a person reads it (HTML), in the words of its field's type."""
    if value is None:
        return "—"
    ftype = FIELD_TYPES.get(spec.type)
    if ftype is None:
        return esc(value)
    return ftype.value_text(_, spec, value, locale)


def lateness_text(_: Gettext, verdict: Lateness, tz: ZoneInfo, locale: str) -> str:
    """A report's timeliness as the receipt and the opened report show it (core.lateness
    decides it): on time or late, and for a supplement the time the return gave."""
    if not verdict.supplement:
        return ("⏰ " + _("Late by {n} day(s).").format(n=verdict.late_days)
                if verdict.late_days else "🟢 " + _("On time."))
    last = verdict.last_day(tz)
    assert last is not None
    date = format_date(last, locale)
    line = (
        "⏰ " + _("Supplement late by {n} day(s) (time given: until the end of {date}).").format(
            n=verdict.supplement_late_days, date=date)
        if verdict.supplement_late_days else
        "🟢 " + _("Supplement on time (time given: until the end of {date}).").format(date=date))
    if verdict.first_late_days:
        return "⏰ " + _("Late by {n} day(s).").format(n=verdict.first_late_days) + "\n" + line
    return line
