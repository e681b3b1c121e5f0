"""The entry point of every method: token check, the call log, injected faults, then the
method itself (each ``_m_<name>`` of the composed state; names are case-sensitive)."""

from __future__ import annotations

import copy
import inspect
import itertools
from collections import deque
from collections.abc import Callable
from typing import Any

from sandbox.zaloapi.core import TOKEN_RE, StateCore
from sandbox.zaloapi.errors import JSON, ZaloApiError
from sandbox.zaloapi.records import Injection


class CallsMixin(StateCore):
    """:meth:`call` runs one method; :meth:`inject` / :meth:`fail_next` queue faults."""

    def _init_calls(self, call_log_size: int) -> None:
        self._call_log_size = call_log_size
        self._call_seq = itertools.count(1)
        self._methods: dict[str, Callable[[str, JSON], Any]] = {
            attr[3:]: getattr(self, attr) for attr in dir(self) if attr.startswith("_m_")
        }

    def _reset_calls(self) -> None:
        self.injections: list[Injection] = []
        self.call_log: deque[JSON] = deque(maxlen=self._call_log_size)

    def calls(self, method: str | None = None) -> list[JSON]:
        """The call log, oldest first: seq, method, params, time, ok, error_code, reason."""
        entries = [e for e in self.call_log if method is None or e["method"] == method]
        return copy.deepcopy(entries)

    # ----- fault injection -----------------------------------------------------------------

    def inject(
        self,
        method: str,
        error: ZaloApiError,
        *,
        times: int | None = 1,
        chat_id: str | None = None,
    ) -> Injection:
        """Make the next ``times`` calls of ``method`` (``"*"`` = any) fail with ``error``."""
        injection = Injection(method=method, error=error, chat_id=chat_id, times=times)
        self.injections.append(injection)
        return injection

    def fail_next(
        self,
        times: int,
        error_code: int,
        *,
        method: str = "*",
        chat_id: str | None = None,
        description: str | None = None,
    ) -> Injection:
        """The next ``times`` calls (of ``method``, for ``chat_id``) fail with ``error_code``
        (e.g. 429 quota, 403 Zalo's "internal server error", 408)."""
        error = ZaloApiError(error_code, description, reason=f"injected {error_code}")
        return self.inject(method, error, times=times, chat_id=chat_id)

    def _take_injection(self, method: str, params: JSON) -> Injection | None:
        for injection in self.injections:
            if injection.matches(method, params):
                injection.hits += 1
                if injection.times is not None:
                    injection.times -= 1
                return injection
        return None

    # ----- the API -------------------------------------------------------------------------

    async def call(self, token: str, method: str, params: JSON) -> Any:
        """Run one method; returns its ``result`` (or ``NO_RESULT``) or raises
        :class:`ZaloApiError`."""
        log: JSON = {
            "seq": next(self._call_seq),
            "method": method,
            "params": copy.deepcopy(params),
            "time": self.clock(),
            "ok": None,
            "error_code": None,
            "reason": None,
        }
        self.call_log.append(log)
        try:
            bot_id = self._check_token(token)
            handler = self._methods.get(method)
            if handler is None:
                # "400: wrong path or invalid API name" (error table).
                raise ZaloApiError.bad_request(
                    f"unknown method {method!r} (names are case-sensitive)"
                )
            injection = self._take_injection(method, params)
            if injection is not None:
                raise injection.error
            result = handler(bot_id, dict(params))
            if inspect.isawaitable(result):
                result = await result
        except ZaloApiError as exc:
            log["ok"] = False
            log["error_code"] = exc.code
            log["reason"] = exc.reason or exc.description
            raise
        log["ok"] = True
        return copy.deepcopy(result) if isinstance(result, dict | list) else result

    def _check_token(self, token: str) -> str:
        """The bot id (the token's numeric prefix); 401 for a malformed or wrong token."""
        match = TOKEN_RE.match(token or "")
        if match is None or (self.token is not None and token != self.token):
            raise ZaloApiError.unauthorized()
        return match.group(1)
