"""Shared helpers for handlers: database sessions, the member behind an update, language."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import Update
from telegram.ext import ContextTypes

from core.i18n import Gettext, pick_language, translator
from db.models import Member

Context = ContextTypes.DEFAULT_TYPE


def sessions(context: Context) -> async_sessionmaker[AsyncSession]:
    return context.application.bot_data["db"]


def language_for(update: Update, member: Member | None) -> str:
    user = update.effective_user
    return pick_language(
        member.language if member else None, user.language_code if user else None
    )


def gettext_for(update: Update, member: Member | None) -> Gettext:
    return translator(language_for(update, member))
