"""Changing a schedule's stored escalation chain (Schedule.escalation_policy) so that the
sweep (scheduler.sweep.Policy.from_rows) reads it as the plan file would say it.

For the admin screen that edits escalation: it calls `escalation_with_delays` with the
delays the admin typed and stores the result; nothing else needs to know the levels.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from core.planfile import Escalation
from scheduler import levels


def escalation_with_delays(
    policy: Mapping[str, Any] | None, delays: Mapping[str, int], *,
    repeat_every: int, rounds: int,
) -> dict[str, Any]:
    """`policy` with the levels of `delays` (level name -> days late) reached after those
    days, and `repeat_every` / `rounds` set.

    The steps to the levels of `delays` are replaced (levels with the same delay share one
    step, in the order the chain climbs); the steps to the chain's other levels (a standing
    office, a level outside the committee with its label) are kept. In a chain with no step
    of the desk's own (written before the consolidating agency was a level of its own), the
    desk's delay replaces the step of the first level above it, which the desk followed
    (Policy.desk_after). Raises ValueError (unknown level, or a chain the plan schema
    refuses: core.planfile.Escalation)."""
    for name in delays:
        try:
            levels.level(name)
        except KeyError:
            raise ValueError(f"unknown escalation level '{name}'") from None
    old = dict(policy or {})
    steps: list[dict[str, Any]] = [dict(step) for step in old.get("steps", [])]
    replaced = set(delays)
    desk = levels.desk()
    if desk.name in delays and not any(desk.name in step.get("to", []) for step in steps):
        named = {name for step in steps for name in step.get("to", [])}
        followed = next((level.name for level in levels.above(desk)[1:]
                         if level.name in named), None)
        if followed is not None:
            replaced.add(followed)
    kept = []
    for step in steps:
        rest = [name for name in step.get("to", []) if name not in replaced]
        if not rest:
            continue
        step["to"] = rest
        if not any(levels.level(name).audience == "outside" for name in rest
                   if name in levels.ranks()):
            step.pop("label", None)  # only a level outside the committee has one
        kept.append(step)
    by_delay: dict[int, list[str]] = {}
    for level in levels.LEVEL_TABLE:  # climbing order within a step
        if level.name in delays:
            by_delay.setdefault(int(delays[level.name]), []).append(level.name)
    new_steps = [{"after_days": after, "to": names} for after, names in by_delay.items()]
    old.update(steps=sorted([*new_steps, *kept], key=lambda step: step["after_days"]),
               repeat_every=repeat_every, rounds=rounds)
    try:
        checked = Escalation.model_validate(old)
    except ValidationError as exc:
        raise ValueError(exc.errors()[0]["msg"]) from None
    return checked.model_dump(mode="json", exclude_none=True)
