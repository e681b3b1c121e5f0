"""Choices as a numbered list, for a channel without buttons (Zalo). Pure functions.

Where Telegram shows buttons, such a channel gets the same choices as lines under the text
(«1. Có», «2. Không»), and the person answers by typing:

* :func:`render_numbered` — the message and the flat list of choices it offers (what the
  database keeps as the last list sent to the chat);
* :func:`match_reply` — which of those choices a typed reply names: by its number («2»,
  « 2. », «số 2»), by its label whatever the case, diacritics and punctuation («co», «CÓ»,
  «Có.» for «Có»), or by the whole line copied back («2. Không»). The answer is one of
  :class:`Picked`, :class:`OutOfRange`, :class:`Ambiguous`, :class:`NotAChoice`.

Whether the stored list is still current (stale) is the caller's to decide: it knows when
the list was sent and what was asked since.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeAlias

from core.fields.parsing import MAX_DIGITS, fold

ZALO_LIMIT = 2000  # characters in a Zalo text message
ELLIPSIS = "…"


@dataclass(frozen=True, slots=True)
class Choice:
    """One choice: its label as a button would show it, and the data a press would carry."""

    label: str
    data: str


# Rows of choices, as a screen offers them (a row: buttons side by side on Telegram).
Choices: TypeAlias = Sequence[Sequence[Choice]]


@dataclass(frozen=True, slots=True)
class Menu:
    """The main menu: rows of labels a person taps (or types) at any time."""

    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True, slots=True)
class Picked:
    """The reply names `choice`, the `number`-th (from 1) of the list."""

    choice: Choice
    number: int


@dataclass(frozen=True, slots=True)
class OutOfRange:
    """The reply is a number, but not one from 1 to `count`."""

    number: int
    count: int


@dataclass(frozen=True, slots=True)
class Ambiguous:
    """The reply is the label of several choices; `numbers` (from 1) tells them apart."""

    numbers: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class NotAChoice:
    """The reply names no choice: it is typed text (an answer, a command …)."""


NOT_A_CHOICE = NotAChoice()

Reply: TypeAlias = Picked | OutOfRange | Ambiguous | NotAChoice

# Leading characters a button label may start with that a numbered line does not need:
# emoji and other symbols, marks without a letter, spaces, invisible formatting, bullets.
# Not «+», «<», «-» or «$»: «< 5 người», «-1» mean something.
_MARKER_CATEGORIES = frozenset({"So", "Sk", "Mn", "Mc", "Me", "Zs", "Zl", "Zp", "Cc", "Cf", "Co"})
_BULLETS = frozenset("•‣◦⁃∙·")
_ARROWS = ((0x2190, 0x21FF), (0x27F0, 0x27FF), (0x2900, 0x297F))  # «← Quay lại»
_NUMBER = re.compile(rf"(?:chon\s*)?(?:so\s*)?#?\s*([0-9]{{1,{MAX_DIGITS}}})\s*[.):!?]*")
_LINE = re.compile(rf"(?:so\s*)?#?\s*([0-9]{{1,{MAX_DIGITS}}})\s*[.):]\s+(.+)")
_ENDS = re.compile(r"^[\W_]+|[\W_]+$")
_VARIATION_SELECTORS = str.maketrans("", "", "\ufe0e\ufe0f")


def _is_marker(ch: str) -> bool:
    code = ord(ch)
    return (ch in _BULLETS or unicodedata.category(ch) in _MARKER_CATEGORIES
            or any(low <= code <= high for low, high in _ARROWS))


def shown_label(label: str) -> str:
    """A label as its numbered line shows it: on one line, without the emoji or bullets it
    starts with («✅ Có» → «Có»), unless nothing else would be left («👍» stays)."""
    label = " ".join(line.strip() for line in label.strip().splitlines())
    start = 0
    while start < len(label) and _is_marker(label[start]):
        start += 1
    return label[start:] if start < len(label) else label


def listed_label(label: str, n: int | None) -> str:
    """The label on its numbered line: shown_label, without a number of its own that
    repeats its place («1. Báo cáo tháng 01» as the first: «1. Báo cáo tháng 01», once)."""
    shown = shown_label(label)
    own = re.match(rf"{n}\s*[.)]\s+", shown) if n is not None else None
    if own and shown[own.end():].strip():
        shown = shown[own.end():]
    stripped = label.strip()
    mark = next((m for m in _STATE_MARKS if stripped.startswith(m)), None)
    if mark is not None:  # ticked or not: what a list of checkboxes is about
        return f"{mark} {shown}"
    if shown.isdigit() and stripped != shown and unicodedata.category(stripped[0]) == "So":
        # «✏️ 1»: the symbol says what the number does
        return " ".join(stripped.split())
    return shown


# Marks a label starts with that say a state, kept on its line («☑️ Hội nghị»).
_STATE_MARKS = ("☑️", "☑", "⬜")


def _label_forms(label: str) -> set[str]:
    """A label as a reply may name it: whole, or without a number of its own («1. Số cơ
    sở» as «so co so»)."""
    forms = {normalise(label)}
    bare = re.sub(r"^\s*[0-9]+\s*[.)]\s+", "", shown_label(label))
    if bare:
        forms.add(normalise(bare))
    return forms - {""}


def normalise(text: str) -> str:
    """The form labels and replies are compared in: no leading emoji, lowercase, without
    diacritics (core.fields.parsing.fold), without punctuation around it. «Có.» → «co»."""
    folded = fold(shown_label(text)).translate(_VARIATION_SELECTORS)
    return _ENDS.sub("", folded) or folded


def reply_number(reply: str) -> int | None:
    """The number a reply consists of: «2», « 2. », «2)», «số 2», «#2», «chọn 2» → 2."""
    match = _NUMBER.fullmatch(fold(reply))
    return int(match.group(1)) if match else None


