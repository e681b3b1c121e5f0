"""The escalation chain is data the sweep interprets (scheduler.levels, scheduler.sweep).

- a plan step can only name a level of the table; any other word (`admin`, a typo) is
  refused with file, line and reason;
- a chain with more steps than the shipped plans (a level reached twice, two levels
  outside the committee) is swept with no change to the code;
- a level added to the table is reached by the sweep with no change to decide();
- the admin's edit of a schedule's chain (scheduler.escalation_edit) writes what the sweep
  and the plan schema read.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import typing
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from core import planfile
from core.calendar import WorkCalendar
from core.planfile import PlanFileError, load_plan
from core.yamlsource import SourceError
from scheduler import levels
from scheduler.escalation_edit import escalation_with_delays
from scheduler.levels import Level
from scheduler.sweep import (
    ABOVE_CONSOLIDATING,
    CommitteeView,
    Decision,
    ObligationView,
    Policy,
    Recipient,
    Snapshot,
    decide,
)

ROOT = Path(__file__).resolve().parent.parent
MINI = (ROOT / "tests" / "data" / "mini-plan.yaml").read_text(encoding="utf-8")
TZ = ZoneInfo("Asia/Ho_Chi_Minh")
ANCHOR = "  holiday: keep\n"


# ------------------------------------------------------------------ the plan schema


def chain_text(*steps: str) -> str:
    assert MINI.count(ANCHOR) == 1
    return MINI.replace(ANCHOR, ANCHOR + "  escalation:\n    steps:\n" + "".join(
        f"      - {step}\n" for step in steps))


def refusal(tmp_path: Path, text: str) -> list[SourceError]:
    path = tmp_path / "plan.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PlanFileError) as info:
        load_plan(path)
    assert info.value.errors
    return info.value.errors


def line_of(text: str, needle: str) -> int:
    assert text.count(needle) == 1, needle
    return text[: text.index(needle)].count("\n") + 1


@pytest.mark.parametrize("word", ["admin", "mayor"])
def test_a_step_naming_no_level_is_refused(word: str, tmp_path: Path) -> None:
    """`admin` is a member role, not a level; `mayor` is no word of the schema at all."""
    bad = f"{{after_days: 3, to: [{word}]}}"
    text = chain_text("{after_days: 1, to: [reporter, head]}", bad)
    [error] = refusal(tmp_path, text)
    assert error.file == str(tmp_path / "plan.yaml")
    assert (error.line, error.path) == (line_of(text, bad), "defaults.escalation.steps[1].to[0]")
    assert "Input should be 'reporter', 'head', 'consolidating'" in error.reason
    assert word not in error.reason


def test_the_schema_words_are_the_levels_of_the_table() -> None:
    """One record in scheduler.levels and its word in core.planfile.EscalationTarget: a
    level in one and not the other would be refused, or never swept."""
    assert list(typing.get_args(planfile.EscalationTarget)) == [
        level.name for level in levels.LEVEL_TABLE]
    assert planfile.ABOVE_CONSOLIDATING == ABOVE_CONSOLIDATING


# ------------------------------------------------------------------ a longer chain, swept

COMMITTEE, WARD, OFFICE, SO_AGENCY = 1, 10, 20, 30
REPORTER = Recipient(101, 7101, frozenset({"reporter"}), WARD)
DESK = Recipient(201, 7201, frozenset({"standing_office"}), OFFICE)
SO_STAFF = Recipient(301, 7301, frozenset({"standing_office"}), SO_AGENCY)
CHAIR = Recipient(401, 7401, frozenset({"chair"}), None)
# Thursday 31/3/2022 is the last day; Friday 1/4 is the first morning late (1 day late).
LAST_DAY = dt.date(2022, 3, 31)
VICE_CHAIR_LABEL, PEOPLE_COMMITTEE_LABEL = "Phó Chủ tịch UBND", "Chủ tịch UBND"


def committee(standing_office: int | None = SO_AGENCY) -> CommitteeView:
    return CommitteeView(id=COMMITTEE, standing_office_agency_id=standing_office,
                         consolidating_agency_id=OFFICE, calendar=WorkCalendar.from_dict({}))


def obligation(policy: Policy) -> ObligationView:
    return ObligationView(
        id=1, committee_id=COMMITTEE, agency_id=WARD, agency_name="Phường Cát Linh",
        schedule_name="Báo cáo tháng", period_type="monthly", period_key="2022-03",
        period_start=dt.date(2022, 3, 1), due_at=dt.datetime(2022, 4, 1, tzinfo=TZ),
        plan_ends_on=dt.date(2022, 12, 31), policy=policy)


def snapshot(policy: Policy, by_level: dict[str, list[Recipient]],
             standing_office: int | None = SO_AGENCY) -> Snapshot:
    return Snapshot(committees={COMMITTEE: committee(standing_office)},
                    obligations=[obligation(policy)], members={WARD: [REPORTER]},
                    by_level={COMMITTEE: by_level})


def digests(snap: Snapshot, late: int) -> dict[int, Decision]:
    now = dt.datetime.combine(LAST_DAY + dt.timedelta(days=late), dt.time(9, 0), TZ)
    assert now.weekday() < 5, now  # a working day: digests go out
    return {d.recipient.member_id: d for d in decide(now, snap, TZ)
            if d.kind in ("digest", "weekly")}


LONG_CHAIN = {
    "steps": [
        {"after_days": 1, "to": ["reporter", "head"]},
        {"after_days": 3, "to": ["consolidating"]},
        {"after_days": 5, "to": ["consolidating"]},  # a second reminder of the desk
        {"after_days": 6, "to": ["standing_office"]},
        {"after_days": 7, "to": ["chair"]},
        {"after_days": 12, "to": ["chair", "external"], "label": VICE_CHAIR_LABEL},
        {"after_days": 14, "to": ["external"], "label": PEOPLE_COMMITTEE_LABEL},
    ],
    "repeat_every": 5, "rounds": 5, "stop_after_plan_days": 60,
}


def test_a_chain_of_seven_steps_is_interpreted_without_code() -> None:
    """Each level lists the report from its first step on; a level named twice changes
    nothing after its first step; each level outside the committee is its own line, from
    its own step."""
    policy = Policy.from_rows([7, 3, 1, 0], LONG_CHAIN)
    assert policy.levels() == ["reporter", "head", "consolidating", "standing_office",
                               "chair", "external"]
    assert policy.external == ((12, VICE_CHAIR_LABEL), (14, PEOPLE_COMMITTEE_LABEL))
    snap = snapshot(policy, {"consolidating": [DESK], "standing_office": [SO_STAFF],
                             "chair": [CHAIR]})
    seen = {}
    # Days late of working mornings: Mon 4/4 = 4, Tue 5/4 = 5, Wed 6/4 = 6, Thu 7/4 = 7,
    # Tue 12/4 = 12, Thu 14/4 = 14 (Mon 11/4 is Giỗ Tổ Hùng Vương).
    for late in (4, 5, 6, 7, 12, 14):
        seen[late] = {member: (d.level, d.lines, d.outside)
                      for member, d in digests(snap, late).items()}
    assert seen[4] == {201: (2, [(1, 4)], [])}
    assert seen[5] == {201: (2, [(1, 5)], [])}
    assert seen[6] == {201: (2, [(1, 6)], []), 301: (3, [(1, 6)], [])}
    assert seen[7] == {201: (2, [(1, 7)], []), 301: (3, [(1, 7)], []),
                       401: (4, [(1, 7)], [])}
    vice = [("external", VICE_CHAIR_LABEL, 1)]
    assert seen[12] == {201: (2, [(1, 12)], vice), 301: (3, [(1, 12)], vice),
                        401: (4, [(1, 12)], vice)}
    both = [*vice, ("external", PEOPLE_COMMITTEE_LABEL, 1)]
    assert seen[14] == {201: (2, [(1, 14)], both), 301: (3, [(1, 14)], both),
                        401: (4, [(1, 14)], both)}


def test_the_same_chain_without_its_extra_steps_decides_the_same_until_they_differ() -> None:
    """The second desk step and the repeated chair step add nothing: the chain without them
    (and without the second outside level) decides the same on every day before day 14."""
    short = dict(LONG_CHAIN, steps=[s for i, s in enumerate(LONG_CHAIN["steps"])
                                    if i not in (2, 6)])
    people = {"consolidating": [DESK], "standing_office": [SO_STAFF], "chair": [CHAIR]}
    long_snap = snapshot(Policy.from_rows([7, 3, 1, 0], LONG_CHAIN), people)
    short_snap = snapshot(Policy.from_rows([7, 3, 1, 0], short), people)
    start = dt.datetime.combine(LAST_DAY - dt.timedelta(days=10), dt.time(9, 0), TZ)
    for day in range(23):  # from 10 days before the last day to 12 days late
        now = start + dt.timedelta(days=day)
        assert decide(now, long_snap, TZ) == decide(now, short_snap, TZ), now


def test_a_standing_office_without_an_agency_is_a_line_from_its_step() -> None:
    policy = Policy.from_rows([7, 3, 1, 0], LONG_CHAIN)
    snap = snapshot(policy, {"consolidating": [DESK], "chair": [CHAIR]}, standing_office=None)
    assert digests(snap, 5)[201].outside == []
    assert digests(snap, 6)[201].outside == [("standing_office", None, 1)]
    # The chair is above it: no line about a level below.
    assert digests(snap, 7)[401].outside == []


# ------------------------------------------------------------------ a level added to the table


def test_a_level_added_to_the_table_is_swept_without_changing_decide(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A vice chair between the chair and the level outside: one record in the table (the
    plan schema would gain its word); the snapshot files its people under its name."""
    vice = Level("vice_chair", 5, "committee", "vice chair", escalated_only=True)
    table = list(levels.LEVEL_TABLE)
    chair_at = next(i for i, level in enumerate(table) if level.name == "chair")
    table.insert(chair_at + 1, vice)
    table = [dataclasses.replace(level, rank=6) if level.name == "external" else level
             for level in table]
    monkeypatch.setattr(levels, "LEVEL_TABLE", tuple(table))

    vice_person = Recipient(501, 7501, frozenset({"chair"}), None)
    chain = {"steps": [{"after_days": 1, "to": ["reporter", "head"]},
                       {"after_days": 3, "to": ["consolidating"]},
                       {"after_days": 7, "to": ["chair"]},
                       {"after_days": 12, "to": ["vice_chair"]},
                       {"after_days": 14, "to": ["external"], "label": VICE_CHAIR_LABEL}]}
    policy = Policy.from_rows([7, 3, 1, 0], chain)
    assert policy.levels() == ["reporter", "head", "consolidating", "chair", "vice_chair",
                               "external"]
    snap = snapshot(policy, {"consolidating": [DESK], "chair": [CHAIR],
                             "vice_chair": [vice_person]})
    assert set(digests(snap, 7)) == {201, 401}
    at12 = digests(snap, 12)
    assert (at12[501].level, at12[501].lines) == (5, [(1, 12)])
    at14 = digests(snap, 14)
    assert at14[501].outside == [("external", VICE_CHAIR_LABEL, 1)]
    # An agency whose reports the plan only requests never reaches it.
    requested = dataclasses.replace(snap, obligations=[
        dataclasses.replace(snap.obligations[0], escalate=False)])
    assert set(digests(requested, 14)) == {201}


