"""Text for the chat: periods, deadlines, statuses, questions, review, receipts.

Everything user-facing goes through gettext; plan content (labels, agency names) is data and
is HTML-escaped because messages use HTML formatting.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from core.answers import FieldSpec
from core.formatting import format_date, format_number, format_percent
from core.i18n import N_, Gettext
from core.texts import esc
from db.models import Committee, ObligationStatus, Role
from db.queries import member_levels

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
    # Imported here: scheduler.messages still imports this module (issue 12 untangles it).
    from scheduler.messages import role_name

    if role == Role.admin or committee is None:
        return _(ROLE[role])
    labels = committee.role_labels or {}
    levels = member_levels([role], agency_id, committee.consolidating_id,
                           committee.standing_office_id)
    order = ("reporter", "head", "consolidating", "standing_office", "chair")
    names = [role_name(_, labels, level) for level in order if level in levels]
    return ", ".join(dict.fromkeys(names)) or _(ROLE[role])


TYPE_HINT = {
    "integer": N_("Type a whole number, e.g. 12 or 1.234."),
    "decimal": N_("Type a number; use a comma for decimals, e.g. 12,5."),
    "percent": N_("Type a percentage, e.g. 80 or 80%."),
    "date": N_("Type a date as dd/mm/yyyy, e.g. 13/12/2022."),
    "yes_no": N_("Tap Yes or No."),
    "choice": N_("Tap one option."),
    "multi_choice": N_("Tap every option that applies, then Done."),
    "text": N_("Type your answer."),
    "long_text": N_("Type your answer."),
    "file": N_("Send the file as a document (or a photo). Accepted: {types}; up to {mb} MB."),
}


def value_text(_: Gettext, spec: FieldSpec, value: Any, locale: str = "vi") -> str:
    if value is None:
        return "—"
    match spec.type:
        case "yes_no":
            return _("Yes") if value else _("No")
        case "integer" | "decimal":
            return format_number(value, locale)
        case "percent":
            return format_percent(value, locale)
        case "date":
            return format_date(dt.date.fromisoformat(value))
        case "choice":
            return esc(dict(spec.options).get(value, value))
        case "multi_choice":
            labels = dict(spec.options)
            return esc("; ".join(labels.get(v, v) for v in value))
        case "file":
            if isinstance(value, dict):
                return "📎 " + esc(value.get("file_name") or _("attached file"))
            return "📎"
    return esc(value)
