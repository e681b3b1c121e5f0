"""How a Zalo message is read (bot/zalo/inbound.read): a pure function of the message, the
chat's last list and whether the sender is a stranger."""

from __future__ import annotations

import datetime as dt
from typing import Any

from bot.zalo.client import ZaloUpdate
from bot.zalo.inbound import NO_LIST, NOT_IN_LIST, WHICH_ONE, read
from core.channels import zalo_local_id, zalo_message_id

CHAT = "7a6b5c4d3e2f1a0b9c8d"
LOCAL = zalo_local_id(CHAT)
BUTTONS = {"items": [["Có", "v:1:6:y"], ["Không", "v:1:6:n"], ["« Quay lại", "b:1:6"]],
           "kind": "buttons", "typed": False, "message_id": 77, "text": "Câu 6/13"}
TYPED = {**BUTTONS, "items": [["Bỏ qua", "s:1"], ["Hủy", "x:1"]], "typed": True}
MENU = {"items": [["Báo cáo cần nộp", "Báo cáo cần nộp"], ["Trợ giúp", "Trợ giúp"]],
        "kind": "menu", "typed": False, "message_id": 5, "text": "Chào"}
CODE = "AbCdEfGhIjKlMnOpQrStUvWx"


def event(text: str | None = None, photo: str | None = None, n: int = 1) -> ZaloUpdate:
    return ZaloUpdate(event_name="message.text.received", message_id=f"m{n}", chat_id=CHAT,
                      user_id=CHAT, display_name="Lan", is_bot=False,
                      date=dt.datetime(2022, 3, 5, 1, tzinfo=dt.UTC), text=text,
                      photo_url=photo)


def meaning(text: str | None, listed: dict[str, Any] | None = None, stranger: bool = False,
            photo: str | None = None) -> Any:
    return read(event(text, photo), LOCAL, listed, stranger)


def test_a_number_or_label_is_the_press_of_that_choice() -> None:
    for reply in ("1", "co", "Có", " 1. ", "số 1"):
        update = meaning(reply, BUTTONS).update
        query = update["callback_query"]
        assert query["data"] == "v:1:6:y" and query["message"]["message_id"] == 77, reply
        assert query["from"]["id"] == LOCAL and update["update_id"] == zalo_message_id("m1")
    assert meaning("khong", BUTTONS).update["callback_query"]["data"] == "v:1:6:n"


def test_a_menu_choice_is_its_label_typed() -> None:
    assert meaning("1", MENU).update["message"]["text"] == "Báo cáo cần nộp"
    assert meaning("tro giup", MENU).update["message"]["text"] == "Trợ giúp"


def test_numbers_outside_the_list_ambiguity_and_stale_lists() -> None:
    refused = meaning("9", BUTTONS)
    assert refused.update is None and refused.reply == NOT_IN_LIST
    assert refused.args == {"number": 9, "count": 3}
    twice = {**BUTTONS, "items": [["Có", "a"], ["Có", "b"]]}
    assert meaning("co", twice).reply == WHICH_ONE
    assert meaning("2", None).reply == NO_LIST
    assert meaning("2", None, stranger=True).update["message"]["text"] == "2"


def test_typed_answers_stay_text_while_a_typed_answer_is_awaited() -> None:
    for typed in ("12", "0", "1.234", "không có"):
        assert meaning(typed, TYPED).update["message"]["text"] == typed
    assert meaning("a", TYPED).update["callback_query"]["data"] == "s:1"


def test_menu_words_commands_and_invite_codes() -> None:
    for word in ("menu", "MENU", "Trang chủ"):
        message = meaning(word, BUTTONS).update["message"]
        assert message["text"] == "/start" and message["entities"][0]["type"] == "bot_command"
    assert meaning("0", BUTTONS).update["message"]["text"] == "/start"
    assert meaning("/help", None).update["message"]["entities"][0]["length"] == 5
    assert meaning(CODE, None, stranger=True).update["message"]["text"] == f"/start {CODE}"
    assert meaning(CODE, None, stranger=False).update["message"]["text"] == CODE


def test_photos_and_everything_else() -> None:
    photo = meaning(None, BUTTONS, photo="https://p.zalo/x.jpg").update["message"]["photo"]
    assert photo[0]["file_id"] == "https://p.zalo/x.jpg"
    other = meaning(None, BUTTONS).update["message"]
    assert "sticker" in other and "text" not in other
