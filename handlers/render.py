"""Text for the chat: periods, deadlines, statuses, questions, review, receipts.

Everything user-facing goes through gettext; plan content (labels, agency names) is data and
is HTML-escaped because messages use HTML formatting.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from core.callbacks import Route
from core.choices import Choice
from core.fields import FIELD_TYPES
from core.fields.base import FieldSpec
from core.formatting import format_date
from core.formengine import FormSpec, FormState, visible_fields
from core.i18n import N_, Gettext
from core.lateness import Lateness
from core.texts import esc, label_value
from core.versions import SKIPPED, Change, diff, unchanged_count, version_answers
from db.drafts import load_state, submission_spec
from db.models import Committee, ObligationStatus, Role, Submission, SubmissionState
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
# One sent version of a report, in the committee's words (an obligation's STATUS is its
# latest version's; a version returned and then corrected stays «changes requested»).
SUBMISSION_STATUS = {
    SubmissionState.draft: N_("draft in progress"),
    SubmissionState.submitted: N_("waiting for review"),
    SubmissionState.accepted: N_("accepted"),
    SubmissionState.returned: N_("changes requested"),
    SubmissionState.superseded: N_("changes requested"),
}
SUBMISSION_ICON = {
    SubmissionState.draft: "📝",
    SubmissionState.submitted: "⏳",
    SubmissionState.accepted: "✅",
    SubmissionState.returned: "↩️",
    SubmissionState.superseded: "↩️",
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


def _version_value(_: Gettext, spec: FieldSpec, value: Any, locale: str) -> str:
    if value is None:
        return "<i>" + _("(not in this version)") + "</i>"
    if value is SKIPPED:
        return "— " + _("(skipped)")
    return value_text(_, spec, value, locale)


def diff_lines(_: Gettext, ngettext: Callable[[str, str, int], str], changes: Sequence[Change],
               unchanged: int, old_version: int, new_version: int, locale: str) -> list[str]:
    """What changed from one version of a report to a later one (core.versions.diff), a few
    lines per changed question, for the office and for the reporter alike."""
    lines = ["🔀 " + _("<b>Changes from version {old} to version {new}</b>").format(
        old=old_version, new=new_version), ""]
    if not changes:
        lines.append(_("No answer changed."))
    for change in changes:
        lines.append(f"• <b>{esc(change.label)}</b>")
        lines.append("   " + _("Before: {value}").format(
            value=_version_value(_, change.field, change.old, locale)))
        lines.append("   " + _("Now: {value}").format(
            value=_version_value(_, change.field, change.new, locale)))
    if unchanged:
        lines.append("")
        lines.append(ngettext("(unchanged: {n} question)", "(unchanged: {n} questions)",
                              unchanged).format(n=unchanged))
    return lines


def answer_lines(_: Gettext, form: FormSpec, state: FormState, locale: str) -> list[str]:
    """A sent version's answers, numbered as the reporter saw them (among the questions
    actually asked), each shown whole: for the office's review and the reporter's own
    «Báo cáo đã gửi» alike."""
    lines = []
    for number, spec in enumerate(visible_fields(form, state.answers), start=1):
        if spec.code in state.answers:
            shown = value_text(_, spec, state.answers[spec.code], locale)
        elif spec.code in state.skipped:
            shown = "— " + _("(skipped)")
        else:
            continue
        lines.append(f"{number}. " + label_value(spec.label, shown))
    return lines


def compare_choices(open_route: Route, previous: Submission, submission: Submission
                    ) -> list[list[Choice]]:
    """Under a comparison of two versions: a button to open each (the feature's route)."""
    return [[Choice(f"📄 v{previous.version}", open_route.data(previous.id)),
             Choice(f"📄 v{submission.version}", open_route.data(submission.id))]]


async def version_changes(session: AsyncSession, _: Gettext,
                          ngettext: Callable[[str, str, int], str], previous: Submission,
                          submission: Submission, locale: str) -> list[str]:
    """What `submission` changed from the earlier sent version `previous`, question by
    question (core.versions.diff), over the questions of both versions' forms."""
    new_form = await submission_spec(session, submission)
    old_form = await submission_spec(session, previous)
    codes = {f.code for f in new_form.fields}
    fields = [*new_form.fields, *(f for f in old_form.fields if f.code not in codes)]
    new_state = await load_state(session, submission)
    old_state = await load_state(session, previous)
    new = version_answers(new_state.answers, new_state.skipped)
    old = version_answers(old_state.answers, old_state.skipped)
    return diff_lines(_, ngettext, diff(fields, old, new), unchanged_count(old, new),
                      previous.version, submission.version, locale)
