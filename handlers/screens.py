"""Screens more than one feature shows: the main menu keyboard, help, the stranger's welcome.

The main menu's buttons are typed text; a feature registers what its button does
(`menu_button(DUE, show_due)`), and `handlers.text` calls it.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core import callbacks
from core.choices import Menu, normalise
from core.i18n import N_, Gettext, translator

if TYPE_CHECKING:  # Turn's module shows these screens: only its type is needed here
    from handlers.context import Turn

# Buttons one feature shows and another answers: declared here, so neither imports the other.
ADHOC = callbacks.route("ad")  # the status screen → a new ad-hoc request: ad:new
EXTEND = callbacks.route("xl")  # the status screen → extensions: xl:{schedule}:{period}

DUE = N_("Reports due")
SENT = N_("Sent reports")
CALENDAR = N_("Reporting calendar")
HELP = N_("Help")
LANGUAGE = N_("Language")
STATUS_MENU = N_("Reporting status")
REVIEW_MENU = N_("Review queue")
MENU_ITEMS = (DUE, SENT, CALENDAR, HELP, LANGUAGE, STATUS_MENU, REVIEW_MENU)
USE_THE_MENU = N_("Please use the menu buttons. Tap «Reports due» to see what to send.")


@dataclass(frozen=True)
class MenuButton:
    action: Callable[[Turn], Awaitable[None]]
    allowed: Callable[[Turn], bool]


_buttons: dict[str, MenuButton] = {}


def menu_button(item: str, action: Callable[[Turn], Awaitable[None]],
                allowed: Callable[[Turn], bool] = lambda t: True) -> None:
    """What tapping the menu button `item` (a msgid of MENU_ITEMS) does, for whom."""
    if item not in MENU_ITEMS:
        raise ValueError(f"{item!r} is not a main menu button")
    _buttons[item] = MenuButton(action, allowed)


def menu_action(t: Turn, text: str) -> MenuButton | None:
    """The menu button a typed text is, if this member may use it."""
    item = menu_item_for(text)
    button = _buttons.get(item) if item is not None else None
    return button if button is not None and button.allowed(t) else None


def main_menu(_: Gettext, committee: bool = False, reporter: bool = False) -> Menu:
    """The reply keyboard; an agency's reporting officials also see what they sent;
    chairs, the standing office and admins also get their tools."""
    rows = [[_(DUE), _(SENT), _(CALENDAR)] if reporter else [_(DUE), _(CALENDAR)],
            [_(HELP), _(LANGUAGE)]]
    if committee:
        rows.insert(0, [_(STATUS_MENU), _(REVIEW_MENU)])
    return Menu(tuple(tuple(row) for row in rows))


def menu_for(t: Turn) -> Menu:
    return main_menu(t._, committee=t.oversees, reporter=t.may_report)


def menu_item_for(text: str) -> str | None:
    """Which menu button a text is, in any supported language."""
    cleaned = normalise(text or "")  # case and diacritics aside: «bao cao can nop»
    return _menu_labels().get(cleaned) if cleaned else None


@functools.cache
def _menu_labels() -> dict[str, str]:
    """{folded label: menu item} in every supported language, built once (folding the
    fourteen labels again for every typed answer cost more than the rest of the lookup).
    Earlier items win a label two of them would share, as the scan in order did."""
    labels: dict[str, str] = {}
    for item in MENU_ITEMS:
        for locale in ("vi", "en"):
            labels.setdefault(normalise(translator(locale)(item)), item)
    return labels


def stranger_welcome(_: Gettext) -> str:
    return _(
        "Hello! This bot helps agencies send their reports to the steering committee.\n\n"
        "To use it you need an <b>invite link</b> from your committee's standing office or "
        "its admin. Open that link, or send /start followed by the invite code."
    ) + "\n\n" + _("To become an admin, send /id and give the number to whoever runs the "
                    "bot (BOT_ADMINS).")


def help_text(_: Gettext) -> str:
    return _(
        "<b>How to report</b>\n"
        "• «Reports due» lists your agency's reports with their deadlines. Tap a report to "
        "answer it, one question at a time.\n"
        "• Your answers are saved as you go. If you stop, open the report again to continue "
        "where you left off.\n"
        "• «Back» returns to the previous question, «Skip» leaves an optional one empty, "
        "«Cancel» stops and keeps the draft.\n"
        "• At the end you can review and change any answer, then send. You get a receipt.\n"
        "• «Nothing to report» records a zero report when nothing happened in the period.\n\n"
        "Commands: /start menu · /help this help · /cancel stop the current step · "
        "/lang language"
    )


async def show_help(t: Turn) -> None:
    if not t.bound:
        t.send(stranger_welcome(t._))
        return
    t.send(help_text(t._), menu=menu_for(t))
