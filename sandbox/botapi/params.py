"""Bot API parameters: form fields decoded, uploads attached, values coerced.

HTTP form posts give strings for everything; PTB JSON-encodes structured parameters.
"""

from __future__ import annotations

import json
from typing import Any

from sandbox.botapi.errors import JSON, BotApiError
from sandbox.botapi.records import InputUpload

# Form-encoded fields that are free text: never JSON-decode them even if they look like JSON.
FREE_TEXT_FIELDS = frozenset(
    {
        "text",
        "caption",
        "data",
        "description",
        "short_description",
        "name",
        "title",
        "url",
        "secret_token",
        "parse_mode",
        "callback_query_id",
        "file_id",
        "action",
        "language_code",
        "query",
        "emoji",
    }
)


def as_int(value: Any, default: int | None = None) -> int | None:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return int(value)
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def as_float(value: Any, default: float = 0.0) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"true", "1", "yes"}
    return bool(value)


def as_obj(value: Any) -> Any:
    """Decode a JSON-encoded structured parameter (PTB JSON-encodes them in form posts)."""
    if isinstance(value, str):
        stripped = value.strip()
        if stripped[:1] in "{[" or stripped in {"null", "true", "false"}:
            try:
                return json.loads(stripped)
            except ValueError as exc:
                raise BotApiError.bad_request("can't parse JSON object") from exc
    return value


def decode_form_value(key: str, value: str) -> Any:
    """Decode one form field: JSON objects/arrays become Python, free text stays text."""
    if key in FREE_TEXT_FIELDS or not isinstance(value, str):
        return value
    stripped = value.strip()
    if stripped[:1] in "{[":
        try:
            return json.loads(stripped)
        except ValueError:
            return value
    return value


def attach_uploads(params: JSON, uploads: dict[str, InputUpload]) -> JSON:
    """Put uploaded parts where the Bot API expects them.

    A part is referenced either by ``attach://<part>`` in a parameter or, as PTB does for a
    single file, by a part named like the parameter itself (``document``, ``photo``).
    """
    remaining = dict(uploads)
    for key, value in list(params.items()):
        if isinstance(value, str) and value.startswith("attach://"):
            part = value[len("attach://") :]
            if part in remaining:
                params[key] = remaining.pop(part)
    for name, upload in remaining.items():
        if name not in params:
            params[name] = upload
    return params


def json_safe(value: Any) -> Any:
    """A JSON-serialisable copy for the call log (uploads become descriptions)."""
    if isinstance(value, InputUpload):
        return value.describe()
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, bytes):
        return {"bytes": len(value)}
    return value
