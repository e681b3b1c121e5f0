"""Configuration from the environment (and an optional .env file)."""

from __future__ import annotations

import datetime as dt
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DB = ROOT / "data" / "bot.sqlite3"
FREE_BROADCAST_RATE = 30  # messages/s Telegram allows a bot for free
PAID_BROADCAST_RATE = 1000  # with allow_paid_broadcast


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    bot_token: SecretStr | None = None
    telegram_api_url: str = "https://api.telegram.org"
    database_url: str = f"sqlite+aiosqlite:///{DEFAULT_DB}"
    bot_admins: Annotated[frozenset[int], NoDecode] = Field(default_factory=frozenset)
    timezone: str = Field("Asia/Ho_Chi_Minh", validation_alias="BOT_TIMEZONE")
    bot_username: str | None = None
    default_locale: str = "vi"
    invite_ttl_days: int = 7
    # Start the bot's clock at this instant (tests, demos); it then runs at normal speed.
    fake_now: dt.datetime | None = Field(None, validation_alias="BOT_FAKE_NOW")
    # Per user: at most this many updates in `flood_window` seconds before throttling.
    flood_limit: int = 20
    flood_window: float = 10.0
    # The sweep runs every this many seconds; 0 disables it (the sender still runs).
    sweep_interval_seconds: int = 60
    # Messages per second overall: every instance on the database together (they share it
    # through the database; give each the same value).
    send_rate: float = 30.0
    # Telegram's paid broadcasts: SEND_RATE up to 1,000 messages/s (instead of 30), every
    # message over the free 30/s paid in Stars from the bot's balance; opt-in for that cost.
    paid_broadcast: bool = False
    send_per_chat_seconds: float = 1.0  # between two messages to one chat, whoever sends
    # The event loop of `run` and `web`: uvloop (libuv) costs the sender and each answer
    # less CPU than asyncio's own; "asyncio" falls back to the standard loop.
    event_loop: Literal["uvloop", "asyncio"] = "uvloop"
    send_concurrency: int = 8
    # Webhook mode (python -m bot web)
    webhook_url: str | None = None  # https://host/tg: served at /tg, registered with setWebhook
    webhook_secret: SecretStr | None = None
    # Zalo (a second channel; either token alone is enough to run)
    zalo_bot_token: SecretStr | None = None
    zalo_api_url: str = "https://bot-api.zaloplatforms.com"
    zalo_webhook_url: str | None = None  # https://host/zalo: served at /zalo; else long polling
    zalo_webhook_secret: SecretStr | None = None  # 8 to 256 characters
    # Zalo publishes no limits: a conservative rate, per chat as SEND_PER_CHAT_SECONDS.
    zalo_send_rate: float = 5.0
    # Zalo's error codes that mean "this person blocked the bot" (none is documented yet).
    zalo_blocked_codes: Annotated[frozenset[int], NoDecode] = Field(default_factory=frozenset)
    # Where people download what Zalo cannot carry (workbooks, CSV): https://host, served
    # by `python -m bot web` (the links expire after FILE_LINK_HOURS).
    public_url: str | None = None
    file_link_hours: int = 24
    port: int = 8000
    host: str = "0.0.0.0"

    @field_validator("bot_admins", "zalo_blocked_codes", mode="before")
    @classmethod
    def _split_admins(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [p.strip() for p in value.replace(";", ",").split(",")]
            return frozenset(int(p) for p in parts if p)
        if isinstance(value, int):
            return frozenset({value})
        return value

    @field_validator("telegram_api_url", "zalo_api_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        ZoneInfo(value)  # raises on an unknown zone
        return value

    @field_validator("fake_now")
    @classmethod
    def _aware(cls, value: dt.datetime | None) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("BOT_FAKE_NOW needs a time zone, e.g. 2022-03-05T08:00:00+07:00")
        return value

    @model_validator(mode="after")
    def _send_rate_ceiling(self) -> Settings:
        ceiling = PAID_BROADCAST_RATE if self.paid_broadcast else FREE_BROADCAST_RATE
        if self.send_rate > ceiling:
            hint = "" if self.paid_broadcast else " (or set PAID_BROADCAST=1, paid in Stars)"
            raise ValueError(f"SEND_RATE {self.send_rate:g} is over Telegram's limit of "
                             f"{ceiling} messages/s{hint}")
        return self

    @cached_property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)



def get_settings() -> Settings:
    return Settings()
