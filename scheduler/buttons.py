"""Buttons the sweep's messages carry, declared where they are written.

The conversation answers them (handlers.committee, handlers.forms through handlers.screens)
with these same routes, so a change of their data is one version bump here.
"""

from __future__ import annotations

from core import callbacks

OPEN_REPORT = callbacks.route("o")  # a reminder or «Reports due» → the report form: o:{obligation}
REMIND_ALL = callbacks.route("ra")  # a digest → remind every late agency: ra:{committee}
DETAILS = callbacks.route("dd")  # a digest → who is late, and since when: dd:{committee}
SEEN = callbacks.route("ack")  # a digest → «seen»: ack:{committee}:{stamp}
# The arrivals notice (scheduler.arrivals) and the status screen → the review queue: rq:
REVIEW_QUEUE = callbacks.route("rq")
# «Details» pages: dd:{committee}:{page} (dd:{committee} is page 1, sent as a new message;
# a page number edits the message it is pressed on).
# A digest (office, admins) → agencies nobody can be reminded at, paged: na:{committee}:{page}
ORPHANS = callbacks.route("na")
# The office's digest and the status view → an urging letter (handlers.urging):
# ug:c:{committee} or ug:p:{schedule}:{period}; ug:s:{yyyymmdd}:… sends it.
URGE = callbacks.route("ug")
