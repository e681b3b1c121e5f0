"""How the conversation layer is wired: features stay independent, every button prefix has
one owner, and a press that no feature claims is answered once, with the stale message."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import handlers
from core import callbacks
from tests.support.harness import BotHarness

HANDLERS = Path(handlers.__file__).parent
# The features, named here on purpose: a new feature module must be added to both lists.
FEATURES = {"whoami", "onboarding", "menu", "forms", "review", "status", "committee", "extension",
            "adhoc", "admin", "submitted", "urging"}
STALE = "Nút này không còn hiệu lực. Mở «Báo cáo cần nộp» để xem danh sách hiện tại."
LAN = 1001  # an official of P. Cát Linh
STRANGER = 1002

SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def handler_modules_imported(path: Path) -> set[str]:
    """The `handlers.*` modules a file imports, anywhere in it (functions included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "handlers" and len(parts) > 1:
                found.add(parts[1])
    return found


def test_the_feature_list_is_the_one_registered() -> None:
    assert {m.__name__.split(".")[-1] for m in handlers.FEATURE_MODULES} == FEATURES


@pytest.mark.parametrize("name", sorted(FEATURES))
def test_a_feature_never_imports_another(name: str) -> None:
    imported = handler_modules_imported(HANDLERS / f"{name}.py")
    assert imported & (FEATURES - {name}) == set(), f"handlers.{name} imports a feature"


def test_shared_modules_import_no_feature() -> None:
    """Only the package's own register() lists the features."""
    for path in sorted(HANDLERS.glob("*.py")):
        if path.stem in FEATURES or path.stem == "__init__":
            continue
        assert handler_modules_imported(path) & FEATURES == set(), path.name


def test_the_import_check_sees_a_feature_import(tmp_path: Path) -> None:
    source = tmp_path / "x.py"
    source.write_text("def f():\n    from handlers.status import show_status\n"
                      "from handlers import review\nimport handlers.menu\n")
    assert handler_modules_imported(source) == {"status", "review", "menu"}


def test_every_prefix_has_one_owner_and_a_version_changes_it() -> None:
    owners = callbacks.owners()
    # Today's buttons keep their wire format (version 1 is the bare prefix).
    for prefix in ("rv", "ac", "o", "tg", "ai", "L", "rx", "ax", "ra", "st", "ad"):
        assert prefix in owners, prefix
    assert owners["ax"] == "handlers.admin" and owners["rx"] == "handlers.pending"
    assert owners["rv"] == "handlers.review" and owners["o"] == "scheduler.buttons"
    with pytest.raises(ValueError):
        callbacks.route("rv")  # declared by handlers.review already

    bumped = callbacks.route("zq", version=2)
    assert bumped.data(12) == "zq2:12" and bumped.data() == "zq2:"
    assert bumped.matches("zq2:12") and not bumped.matches("zq:12")
    assert bumped.parse("zq2:12:a") == ["12", "a"] and bumped.parse("zq2:") == []
    assert not bumped.matches("zq2:" + "9" * 20)  # beyond a database id: never a match


@pytest.fixture
async def bot(database_url: str):
    async with BotHarness(database_url) as h:
        await h.join(LAN, "p-cat-linh", first_name="Lan")
        yield h


@SQLITE_ONLY
async def test_a_press_no_feature_claims_is_answered_once_as_stale(bot: BotHarness) -> None:
    message_id = bot.last_message(LAN)["message_id"]
    # Unknown, a later version of a known prefix, no separator, garbled, overlong.
    for data in ("zz:1", "rv9:1", "o", "o:²", "rv:" + "9" * 30, "L"):
        replies = await bot.press_raw(LAN, message_id, data)  # checks it was answered
        assert replies.texts == [STALE], data
    assert bot.errors == []


@SQLITE_ONLY
async def test_a_stranger_gets_the_welcome_for_a_button_but_garbage_is_stale(
        bot: BotHarness) -> None:
    await bot.say(STRANGER, "/start")
    message_id = bot.last_message(STRANGER)["message_id"]
    replies = await bot.press_raw(STRANGER, message_id, "zz:1")
    assert len(replies) == 1 and "mã mời" in replies.text
    replies = await bot.press_raw(STRANGER, message_id, "o:²")
    assert replies.texts == [STALE]
    assert bot.errors == []


@SQLITE_ONLY
async def test_a_failing_feature_is_reported_once_and_goes_no_further(
        bot: BotHarness, monkeypatch: pytest.MonkeyPatch) -> None:
    from handlers import menu

    async def broken(t: object) -> list[object]:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(menu, "open_obligations", broken)
    replies = await bot.say(LAN, "Báo cáo cần nộp", allow_errors=True)
    # Every error handler saw it (the harness records through one), the user got one apology,
    # and the fallback group did not answer the update a second time.
    assert [type(e) for e in bot.errors] == [RuntimeError]
    assert len(replies) == 1 and "Xin lỗi" in replies.text, replies.texts


OUTPUT_TYPES = ("InlineKeyboardButton", "InlineKeyboardMarkup", "ReplyKeyboardMarkup",
                "InputFile", "InputMedia")
OUTPUT_CALLS = ("edit_message_text", "edit_message_reply_markup", "send_document",
                "send_photo", "send_message")


def test_features_say_what_to_show_and_only_the_adapter_says_how() -> None:
    """Issue 14 step 1: features offer choices (core.choices.Choice), menus, files and
    pictures through Turn; only handlers/context.py builds Telegram's buttons and calls
    its send and edit methods, so a second channel renders the same screens its own way."""
    folder = Path(__file__).resolve().parent.parent / "handlers"
    found = []
    # context.py is the adapter; errors.py and guards.py answer before any Turn exists
    # (the error policy and the private-chat guard), per channel like the adapter.
    for path in sorted(folder.glob("*.py")):
        if path.name in ("context.py", "errors.py", "guards.py"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("telegram"):
                found += [(path.name, a.name) for a in node.names if a.name in OUTPUT_TYPES]
            if isinstance(node, ast.Attribute) and node.attr in OUTPUT_CALLS:
                found.append((path.name, node.attr))
    assert not found, found
