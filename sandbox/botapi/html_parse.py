"""HTML parse_mode as Telegram reads it: Telegram-HTML into plain text and entities.

Lengths and entity offsets are in UTF-16 code units, as Telegram counts them.
"""

from __future__ import annotations

import re

from sandbox.botapi.errors import JSON, BotApiError


def utf16_len(text: str) -> int:
    # Entity offsets are in UTF-16 code units (emoji count twice).
    return len(text.encode("utf-16-le")) // 2


_TAG_RE = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[^<>]*?)?)\s*>")
_ATTR_RE = re.compile(r"""([a-zA-Z_-]+)\s*(?:=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?""")
_CHAR_REF_RE = re.compile(r"&(lt|gt|amp|quot|#[0-9]+|#[xX][0-9a-fA-F]+);")
_BARE_REF_RE = re.compile(r"&#?[0-9a-zA-Z]{0,8}")
_PLAIN_RE = re.compile(r"[^<&]+")
_SIMPLE_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "code": "code",
    "pre": "pre",
}


def _html_error(source: str, index: int, what: str) -> BotApiError:
    offset = len(source[:index].encode("utf-8"))
    return BotApiError.bad_request(f"can't parse entities: {what} at byte offset {offset}")


def _decode_char_ref(ref: str) -> str | None:
    """The character of a reference; None for a number that is no character."""
    named = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
    if ref in named:
        return named[ref]
    code = int(ref[2:], 16) if ref[1:2] in {"x", "X"} else int(ref[1:])
    if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return None
    return chr(code)


def parse_html(source: str) -> tuple[str, list[JSON]]:
    """Turn Telegram-HTML into ``(plain_text, entities)`` or raise 400 like Telegram.

    Only the tags Telegram supports are accepted; a stray ``<`` or an unbalanced tag is a
    "can't parse entities" error, which is the classic production bug with user data
    (plan names containing ``<`` or ``&``) that a lenient stand-in would hide.

    One deliberate difference: Telegram shows an ``&`` that does not start ``&lt;``,
    ``&gt;``, ``&amp;``, ``&quot;`` or a numeric reference (``&am``, ``a & b``) as typed, and
    decodes ``&amp`` without its ``;``; the stand-in refuses both, because from this bot they
    only come from a message cut inside an escape or from text that was not escaped.
    """
    out: list[str] = []
    pos = 0  # UTF-16 offset in the output
    stack: list[tuple[str, JSON | None, int]] = []
    entities: list[JSON] = []
    i = 0
    while i < len(source):
        ch = source[i]
        if ch == "<":
            match = _TAG_RE.match(source, i)
            if not match:
                raise _html_error(source, i, "Unsupported start tag")
            closing = match.group(1) == "/"
            name = match.group(2).lower()
            attrs = {
                m.group(1).lower(): next((g for g in m.group(2, 3, 4) if g is not None), "")
                for m in _ATTR_RE.finditer(match.group(3) or "")
            }
            if closing:
                if not stack or stack[-1][0] != name:
                    expected = f'"</{stack[-1][0]}>"' if stack else "nothing"
                    raise _html_error(
                        source, i, f'Unmatched end tag, expected {expected}, found "</{name}>"'
                    )
                _, entity, start = stack.pop()
                if entity is not None and pos > start:
                    entity["offset"] = start
                    entity["length"] = pos - start
                    entities.append(entity)
            else:
                stack.append((name, _entity_for_tag(source, i, name, attrs, stack), pos))
            i = match.end()
            continue
        if ch == "&":
            ref = _CHAR_REF_RE.match(source, i)
            decoded = _decode_char_ref(ref.group(1)) if ref else None
            if ref is None or decoded is None:
                # Stricter than Telegram, which shows an unknown or unterminated reference
                # as typed: the bot escapes every «&», so a bare one is a message cut inside
                # an escape («&am») or text that was never escaped.
                bare = _BARE_REF_RE.match(source, i)
                raise _html_error(
                    source, i, f'Character reference "{bare.group(0) if bare else "&"}" is '
                    'not terminated or not supported; "&" must be escaped as "&amp;"'
                )
            out.append(decoded)
            pos += utf16_len(decoded)
            i = ref.end()
            continue
        # Plain text up to the next tag or reference, in one piece.
        plain = _PLAIN_RE.match(source, i)
        end = plain.end() if plain else i + 1
        out.append(source[i:end])
        pos += utf16_len(source[i:end])
        i = end
    if stack:
        tag = stack[-1][0]
        what = "can't parse entities: Can't find end tag corresponding to start tag"
        raise BotApiError.bad_request(f'{what} "{tag}"')
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def _entity_for_tag(
    source: str,
    index: int,
    name: str,
    attrs: dict[str, str],
    stack: list[tuple[str, JSON | None, int]],
) -> JSON | None:
    if name == "a":
        href = attrs.get("href", "")
        match = re.match(r"tg://user\?id=(\d+)$", href)
        if match:
            user = {"id": int(match.group(1)), "is_bot": False, "first_name": ""}
            return {"type": "text_mention", "user": user}
        return {"type": "text_link", "url": href}
    if name == "span":
        if attrs.get("class") != "tg-spoiler":
            raise _html_error(source, index, 'Unsupported start tag "span"')
        return {"type": "spoiler"}
    if name == "blockquote":
        return {"type": "expandable_blockquote" if "expandable" in attrs else "blockquote"}
    if name == "tg-emoji":
        return {"type": "custom_emoji", "custom_emoji_id": attrs.get("emoji-id", "")}
    if name == "code" and stack and stack[-1][0] == "pre":
        # <pre><code class="language-x"> is one pre entity with a language.
        language = attrs.get("class", "")
        parent = stack[-1][1]
        if language.startswith("language-") and parent is not None:
            parent["language"] = language[len("language-") :]
        return None
    if name in _SIMPLE_TAGS:
        return {"type": _SIMPLE_TAGS[name]}
    raise _html_error(source, index, f'Unsupported start tag "{name}"')
