"""Reading the bot's messages as the stand-in records them (end-to-end tests)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

JSON = dict[str, Any]
QUESTION = re.compile(r"Câu (\d+)/(\d+)")


def buttons(msg: JSON) -> dict[str, str]:
    """Inline buttons of a message: text → callback data."""
    rows = (msg.get("reply_markup") or {}).get("inline_keyboard", [])
    return {b["text"]: b.get("callback_data", "") for row in rows for b in row}


def button(msg: JSON, wanted: str | Callable[[str], bool]) -> str:
    """The callback data of the button whose text is `wanted` (or satisfies it)."""
    for text, data in buttons(msg).items():
        if wanted(text) if callable(wanted) else text == wanted:
            return data
    raise AssertionError(f"no button {wanted!r} on: {buttons(msg)}\n{msg.get('text')}")


def is_review(msg: JSON) -> bool:
    return "Xem lại báo cáo" in (msg.get("text") or "")


def question_at(msg: JSON, labels: Mapping[str, str]) -> tuple[int, int, str] | None:
    """(k, N, field code) of a question message («Câu k/N» then its label), else None.

    The label is looked for after the «Câu k/N» header: a note above it may name other
    questions. The longest label wins when one label contains another."""
    text = msg.get("text") or ""
    found = QUESTION.search(text)
    if not found:
        return None
    body = text[found.end():]
    placed = [(body.find(label), -len(label), code) for code, label in labels.items()
              if label in body]
    code = min(placed)[2] if placed else "?"
    return int(found.group(1)), int(found.group(2)), code
