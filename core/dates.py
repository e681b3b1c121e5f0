"""Reading the dates people type, the Vietnamese way: day first, the year optional.

One day: «25/3», «25/03», «25/03/2022», «25/3/22», «25-3», «25.3», «ngày 25/3» (spaces
around the separators are tolerated: «25 / 03 / 2022»).
A range: two days joined by «-», «–», «đến», «tới», «to» or a space: «22/03 - 23/03»,
«22/03 23/03», «22/3-23/3», «22/03 đến 23/03».

A day typed without its year takes the year the caller decides: `year` (e.g. the report's
year), else the next such day from `today` (a deadline, a pause), else none (refused). The
second day of a range without its year is the next such day from the first.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass

_SEP = r"\s*[/.\-]\s*"
_DAY = rf"(?:ng[aà]y\s*)?\d{{1,2}}{_SEP}\d{{1,2}}(?:{_SEP}(?:\d{{4}}|\d{{2}}))?"
_PARTS = re.compile(rf"(?:ng[aà]y\s*)?(\d{{1,2}}){_SEP}(\d{{1,2}})(?:{_SEP}(\d{{4}}|\d{{2}}))?",
                    re.IGNORECASE)
_ONE = re.compile(rf"\s*({_DAY})\s*", re.IGNORECASE)
_JOIN = r"(?:\s*(?:-|–|—|~|đến|đên|den|tới|toi|to)\s*|\s+)"
_RANGE = re.compile(rf"\s*(?:từ\s*|tu\s*)?({_DAY}){_JOIN}({_DAY})\s*", re.IGNORECASE)
_LEADING = re.compile(rf"\s*({_DAY})(?:\s+(.*))?", re.IGNORECASE | re.DOTALL)
_SPACES = re.compile(r"[\u00a0\u202f\u2007]")


@dataclass(frozen=True)
class Typed:
    """A day as typed: day and month, the year if given (two digits are 20xx)."""

    day: int
    month: int
    year: int | None

    def possible(self) -> bool:
        """Whether some year has this day (29/02 has; 31/04 has not)."""
        try:
            dt.date(self.year or 2000, self.month, self.day)
        except ValueError:
            return False
        return True


def _clean(text: str) -> str:
    return _SPACES.sub(" ", unicodedata.normalize("NFC", text or ""))


def _typed(token: str) -> Typed:
    match = _PARTS.fullmatch(token.strip())
    assert match is not None  # only called on what _DAY matched
    day, month, year = match.groups()
    full = None if year is None else int(year) + (2000 if len(year) == 2 else 0)
    return Typed(int(day), int(month), full)


def read_day(text: str) -> Typed | None:
    """The day typed in `text` (nothing else around it), or None if it is not a day."""
    match = _ONE.fullmatch(_clean(text))
    return _typed(match.group(1)) if match else None


def read_range(text: str) -> tuple[Typed, Typed] | None:
    """The two days typed in `text` as a range, or None."""
    match = _RANGE.fullmatch(_clean(text))
    return (_typed(match.group(1)), _typed(match.group(2))) if match else None


def split_leading_day(text: str) -> tuple[Typed | None, str]:
    """A day at the start of `text` and the rest («25/3 họp tổng kết» → 25/3, «họp tổng
    kết»); (None, text) when the text does not start with a day."""
    cleaned = _clean(text)
    match = _LEADING.fullmatch(cleaned)
    if match is None:
        return None, cleaned.strip()
    return _typed(match.group(1)), (match.group(2) or "").strip()


def next_such_day(day: int, month: int, after: dt.date) -> dt.date | None:
    """The first `day`/`month` on or after `after` (29/02 waits for a leap year)."""
    for year in range(after.year, after.year + 9):
        try:
            found = dt.date(year, month, day)
        except ValueError:
            continue
        if found >= after:
            return found
    return None


def last_such_day(day: int, month: int, before: dt.date) -> dt.date | None:
    """The last `day`/`month` on or before `before`."""
    for year in range(before.year, before.year - 9, -1):
        try:
            found = dt.date(year, month, day)
        except ValueError:
            continue
        if found <= before:
            return found
    return None


def resolve(typed: Typed, *, today: dt.date | None = None, year: int | None = None
            ) -> dt.date | None:
    """The date `typed` stands for: its own year, else `year`, else the next such day from
    `today`; None when there is no such day (31/04) or no year to take."""
    chosen = typed.year if typed.year is not None else year
    if chosen is not None:
        try:
            return dt.date(chosen, typed.month, typed.day)
        except ValueError:
            return None
    if today is not None:
        return next_such_day(typed.day, typed.month, today)
    return None


def parse_day(text: str, *, today: dt.date | None = None, year: int | None = None
              ) -> dt.date | None:
    """One typed day as a date (see `resolve`); None if unreadable or impossible."""
    typed = read_day(text)
    return None if typed is None else resolve(typed, today=today, year=year)


def resolve_range(first: Typed, last: Typed, *, today: dt.date | None = None,
                  year: int | None = None) -> tuple[dt.date | None, dt.date | None]:
    """The dates of a typed range (see `resolve`); a last day without its year is the next
    such day from the first (28/12 - 03/01 crosses the new year). None for a day that does
    not exist (or has no year to take); the order is not checked."""
    start = resolve(first, today=today, year=year)
    if last.year is not None or year is not None:
        end = resolve(last, year=year)
    elif start is not None:
        end = next_such_day(last.day, last.month, start)
    else:
        end = resolve(last, today=today)
    return start, end


def parse_range(text: str, *, today: dt.date | None = None, year: int | None = None
                ) -> tuple[dt.date, dt.date] | None:
    """Two typed days as (first, last) (see `resolve_range`); None if either is unreadable
    or impossible."""
    typed = read_range(text)
    if typed is None:
        return None
    start, end = resolve_range(*typed, today=today, year=year)
    return None if start is None or end is None else (start, end)
