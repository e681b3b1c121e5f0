"""Telegram's limits on HTML messages: measure, split and shorten without breaking them.

Telegram refuses a message whose text, once its HTML is parsed (tags removed, «&amp;» and
the like decoded), is longer than 4096 UTF-16 code units («message is too long»), and one
whose HTML is broken («can't parse entities»): a tag left open, an end tag without its
start, an escape cut in the middle («&am»). Cutting escaped HTML at a character count does
all three at once.

Everything here works on tokens (a tag, an escape, one character) and counts what Telegram
counts, so nothing is ever cut inside a tag or an escape, and the tags open where a message
ends are closed there and opened again at the start of the next one. Input that is not
valid Telegram HTML is repaired rather than passed on: a stray ``<`` or ``&`` is escaped,
an end tag without its start is dropped, a tag left open is closed.

* :func:`telegram_len` — the length Telegram checks against its limit;
* :func:`split_html` — the one guard every long message goes through: pieces within the
  limit, each valid, together saying everything the input said;
* :func:`clip_html` — one message within the limit, shortened with «…» if it must be;
* :func:`join_within` — a list within a budget, the rest summed up («and 5 others»).

Pure: no I/O, nothing of Telegram's libraries.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass

TELEGRAM_LIMIT = 4096  # a message's text
CAPTION_LIMIT = 1024  # a photo's or a document's caption

# The tags Telegram's HTML parse mode knows (<span> only as a spoiler).
SUPPORTED_TAGS = frozenset({
    "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "tg-spoiler", "span", "a",
    "code", "pre", "blockquote", "tg-emoji",
})
_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[^<>]*?)?)\s*>")
_REF = re.compile(r"&(?:(lt|gt|amp|quot)|#([0-9]{1,7})|#[xX]([0-9a-fA-F]{1,6}));")
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_SPOILER_CLASS = re.compile(r"""\bclass\s*=\s*(["']?)tg-spoiler\1(?=\s|$)""")
_JOINERS = {"\u200d", "\u200c"}  # zero-width (non-)joiner: emoji sequences, scripts


@dataclass(frozen=True, slots=True)
class _Token:
    raw: str  # as written in the HTML
    text: str = ""  # what the user sees ("" for a tag)
    units: int = 0  # UTF-16 code units of `text`
    tag: str | None = None  # the tag's name, for a start or an end tag
    closing: bool = False


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, Telegram's unit (an emoji is often two)."""
    # Two bytes a unit; «surrogatepass» counts a lone surrogate as the one unit it is.
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _text(raw: str, text: str) -> _Token:
    return _Token(raw, text, utf16_len(text))


def _supported(match: re.Match[str]) -> bool:
    name = match.group(2).lower()
    if name not in SUPPORTED_TAGS:
        return False
    if name == "span" and not match.group(1):
        return _SPOILER_CLASS.search(match.group(3) or "") is not None
    return True


def _reference(match: re.Match[str]) -> str | None:
    named, decimal, hexadecimal = match.groups()
    if named:
        return _NAMED[named]
    code = int(decimal) if decimal else int(hexadecimal, 16)
    if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return None
    return chr(code)


def _tokens(html: str) -> list[_Token]:
    """The HTML as tokens, repaired: the tokens' `raw` joined is valid Telegram HTML."""
    out: list[_Token] = []
    stack: list[str] = []
    i, size = 0, len(html)
    while i < size:
        ch = html[i]
        if ch == "<":
            match = _TAG.match(html, i)
            if match and _supported(match):
                name = match.group(2).lower()
                if not match.group(1):
                    stack.append(name)
                    out.append(_Token(match.group(0), tag=name))
                elif name in stack:
                    while stack[-1] != name:  # tags opened inside it end with it
                        out.append(_Token(f"</{stack[-1]}>", tag=stack.pop(), closing=True))
                    stack.pop()
                    out.append(_Token(match.group(0), tag=name, closing=True))
                # else: an end tag without its start says nothing; it is dropped
                i = match.end()
                continue
            out.append(_text("&lt;", "<"))
            i += 1
            continue
        if ch == "&":
            match = _REF.match(html, i)
            decoded = _reference(match) if match else None
            if match and decoded is not None:
                out.append(_text(match.group(0), decoded))
                i = match.end()
            else:
                out.append(_text("&amp;", "&"))
                i += 1
            continue
        out.append(_text(ch, ch))
        i += 1
    while stack:
        out.append(_Token(f"</{stack[-1]}>", tag=stack.pop(), closing=True))
    return out


_SPECIAL = re.compile(r"[<&]")


def _measure(html: str) -> tuple[str, int]:
    """(the HTML repaired, its visible length in UTF-16 units): what joining and summing
    :func:`_tokens` gives, read a run of plain text at a time instead of a token per
    character. The sweep measures every message it renders (100,000 at a province's scale)."""
    out: list[str] = []
    stack: list[str] = []
    units, i, size = 0, 0, len(html)
    while i < size:
        special = _SPECIAL.search(html, i)
        j = special.start() if special else size
        if j > i:  # plain text: itself, as _tokens' one-character tokens are
            out.append(html[i:j])
            units += utf16_len(html[i:j])
        if special is None:
            break
        i = j
        if html[i] == "<":
            match = _TAG.match(html, i)
            if match and _supported(match):
                name = match.group(2).lower()
                if not match.group(1):
                    stack.append(name)
                    out.append(match.group(0))
                elif name in stack:
                    while stack[-1] != name:  # tags opened inside it end with it
                        out.append(f"</{stack.pop()}>")
                    stack.pop()
                    out.append(match.group(0))
                i = match.end()
                continue
            out.append("&lt;")
            units += 1
            i += 1
            continue
        match = _REF.match(html, i)
        decoded = _reference(match) if match else None
        if match and decoded is not None:
            out.append(match.group(0))
            units += utf16_len(decoded)
            i = match.end()
        else:
            out.append("&amp;")
            units += 1
            i += 1
    while stack:
        out.append(f"</{stack.pop()}>")
    return "".join(out), units


def telegram_len(html: str) -> int:
    """The length Telegram compares with its limit: the visible text, in UTF-16 units."""
    return _measure(html)[1]


def visible_text(html: str) -> str:
    """What the user sees of the HTML (tags removed, escapes decoded)."""
    return "".join(t.text for t in _tokens(html))


def is_valid_html(html: str) -> bool:
    """Whether Telegram would parse it: nothing had to be repaired."""
    return "".join(t.raw for t in _tokens(html)) == html


def _gluing(token: _Token) -> bool:
    """A character that belongs to the one before it (a combining accent, a joiner, a
    variation selector, a skin tone): a cut before it would tear a letter or an emoji."""
    if len(token.text) != 1:
        return False
    ch = token.text
    return (unicodedata.combining(ch) != 0 or ch in _JOINERS
            or 0xFE00 <= ord(ch) <= 0xFE0F or 0x1F3FB <= ord(ch) <= 0x1F3FF)


def _cut(tokens: list[_Token], start: int, end: int, limit: int,
         line_after: dict[int, int] | None) -> tuple[int, int]:
    """Where the piece that starts at `start` ends (it may hold tokens[start:end]), and
    where the next one starts: after the last line break if the line that follows fits a
    message by itself, else after the last space of the piece's second half, else at the
    limit (dropping the break or the space: the message boundary replaces it). Without
    `line_after`, a line break is a space like any other."""
    at = sum(t.units for t in tokens[start:end])
    space: int | None = None
    for j in range(end - 1, start, -1):
        at -= tokens[j].units  # now the units of tokens[start:j]
        text = tokens[j].text
        if text == "\n" and line_after is not None:
            if line_after[j] <= limit:
                return j, j + 1
            break  # that line is split anyway: fill this piece with its beginning
        if space is None and text.isspace() and at * 2 >= limit:
            space = j
    if space is not None:
        return space, space + 1
    cut = end
    while cut - 1 > start and (_gluing(tokens[cut]) or tokens[cut - 1].text in _JOINERS):
        cut -= 1
    return cut, cut


def split_html(html: str, limit: int = TELEGRAM_LIMIT) -> list[str]:
    """Split into messages of at most `limit` (as Telegram counts), each valid HTML.

    Cuts between lines where it can, else at a space, else between two characters; never
    inside a tag or an escape, nor between a letter and its accent. Tags open at a cut are
    closed at the end of the piece and opened again at the start of the next. Pieces with
    nothing to see are left out, so text without any content gives no piece at all.
    """
    if limit < 2:
        raise ValueError("the limit must leave room for one character (2 UTF-16 units)")
    repaired, units = _measure(html)
    if units <= limit:
        # The usual message fits whole: the one piece _split would give, read a run of text
        # at a time (a token per character cost a millisecond for every question sent).
        return [repaired] if _shows_something(repaired) else []
    return _split(html, limit, by_lines=True)


def _shows_something(repaired: str) -> bool:
    """Whether repaired HTML has a visible character other than white space."""
    visible = _REF.sub(lambda m: _reference(m) or "", _TAG.sub("", repaired))
    return bool(visible) and not visible.isspace()


def _split(html: str, limit: int, by_lines: bool) -> list[str]:
    if limit < 2:
        raise ValueError("the limit must leave room for one character (2 UTF-16 units)")
    tokens = _tokens(html)
    # The tags open before each token.
    stacks: list[tuple[_Token, ...]] = []
    stack: tuple[_Token, ...] = ()
    for token in tokens:
        stacks.append(stack)
        if token.tag is not None:
            stack = stack[:-1] if token.closing else (*stack, token)
    stacks.append(stack)
    # For each line break: the length of the line after it.
    line_after: dict[int, int] = {}
    running = 0
    for j in range(len(tokens) - 1, -1, -1):
        if tokens[j].text == "\n":
            line_after[j] = running
            running = 0
        else:
            running += tokens[j].units
    pieces: list[str] = []
    start, size = 0, len(tokens)
    while start < size:
        end, used = start, 0
        while end < size and used + tokens[end].units <= limit:
            used += tokens[end].units
            end += 1
        cut, resume = (size, size) if end == size else _cut(
            tokens, start, end, limit, line_after if by_lines else None)
        body = tokens[start:cut]
        if any(t.text and not t.text.isspace() for t in body):
            pieces.append("".join(t.raw for t in stacks[start])
                          + "".join(t.raw for t in body)
                          + "".join(f"</{t.tag}>" for t in reversed(stacks[cut])))
        start = resume
    return pieces


def clip_html(html: str, limit: int = TELEGRAM_LIMIT, ellipsis: str = "…") -> str:
    """One message of at most `limit`: the HTML itself if it fits (repaired if need be),
    else its beginning, cut like :func:`split_html` cuts, followed by `ellipsis`."""
    repaired, units = _measure(html)
    if units <= limit:
        return repaired
    room = limit - telegram_len(ellipsis)
    if room < 2:  # no room for the ellipsis: the beginning alone, or nothing at all
        pieces = _split(repaired, limit, by_lines=False) if limit >= 2 else []
        return pieces[0] if pieces else ""
    pieces = _split(repaired, room, by_lines=False)
    return (pieces[0] if pieces else "") + ellipsis


def join_within(items: Sequence[str], budget: int, more: Callable[[int], str],
                sep: str = ", ", more_sep: str = " ") -> str:
    """`items` (HTML fragments) joined with `sep`, within `budget` (as Telegram counts).

    When they do not all fit, the first ones that do are followed by `more(n)` for the n
    left out (e.g. «và 5 đơn vị khác»). Items are never cut; if not even the summary fits,
    it is shortened with :func:`clip_html`.
    """
    lengths = [telegram_len(item) for item in items]
    sep_units = telegram_len(sep)
    if sum(lengths) + sep_units * max(0, len(items) - 1) <= budget:
        return sep.join(items)
    shown: list[str] = []
    used = 0
    for k, (item, length) in enumerate(zip(items, lengths, strict=True)):
        add = length + (sep_units if shown else 0)
        summary = telegram_len(more_sep + more(len(items) - k - 1))
        if used + add + summary > budget:
            break
        shown.append(item)
        used += add
    text = sep.join(shown) + (more_sep if shown else "") + more(len(items) - len(shown))
    return clip_html(text, budget)


# What a phone shows of a full-width inline button before Telegram cuts it itself.
BUTTON_LABEL = 48


def button_label(text: str, limit: int = BUTTON_LABEL) -> str:
    """A button's label within `limit` characters: whole words, and «…» when shortened
    (never a word cut in the middle, unless a single word is longer than the label)."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    room = limit - 1
    cut = text[:room + 1].rsplit(" ", 1)[0] if " " in text[:room + 1] else ""
    if not cut or len(cut) > room or len(cut) < room // 2:
        cut = text[:room]
    return cut.rstrip(" ,;:·-—(") + "…"
