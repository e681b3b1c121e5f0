"""The Bot API's error answer (``ok: false``) and the JSON type every module passes around."""

from __future__ import annotations

from typing import Any

JSON = dict[str, Any]


class BotApiError(Exception):
    """An error response of the Bot API (``ok: false``)."""

    def __init__(
        self,
        code: int,
        description: str,
        retry_after: int | None = None,
        migrate_to_chat_id: int | None = None,
    ) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.retry_after = retry_after
        self.migrate_to_chat_id = migrate_to_chat_id

    @property
    def parameters(self) -> JSON | None:
        params: JSON = {}
        if self.retry_after is not None:
            params["retry_after"] = self.retry_after
        if self.migrate_to_chat_id is not None:
            params["migrate_to_chat_id"] = self.migrate_to_chat_id
        return params or None

    def to_response(self) -> JSON:
        body: JSON = {"ok": False, "error_code": self.code, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body

    def __repr__(self) -> str:
        return f"BotApiError({self.code}, {self.description!r}, retry_after={self.retry_after})"

    # Factories for the faults an outbox sender has to survive.
    @classmethod
    def too_many_requests(cls, retry_after: int = 5) -> BotApiError:
        return cls(429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after)

    @classmethod
    def server_error(cls, code: int = 500) -> BotApiError:
        return cls(code, "Internal Server Error" if code == 500 else "Bad Gateway")

    @classmethod
    def blocked(cls) -> BotApiError:
        return cls(403, "Forbidden: bot was blocked by the user")

    @classmethod
    def chat_not_found(cls) -> BotApiError:
        return cls(400, "Bad Request: chat not found")

    @classmethod
    def bad_request(cls, what: str) -> BotApiError:
        return cls(400, f"Bad Request: {what}")