# ------------------------------------------------------------------ the admin's edit


def test_the_admin_edit_keeps_the_levels_it_does_not_set() -> None:
    stored = planfile.Escalation.model_validate(LONG_CHAIN).model_dump(
        mode="json", exclude_none=True)
    new = escalation_with_delays(
        stored, {"reporter": 2, "head": 2, "consolidating": 4, "chair": 8},
        repeat_every=3, rounds=4)
    assert new["steps"] == [
        {"after_days": 2, "to": ["reporter", "head"]},
        {"after_days": 4, "to": ["consolidating"]},
        {"after_days": 6, "to": ["standing_office"]},
        {"after_days": 8, "to": ["chair"]},
        {"after_days": 12, "to": ["external"], "label": VICE_CHAIR_LABEL},
        {"after_days": 14, "to": ["external"], "label": PEOPLE_COMMITTEE_LABEL},
    ]
    assert (new["repeat_every"], new["rounds"]) == (3, 4)
    policy = Policy.from_rows(None, new)
    assert (policy.level_after("consolidating"), policy.desk_after()) == (4, 4)
    assert policy.external == ((12, VICE_CHAIR_LABEL), (14, PEOPLE_COMMITTEE_LABEL))


def test_the_admin_edit_of_an_old_chain_replaces_the_step_its_desk_followed() -> None:
    old = {"steps": [{"after_days": 1, "to": ["reporter", "head"]},
                     {"after_days": 3, "to": ["standing_office"]},
                     {"after_days": 7, "to": ["chair"]}]}
    new = escalation_with_delays(old, {"reporter": 1, "head": 1, "consolidating": 2,
                                       "chair": 5}, repeat_every=5, rounds=5)
    assert [(s["after_days"], s["to"]) for s in new["steps"]] == [
        (1, ["reporter", "head"]), (2, ["consolidating"]), (5, ["chair"])]


@pytest.mark.parametrize("delays", [{"admin": 3}, {"reporter": 400}])
def test_the_admin_edit_refuses_what_the_plan_schema_refuses(delays: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        escalation_with_delays({}, delays, repeat_every=5, rounds=5)
