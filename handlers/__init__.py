"""Telegram update handlers: guards, then the features, each wiring its own handlers.

A feature module (`FEATURES` below) owns its commands, its buttons (a callback prefix each,
see `core.callbacks`) and the typed inputs it waits for (`handlers.pending`); it never
imports another feature. Shared pieces live in `context` (the Turn), `screens`, `render`,
`callbacks` and `pending`. What no feature claims is answered once by `fallback`.
"""

from __future__ import annotations

from typing import Any

from telegram import Update
from telegram.ext import Application, TypeHandler

from handlers import (
    adhoc,
    admin,
    committee,
    errors,
    extension,
    fallback,
    forms,
    menu,
    onboarding,
    pending,
    review,
    status,
    submitted,
    text,
    urging,
    whoami,
)
from handlers.groups import CHAT_GUARD, FALLBACK, FEATURES, GUARDS
from handlers.guards import FloodGuard, PrivateChatGuard

__all__ = ["CHAT_GUARD", "FALLBACK", "FEATURES", "FEATURE_MODULES", "GUARDS", "register"]

FEATURE_MODULES = (onboarding, menu, forms, review, status, committee, extension, adhoc, admin,
                   whoami, submitted, urging)


def register(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    settings = app.bot_data["settings"]
    app.add_handler(TypeHandler(Update, PrivateChatGuard()), group=CHAT_GUARD)
    app.add_handler(TypeHandler(Update, FloodGuard(settings.flood_limit, settings.flood_window)),
                    group=GUARDS)
    for feature in FEATURE_MODULES:
        feature.register(app)
    pending.register_routes(app)
    text.register(app)  # after the features' handlers of the same group: commands first
    fallback.register(app)
    errors.register(app)
