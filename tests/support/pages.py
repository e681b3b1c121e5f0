"""Reading a paged view («Xem chi tiết») whole, as a person would page through it."""

from __future__ import annotations

import re

from tests.support.harness import BotHarness


async def all_detail_pages(h: BotHarness, uid: int, committee_id: int) -> str:
    """Tap «Xem chi tiết» (dd:{committee}) under the person's last message, then «Sau ›» to
    the last page; the texts of every page, joined."""
    first = await h.press_raw(uid, h.last_message(uid)["message_id"], f"dd:{committee_id}")
    message = first.last
    found = re.search(r"trang 1/(\d+)", first.text)
    pages = int(found.group(1)) if found else 1
    texts = [first.text]
    for page in range(2, pages + 1):
        await h.press_raw(uid, message["message_id"], f"dd:{committee_id}:{page}")
        edited = next(m for m in h.bot_messages(uid) if m["message_id"] == message["message_id"])
        assert f"trang {page}/{pages}" in edited["text"], edited["text"]
        texts.append(edited["text"])
    return "\n".join(texts)
