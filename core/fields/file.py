"""file: a document or photo (the signed report), of an accepted extension and size."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from core.fields.base import FieldSpec, FieldType, FileInfo, Problem, Result, Settings
from core.formatting import format_number
from core.i18n import N_, Gettext
from core.texts import esc

DEFAULT_ACCEPT = ["pdf", "doc", "docx", "jpg", "jpeg", "png"]
DEFAULT_MAX_MB = 20
_MISPLACED = "accept and max_mb are only for file fields"

_MIME_EXT = {
    "application/pdf": "pdf",
    "application/msword": "doc",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "image/jpeg": "jpg",
    "image/png": "png",
}


class FileSettings(Settings):
    check_order: ClassVar[int] = 2
    misplaced: ClassVar[dict[str, str]] = {"accept": _MISPLACED, "max_mb": _MISPLACED}
    accept: list[str] | None = None
    max_mb: float | None = Field(None, gt=0, le=2000)


class FileType(FieldType):
    name = "file"
    settings = FileSettings
    hint_msgid = N_(
        "Send the file as a document (or a photo). Accepted: {types}; up to {mb} MB.")

    plan_defaults = {"accept": DEFAULT_ACCEPT, "max_mb": DEFAULT_MAX_MB}
    accepts_file = True

    def parse(self, spec: FieldSpec, text: str) -> Result:
        return Problem("Please send the file as a document or a photo.")

    def hint(self, _: Gettext, spec: FieldSpec) -> str:
        # As the question has always shown it when a stored field has no accept list.
        accept = spec.settings.get("accept") or ["pdf", "doc", "docx", "jpg", "png"]
        return _(self.hint_msgid).format(
            types=", ".join(accept),
            mb=format_number(spec.settings.get("max_mb") or DEFAULT_MAX_MB, digits=1))

    def value_text(self, _: Gettext, spec: FieldSpec, value: Any, locale: str) -> str:
        if isinstance(value, dict):
            return "📎 " + esc(value.get("file_name") or _("attached file"))
        return "📎"

    def check_file(self, spec: FieldSpec, info: FileInfo) -> Problem | None:
        """Refuse a sent file of another extension or over the size limit."""
        accept = [a.lower() for a in spec.settings.get("accept") or DEFAULT_ACCEPT]
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
        max_mb = float(spec.settings.get("max_mb") or DEFAULT_MAX_MB)
        if info.size is not None and info.size > max_mb * 1024 * 1024:
            return Problem("The file is too large ({size} MB). The limit is {limit} MB.",
                           {"size": round(info.size / 1024 / 1024, 1), "limit": max_mb})
        return None

    def export_cell(self, value: Any) -> Any:
        return (value.get("file_name") or "tệp") if isinstance(value, dict) else value


TYPE = FileType()
