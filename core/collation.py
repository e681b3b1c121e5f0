"""Vietnamese alphabetical order, as ICU's Vietnamese collation defines it.

Binary order puts «Ô Chợ Dừa» after «Văn Miếu» (Ô is U+00D4); Vietnamese puts it between
O and P, with a ă â … đ … ô ơ … ư as letters of their own. ICU knows the rules; a table of
our own would not.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import TypeVar

import icu

T = TypeVar("T")


@lru_cache(maxsize=1)
def _collator() -> icu.Collator:
    return icu.Collator.createInstance(icu.Locale("vi_VN"))


def vi_key(text: str) -> bytes:
    """A sort key: sorted(names, key=vi_key) is Vietnamese alphabetical order."""
    return bytes(_collator().getSortKey(text))


def vi_sorted(items: Iterable[T], key: Callable[[T], str]) -> list[T]:
    return sorted(items, key=lambda item: vi_key(key(item)))
