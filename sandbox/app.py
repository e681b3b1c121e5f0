"""The sandbox page and its JSON API (aiohttp, in the sandbox's process and event loop).

Routes (all JSON unless said otherwise):

* ``GET  /`` and ``/static/*``                 the page (no CDN, no external fonts)
* ``GET  /api/personas``                        personas with unread counts, the clock
* ``GET  /api/personas/{key}/messages``         the persona's chat, rendered for the page
  (``?read=1`` marks it read; answers 304 to a matching ``If-None-Match``)
* ``POST /api/personas/{key}/text``             ``{"text": "…"}``: the persona types
* ``POST /api/personas/{key}/press``            ``{"message_id": 12, "data": "…"}``: taps a
  button; waits briefly for the bot's answer (the toast Telegram would show)
* ``POST /api/personas/{key}/upload``           multipart ``file`` (+ ``caption``): JPEG/PNG
  images go as photos, everything else as documents
* ``GET  /api/files/{file_id}``                 file bytes (``?download=1``: as attachment)
* ``GET  /api/zalo-images/{token}``             an image the Zalo persona sent (its URL is
  what the bot receives, as Zalo gives a URL)
* ``GET  /api/clock``                           the simulated time
* ``POST /api/clock/advance``                   ``{"hours": 1}``, ``{"days": 7}`` or ``minutes``
* ``POST /api/clock/set``                       ``{"at": "12/03 08:00"}`` (or ISO 8601)

Moving the clock sets the bot's Clock and runs the sweep (see :meth:`Sandbox.move_clock`); the
bot's own outbox sender then delivers, and the page's polling shows the new messages.

Bot messages use parse_mode HTML; the stand-in keeps them as text + entities (as Telegram
does), and :func:`render_text` turns those back into HTML with everything escaped and only
``b i u s code pre a blockquote`` and a spoiler span produced.

A persona on Zalo (``channel: "zalo"``) is played through the Zalo stand-in: its messages
(:func:`render_zalo_message`) are plain text, the bot's choices a numbered list in the text,
no buttons; ids are the message's position in the chat (1, 2, …), since Zalo's are opaque
strings. Text goes through ``user_sends_text``; an uploaded image is served here and sent as
``user_sends_image`` with its URL; any other file is withheld, as Zalo withholds files
(``user_sends_unsupported``); ``/press`` answers 400: Zalo has no buttons.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import html
import itertools
import json
import re
import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from aiohttp import web
from sqlalchemy import select

from db.models import Agency, Member
from sandbox.botapi import BotApiError
from sandbox.moments import TZ, parse_moment

if TYPE_CHECKING:
    from sandbox.runner import Persona, Sandbox

STATIC = Path(__file__).resolve().parent / "static"
SANDBOX_KEY: web.AppKey[Sandbox] = web.AppKey("sandbox")
READ_KEY: web.AppKey[dict[str, int]] = web.AppKey("read")
ANSWER_WAIT = 3.0
MAX_TEXT = 4096
MAX_ZALO_TEXT = 2000  # Zalo's limit on a text message (docs/zalo-bot-api.md)
ZALO_IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
NO_BUTTONS_ON_ZALO = ("Zalo không có nút bấm: gõ số (hoặc chữ cái, hoặc tên) của lựa chọn "
                      "trong danh sách, ví dụ «1».")
WITHHELD_ON_ZALO = "Zalo không chuyển tệp này cho bot (bot chỉ nhận được chữ và ảnh)."

WEEKDAYS_VI = ["Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy", "Chủ Nhật"]

JSON = dict[str, Any]


# ------------------------------------------------------------------------------ rendering

_SIMPLE = {
    "bold": ("<b>", "</b>"),
    "italic": ("<i>", "</i>"),
    "underline": ("<u>", "</u>"),
    "strikethrough": ("<s>", "</s>"),
    "code": ("<code>", "</code>"),
    "pre": ("<pre>", "</pre>"),
    "spoiler": ('<span class="spoiler">', "</span>"),
    "blockquote": ("<blockquote>", "</blockquote>"),
    "expandable_blockquote": ("<blockquote>", "</blockquote>"),
}
_SAFE_SCHEMES = {"http", "https", "tg", "mailto"}
_URL_RE = re.compile(r"https?://[^\s<>\"'«»]+[^\s<>\"'«».,;:!?)\]]")


def safe_href(url: str) -> str | None:
    """The URL if its scheme is harmless (no javascript:, data:, …), else None."""
    url = (url or "").strip()
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        return None
    return url if scheme in _SAFE_SCHEMES else None


def _link_open(url: str) -> str:
    return (f'<a href="{html.escape(url, quote=True)}" target="_blank" '
            'rel="noopener noreferrer">')


def _autolink(text: str) -> str:
    """Escape plain text, turning bare http(s) URLs into links (Telegram does too)."""
    out: list[str] = []
    pos = 0
    for match in _URL_RE.finditer(text):
        out.append(html.escape(text[pos:match.start()], quote=False))
        url = match.group(0)
        out.append(_link_open(url) + html.escape(url, quote=False) + "</a>")
        pos = match.end()
    out.append(html.escape(text[pos:], quote=False))
    return "".join(out)


def _tags_for(entity: JSON) -> tuple[str, str]:
    kind = entity.get("type")
    if kind in _SIMPLE:
        return _SIMPLE[kind]
    if kind == "text_link":
        href = safe_href(entity.get("url", ""))
        return (_link_open(href), "</a>") if href else ("", "")
    if kind == "text_mention":
        return ('<span class="mention">', "</span>")
    return ("", "")


def render_text(text: str | None, entities: list[JSON] | None = None) -> str:
    """Plain text + Bot API entities → safe HTML (newlines kept; the page uses pre-wrap).

    Entity offsets are UTF-16 code units. Entities are opened and closed around each
    segment between boundaries, so even overlapping entities give well-formed HTML.
    """
    text = text or ""
    if not text:
        return ""
    # UTF-16 offset → Python index.
    index_of: dict[int, int] = {}
    u16 = 0
    for i, ch in enumerate(text):
        index_of[u16] = i
        u16 += 2 if ord(ch) > 0xFFFF else 1
    index_of[u16] = len(text)

    def to_index(offset: int) -> int:
        while offset not in index_of and offset > 0:
            offset -= 1  # an offset inside a surrogate pair: round down
        return index_of.get(offset, 0)

    spans: list[tuple[int, int, int, JSON]] = []
    for order, entity in enumerate(entities or []):
        try:
            start = to_index(int(entity["offset"]))
            end = to_index(int(entity["offset"]) + int(entity["length"]))
        except (KeyError, TypeError, ValueError):
            continue
        if end > start:
            spans.append((start, end, order, entity))
    spans.sort(key=lambda s: (s[0], -s[1], s[2]))
    bounds = sorted({0, len(text), *(s[0] for s in spans), *(s[1] for s in spans)})
    out: list[str] = []
    stack: list[tuple[int, int, int, JSON]] = []
    for a, b in itertools.pairwise(bounds):
        active = [s for s in spans if s[0] <= a < s[1]]
        keep = 0
        while keep < len(stack) and keep < len(active) and stack[keep] is active[keep]:
            keep += 1
        for s in reversed(stack[keep:]):
            out.append(_tags_for(s[3])[1])
        stack = stack[:keep]
        for s in active[keep:]:
            out.append(_tags_for(s[3])[0])
            stack.append(s)
        segment = text[a:b]
        in_link_or_code = any(
            s[3].get("type") in ("text_link", "code", "pre") for s in stack
        )
        if any(s[3].get("type") == "url" for s in stack) and not in_link_or_code:
            href = safe_href(segment)
            out.append(_link_open(href) + html.escape(segment, quote=False) + "</a>"
                       if href else html.escape(segment, quote=False))
        elif in_link_or_code:
            out.append(html.escape(segment, quote=False))
        else:
            out.append(_autolink(segment))
    for s in reversed(stack):
        out.append(_tags_for(s[3])[1])
    return "".join(out)


def _time_label(timestamp: int | float | None) -> str:
    if not timestamp:
        return ""
    moment = dt.datetime.fromtimestamp(float(timestamp), TZ)
    return moment.strftime("%H:%M")


def _list_time(timestamp: int | float, now: dt.datetime) -> str:
    """The chat list's time: HH:MM today (simulated), else dd/mm."""
    moment = dt.datetime.fromtimestamp(float(timestamp), now.tzinfo)
    return moment.strftime("%H:%M") if moment.date() == now.date() else moment.strftime("%d/%m")


