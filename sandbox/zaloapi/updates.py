"""The polling side: the queue of pending updates and long-polling getUpdates.

getUpdates hands out **one** update per call (``result`` is the update object, not a list)
and answers 408 when none arrived within ``timeout`` seconds, as the real platform does when
idle. There is no ``offset``: an update handed out is gone (unless duplicates are switched
on, see :attr:`~sandbox.zaloapi.ZaloApiState.duplicate_deliveries`).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
from collections import deque

from sandbox.zaloapi.core import StateCore
from sandbox.zaloapi.errors import JSON, ZaloApiError
from sandbox.zaloapi.params import poll_timeout


class UpdatesMixin(StateCore):
    """Updates waiting for getUpdates, and the long poll that waits for them."""

    webhook: JSON  # set by the webhook concern; polling is refused while it has a url

    def _init_updates(self) -> None:
        # One Event per event loop (an asyncio.Event binds to the loop that first waits).
        self._arrived: asyncio.Event | None = None
        self._arrived_loop: asyncio.AbstractEventLoop | None = None
        self._closing = False
        self.waiting_polls = 0  # getUpdates calls parked on the server right now

    def _reset_updates(self) -> None:
        self.pending: deque[JSON] = deque()
        self.updates_log: list[JSON] = []  # every update ever created, in order

    def pending_updates(self) -> list[JSON]:
        """Updates queued for getUpdates, oldest first."""
        return copy.deepcopy(list(self.pending))

    def _queue_for_polling(self, update: JSON) -> None:
        self.pending.append(copy.deepcopy(update))
        self._notify()

    def _event(self) -> asyncio.Event:
        loop = asyncio.get_running_loop()
        if self._arrived is None or self._arrived_loop is not loop:
            self._arrived = asyncio.Event()
            self._arrived_loop = loop
        if self.pending or self._closing:
            self._arrived.set()
        return self._arrived

    def _notify(self) -> None:
        """Wake waiting polls (also from another thread, or with no loop running)."""
        event, loop = self._arrived, self._arrived_loop
        if event is None or loop is None or loop.is_closed():
            return
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is not loop and loop.is_running():
            loop.call_soon_threadsafe(event.set)
        else:
            event.set()

    def shutdown(self) -> None:
        """Make pending long polls answer (408) now: the server is stopping."""
        self._closing = True
        self._notify()

    async def _m_getUpdates(self, bot_id: str, p: JSON) -> JSON:
        if self.webhook.get("url"):
            raise ZaloApiError.bad_request(
                "getUpdates does not work while a webhook is set; call deleteWebhook first"
            )
        timeout = poll_timeout(p.get("timeout"))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        event = self._event()
        while True:
            if self.pending:
                update = self.pending.popleft()
                if not self.pending:
                    event.clear()
                return update
            remaining = deadline - loop.time()
            if remaining <= 0 or self._closing:
                raise ZaloApiError.timeout()
            self.waiting_polls += 1
            try:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), remaining)
            finally:
                self.waiting_polls -= 1
            if not self.pending and not self._closing:
                event.clear()  # another poll took it: wait again
