"""The bot's profile: command menus per scope and language, the menu button, its name and
descriptions, and what a chat's header shows."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from sandbox.botapi.core import StateCore
from sandbox.botapi.errors import JSON, BotApiError
from sandbox.botapi.params import as_int, as_obj

_BOT_COMMAND_NAME_RE = re.compile(r"^[a-z0-9_]{1,32}$")


class CommandsMixin(StateCore):
    """setMyCommands and friends, and the menu a private-chat user would see."""

    def _reset_commands(self) -> None:
        self.commands: dict[tuple[str, str], list[JSON]] = {}
        self.bot_settings: dict[tuple[str, str], Any] = {}
        self.default_menu_button: JSON = {"type": "commands"}

    def chat_info(self, chat_id: int) -> JSON:
        chat = self._chat(chat_id)
        user = self.users[chat.id]
        return {
            "id": chat.id,
            "user": user.to_json(),
            "blocked": user.blocked,
            "reply_keyboard": chat.reply_keyboard,
            "menu_button": chat.menu_button or self.default_menu_button,
            "last_action": chat.last_action,
            "commands": self.effective_commands(chat.id),
            "message_count": len(chat.messages),
        }

    def get_commands(
        self, scope: JSON | None = None, language_code: str | None = None
    ) -> list[JSON]:
        return copy.deepcopy(self.commands.get((_scope_key(scope), language_code or ""), []))

    def effective_commands(self, user_id: int) -> list[JSON]:
        """The command menu a private-chat user would see (Telegram's scope fallback)."""
        user = self.users.get(int(user_id))
        lang = (user.language_code if user else None) or ""
        scopes = [
            {"type": "chat", "chat_id": int(user_id)},
            {"type": "all_private_chats"},
            {"type": "default"},
        ]
        for scope in scopes:
            for code in dict.fromkeys([lang, ""]):
                found = self.commands.get((_scope_key(scope), code))
                if found:
                    return copy.deepcopy(found)
        return []

    def all_commands(self) -> list[JSON]:
        return [
            {"scope": json.loads(scope), "language_code": lang or None, "commands": cmds}
            for (scope, lang), cmds in self.commands.items()
        ]

    # ----- player actions ----------------------------------------------------------------------

    def _m_setMyCommands(self, bot: JSON, p: JSON) -> bool:
        commands = as_obj(p.get("commands"))
        if not isinstance(commands, list):
            raise BotApiError.bad_request("commands must be an array")
        if len(commands) > 100:
            raise BotApiError.bad_request("too many commands")
        clean = []
        for cmd in commands:
            name = str(cmd.get("command", "")).lstrip("/")
            if not _BOT_COMMAND_NAME_RE.match(name):
                raise BotApiError.bad_request("BOT_COMMAND_INVALID")
            description = str(cmd.get("description", ""))
            if not 1 <= len(description) <= 256:
                raise BotApiError.bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
            clean.append({"command": name, "description": description})
        key = (_scope_key(as_obj(p.get("scope"))), p.get("language_code") or "")
        if clean:
            self.commands[key] = clean
        else:
            self.commands.pop(key, None)
        return True

    def _m_getMyCommands(self, bot: JSON, p: JSON) -> list[JSON]:
        return self.get_commands(as_obj(p.get("scope")), p.get("language_code"))

    def _m_deleteMyCommands(self, bot: JSON, p: JSON) -> bool:
        self.commands.pop((_scope_key(as_obj(p.get("scope"))), p.get("language_code") or ""), None)
        return True

    def _m_setChatMenuButton(self, bot: JSON, p: JSON) -> bool:
        button = as_obj(p.get("menu_button")) or {"type": "default"}
        if p.get("chat_id") is not None:
            self._chat(p["chat_id"]).menu_button = button
        else:
            self.default_menu_button = button
        return True

    def _m_getChatMenuButton(self, bot: JSON, p: JSON) -> JSON:
        if p.get("chat_id") is not None:
            return self._chat(p["chat_id"]).menu_button or self.default_menu_button
        return self.default_menu_button

    def _bot_setting(self, key: str, p: JSON, field_name: str) -> bool:
        self.bot_settings[(key, p.get("language_code") or "")] = p.get(field_name) or ""
        return True

    def _m_setMyDescription(self, bot: JSON, p: JSON) -> bool:
        return self._bot_setting("description", p, "description")

    def _m_setMyShortDescription(self, bot: JSON, p: JSON) -> bool:
        return self._bot_setting("short_description", p, "short_description")

    def _m_setMyName(self, bot: JSON, p: JSON) -> bool:
        return self._bot_setting("name", p, "name")

    def _m_getMyDescription(self, bot: JSON, p: JSON) -> JSON:
        key = ("description", p.get("language_code") or "")
        return {"description": self.bot_settings.get(key, "")}

    def _m_getMyShortDescription(self, bot: JSON, p: JSON) -> JSON:
        key = ("short_description", p.get("language_code") or "")
        return {"short_description": self.bot_settings.get(key, "")}

    def _m_getMyName(self, bot: JSON, p: JSON) -> JSON:
        key = ("name", p.get("language_code") or "")
        return {"name": self.bot_settings.get(key) or self.bot_first_name}


def _scope_key(scope: Any) -> str:
    scope = scope or {"type": "default"}
    if isinstance(scope, dict) and "chat_id" in scope:
        scope = scope | {"chat_id": as_int(scope["chat_id"], scope["chat_id"])}
    return json.dumps(scope, sort_keys=True)