def _day_label(timestamp: int | float | None) -> str:
    if not timestamp:
        return ""
    moment = dt.datetime.fromtimestamp(float(timestamp), TZ)
    return f"{WEEKDAYS_VI[moment.weekday()]}, {moment:%d/%m/%Y}"


def _buttons(markup: JSON | None) -> list[list[JSON]]:
    rows = []
    for row in (markup or {}).get("inline_keyboard", []) or []:
        out_row = []
        for b in row:
            button: JSON = {"text": str(b.get("text", ""))}
            if b.get("callback_data") is not None:
                button["data"] = str(b["callback_data"])
            elif b.get("url"):
                href = safe_href(str(b["url"]))
                if href:
                    button["url"] = href
            out_row.append(button)
        if out_row:
            rows.append(out_row)
    return rows


def render_message(msg: JSON) -> JSON:
    """One stand-in transcript message as the page needs it."""
    out: JSON = {
        "id": msg["message_id"],
        "from_bot": bool(msg.get("from_bot")),
        "date": msg.get("date"),
        "time": _time_label(msg.get("date")),
        "day": _day_label(msg.get("date")),
        "edited": bool(msg.get("edited")),
        "html": "",
        "buttons": _buttons(msg.get("reply_markup")) if msg.get("from_bot") else [],
    }
    if msg.get("text") is not None:
        out["html"] = render_text(msg["text"], msg.get("entities"))
    elif msg.get("caption") is not None:
        out["html"] = render_text(msg["caption"], msg.get("caption_entities"))
    document = msg.get("document")
    if document:
        out["document"] = {
            "file_id": document.get("file_id"),
            "name": document.get("file_name") or "tệp",
            "size": document.get("file_size") or 0,
            "mime": document.get("mime_type") or "application/octet-stream",
        }
    photo = msg.get("photo")
    if photo:
        biggest = max(photo, key=lambda p: (p.get("width") or 0) * (p.get("height") or 0))
        out["photo"] = {
            "file_id": biggest.get("file_id"),
            "width": biggest.get("width") or 0,
            "height": biggest.get("height") or 0,
        }
    sticker = msg.get("sticker")
    if sticker:
        out["sticker"] = sticker.get("emoji") or "🖼"
    return out


