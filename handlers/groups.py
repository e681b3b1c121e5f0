"""The priority groups handlers are added in (PTB runs the groups in order, one handler each).

Guards first (they stop an update with ApplicationHandlerStop), then the features; a feature
that handled an update stops it too (see `handlers.context.with_turn`), so the fallback group
only sees what no feature claimed: unknown commands, stickers, stale or foreign buttons.
"""

from __future__ import annotations

CHAT_GUARD, GUARDS, FEATURES, FALLBACK = -2, -1, 0, 1
