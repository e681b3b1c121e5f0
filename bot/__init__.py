"""Plan-reporting Telegram bot for Vietnamese steering committees."""