def reply_keyboard_rows(markup: JSON | None) -> list[list[str]] | None:
    if not markup or "keyboard" not in markup:
        return None
    rows = []
    for row in markup.get("keyboard") or []:
        labels = [b if isinstance(b, str) else str(b.get("text", "")) for b in row]
        if labels:
            rows.append(labels)
    return rows or None


def render_zalo_message(position: int, msg: JSON, base_url: str = "",
                        withheld: dict[str, str] | None = None) -> JSON:
    """One Zalo stand-in transcript message (``position``: 1 for the chat's first) as the page
    needs it: plain text (links made clickable), a picture by URL, never buttons."""
    seconds = (msg.get("date") or 0) / 1000  # Zalo dates are milliseconds
    out: JSON = {
        "id": position,
        "zalo_id": msg.get("message_id"),
        "from_bot": bool(msg.get("from_bot")),
        "date": seconds,
        "time": _time_label(seconds),
        "day": _day_label(seconds),
        "edited": False,
        "html": "",
        "buttons": [],
    }
    text = msg.get("text") if msg.get("text") is not None else msg.get("caption")
    if text is not None:
        out["html"] = render_text(str(text))
    url = msg.get("photo") or msg.get("photo_url")
    if isinstance(url, str) and safe_href(url):
        # Our own images go by path: the page may be open under another host name.
        shown = url[len(base_url):] if base_url and url.startswith(base_url + "/") else url
        out["image"] = {"url": shown, "local": shown.startswith("/")}
    if msg.get("kind") == "sticker":
        out["sticker"] = "🖼"
    if msg.get("kind") == "unsupported":
        name = (withheld or {}).get(str(msg.get("message_id")), "")
        out["withheld"] = {"name": name or "tệp", "note": WITHHELD_ON_ZALO}
    return out