def _flatten(choices: Sequence[Sequence[Choice]] | Sequence[Choice]) -> list[Choice]:
    flat: list[Choice] = []
    for item in choices:
        if isinstance(item, Choice):
            flat.append(item)
        else:
            flat.extend(item)
    return flat


def _shorten(text: str, room: int) -> str:
    """`text` within `room` characters, «…» included: cut after a whole word where that
    keeps at least half of the room, never between a letter and its combining mark."""
    keep = room - len(ELLIPSIS)
    while keep > 0 and unicodedata.combining(text[keep]):
        keep -= 1
    space = max(text.rfind(" ", 0, keep + 1), text.rfind("\n", 0, keep + 1))
    if space >= keep // 2 and space > 0:
        keep = space
    return text[:keep].rstrip(" \n,;:·-—(") + ELLIPSIS


def render_numbered(text: str, choices: Sequence[Sequence[Choice]] | Sequence[Choice], *,
                    limit: int = ZALO_LIMIT) -> tuple[str, list[Choice]]:
    """The message offering `choices` (rows of buttons, or one row) as a numbered list under
    `text` and a blank line, within `limit` characters, and the choices in that order.

    Only the text is shortened (ending with «…») when the whole is too long; ValueError when
    the list alone does not fit. The choices come back as given, labels included."""
    flat = _flatten(choices)
    text = text.rstrip()
    if not flat:
        if len(text) > limit:
            text = _shorten(text, limit) if limit >= len(ELLIPSIS) else ""
        return text, flat
    listing = "\n".join(f"{n}. {listed_label(c.label, n)}".rstrip()
                        for n, c in enumerate(flat, 1))
    if not text:
        if len(listing) > limit:
            raise ValueError(f"{len(flat)} choices take {len(listing)} characters > {limit}")
        return listing, flat
    separator = "\n\n"
    room = limit - len(listing) - len(separator)
    if len(text) > room:
        if room < len(ELLIPSIS):
            raise ValueError(f"{len(flat)} choices take {len(listing)} characters, "
                             f"no room for the text within {limit}")
        text = _shorten(text, room)
    return text + separator + listing, flat


