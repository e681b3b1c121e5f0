"""Parsing and validating answers the way people type them on phones. Pure functions.

`parse(field, text)` returns `Ok(value)` or `Problem(key, params)`; the key is an English
msgid that handlers translate, so this module needs no Telegram and no gettext.

Conventions (Vietnamese first):
- integers: «1234», «1.234», «1,234», «1 234» (groups of three); «1,5» is not an integer;
- decimals: «1.234,5», «1234,5», «1,5»; a single dot with three digits after it is a
  thousands separator (Vietnamese habit), otherwise a decimal point («1.5»);
- percentages: «80», «80%», «80,5 %»;
- dates: dd/mm/yyyy, also d/m/yy and dd-mm-yyyy or dd.mm.yyyy;
- yes/no: «có», «co», «Có», «c», «yes», «1» … and «không», «khong», «ko», «k», «no», «0» …,
  whatever the case and diacritics.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from core.expressions import parse as parse_expression


@dataclass(frozen=True)
class FieldSpec:
    code: str
    label: str
    type: str
    required: bool = True
    help: str | None = None
    unit: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def options(self) -> list[tuple[str, str]]:
        return [(o["value"], o["label"]) for o in self.settings.get("options", [])]

    @property
    def show_if(self) -> str | None:
        return self.settings.get("show_if")

    def bound(self, name: str) -> Any:
        value = self.settings.get(name)
        if value is None:
            return None
        if self.type == "date":
            return dt.date.fromisoformat(str(value))
        return Decimal(str(value))


@dataclass(frozen=True)
class Ok:
    value: Any


@dataclass(frozen=True)
class Problem:
    key: str
    params: dict[str, Any] = field(default_factory=dict)


Result = Ok | Problem


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


_DATE = re.compile(r"^(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{2}|\d{4})$")


def parse_date_text(text: str) -> dt.date | None:
    match = _DATE.match(_SPACES.sub("", text))
    if not match:
        return None
    day, month, year = (int(g) for g in match.groups())
    if len(match.group(3)) == 2:
        year += 2000
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def parse_yes_no_text(text: str) -> bool | None:
    folded = fold(text).rstrip(".!")
    if folded in YES:
        return True
    if folded in NO:
        return False
    return None


def _number_value(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


MAX_MAGNITUDE = Decimal(10) ** 15  # what the database's numeric copy holds


def _check_bounds(spec: FieldSpec, value: Any) -> Problem | None:
    if not isinstance(value, dt.date) and abs(Decimal(value)) >= MAX_MAGNITUDE:
        return Problem("This number is too large; please check it.")
    low, high = spec.bound("min"), spec.bound("max")
    if low is not None and value < low:
        if high is not None:
            return Problem("Please enter a value between {min} and {max}.",
                           {"min": low, "max": high})
        return Problem("Please enter a value of at least {min}.", {"min": low})
    if high is not None and value > high:
        if low is not None:
            return Problem("Please enter a value between {min} and {max}.",
                           {"min": low, "max": high})
        return Problem("Please enter a value of at most {max}.", {"max": high})
    return None


def parse(spec: FieldSpec, text: str) -> Result:
    """Parse free text typed for `spec`. Buttons go through `choose` instead."""
    text = (text or "").strip()
    if not text:
        return Problem("Please type an answer.")
    match spec.type:
        case "integer":
            number = parse_integer_text(text)
            if number is None:
                if parse_decimal_text(text) is not None:
                    return Problem("Please enter a whole number, without decimals.")
                return Problem("Please enter a number, for example 12 or 1.234.")
            problem = _check_bounds(spec, Decimal(number))
            return problem or Ok(number)
        case "decimal" | "percent":
            folded = text.replace("%", "").strip() if spec.type == "percent" else text
            value = parse_decimal_text(folded)
            if value is None:
                if spec.type == "percent":
                    return Problem("Please enter a percentage, for example 80 or 80,5%.")
                return Problem("Please enter a number, for example 12,5 or 1.234,5.")
            low = spec.bound("min")
            high = spec.bound("max")
            if spec.type == "percent":
                low = Decimal(0) if low is None else low
                high = Decimal(100) if high is None else high
                spec = FieldSpec(spec.code, spec.label, spec.type,
                                 settings={**spec.settings, "min": low, "max": high})
            problem = _check_bounds(spec, value)
            return problem or Ok(_number_value(value))
        case "yes_no":
            answer = parse_yes_no_text(text)
            if answer is None:
                return Problem("Please answer yes or no (Có / Không).")
            return Ok(answer)
        case "date":
            day = parse_date_text(text)
            if day is None:
                return Problem("Please enter a date as dd/mm/yyyy, for example 13/12/2022.")
            problem = _check_bounds(spec, day)
            return problem or Ok(day.isoformat())
        case "choice":
            value = _match_option(spec, text)
            if value is None:
                return Problem("Please choose one of the options with the buttons.")
            return Ok(value)
        case "multi_choice":
            values: list[str] = []
            for chunk in re.split(r"[;\n]+", text):
                if not chunk.strip():
                    continue
                # A whole chunk may be one label that contains a comma («Tờ rơi, áp phích»).
                whole = _match_option(spec, chunk)
                parts = [chunk] if whole is not None else chunk.split(",")
                for part in parts:
                    if not part.strip():
                        continue
                    value = _match_option(spec, part)
                    if value is None:
                        return Problem(
                            "Please choose with the buttons, or type the option numbers "
                            "separated by commas."
                        )
                    if value not in values:
                        values.append(value)
            return Ok(values) if values else Problem("Please choose at least one option.")
        case "text" | "long_text":
            limit = int(spec.settings.get("max_length") or (200 if spec.type == "text" else 4000))
            if len(text) > limit:
                return Problem("Please keep the answer under {limit} characters (now {length}).",
                               {"limit": limit, "length": len(text)})
            return Ok(text)
        case "file":
            return Problem("Please send the file as a document or a photo.")
    return Problem("Unsupported question type.")


def _match_option(spec: FieldSpec, text: str) -> str | None:
    options = spec.options
    wanted = fold(text).rstrip(".")
    if re.fullmatch(r"[0-9]{1,4}", wanted) and 1 <= int(wanted) <= len(options):
        return options[int(wanted) - 1][0]
    for value, label in options:
        if wanted in (fold(label), fold(value)):
            return value
    return None


def validate_value(spec: FieldSpec, value: Any) -> Result:
    """Check a value that came from a button (already typed), e.g. a choice."""
    match spec.type:
        case "yes_no":
            return Ok(value) if isinstance(value, bool) else Problem("Unsupported answer.")
        case "choice":
            valid = {v for v, _ in spec.options}
            return Ok(value) if value in valid else Problem("This option no longer exists.")
        case "multi_choice":
            valid = {v for v, _ in spec.options}
            if not isinstance(value, list) or not set(value) <= valid:
                return Problem("This option no longer exists.")
            return Ok(value)
    return Problem("Unsupported answer.")


@dataclass(frozen=True)
class FileInfo:
    file_name: str | None
    mime_type: str | None
    size: int | None


_MIME_EXT = {
    "application/pdf": "pdf",
    "application/msword": "doc",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "image/jpeg": "jpg",
    "image/png": "png",
}


def check_file(spec: FieldSpec, info: FileInfo) -> Problem | None:
    accept = [a.lower() for a in spec.settings.get("accept") or
              ["pdf", "doc", "docx", "jpg", "jpeg", "png"]]
    ext = None
    if info.file_name and "." in info.file_name:
        ext = info.file_name.rsplit(".", 1)[1].lower()
    elif info.mime_type:
        ext = _MIME_EXT.get(info.mime_type)
    if ext == "jpeg":
        ext = "jpg" if "jpg" in accept else ext
    if ext not in accept and not (ext == "jpg" and "jpeg" in accept):
        return Problem("This file type is not accepted. Please send one of: {types}.",
                       {"types": ", ".join(accept)})
    max_mb = float(spec.settings.get("max_mb") or 20)
    if info.size is not None and info.size > max_mb * 1024 * 1024:
        return Problem("The file is too large ({size} MB). The limit is {limit} MB.",
                       {"size": round(info.size / 1024 / 1024, 1), "limit": max_mb})
    return None


def check_visible(spec: FieldSpec, answers: dict[str, Any]) -> bool:
    """Skip logic: a field with show_if is asked only when its condition holds."""
    if not spec.show_if:
        return True
    return bool(parse_expression(spec.show_if).holds(answers))