def zalo_preview(msg: JSON | None) -> str:
    if msg is None:
        return ""
    if msg.get("photo") or msg.get("photo_url"):
        return "🖼 Ảnh"
    if msg.get("kind") == "unsupported":
        return "📄 tệp (Zalo không chuyển)"
    text = msg.get("text") or msg.get("caption") or ""
    return next((line for line in text.splitlines() if line.strip()), "")[:80]


# ------------------------------------------------------------------------------ helpers


def _sandbox(request: web.Request) -> Sandbox:
    return request.app[SANDBOX_KEY]


def _persona(request: web.Request) -> Persona:
    try:
        return _sandbox(request).persona(request.match_info["key"])
    except KeyError as exc:
        raise web.HTTPNotFound(text=json.dumps({"error": "Không có vai này."}),
                               content_type="application/json") from exc


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(data, status=status, headers=headers,
                             dumps=lambda d: json.dumps(d, ensure_ascii=False))


def _error(message: str, status: int = 400) -> web.Response:
    return _json({"error": message}, status=status)


async def _body(request: web.Request) -> JSON:
    if not request.can_read_body:
        return {}
    try:
        body = await request.json()
    except (json.JSONDecodeError, ValueError):
        return {}
    return body if isinstance(body, dict) else {}


def clock_json(sandbox: Sandbox) -> JSON:
    now = sandbox.now()
    return {
        "iso": now.isoformat(timespec="seconds"),
        "label": f"{WEEKDAYS_VI[now.weekday()]}, {now:%d/%m/%Y %H:%M}",
        "short": f"{now:%d/%m %H:%M}",
        "timezone": "Asia/Ho_Chi_Minh",
        "last_sweep": sandbox.sweeps[-1] if sandbox.sweeps else None,
    }


def _preview(msg: JSON | None) -> str:
    if msg is None:
        return ""
    if msg.get("document"):
        return "📄 " + str(msg["document"].get("file_name") or "tệp")
    if msg.get("photo"):
        return "🖼 Ảnh"
    text = msg.get("text") or msg.get("caption") or ""
    first = next((line for line in text.splitlines() if line.strip()), "")
    return first[:80]


# ------------------------------------------------------------------------------ handlers


async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})


async def api_personas(request: web.Request) -> web.Response:
    sandbox = _sandbox(request)
    read = request.app[READ_KEY]
    out = []
    joined = await _joined_agencies(sandbox, [int(p.user_id) for p in sandbox.personas
                                              if p.agency is None and not p.on_zalo])
    for p in sandbox.personas:
        messages = sandbox.chat_messages(p)
        seen = read.get(p.key, 0)
        # A persona who had no agency shows the one they joined through an invite.
        label = {"agency_label": joined[p.user_id]} if p.user_id in joined else {}
        if p.on_zalo:  # ids are positions; dates are milliseconds
            unread = sum(1 for i, m in enumerate(messages, 1) if m.get("from_bot") and i > seen)
            preview = zalo_preview(messages[-1] if messages else None)
            last = messages[-1]["date"] / 1000 if messages else None
        else:
            unread = sum(1 for m in messages if m.get("from_bot") and m["message_id"] > seen)
            preview = _preview(messages[-1] if messages else None)
            last = messages[-1]["date"] if messages else None
        out.append(p.public() | label | {
            "unread": unread,
            "preview": preview,
            "last_time": _list_time(last, sandbox.now()) if last else "",
        })
    return _json({"personas": out, "clock": clock_json(sandbox),
                  "bot": {"name": sandbox.state.bot_first_name,
                          "username": sandbox.state.bot_username}})


