"""The Zalo Bot API's error answer (``ok: false``) and the JSON type every module passes.

Descriptions are the short meanings of the official error table (docs/zalo-bot-api.md §5),
never invented specifics: the real texts for "blocked" or "chat not found" are unknown, so a
client must not be able to match on a text only the stand-in produces. Why the stand-in
refused a call is kept in :attr:`ZaloApiError.reason` (the call log shows it).
"""

from __future__ import annotations

from typing import Any

JSON = dict[str, Any]

# The official error table (/docs/error-code/, via M3, M5 and GC).
ERROR_MEANINGS: dict[int, str] = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Internal server error",  # sic: Zalo's 403 is not "forbidden"
    404: "Not found",
    408: "Request timeout",
    429: "Quota exceeded",
}


class ZaloApiError(Exception):
    """An error response of the Zalo Bot API: ``{"ok": false, "error_code", "description"}``."""

    def __init__(self, code: int, description: str | None = None, reason: str = "") -> None:
        text = description if description is not None else ERROR_MEANINGS.get(code, "Error")
        super().__init__(reason or text)
        self.code = code
        self.description = text
        self.reason = reason

    def to_response(self) -> JSON:
        return {"ok": False, "error_code": self.code, "description": self.description}

    def __repr__(self) -> str:
        return f"ZaloApiError({self.code}, {self.description!r}, reason={self.reason!r})"

    @classmethod
    def bad_request(cls, reason: str) -> ZaloApiError:
        return cls(400, reason=reason)

    @classmethod
    def unauthorized(cls) -> ZaloApiError:
        return cls(401, reason="token invalid or not the bot's")

    @classmethod
    def timeout(cls) -> ZaloApiError:
        return cls(408, reason="no update arrived within the poll timeout")

    @classmethod
    def quota_exceeded(cls) -> ZaloApiError:
        return cls(429, reason="injected quota error")
