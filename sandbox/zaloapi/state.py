"""The composed in-memory Zalo Bot Platform: :class:`ZaloApiState`, one mixin per concern.

* :mod:`~sandbox.zaloapi.core` - identity, users, private chats, transcripts, getMe;
* :mod:`~sandbox.zaloapi.updates` - the pending updates and long-polling getUpdates;
* :mod:`~sandbox.zaloapi.webhook` - set/delete/getWebhookInfo and delivery to the webhook;
* :mod:`~sandbox.zaloapi.messages` - sendMessage, sendPhoto, sendSticker, sendChatAction;
* :mod:`~sandbox.zaloapi.players` - what users do (text, image, sticker, unsupported);
* :mod:`~sandbox.zaloapi.calls` - the entry point of every method: token, call log, faults.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sandbox.zaloapi.calls import CallsMixin
from sandbox.zaloapi.errors import ZaloApiError
from sandbox.zaloapi.players import PlayersMixin


class ZaloApiState(CallsMixin, PlayersMixin):
    """In-memory Zalo: users, private chats, updates, webhook, and the Bot API methods."""

    def __init__(
        self,
        *,
        token: str | None = None,
        account_name: str = "bot.PlanReport",
        account_type: str = "BASIC",
        clock: Callable[[], float] = time.time,
        allow_http_webhook: bool = False,
        duplicate_deliveries: bool = False,
        errors_as_http_status: bool = True,
        blocked_error: ZaloApiError | None = None,
        unknown_chat_error: ZaloApiError | None = None,
        webhook_info_unset_error: ZaloApiError | None = None,
        webhook_timeout: float = 10.0,
        call_log_size: int = 10_000,
    ) -> None:
        """
        Args:
            token: if set, only this token is accepted (others get 401); if None any
                ``<digits>:<secret>`` token works and the bot id is its prefix.
            account_name / account_type: what getMe returns.
            clock: source of "now" (seconds) for dates, which the API gives in ms.
            allow_http_webhook: let setWebhook take ``http://`` URLs (tests); the real
                platform wants HTTPS.
            duplicate_deliveries: hand every update to the bot twice (webhook or polling),
                which the real platform may do; settable at any time.
            errors_as_http_status: answer ``ok: false`` with the HTTP status equal to
                ``error_code`` (default); False answers them with HTTP 200. Which one Zalo
                does is undocumented, so a client must read the body either way.
            blocked_error: what sends to a user who blocked the bot fail with. Undocumented;
                default 400 (permanent). Pass e.g. ``ZaloApiError(403)`` to test the other
                plausible reading.
            unknown_chat_error: what sends to an unknown ``chat_id`` fail with (default 400).
            webhook_info_unset_error: if set, getWebhookInfo fails with it until a webhook
                was set once (a field note reports 404/400); default: ``{url: ""}``.
            webhook_timeout: seconds a webhook delivery may take.
            call_log_size: how many calls :meth:`calls` keeps.
        """
        self.token = token
        self.account_name = account_name
        self.account_type = account_type
        self.clock = clock
        self.allow_http_webhook = allow_http_webhook
        self.duplicate_deliveries = duplicate_deliveries
        self.errors_as_http_status = errors_as_http_status
        self.blocked_error = blocked_error or ZaloApiError(400)
        self.unknown_chat_error = unknown_chat_error or ZaloApiError(400)
        self.webhook_info_unset_error = webhook_info_unset_error
        self.webhook_timeout = webhook_timeout
        self._init_updates()
        self._init_webhook()
        self._init_calls(call_log_size)
        self.reset()

    def reset(self) -> None:
        """Forget users, chats, updates, the webhook, deliveries, faults and calls."""
        self._reset_core()
        self._reset_updates()
        self._reset_webhook()
        self._reset_calls()
        self._notify()
