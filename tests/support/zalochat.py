"""A person on Zalo, played through the in-process Zalo stand-in: every action waits, with a
deadline, for the bot's answer (no sleeps)."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from typing import Any

from sandbox.zaloapi import ZaloApiState

JSON = dict[str, Any]
Predicate = Callable[[JSON], bool]
LINE = re.compile(r"^\s*([0-9]+|[a-z])\. (.+)$", re.M)


def anything(_: JSON) -> bool:
    return True


def text_of(message: JSON) -> str:
    return str(message.get("text") or message.get("caption") or "")


def listed(message: JSON) -> dict[str, str]:
    """The numbered (or lettered) list under a message: label → mark."""
    return {label.strip(): mark for mark, label in LINE.findall(text_of(message))}


def mark_of(message: JSON, label_part: str) -> str:
    """The mark to type for the choice whose label contains `label_part`."""
    for label, mark in listed(message).items():
        if label_part.casefold() in label.casefold():
            return mark
    raise AssertionError(f"no choice with {label_part!r} in {text_of(message)!r}")


class ZaloPerson:
    def __init__(self, state: ZaloApiState, user_id: str, name: str = "Lan Nguyễn") -> None:
        self.state, self.user_id, self.name = state, user_id, name

    def seen(self) -> int:
        return len(self.state.bot_messages(self.user_id))

    async def wait(self, until: Predicate = anything, after: int | None = None,
                   timeout: float = 20.0) -> JSON:  # noqa: ASYNC109
        """The first bot message after the `after`-th (default: now) that satisfies `until`."""
        start = self.seen() if after is None else after
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in self.state.bot_messages(self.user_id)[start:]:
                if until(message):
                    return message
            await asyncio.sleep(0.02)
        got = [text_of(m)[:200] for m in self.state.bot_messages(self.user_id)[start:]]
        raise AssertionError(f"no matching Zalo message within {timeout}s; got {got}")

    async def say(self, text: str, until: Predicate = anything) -> JSON:
        before = self.seen()
        self.state.user_sends_text(self.user_id, text, display_name=self.name)
        return await self.wait(until, after=before)

    async def choose(self, message: JSON, label_part: str, until: Predicate = anything) -> JSON:
        return await self.say(mark_of(message, label_part), until)

    async def photo(self, url: str, until: Predicate = anything) -> JSON:
        before = self.seen()
        self.state.user_sends_image(self.user_id, url, display_name=self.name)
        return await self.wait(until, after=before)