def match_reply(reply: str, offered: Sequence[Choice]) -> Reply:
    """Which of `offered` (the last list sent) a typed reply names.

    A number from 1 to n picks by position, before any label; then a label equal to the
    reply (normalise) picks it, or is Ambiguous when several are; then a line copied back
    («2. Không») picks its choice (Ambiguous when number and label disagree). Another
    number is OutOfRange; anything else, and any reply when nothing is offered, is
    NotAChoice."""
    if not offered:
        return NOT_A_CHOICE
    number = reply_number(reply)
    if number is not None and 1 <= number <= len(offered):
        return Picked(offered[number - 1], number)
    wanted = normalise(reply)
    if wanted:
        numbers = tuple(n for n, c in enumerate(offered, 1) if wanted in _label_forms(c.label))
        if len(numbers) == 1:
            return Picked(offered[numbers[0] - 1], numbers[0])
        if numbers:
            return Ambiguous(numbers)
    line = _LINE.fullmatch(fold(reply))
    if line and 1 <= (n := int(line.group(1))) <= len(offered):
        rest = normalise(line.group(2))
        if rest == normalise(offered[n - 1].label):
            return Picked(offered[n - 1], n)
        others = {k for k, c in enumerate(offered, 1) if normalise(c.label) == rest}
        if others:  # «2. Có» where «Có» is the first: which one is meant?
            return Ambiguous(tuple(sorted({n, *others})))
    if number is not None:
        return OutOfRange(number, len(offered))
    return NOT_A_CHOICE


# While a message waits for typed text (a number, a date, a comment), a typed number is the
# answer, not a choice: its choices are marked with letters instead («a. Bỏ qua»).
LETTERS = "abcdefghijklmnopqrstuvwxyz"
_LETTER = re.compile(r"[(\[]?\s*([a-z])\s*[.):\]]*")


def mark(n: int, lettered: bool) -> str:
    """The mark of the n-th choice (from 1): «3», or «c» when lettered."""
    return LETTERS[n - 1] if lettered and n <= len(LETTERS) else str(n)


def render_marked(text: str, choices: Sequence[Sequence[Choice]] | Sequence[Choice], *,
                  lettered: bool, limit: int = ZALO_LIMIT) -> tuple[str, list[Choice]]:
    """:func:`render_numbered`, or with letters for a message that waits for typed text."""
    if not lettered:
        return render_numbered(text, choices, limit=limit)
    flat = _flatten(choices)[:len(LETTERS)]
    listing = "\n".join(f"{mark(n, True)}. {listed_label(c.label, None)}".rstrip()
                        for n, c in enumerate(flat, 1))
    text = text.rstrip()
    if not text or not flat:
        return render_numbered(text, [], limit=limit)[0] if not flat else listing, flat
    room = limit - len(listing) - 2
    if len(text) > room:
        if room < len(ELLIPSIS):
            raise ValueError(f"{len(flat)} choices take {len(listing)} characters > {limit}")
        text = _shorten(text, room)
    return text + "\n\n" + listing, flat


def match_marked(reply: str, offered: Sequence[Choice], *, lettered: bool) -> Reply:
    """:func:`match_reply`, or for a lettered list: a letter («b», «b.») or a label picks;
    anything else (a number above all) is the typed text it looks like."""
    if not lettered:
        return match_reply(reply, offered)
    letter = _LETTER.fullmatch(fold(reply).strip())
    if letter:
        n = LETTERS.index(letter.group(1)) + 1
        return Picked(offered[n - 1], n) if n <= len(offered) else NOT_A_CHOICE
    wanted = normalise(reply)
    numbers = tuple(n for n, c in enumerate(offered, 1)
                    if wanted and wanted in _label_forms(c.label))
    if len(numbers) == 1:
        return Picked(offered[numbers[0] - 1], numbers[0])
    return Ambiguous(numbers) if numbers else NOT_A_CHOICE


def not_yet_shown(text: str, listing: str) -> str:
    """The lines of `listing` the text does not already show: a screen that numbers its
    items («1. Báo cáo tháng 01/2022» and its deadline) with buttons of the same labels
    needs its list only once."""
    starts = {line.strip() for line in text.splitlines() if line.strip()}
    kept = [line for line in listing.splitlines()
            if not (line[:1].isdigit() and any(s.startswith(line.strip()) for s in starts))]
    return "\n".join(kept)
