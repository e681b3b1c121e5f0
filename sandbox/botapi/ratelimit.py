"""Rate limits: Telegram's 429 with ``retry_after`` for sends over its limits (off by default).

See :class:`~sandbox.botapi.BotApiState` for the knobs (``rate_limit``, ``rate_window``,
``rate_burst``, ``per_chat_interval``, ``rate_clock``).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable

from sandbox.botapi.core import StateCore
from sandbox.botapi.errors import JSON, BotApiError
from sandbox.botapi.params import as_int


class RateLimitMixin(StateCore):
    """Admission of ``send*`` calls: a sliding window or a token bucket, and a per-chat gap."""

    # Added network latency: every Bot API answer leaves this many seconds after its request
    # arrived (and was timed, and admitted or refused, on arrival as Telegram does).
    response_delay: float = 0.0

    def _init_rate_limits(
        self,
        rate_limit: float | None,
        per_chat_interval: float | None,
        rate_window: float,
        rate_burst: int | None,
        rate_clock: Callable[[], float],
    ) -> None:
        if rate_limit is not None and rate_limit <= 0:
            raise ValueError("rate_limit must be positive (or None for no limit)")
        if per_chat_interval is not None and per_chat_interval < 0:
            raise ValueError("per_chat_interval must not be negative")
        self.rate_limit = rate_limit
        self.per_chat_interval = per_chat_interval
        self.rate_window = rate_window
        if rate_burst is not None and rate_burst < 1:
            raise ValueError("rate_burst must be at least 1")
        self.rate_burst = rate_burst
        self.rate_clock = rate_clock

    def _reset_rate_limits(self) -> None:
        # Times of the accepted sends in the window, last send per chat.
        self._recent_sends: deque[float] = deque()
        self._chat_last_send: dict[int, float] = {}
        self._bucket_tat = float("-inf")  # token bucket: theoretical arrival time (GCRA)
        self.rate_limited = 0  # sends refused with 429 by the rate limiter

    @staticmethod
    def is_rate_limited_method(method: str) -> bool:
        name = method.lower()
        return name.startswith("send") and name != "sendchataction"

    def _admit(self, method: str, params: JSON) -> None:
        """Let a send through the rate limiter or raise 429 (nothing is recorded then)."""
        if self.rate_limit is None and self.per_chat_interval is None:
            return
        if not self.is_rate_limited_method(method):
            return
        now = self.rate_clock()
        wait = 0.0
        tat = 0.0
        if self.rate_limit is not None and self.rate_burst is not None:
            interval = 1.0 / self.rate_limit
            tat = max(self._bucket_tat, now)
            wait = max(wait, tat - (self.rate_burst - 1) * interval - now)
        elif self.rate_limit is not None:
            window = self._recent_sends
            while window and window[0] <= now - self.rate_window:
                window.popleft()
            capacity = max(1, int(self.rate_limit * self.rate_window))
            if len(window) >= capacity:
                # The oldest send of a full window leaves it after rate_window seconds.
                wait = max(wait, window[len(window) - capacity] + self.rate_window - now)
        chat = as_int(params.get("chat_id"))
        if self.per_chat_interval and chat is not None:
            last = self._chat_last_send.get(chat)
            if last is not None and now - last < self.per_chat_interval:
                wait = max(wait, last + self.per_chat_interval - now)
        if wait > 0:
            self.rate_limited += 1
            raise BotApiError.too_many_requests(max(1, math.ceil(wait)))
        if self.rate_limit is not None and self.rate_burst is not None:
            self._bucket_tat = tat + 1.0 / self.rate_limit
        elif self.rate_limit is not None:
            self._recent_sends.append(now)
        if self.per_chat_interval and chat is not None:
            self._chat_last_send[chat] = now
