"""End to end: an update python-telegram-bot cannot read does not wedge polling (issue 10 §3).

Before, PTB refused the whole getUpdates batch, fetched it again at once, and logged it as
CRITICAL with the raw update (the official's words) thousands of times a second. Now the
update is skipped, logged once by id, and the next update is answered.
"""

from __future__ import annotations

from pathlib import Path

from tests.support.botproc import running_bot

SECRET_WORDS = "Nội dung riêng tư 4242"
STRANGER = 880_301


def test_skip_malformed_keeps_good_updates_and_the_ids_of_bad_ones() -> None:
    from bot.updates import skip_malformed

    good = {"update_id": 5, "message": {"message_id": 1, "date": 0, "text": "a",
                                        "chat": {"id": 1, "type": "private"}}}
    bad = {"update_id": 6, "message": {"text": SECRET_WORDS}}  # no message_id, date, chat
    assert skip_malformed([good, bad, {"no": "id"}]) == [good, {"update_id": 6}]


async def test_a_malformed_update_is_skipped_and_the_next_one_answered(
        sqlite_url: str, tmp_path: Path) -> None:
    async with running_bot(sqlite_url, tmp_path / "bot.log",
                           SWEEP_INTERVAL_SECONDS="0") as bot:
        bot.state._push_update("message", {"message_id": 77, "text": SECRET_WORDS,
                                           "from": {"id": STRANGER, "is_bot": False,
                                                    "first_name": "X"}})
        sent = await bot.client.send_text(STRANGER, "/help", first_name="X",
                                          language_code="vi")
        reply = await bot.client.wait_for_message(STRANGER, lambda m: bool(m["text"]),
                                                  after_message_id=sent["message_id"],
                                                  timeout=20)
        assert reply["text"]
        polls = len(await bot.client.calls("getUpdates"))
    log = bot.log()
    assert SECRET_WORDS not in log, "message contents in the log"
    assert log.count("skipping a malformed update") == 1, log[-3000:]
    assert "CRITICAL" not in log and "Traceback" not in log, log[-3000:]
    assert polls < 50, f"{polls} getUpdates calls: polling spun on the broken update"
