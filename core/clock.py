"""The bot's notion of now. Real time in production; a shifted clock in tests and the
sandbox, so that a whole reporting year can be played in minutes."""

from __future__ import annotations

import datetime as dt


def real_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Clock:
    """Real time plus an offset; `set` and `advance` move it (the sandbox's clock control)."""

    def __init__(self, start: dt.datetime | None = None) -> None:
        self._offset = dt.timedelta(0)
        if start is not None:
            self.set(start)

    def now(self) -> dt.datetime:
        return real_now() + self._offset

    def set(self, moment: dt.datetime) -> None:
        if moment.tzinfo is None:
            raise ValueError("the clock needs an aware datetime")
        self._offset = moment - real_now()

    def advance(self, delta: dt.timedelta) -> None:
        self._offset += delta
