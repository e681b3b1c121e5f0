"""The Bot API entry point: token check, the call log, injected faults, rate-limit
admission, then the method itself (each ``_m_<Name>`` of the composed state)."""

from __future__ import annotations

import asyncio
import copy
import inspect
import itertools
from collections import deque
from collections.abc import Callable
from typing import Any

from sandbox.botapi.core import TOKEN_RE
from sandbox.botapi.errors import JSON, BotApiError
from sandbox.botapi.params import json_safe
from sandbox.botapi.ratelimit import RateLimitMixin
from sandbox.botapi.records import Injection


class CallsMixin(RateLimitMixin):
    """:meth:`call` runs one Bot API method; :meth:`inject` queues faults for it."""

    def _init_calls(self, call_log_size: int) -> None:
        self._call_log_size = call_log_size
        self._call_seq = itertools.count(1)
        self._methods: dict[str, tuple[str, Callable[[JSON, JSON], Any]]] = {}
        for attr in dir(self):
            if attr.startswith("_m_"):
                name = attr[3:]
                # Telegram method names are case-insensitive.
                self._methods[name.lower()] = (name, getattr(self, attr))

    def _reset_calls(self) -> None:
        self.injections: list[Injection] = []
        self.disabled_methods: set[str] = set()
        self.call_log: deque[JSON] = deque(maxlen=self._call_log_size)

    def calls(self, method: str | None = None) -> list[JSON]:
        """The call log, oldest first; each entry has seq, method, params, ok, error."""
        entries = list(self.call_log)
        if method:
            entries = [e for e in entries if e["method"].lower() == method.lower()]
        return copy.deepcopy(entries)

    # ----- fault injection -----------------------------------------------------------------

    def inject(
        self,
        method: str,
        chat_id: int | str | None = None,
        error: BotApiError | None = None,
        times: int | None = 1,
        *,
        delay: float = 0.0,
        apply: bool = False,
    ) -> Injection:
        """Make the next ``times`` calls of ``method`` (``"*"`` = any) fail with ``error``.

        Default error is a 500. Use ``BotApiError.too_many_requests(n)`` for 429s.
        """
        injection = Injection(
            method=method,
            error=error if error is not None else BotApiError.server_error(),
            chat_id=chat_id,
            times=times,
            delay=delay,
            apply=apply,
        )
        self.injections.append(injection)
        return injection

    def disable_method(self, method: str) -> None:
        """Answer ``method`` with 404 as if this Bot API version did not have it."""
        self.disabled_methods.add(method.lower())

    def _take_injection(self, method: str, params: JSON) -> Injection | None:
        for injection in self.injections:
            if injection.matches(method, params):
                injection.hits += 1
                if injection.times is not None:
                    injection.times -= 1
                return injection
        return None

    # ----- the Bot API ---------------------------------------------------------------------

    async def call(self, token: str, method: str, params: JSON) -> JSON | list[Any] | bool:
        """Run one Bot API method; returns its ``result`` or raises :class:`BotApiError`."""
        bot = self._check_token(token)
        entry = self._method_entry(method)
        name = entry[0] if entry else method
        params = dict(params)
        log: JSON = {
            "seq": next(self._call_seq),
            "method": name,
            "params": json_safe(params),
            "time": self.clock(),
            "ok": None,
            "error": None,
        }
        self.call_log.append(log)
        try:
            if entry is None or name.lower() in self.disabled_methods:
                raise BotApiError(404, "Not Found: method not found")
            self._admit(name, params)
            injection = self._take_injection(name, params)
            if injection is not None:
                if injection.delay:
                    await asyncio.sleep(injection.delay)
                if not injection.apply and injection.error is not None:
                    raise injection.error
            result = entry[1](bot, params)
            if inspect.isawaitable(result):
                result = await result
            if injection is not None and injection.error is not None:
                raise injection.error
        except BotApiError as exc:
            log["ok"] = False
            log["error"] = exc.to_response()
            raise
        except asyncio.CancelledError:
            # e.g. a long poll whose client went away; don't leave it looking pending.
            log["ok"] = False
            log["error"] = {"description": "cancelled (client disconnected)"}
            raise
        log["ok"] = True
        return copy.deepcopy(result)

    def _method_entry(self, method: str) -> tuple[str, Callable[[JSON, JSON], Any]] | None:
        return self._methods.get(method.lower())

    def _check_token(self, token: str) -> JSON:
        if not TOKEN_RE.match(token or ""):
            raise BotApiError(404, "Not Found")
        if self.token is not None and token != self.token:
            raise BotApiError(401, "Unauthorized")
        self._last_token = token
        return self.bot_user(token)
