"""Shared helpers for handlers: database sessions, the member behind an update, language."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import Update
from telegram.ext import ContextTypes

from core.i18n import Gettext, pick_language, translator
from core.settings import Settings
from db.models import Member

Context = ContextTypes.DEFAULT_TYPE


def sessions(context: Context) -> async_sessionmaker[AsyncSession]:
    return context.application.bot_data["db"]


def settings_of(context: Context) -> Settings:
    return context.application.bot_data["settings"]


async def member_for(session: AsyncSession, update: Update) -> Member | None:
    user = update.effective_user
    if user is None:
        return None
    return await session.scalar(select(Member).where(Member.telegram_user_id == user.id))


def language_for(update: Update, member: Member | None) -> str:
    user = update.effective_user
    return pick_language(
        member.language if member else None, user.language_code if user else None
    )


def gettext_for(update: Update, member: Member | None) -> Gettext:
    return translator(language_for(update, member))


async def reply(update: Update, text: str, **kwargs: Any) -> None:
    """Answer in the chat the update came from."""
    chat = update.effective_chat
    if chat is not None:
        await chat.send_message(text, **kwargs)
