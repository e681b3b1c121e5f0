"""gettext wiring: one Babel `Translations` per locale, English msgids, Vietnamese default.

Use it as
    _ = translator(lang)
    _("Hello {name}").format(name=...)
so that `pybabel extract` (keyword `_`) finds every string.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from gettext import NullTranslations
from pathlib import Path

from babel.support import Translations

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
SUPPORTED = ("vi", "en")
DEFAULT_LOCALE = "vi"

Gettext = Callable[[str], str]


@lru_cache(maxsize=8)
def translations(locale: str) -> NullTranslations:
    if locale == "en":
        return NullTranslations()  # msgids are English
    loaded = Translations.load(str(LOCALES_DIR), [locale], domain="messages")
    if not isinstance(loaded, Translations):
        raise RuntimeError(
            f"no compiled catalog for '{locale}' in {LOCALES_DIR}; run `make catalogs`"
        )
    return loaded


def translator(locale: str | None) -> Gettext:
    return translations(normalize(locale)).gettext


def ngettext(locale: str | None) -> Callable[[str, str, int], str]:
    return translations(normalize(locale)).ngettext


def N_(message: str) -> str:
    """Mark a string for extraction without translating it now."""
    return message


def normalize(locale: str | None) -> str:
    if not locale:
        return DEFAULT_LOCALE
    base = locale.replace("_", "-").split("-")[0].lower()
    return base if base in SUPPORTED else DEFAULT_LOCALE


def pick_language(stored: str | None, telegram_code: str | None) -> str:
    """The member's stored choice, else Telegram's language_code, else Vietnamese."""
    if stored in SUPPORTED:
        return stored
    if telegram_code:
        base = telegram_code.replace("_", "-").split("-")[0].lower()
        if base in SUPPORTED:
            return base
    return DEFAULT_LOCALE
