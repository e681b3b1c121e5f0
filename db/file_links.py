"""Files offered as links where a channel cannot carry them: random tokens (256 bits), only
their hash stored, expiring; any web instance can serve them (the bytes are in the row)."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import FileLink

TOKEN_BYTES = 32


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_link(session: AsyncSession, content: bytes, filename: str, mime: str,
                      now: dt.datetime, lifetime: dt.timedelta) -> str:
    """Store the file; the token of its link."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    session.add(FileLink(token_hash=_hash(token), filename=filename[:200], mime=mime[:100],
                         content=content, expires_at=now + lifetime, created_at=now))
    await session.execute(delete(FileLink).where(FileLink.expires_at < now))
    return token


async def open_link(session: AsyncSession, token: str, now: dt.datetime) -> FileLink | None:
    """The file behind a token, unless it is unknown or expired."""
    if not token or len(token) > 100:
        return None
    link = await session.scalar(select(FileLink).where(FileLink.token_hash == _hash(token)))
    if link is None or link.expires_at <= now:
        return None
    return link