async def _joined_agencies(sandbox: Sandbox, user_ids: list[int]) -> dict[int, str]:
    """Telegram user id -> the agency each of these people joined, if they did."""
    if not user_ids:
        return {}
    async with sandbox.application.bot_data["db"]() as session:
        rows = (await session.execute(
            select(Member.telegram_user_id, Agency.name)
            .join(Agency, Agency.id == Member.agency_id)
            .where(Member.telegram_user_id.in_(user_ids), Member.active.is_(True)))).all()
    return {int(uid): str(name) for uid, name in rows}


async def api_messages(request: web.Request) -> web.Response:
    sandbox = _sandbox(request)
    p = _persona(request)
    if p.on_zalo:
        raw = sandbox.chat_messages(p)
        messages = [render_zalo_message(i, m, sandbox.url, sandbox.zalo_withheld)
                    for i, m in enumerate(raw, 1)]
        keyboard = None  # Zalo has no keyboard: the menu is a numbered list
    else:
        raw = sandbox.state.chat_messages(int(p.user_id))
        try:
            info = sandbox.state.chat_info(int(p.user_id))
        except BotApiError:
            info = {}
        messages = [render_message(m) for m in raw]
        keyboard = reply_keyboard_rows(info.get("reply_keyboard"))
    if request.query.get("read") == "1":
        last_bot = max((m["id"] for m in messages if m["from_bot"]), default=0)
        request.app[READ_KEY][p.key] = last_bot
    body = {
        "persona": p.key,
        "channel": p.channel,
        "messages": messages,
        "reply_keyboard": keyboard,
    }
    encoded = json.dumps(body, ensure_ascii=False, sort_keys=True)
    etag = '"' + hashlib.sha1(encoded.encode()).hexdigest() + '"'
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if request.headers.get("If-None-Match") == etag:
        return web.Response(status=304, headers=headers)
    return web.Response(text=encoded, content_type="application/json", headers=headers)


async def api_text(request: web.Request) -> web.Response:
    sandbox = _sandbox(request)
    p = _persona(request)
    text = str((await _body(request)).get("text") or "").strip()
    if not text:
        return _error("Tin nhắn trống.")
    limit = MAX_ZALO_TEXT if p.on_zalo else MAX_TEXT
    if len(text) > limit:
        return _error(f"Tin nhắn quá dài (tối đa {limit} ký tự).")
    if p.on_zalo:
        zalo = _zalo(sandbox)
        zalo.user_sends_text(str(p.user_id), text, display_name=p.name)
        return _json({"ok": True, "message_id": len(zalo.chat_messages(str(p.user_id)))})
    update = sandbox.state.user_sends_text(int(p.user_id), text)
    return _json({"ok": True, "message_id": update["message"]["message_id"]})


async def api_press(request: web.Request) -> web.Response:
    sandbox = _sandbox(request)
    p = _persona(request)
    if p.on_zalo:
        return _error(NO_BUTTONS_ON_ZALO)
    body = await _body(request)
    try:
        message_id = int(body["message_id"])
        data = str(body["data"])
    except (KeyError, TypeError, ValueError):
        return _error("Cần message_id và data.")
    try:
        update = sandbox.state.user_presses(int(p.user_id), message_id, data)
    except ValueError:
        return _error("Nút này không còn trên tin nhắn.", status=409)
    query_id = update["callback_query"]["id"]
    # Telegram shows the bot's answer as a toast; wait a moment for it.
    deadline = time.monotonic() + ANSWER_WAIT
    record = sandbox.state.callback_queries.get(query_id)
    while record is not None and time.monotonic() < deadline:
        if record.answered:
            break
        await asyncio.sleep(0.03)
    answer = sandbox.state.callback_answer(query_id) or {}
    return _json({"ok": True, "callback_query_id": query_id,
                  "answered": bool(record and record.answered),
                  "toast": answer.get("text") or "",
                  "alert": bool(answer.get("show_alert"))})


