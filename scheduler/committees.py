"""A committee as the sweep and the arrivals notice see it (CommitteeView): its calendar,
quiet hours, digest time and pauses from its plan's calendar, its agencies and labels."""

from __future__ import annotations

import datetime as dt
from typing import Any

from core.calendar import WorkCalendar
from db.models import Committee
from scheduler.sweep import CommitteeView


def hhmm(text: str, default: dt.time) -> dt.time:
    """«21:00» as a time; `default` for anything else."""
    try:
        hh, mm = (int(x) for x in text.split(":"))
        return dt.time(hh, mm)
    except (ValueError, AttributeError):
        return default


def committee_view(committee_id: int, committee: Committee | None,
                   calendar: dict[str, Any] | None) -> CommitteeView:
    """The committee (None: its row is gone) with its plan's calendar."""
    cal = calendar or {}
    quiet = str(cal.get("quiet_hours", "21:00-07:00")).split("-")
    return CommitteeView(
        id=committee_id,
        standing_office_agency_id=committee.standing_office_id if committee else None,
        consolidating_agency_id=committee.consolidating_id if committee else None,
        labels=tuple(sorted(
            (str(role), str(label))
            for role, label in ((committee.role_labels or {}) if committee else {}).items()
            if label)),
        calendar=WorkCalendar.from_dict(cal),
        quiet_start=hhmm(quiet[0], dt.time(21, 0)),
        quiet_end=hhmm(quiet[-1], dt.time(7, 0)),
        digest_time=hhmm(str(cal.get("digest_time", "08:00")), dt.time(8, 0)),
        pauses=tuple((dt.date.fromisoformat(a), dt.date.fromisoformat(b))
                     for a, b in cal.get("pauses", [])),
    )
