"""Callback data as the bot writes it, checked once before any feature reads it.

Buttons carry `prefix:part:part…` with ids of database rows. Data that the bot cannot have
written (a forged or corrupted button) is a stale button: one polite answer, no feature
sees it. Ids are bounded here, so no handler meets a number its database cannot hold.
"""

from __future__ import annotations

import re

MAX_DATA_BYTES = 64  # Telegram's limit for callback_data
MAX_ID = 2**63 - 1  # BIGINT on PostgreSQL, INTEGER on SQLite
_NUMBER = re.compile(r"[0-9]+")


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