async def api_upload(request: web.Request) -> web.Response:
    sandbox = _sandbox(request)
    p = _persona(request)
    if not request.content_type.startswith("multipart/"):
        return _error("Gửi tệp dạng multipart/form-data (trường «file»).")
    form = await request.post()
    part = form.get("file")
    if not isinstance(part, web.FileField):
        return _error("Không có tệp.")
    content = part.file.read()
    if not content:
        return _error("Tệp rỗng.")
    caption = str(form.get("caption") or "").strip() or None
    mime = part.content_type or "application/octet-stream"
    if p.on_zalo:
        return _zalo_upload(sandbox, p, content, mime, part.filename or "tep", caption)
    as_photo = str(form.get("as") or "") == "photo" or (
        str(form.get("as") or "") != "document" and mime in ("image/jpeg", "image/png"))
    try:
        if as_photo:
            update = sandbox.state.user_sends_photo(int(p.user_id), content, caption=caption)
        else:
            update = sandbox.state.user_sends_document(
                int(p.user_id), part.filename or "tep", content, mime, caption=caption)
    except BotApiError as exc:
        return _error(exc.description, status=exc.code)
    return _json({"ok": True, "message_id": update["message"]["message_id"],
                  "kind": "photo" if as_photo else "document"})


def _zalo(sandbox: Sandbox) -> Any:
    if sandbox.zalo_state is None:  # a Zalo persona exists only with the Zalo stand-in
        raise web.HTTPNotFound(text=json.dumps({"error": "Sandbox này không chạy Zalo."}),
                               content_type="application/json")
    return sandbox.zalo_state


def _zalo_upload(sandbox: Sandbox, p: Persona, content: bytes, mime: str, name: str,
                 caption: str | None) -> web.Response:
    """A picture reaches the bot as Zalo gives it: a URL (served here); any other file is
    withheld by Zalo, so the bot gets ``message.unsupported.received``."""
    zalo = _zalo(sandbox)
    sniffed = sniff_image(content)
    if sniffed is None and not mime.startswith("image/"):
        update = zalo.user_sends_unsupported(str(p.user_id), display_name=p.name)
        sandbox.zalo_withheld[str(update["message"]["message_id"])] = name
        return _json({"ok": True, "message_id": len(zalo.chat_messages(str(p.user_id))),
                      "kind": "withheld", "note": WITHHELD_ON_ZALO})
    if (sniffed or mime) not in ZALO_IMAGE_TYPES:
        return _error("Ảnh cần là JPEG, PNG, GIF hoặc WebP.")
    token = secrets.token_urlsafe(12)
    sandbox.zalo_images[token] = (content, sniffed or mime)
    url = f"{sandbox.url}/api/zalo-images/{token}"
    zalo.user_sends_image(str(p.user_id), url, caption, display_name=p.name)
    return _json({"ok": True, "message_id": len(zalo.chat_messages(str(p.user_id))),
                  "kind": "photo", "url": url})


async def api_zalo_image(request: web.Request) -> web.Response:
    found = _sandbox(request).zalo_images.get(request.match_info["token"])
    if found is None:
        return _error("Không tìm thấy ảnh.", status=404)
    content, mime = found
    return web.Response(body=content, content_type=mime, headers={
        "Content-Disposition": "inline", "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, max-age=3600"})


