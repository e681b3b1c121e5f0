"""Parameter checks shared by the methods: strings where Zalo wants strings, lengths, the
poll timeout. Every failure is a 400 whose reason names the parameter."""

from __future__ import annotations

import math
from typing import Any

from sandbox.zaloapi.errors import JSON, ZaloApiError
from sandbox.zaloapi.records import DEFAULT_POLL_TIMEOUT, MAX_TEXT_LENGTH, utf16_len


def required_str(p: JSON, name: str) -> str:
    """A required String parameter. Numbers are refused: Zalo ids are opaque hex strings,
    so a client that sends ``chat_id`` as a number has a bug."""
    value = p.get(name)
    if value is None or value == "":
        raise ZaloApiError.bad_request(f"{name} is required")
    if not isinstance(value, str):
        raise ZaloApiError.bad_request(f"{name} must be a string, got {type(value).__name__}")
    return value


def optional_str(p: JSON, name: str) -> str | None:
    value = p.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ZaloApiError.bad_request(f"{name} must be a string, got {type(value).__name__}")
    return value


def checked_text(value: str, name: str, limit: int = MAX_TEXT_LENGTH) -> str:
    """1..limit characters, counted in UTF-16 units (an emoji counts 2)."""
    length = utf16_len(value)
    if not 1 <= length <= limit:
        raise ZaloApiError.bad_request(f"{name} must be 1-{limit} characters, got {length}")
    return value


def poll_timeout(value: Any) -> float:
    """getUpdates' ``timeout``: a String of seconds per the docs; numbers accepted too.
    Fractions are allowed so tests can poll briefly."""
    if value is None or value == "":
        return DEFAULT_POLL_TIMEOUT
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ZaloApiError.bad_request("timeout must be a number of seconds")
    try:
        seconds = float(value)
    except ValueError as exc:
        raise ZaloApiError.bad_request(f"timeout {value!r} is not a number") from exc
    if not math.isfinite(seconds) or seconds < 0:
        raise ZaloApiError.bad_request(f"timeout {value!r} is out of range")
    return seconds


def is_http_url(value: str, *, https_only: bool) -> bool:
    schemes = ("https://",) if https_only else ("https://", "http://")
    return value.startswith(schemes) and len(value) > len("https://")
