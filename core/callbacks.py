"""Callback data as the bot writes it: one codec, checked once before any feature reads it.

Buttons carry `prefix:part:part…` with ids of database rows. Each feature declares its
prefixes where it registers them (`ROUTE = route("rv")`): `ROUTE.data(12)` writes a button,
`ROUTE.pattern` lets PTB pick the handler, `ROUTE.parse(data)` reads the parts back. A route's
version is part of its prefix from version 2 on (`rv2:`), so a button written before a change
of its parts matches no route and is answered as stale, never misread.

Data that the bot cannot have written (a forged or corrupted button) matches no route either:
ids are bounded here, so no handler meets a number its database cannot hold.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from dataclasses import dataclass

MAX_DATA_BYTES = 64  # Telegram's limit for callback_data
MAX_ID = 2**63 - 1  # BIGINT on PostgreSQL, INTEGER on SQLite
_NUMBER = re.compile(r"[0-9]+")
_PREFIX = re.compile(r"[A-Za-z]{1,3}")

_owners: dict[str, str] = {}  # wire prefix -> the module that declared it


def well_formed(data: str) -> bool:
    """True when `data` could have been written by the bot: short, printable ASCII, every
    number within a database id's range."""
    if not data or len(data.encode()) > MAX_DATA_BYTES or not data.isascii():
        return False
    if not data.isprintable():
        return False
    return all(parse_id(n) is not None for n in _NUMBER.findall(data))


def parse_id(text: str) -> int | None:
    """A database id from ASCII digits, or None (superscripts, signs, overflow)."""
    if not _NUMBER.fullmatch(text) or len(text) > 19:
        return None
    value = int(text)
    return value if value <= MAX_ID else None


@dataclass(frozen=True)
class Route:
    """One kind of button: `prefix:parts…` on the wire."""

    prefix: str
    version: int = 1

    @property
    def wire(self) -> str:
        """Version 1 is the bare prefix (the buttons already out there); later versions
        append their number."""
        return self.prefix if self.version == 1 else f"{self.prefix}{self.version}"

    def data(self, *parts: object) -> str:
        """The callback data of a button; `data()` is `prefix:`."""
        return f"{self.wire}:" + ":".join(str(p) for p in parts)

    def matches(self, data: object) -> bool:
        return (isinstance(data, str) and data.startswith(f"{self.wire}:")
                and well_formed(data))

    @property
    def pattern(self) -> Callable[[object], bool]:
        """For `CallbackQueryHandler(pattern=…)`: this route's well-formed data only."""
        return self.matches

    def parse(self, data: str) -> list[str]:
        """The parts after the prefix (`[]` for `prefix:`)."""
        rest = data[len(self.wire) + 1:]
        return rest.split(":") if rest else []


def route(prefix: str, version: int = 1) -> Route:
    """Declare a route; two features can never claim the same prefix."""
    if not _PREFIX.fullmatch(prefix) or version < 1:
        raise ValueError(f"bad callback prefix {prefix!r} v{version}")
    made = Route(prefix, version)
    owner = sys._getframe(1).f_globals.get("__name__", "?")
    if _owners.setdefault(made.wire, owner) != owner:
        raise ValueError(f"callback prefix {made.wire!r} is declared by {_owners[made.wire]} "
                         f"and {owner}")
    return made


def owners() -> dict[str, str]:
    """Every declared wire prefix and the module that owns it (for tests and docs)."""
    return dict(_owners)
