"""Zalo chats: the string id behind a local id, and the last numbered list sent to each."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from core.channels import zalo_local_id
from db.models import ZaloChat, utcnow
from db.session import dialect_of


async def remember_chat(session: AsyncSession, zalo_id: str) -> int:
    """The chat's local id; the chat is recorded the first time it is seen."""
    local_id = zalo_local_id(zalo_id)
    insert = pg_insert if dialect_of(session) == "postgresql" else sqlite_insert
    await session.execute(
        insert(ZaloChat).values(local_id=local_id, zalo_id=zalo_id, updated_at=utcnow())
        .on_conflict_do_nothing(index_elements=[ZaloChat.local_id]))
    return local_id


async def zalo_id_of(session: AsyncSession, local_id: int) -> str | None:
    return await session.scalar(select(ZaloChat.zalo_id).where(ZaloChat.local_id == local_id))


async def choices_of(session: AsyncSession, local_id: int) -> dict[str, Any] | None:
    return await session.scalar(select(ZaloChat.choices).where(ZaloChat.local_id == local_id))


async def set_choices(session: AsyncSession, local_id: int,
                      choices: dict[str, Any] | None) -> None:
    await session.execute(update(ZaloChat).where(ZaloChat.local_id == local_id)
                          .values(choices=choices, updated_at=utcnow()))
