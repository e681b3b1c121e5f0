"""Updates and polling: the update queue, long-polling getUpdates, webhooks, wake-ups."""

from __future__ import annotations

import asyncio
import copy
import itertools
from collections.abc import Iterable

from sandbox.botapi.core import StateCore
from sandbox.botapi.errors import JSON, BotApiError
from sandbox.botapi.params import as_bool, as_float, as_int, as_obj
from sandbox.botapi.records import UserRecord

# Update types Telegram delivers when allowed_updates is empty/unset.
_DEFAULT_EXCLUDED_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})


class UpdatesMixin(StateCore):
    """What the bot receives: updates queued by player actions, handed out by getUpdates."""

    def _init_updates(self) -> None:
        # Monotonic across reset(): a running poller's offset must keep matching new updates.
        self._update_ids = itertools.count(100_000)
        self._waiters: set[asyncio.Future[None]] = set()
        self._poll_generation = 0
        self._closing = False

    def _reset_updates(self) -> None:
        self.updates: list[JSON] = []
        self.webhook: JSON = {"url": ""}
        self.allowed_updates: list[str] | None = None

    def _push_update(self, kind: str, payload: JSON) -> JSON:
        update = {"update_id": next(self._update_ids), kind: payload}
        self.updates.append(update)
        self._notify()
        return copy.deepcopy(update)

    def _push_my_chat_member(self, user: UserRecord, old: str, new: str) -> None:
        bot = self.bot_user(self.token or self._last_token)
        new_member: JSON = {"status": new, "user": bot}
        if new == "kicked":
            new_member["until_date"] = 0
        self._push_update(
            "my_chat_member",
            {
                "chat": user.chat_json(),
                "from": user.to_json(),
                "date": self.now(),
                "old_chat_member": {"status": old, "user": bot}
                | ({"until_date": 0} if old == "kicked" else {}),
                "new_chat_member": new_member,
            },
        )

    def _notify(self) -> None:
        """Wake long-polling getUpdates calls (safe from another thread's loop too)."""
        wake_all(self._waiters)

    async def _wait_for_change(self, seconds: float) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.add(fut)
        try:
            await asyncio.wait({fut}, timeout=seconds)
        finally:
            self._waiters.discard(fut)

    def shutdown(self) -> None:
        """Make pending long polls return now (server stop)."""
        self._closing = True
        self._notify()

    def pending_updates(self) -> list[JSON]:
        return copy.deepcopy(self.updates)

    async def _m_getUpdates(self, bot: JSON, p: JSON) -> list[JSON]:
        if self.webhook.get("url"):
            raise BotApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = as_int(p.get("offset"))
        limit = min(max(as_int(p.get("limit"), 100) or 100, 1), 100)
        timeout = max(0.0, as_float(p.get("timeout"), 0.0))
        if "allowed_updates" in p:
            allowed = as_obj(p["allowed_updates"])
            self.allowed_updates = list(allowed) if allowed else None
        if offset is not None:
            # Telegram forgets everything before the offset ("confirmed").
            if offset < 0:
                self.updates = self.updates[offset:]
            else:
                self.updates = [u for u in self.updates if u["update_id"] >= offset]
        # A newer getUpdates terminates an older pending one, as Telegram does.
        self._poll_generation += 1
        generation = self._poll_generation
        self._notify()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if generation != self._poll_generation:
                raise BotApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; "
                    "make sure that only one bot instance is running",
                )
            ready = self._deliverable(limit)
            remaining = deadline - loop.time()
            if ready or remaining <= 0 or self._closing:
                return ready
            await self._wait_for_change(remaining)

    def _deliverable(self, limit: int) -> list[JSON]:
        def allowed(update: JSON) -> bool:
            kind = next(k for k in update if k != "update_id")
            if self.allowed_updates:
                return kind in self.allowed_updates
            return kind not in _DEFAULT_EXCLUDED_UPDATES

        # Loosely honour allowed_updates: updates of other types are dropped.
        self.updates = [u for u in self.updates if allowed(u)]
        return self.updates[:limit]

    def _m_setWebhook(self, bot: JSON, p: JSON) -> bool:
        url = p.get("url") or ""
        if url and not str(url).startswith("https://"):
            raise BotApiError.bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        self.webhook = {
            "url": url,
            "max_connections": as_int(p.get("max_connections"), 40),
            "allowed_updates": as_obj(p.get("allowed_updates")),
            "secret_token": p.get("secret_token"),
        }
        if as_bool(p.get("drop_pending_updates")):
            self.updates = []
        self._notify()
        return True

    def _m_deleteWebhook(self, bot: JSON, p: JSON) -> bool:
        self.webhook = {"url": ""}
        if as_bool(p.get("drop_pending_updates")):
            self.updates = []
        return True

    def _m_getWebhookInfo(self, bot: JSON, p: JSON) -> JSON:
        info: JSON = {
            "url": self.webhook.get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": len(self.updates),
        }
        if info["url"]:
            info["max_connections"] = self.webhook.get("max_connections") or 40
            if self.webhook.get("allowed_updates"):
                info["allowed_updates"] = self.webhook["allowed_updates"]
        return info


def wake_all(futures: Iterable[asyncio.Future[None]]) -> None:
    """Resolve each waiting future in its own loop: at once in the running loop, through
    call_soon_threadsafe in another thread's (the stand-in may run in a test's thread)."""
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    for fut in list(futures):
        if fut.done():
            continue
        loop = fut.get_loop()
        if loop is running:
            fut.set_result(None)
        elif not loop.is_closed():
            loop.call_soon_threadsafe(_resolve, fut)


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)
