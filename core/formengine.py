"""The form as a state machine: pure transitions over a draft's answers.

A draft is (answers, skipped, current field, editing flag). Transitions return a new state or
a `Problem`. Handlers load the draft row, apply one transition, save and render; nothing here
knows about Telegram or the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from core.answers import FieldSpec, Problem, check_visible
from core.expressions import parse as parse_expression

REVIEW = "__review__"
CHECK = "check"  # Problem key of a failed cross-field check; params carry the message


@dataclass(frozen=True)
class CheckSpec:
    rule: str
    message: str


@dataclass(frozen=True)
class FormSpec:
    title: str
    fields: tuple[FieldSpec, ...]
    checks: tuple[CheckSpec, ...] = ()
    allow_no_report: bool = False

    def field(self, code: str) -> FieldSpec:
        for f in self.fields:
            if f.code == code:
                return f
        raise KeyError(code)

    def position(self, code: str) -> int:
        for i, f in enumerate(self.fields):
            if f.code == code:
                return i
        raise KeyError(code)


@dataclass(frozen=True)
class FormState:
    answers: dict[str, Any] = field(default_factory=dict)
    skipped: frozenset[str] = frozenset()
    current: str | None = None  # a field code, REVIEW, or None before the first question
    editing: bool = False  # after answering, go back to the review screen
    # Questions still to revisit before the review, e.g. those a reviewer asked to fix.
    pending: tuple[str, ...] = ()


@dataclass(frozen=True)
class CheckFailure:
    message: str
    fields: tuple[str, ...]  # the codes the rule uses, in form order


def visible_fields(form: FormSpec, answers: dict[str, Any]) -> list[FieldSpec]:
    return [f for f in form.fields if check_visible(f, answers)]


def effective_answers(form: FormSpec, state: FormState) -> dict[str, Any]:
    """Answers of visible fields only: a field hidden by skip logic does not count."""
    shown = {f.code for f in visible_fields(form, state.answers)}
    return {k: v for k, v in state.answers.items() if k in shown}


def _first_open(form: FormSpec, state: FormState) -> str:
    for f in visible_fields(form, state.answers):
        if f.code not in state.answers and f.code not in state.skipped:
            return f.code
    return REVIEW


def start(form: FormSpec, state: FormState) -> FormState:
    """Where to resume: the stored question if it is still asked, else the first open one."""
    if state.current == REVIEW:
        return state
    if state.current is not None:
        shown = {f.code for f in visible_fields(form, state.answers)}
        if state.current in shown:
            return state
    return replace(state, current=_first_open(form, state), editing=False)


def _after(form: FormSpec, answers: dict[str, Any], code: str) -> str:
    shown = visible_fields(form, answers)
    codes = [f.code for f in shown]
    if code in codes:
        index = codes.index(code)
        return codes[index + 1] if index + 1 < len(codes) else REVIEW
    # The field itself is hidden now; continue from its position in the form.
    position = form.position(code)
    for f in shown:
        if form.position(f.code) > position:
            return f.code
    return REVIEW


def _next(form: FormSpec, state: FormState, code: str) -> FormState:
    if state.editing:
        # Back to review, unless the change revealed questions that still need an answer,
        # or more questions are waiting to be revisited.
        target = _first_open(form, state)
        if target == REVIEW:
            shown = {f.code for f in visible_fields(form, state.answers)}
            waiting = [c for c in state.pending if c in shown and c != code]
            if waiting:
                return replace(state, current=waiting[0], editing=True,
                               pending=tuple(waiting[1:]))
            return replace(state, current=REVIEW, editing=False, pending=())
        return replace(state, current=target, editing=True)
    return replace(state, current=_after(form, state.answers, code))


def failing_checks(
    form: FormSpec, answers: dict[str, Any], only_with: str | None = None
) -> list[CheckFailure]:
    """Checks whose fields are all answered and that do not hold. With `only_with`, only the
    checks that use that field (so a check fires as soon as its fields are answered)."""
    out = []
    order = {f.code: i for i, f in enumerate(form.fields)}
    for check in form.checks:
        expr = parse_expression(check.rule)
        if only_with is not None and only_with not in expr.names:
            continue
        if not expr.names <= answers.keys():
            continue
        if expr.holds(answers) is False:
            names = tuple(sorted(expr.names, key=lambda n: order.get(n, 0)))
            out.append(CheckFailure(check.message, names))
    return out


def answer(form: FormSpec, state: FormState, code: str, value: Any) -> FormState | Problem:
    answers = {**state.answers, code: value}
    failures = failing_checks(form, effective_answers(form, replace(state, answers=answers)),
                              only_with=code)
    if failures:
        first = failures[0]
        return Problem(CHECK, {"message": first.message, "fields": first.fields})
    new = replace(state, answers=answers, skipped=state.skipped - {code})
    return _next(form, new, code)


def skip(form: FormSpec, state: FormState, code: str) -> FormState | Problem:
    spec = form.field(code)
    if spec.required:
        return Problem("This question is required and cannot be skipped.")
    answers = {k: v for k, v in state.answers.items() if k != code}
    new = replace(state, answers=answers, skipped=state.skipped | {code})
    return _next(form, new, code)


def back(form: FormSpec, state: FormState) -> FormState | Problem:
    codes = [f.code for f in visible_fields(form, state.answers)]
    if not codes:
        return Problem("This is the first question.")
    if state.current == REVIEW or state.current not in codes:
        return replace(state, current=codes[-1], editing=False)
    index = codes.index(state.current)
    if index == 0:
        return Problem("This is the first question.")
    return replace(state, current=codes[index - 1], editing=False)


def edit(form: FormSpec, state: FormState, code: str) -> FormState | Problem:
    if code not in {f.code for f in visible_fields(form, state.answers)}:
        return Problem("This question is not asked any more.")
    return replace(state, current=code, editing=True)


def review(form: FormSpec, state: FormState) -> FormState:
    return replace(state, current=REVIEW, editing=False, pending=())


def revisit(form: FormSpec, state: FormState, codes: list[str]) -> FormState:
    """Walk through `codes` (in form order) with their current answers, then the review."""
    shown = [f.code for f in visible_fields(form, state.answers)]
    wanted = [c for c in shown if c in codes]
    if not wanted:
        return review(form, state)
    return replace(state, current=wanted[0], editing=True, pending=tuple(wanted[1:]))


def progress(form: FormSpec, state: FormState) -> tuple[int, int]:
    """(number of the current question, number of questions asked) — «Câu 3/12»."""
    codes = [f.code for f in visible_fields(form, state.answers)]
    total = len(codes)
    if state.current in codes:
        return codes.index(state.current) + 1, total
    return total, total


@dataclass(frozen=True)
class SubmitCheck:
    missing: tuple[str, ...] = ()
    failures: tuple[CheckFailure, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.missing and not self.failures


def check_for_submit(form: FormSpec, state: FormState) -> SubmitCheck:
    answers = effective_answers(form, state)
    missing = tuple(
        f.code
        for f in visible_fields(form, state.answers)
        if f.required and f.code not in answers
    )
    return SubmitCheck(missing, tuple(failing_checks(form, answers)))
