"""What changed between two versions of a report, question by question (pure).

A version's answers are a mapping from field code to the stored value, with the questions
the reporter skipped marked by `SKIPPED`; a question absent from the mapping was not asked
(hidden by skip logic, or not in that version's form). An attached file is compared as the
file it names (its name, type and size), and shown by its name.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from core.fields.base import FieldSpec


class _Skipped:
    """The marker of a skipped question (one instance, `SKIPPED`, compared with `is`)."""

    def __repr__(self) -> str:
        return "SKIPPED"


SKIPPED: Final[Any] = _Skipped()


class ChangeKind(enum.StrEnum):
    added = "added"  # answered (or skipped) in the new version only
    removed = "removed"  # in the old version only
    changed = "changed"  # in both, differently (a skip counts as an answer «skipped»)


@dataclass(frozen=True)
class Change:
    """One question that differs: its field, and each version's value (None: absent,
    `SKIPPED`: skipped, else the stored value)."""

    field: FieldSpec
    kind: ChangeKind
    old: Any
    new: Any

    @property
    def code(self) -> str:
        return self.field.code

    @property
    def label(self) -> str:
        return self.field.label


def version_answers(answers: Mapping[str, Any], skipped: Iterable[str] = ()) -> dict[str, Any]:
    """One version as `diff` reads it: its answers, and `SKIPPED` for its skipped codes."""
    out: dict[str, Any] = {code: SKIPPED for code in skipped}
    out.update(answers)
    return out


def _same(old: Any, new: Any) -> bool:
    if old is SKIPPED or new is SKIPPED:
        return old is new
    if isinstance(old, bool) != isinstance(new, bool):  # True == 1, but «Có» is not «1»
        return False
    return bool(old == new)


def _ordered(fields: Sequence[FieldSpec], codes: Iterable[str]) -> list[FieldSpec]:
    """The form's fields, then (by code) any answered question the form no longer has."""
    known = {f.code for f in fields}
    extra = sorted(set(codes) - known)
    return [*fields, *(FieldSpec(code, code, "text") for code in extra)]


def diff(fields: Sequence[FieldSpec], old_answers: Mapping[str, Any],
         new_answers: Mapping[str, Any]) -> list[Change]:
    """The questions whose answer differs between the old and the new version, in the
    form's order (`fields`; questions it does not list come last, labelled by code)."""
    changes: list[Change] = []
    for spec in _ordered(fields, [*old_answers, *new_answers]):
        in_old, in_new = spec.code in old_answers, spec.code in new_answers
        if not in_old and not in_new:
            continue
        old, new = old_answers.get(spec.code), new_answers.get(spec.code)
        if in_old and in_new:
            if not _same(old, new):
                changes.append(Change(spec, ChangeKind.changed, old, new))
        elif in_new:
            changes.append(Change(spec, ChangeKind.added, None, new))
        else:
            changes.append(Change(spec, ChangeKind.removed, old, None))
    return changes


def unchanged_count(old_answers: Mapping[str, Any], new_answers: Mapping[str, Any]) -> int:
    """How many questions both versions answer (or skip) alike."""
    return sum(1 for code in set(old_answers) & set(new_answers)
               if _same(old_answers[code], new_answers[code]))