async def api_file(request: web.Request) -> web.Response:
    sandbox = _sandbox(request)
    stored = sandbox.state.files.get(request.match_info["file_id"])
    if stored is None:
        return _error("Không tìm thấy tệp.", status=404)
    content = sandbox.state.file_content(stored.file_id)
    name = stored.file_name or stored.file_path.rsplit("/", 1)[-1]
    mime = stored.mime_type or "application/octet-stream"
    sniffed = sniff_image(content)
    if sniffed and (stored.kind == "photo" or not mime.startswith("image/")):
        # PTB uploads a chart as application/octet-stream; Telegram would show a photo.
        mime = sniffed
        if stored.kind == "photo" or "." not in name:
            name = f"anh-{stored.file_unique_id}.{sniffed.split('/')[1]}"
    disposition = "attachment" if request.query.get("download") == "1" else "inline"
    if disposition == "inline" and not mime.startswith("image/"):
        disposition = "attachment"  # never render uploaded HTML/SVG/… as a page
    ascii_name = name.encode("ascii", "replace").decode().replace('"', "_")
    return web.Response(
        body=content,
        content_type=mime if mime != "image/svg+xml" else "application/octet-stream",
        headers={
            "Content-Disposition": f"{disposition}; filename=\"{ascii_name}\"; "
                                   f"filename*=UTF-8''{quote(name)}",
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, max-age=3600",
        },
    )


_IMAGE_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


def sniff_image(content: bytes) -> str | None:
    """The image type of `content` by its first bytes (PNG, JPEG, GIF, WebP), else None."""
    for magic, mime in _IMAGE_MAGIC:
        if content.startswith(magic):
            return mime
    if content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return "image/webp"
    return None


async def api_clock(request: web.Request) -> web.Response:
    return _json(clock_json(_sandbox(request)))


async def api_clock_advance(request: web.Request) -> web.Response:
    sandbox = _sandbox(request)
    body = await _body(request)
    try:
        delta = dt.timedelta(days=float(body.get("days") or 0),
                             hours=float(body.get("hours") or 0),
                             minutes=float(body.get("minutes") or 0))
    except (TypeError, ValueError):
        return _error("Số ngày/giờ/phút không hợp lệ.")
    if delta <= dt.timedelta(0):
        return _error("Chỉ có thể tua đồng hồ về phía trước.")
    if delta > dt.timedelta(days=400):
        return _error("Mỗi lần tua tối đa 400 ngày.")
    try:
        result = await sandbox.advance(delta)
    except ValueError as exc:
        return _error(str(exc))
    return _json({"ok": True, "sweep": result, "clock": clock_json(sandbox)})


async def api_clock_set(request: web.Request) -> web.Response:
    sandbox = _sandbox(request)
    body = await _body(request)
    try:
        target = parse_moment(str(body.get("at") or ""), sandbox.now())
        result = await sandbox.move_clock(target)
    except ValueError as exc:
        return _error(str(exc))
    return _json({"ok": True, "sweep": result, "clock": clock_json(sandbox)})


@web.middleware
async def _headers(request: web.Request, handler: Any) -> web.StreamResponse:
    response = await handler(request)
    # Everything is local: no external scripts, styles, fonts or images.
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; "
        "script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
    )
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    return response


def create_web_app(sandbox: Sandbox) -> web.Application:
    app = web.Application(client_max_size=50 * 1024 * 1024, middlewares=[_headers])
    app[SANDBOX_KEY] = sandbox
    app[READ_KEY] = {}
    r = app.router
    r.add_get("/", index)
    r.add_get("/api/personas", api_personas)
    r.add_get("/api/personas/{key}/messages", api_messages)
    r.add_post("/api/personas/{key}/text", api_text)
    r.add_post("/api/personas/{key}/press", api_press)
    r.add_post("/api/personas/{key}/upload", api_upload)
    r.add_get("/api/files/{file_id}", api_file)
    r.add_get("/api/zalo-images/{token}", api_zalo_image)
    r.add_get("/api/clock", api_clock)
    r.add_post("/api/clock/advance", api_clock_advance)
    r.add_post("/api/clock/set", api_clock_set)
    r.add_static("/static/", STATIC, append_version=False)
    return app
