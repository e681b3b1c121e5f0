"""Reading what people type on phones: numbers, dates, yes/no and option names.

Conventions (Vietnamese first):
- integers: «1234», «1.234», «1,234», «1 234» (groups of three); «1,5» is not an integer;
- decimals: «1.234,5», «1234,5», «1,5»; a single dot with three digits after it is a
  thousands separator (Vietnamese habit), otherwise a decimal point («1.5»);
- dates: core.dates (dd/mm/yyyy, also d/m/yy, dd-mm-yyyy, dd.mm.yyyy, and d/m without the
  year where the question decides it);
- yes/no: «có», «co», «Có», «c», «yes», «1» … and «không», «khong», «ko», «k», «no», «0» …,
  whatever the case and diacritics.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from decimal import Decimal, InvalidOperation

from core.dates import parse_day
from core.fields.base import FieldSpec


def fold(text: str) -> str:
    """Lowercase without diacritics; đ → d. «Không» → «khong»."""
    text = text.replace("đ", "d").replace("Đ", "D")
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c))
    return re.sub(r"\s+", " ", text).strip().lower()


YES = {"co", "c", "yes", "y", "1", "dung", "roi", "da", "ok", "x", "true", "phai", "co a"}
NO = {"khong", "k", "ko", "kg", "no", "n", "0", "chua", "false", "sai", "khong co"}

_SPACES = re.compile(r"[\s\u00a0\u202f]+")
_GROUPED = re.compile(r"^[+-]?[1-9]\d{0,2}([.,]\d{3})+$")
_PLAIN_INT = re.compile(r"^[+-]?\d+$")
_SPACE_GROUPED = re.compile(r"^[+-]?\s*[1-9]\d{0,2}([\s\u00a0\u202f]\d{3})+([.,]\d+)?$")
MAX_DIGITS = 100  # far below Python's 4300-digit int() limit


def _squeeze(text: str) -> str | None:
    """Remove spaces that separate groups of three («1 234 567»); None for other inner
    spaces («12 34»), which are more likely a typo than a number. None also for more than
    MAX_DIGITS digits, checked first so that no over-long number ever reaches int()."""
    if sum(c.isdigit() for c in text) > MAX_DIGITS:
        return None
    text = text.strip()
    if _SPACE_GROUPED.match(text):
        return _SPACES.sub("", text)
    text = re.sub(r"^([+-])\s+", r"\1", text)
    if _SPACES.search(text):
        return None
    return text


def parse_integer_text(text: str) -> int | None:
    t = _squeeze(text)
    if t is None:
        return None
    if _PLAIN_INT.match(t):
        return int(t)
    if _GROUPED.match(t) and len(set(re.findall(r"[.,]", t))) == 1:
        return int(re.sub(r"[.,]", "", t))
    return None


def parse_decimal_text(text: str) -> Decimal | None:
    squeezed = _squeeze(text)
    if squeezed is None:
        return None
    match = re.fullmatch(r"([+-]?)([0-9.,]+)", squeezed)
    if not match or not re.search(r"\d", match.group(2)):
        return None
    sign, body = match.groups()
    if body[0] in ".,":
        body = "0" + body
    if body[-1] in ".,":
        return None
    dots, commas = body.count("."), body.count(",")
    if dots and commas:
        decimal_sep = "," if body.rfind(",") > body.rfind(".") else "."
        thousands = "." if decimal_sep == "," else ","
        int_part, _, frac = body.rpartition(decimal_sep)
        if not re.fullmatch(r"\d{1,3}(" + re.escape(thousands) + r"\d{3})*", int_part):
            return None
        if not frac.isdigit():
            return None
        number = int_part.replace(thousands, "") + "." + frac
    elif commas == 1 and not dots:
        number = body.replace(",", ".")  # Vietnamese decimal comma: «1,5»
    elif dots == 1 and not commas and not re.fullmatch(r"[1-9]\d{0,2}\.\d{3}", body):
        number = body  # «1.5», «12.75», «0.500»
    elif dots or commas:
        # Several separators (or «1.234»): thousands groups only.
        if not _GROUPED.match(body):
            return None
        number = re.sub(r"[.,]", "", body)
    else:
        number = body
    try:
        return Decimal(sign + number)
    except InvalidOperation:
        return None


def parse_date_text(text: str, *, today: dt.date | None = None, year: int | None = None
                    ) -> dt.date | None:
    """A typed day (core.dates: «25/3», «25/03/2022», «25-3», «25.3»). Without its year
    the day takes `year`, else the next such day from `today`, else it is refused."""
    return parse_day(text, today=today, year=year)


def parse_yes_no_text(text: str) -> bool | None:
    folded = fold(text).rstrip(".!")
    if folded in YES:
        return True
    if folded in NO:
        return False
    return None


def number_value(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def match_option(spec: FieldSpec, text: str) -> str | None:
    """The value of the option typed as its number («2»), label or value."""
    options = spec.options
    wanted = fold(text).rstrip(".")
    if re.fullmatch(r"[0-9]{1,4}", wanted) and 1 <= int(wanted) <= len(options):
        return options[int(wanted) - 1][0]
    for value, label in options:
        if wanted in (fold(label), fold(value)):
            return value
    return None
