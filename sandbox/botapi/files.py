"""Files: what users and the bot upload, their file_ids, getFile and downloads."""

from __future__ import annotations

import itertools
import mimetypes
import struct
import uuid
from typing import Any

from sandbox.botapi.core import StateCore
from sandbox.botapi.errors import JSON, BotApiError
from sandbox.botapi.records import MAX_DOWNLOAD_BYTES, MAX_UPLOAD_BYTES, InputUpload, StoredFile


def image_size(content: bytes) -> tuple[int, int] | None:
    """(width, height) of a PNG, GIF or JPEG, or None if it is not one of those.

    A PhotoSize needs width and height, and Telegram refuses a photo that is no image.
    """
    if content.startswith(b"\x89PNG\r\n\x1a\n") and len(content) >= 24:
        width, height = struct.unpack(">II", content[16:24])
        return width, height
    if content[:6] in (b"GIF87a", b"GIF89a") and len(content) >= 10:
        width, height = struct.unpack("<HH", content[6:10])
        return width, height
    if content.startswith(b"\xff\xd8"):
        i = 2
        while i + 9 < len(content):
            if content[i] != 0xFF:
                i += 1
                continue
            marker = content[i + 1]
            if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
                i += 2
                continue
            (seg_len,) = struct.unpack(">H", content[i + 2 : i + 4])
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                height, width = struct.unpack(">HH", content[i + 5 : i + 9])
                return width, height
            i += 2 + seg_len
    return None


class FilesMixin(StateCore):
    """The file store: uploads become files with ids and paths the bot can fetch."""

    def _init_files(self) -> None:
        self._file_seq = itertools.count(1)

    def _reset_files(self) -> None:
        self.files: dict[str, StoredFile] = {}

    def file_content(self, file_id: str) -> bytes:
        return self.files[file_id].content

    def file_by_path(self, file_path: str) -> StoredFile | None:
        return next((f for f in self.files.values() if f.file_path == file_path), None)

    def _store_file(self, upload: InputUpload, kind: str) -> StoredFile:
        if len(upload.content) > MAX_UPLOAD_BYTES:
            raise BotApiError(413, "Request Entity Too Large")
        n = next(self._file_seq)
        ext = mimetypes.guess_extension(upload.mime_type or "") or ""
        if upload.filename and "." in upload.filename:
            ext = "." + upload.filename.rsplit(".", 1)[1]
        folder = {"document": "documents", "photo": "photos", "sticker": "stickers"}[kind]
        prefix = {"document": "BQAC", "photo": "AgAC", "sticker": "CAAC"}[kind]
        stored = StoredFile(
            file_id=f"{prefix}{n:06d}{uuid.uuid4().hex[:20]}",
            file_unique_id=f"AQAD{n:06d}",
            content=upload.content,
            file_name=upload.filename,
            mime_type=upload.mime_type,
            file_path=f"{folder}/file_{n}{ext}",
            kind=kind,
        )
        self.files[stored.file_id] = stored
        return stored

    def _resolve_file(self, value: Any, kind: str, what: str) -> StoredFile:
        if isinstance(value, InputUpload):
            if kind == "photo" and image_size(value.content) is None:
                raise BotApiError.bad_request("IMAGE_PROCESS_FAILED")
            return self._store_file(value, kind)
        if isinstance(value, str) and value in self.files:
            return self.files[value]
        if isinstance(value, str) and value.startswith(("http://", "https://")):
            # The stand-in does not fetch URLs; Telegram's wording for a failed fetch.
            raise BotApiError.bad_request(f"failed to get HTTP URL content ({what})")
        if not value:
            raise BotApiError.bad_request(f"there is no {what} in the request")
        raise BotApiError.bad_request("wrong file identifier/HTTP URL specified")

    @staticmethod
    def _document_json(stored: StoredFile) -> JSON:
        data: JSON = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.content),
        }
        if stored.file_name:
            data["file_name"] = stored.file_name
        if stored.mime_type:
            data["mime_type"] = stored.mime_type
        return data

    @staticmethod
    def _photo_json(stored: StoredFile) -> list[JSON]:
        width, height = image_size(stored.content) or (0, 0)
        return [
            {
                "file_id": stored.file_id,
                "file_unique_id": stored.file_unique_id,
                "file_size": len(stored.content),
                "width": width,
                "height": height,
            }
        ]

    def _m_getFile(self, bot: JSON, p: JSON) -> JSON:
        stored = self.files.get(str(p.get("file_id") or ""))
        if stored is None:
            raise BotApiError.bad_request("invalid file_id")
        if len(stored.content) > MAX_DOWNLOAD_BYTES:
            raise BotApiError.bad_request("file is too big")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.content),
            "file_path": stored.file_path,
        }
