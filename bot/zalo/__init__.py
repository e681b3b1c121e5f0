"""The Zalo Bot Platform channel (docs/channels.md, docs/zalo-bot-api.md)."""
