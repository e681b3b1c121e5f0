"""What a member's next typed message completes.

A multi-step action that waits for typed input (a reviewer's comment, a new deadline, an
ad-hoc request's title…) stores `member.pending_action = {"kind": …, …}`, a row, so the wait
survives restarts. The feature registers a handler per kind (`register("return", finish)`);
the text handler calls the one for the member's kind. A handler returns False when the text
is not for it after all (the text then goes on to the open form).

The open report form, if any, takes the text next: the forms feature registers it here as
`register_form` so the text handler needs no feature.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from telegram.ext import Application, CallbackQueryHandler

from core import callbacks
from core.choices import Choice
from handlers.context import Turn, with_turn
from handlers.groups import FEATURES

TypedInput = Callable[[Turn, str], Awaitable[bool]]
Reminder = Callable[[Turn], Awaitable[bool]]

# The shared «Cancel» of a typed input (committee tools; admin tools have their own).
CANCEL = callbacks.route("rx")

_kinds: dict[str, TypedInput] = {}
_form: dict[str, Any] = {}


def register(kind: str, handler: TypedInput) -> None:
    """`handler(t, text)` completes a pending action of `kind`."""
    if _kinds.setdefault(kind, handler) is not handler:
        raise ValueError(f"pending kind {kind!r} is registered twice")


def register_form(answer: TypedInput, remind: Reminder) -> None:
    """The open form: `answer(t, text)` takes a typed answer, `remind(t)` asks its question
    again; both return False when no form is open."""
    _form.update(answer=answer, remind=remind)


def kind_of(t: Turn) -> str | None:
    pending = t.member.pending_action if t.member is not None else None
    return pending.get("kind") if isinstance(pending, dict) else None


async def complete(t: Turn, text: str) -> bool:
    """Give the text to the pending action's handler; False when none took it."""
    handler = _kinds.get(kind_of(t) or "")
    return handler is not None and await handler(t, text)


async def answer_form(t: Turn, text: str) -> bool:
    answer = _form.get("answer")
    return answer is not None and await answer(t, text)


async def remind_form(t: Turn) -> bool:
    remind = _form.get("remind")
    return remind is not None and await remind(t)


def cancel_choice(t: Turn, route: callbacks.Route = CANCEL) -> Choice:
    """The «Cancel» of a typed input, as a choice to put in a row."""
    return Choice(t._("Cancel"), route.data())


def cancel(t: Turn) -> None:
    """Forget the typed input this member was asked for."""
    if t.member is not None:
        t.member.pending_action = None
    t.send(t._("Cancelled; the report stays as it was."))


@with_turn(role="committee")
async def on_cancel(t: Turn) -> None:
    cancel(t)


def register_routes(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    app.add_handler(CallbackQueryHandler(on_cancel, pattern=CANCEL.pattern), group=FEATURES)
