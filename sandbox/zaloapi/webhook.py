"""The webhook side: setWebhook/deleteWebhook/getWebhookInfo and delivering updates.

While a webhook is set, every update is POSTed to it as ``{"ok": true, "result": update}``
with the header ``X-Bot-Api-Secret-Token`` (a plain shared secret, docs §4). Deliveries run
in order on a background task of the running loop; :meth:`WebhookMixin.flush_webhooks`
waits for them (and delivers what was queued while no loop ran). Each attempt is recorded
in :attr:`WebhookMixin.deliveries`. A failed delivery is recorded, not retried: Zalo
documents no retry policy.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
from typing import Any

import aiohttp

from sandbox.zaloapi.errors import JSON, ZaloApiError
from sandbox.zaloapi.params import is_http_url, required_str
from sandbox.zaloapi.records import MAX_SECRET_LENGTH, MIN_SECRET_LENGTH
from sandbox.zaloapi.updates import UpdatesMixin

SECRET_HEADER = "X-Bot-Api-Secret-Token"


class WebhookMixin(UpdatesMixin):
    """Where updates go: the webhook when one is set, else the polling queue."""

    allow_http_webhook: bool
    duplicate_deliveries: bool
    webhook_timeout: float
    webhook_info_unset_error: ZaloApiError | None

    def _init_webhook(self) -> None:
        self._worker: asyncio.Task[None] | None = None

    def _reset_webhook(self) -> None:
        self.webhook: JSON = {"url": "", "secret_token": None, "updated_at": 0}
        self._webhook_ever_set = False
        self._outgoing: list[JSON] = []
        self.deliveries: list[JSON] = []

    # ----- routing ----------------------------------------------------------------------

    def _push_update(self, update: JSON) -> JSON:
        """Hand a new update to the bot (twice if :attr:`duplicate_deliveries`)."""
        self.updates_log.append(copy.deepcopy(update))
        for _ in range(2 if self.duplicate_deliveries else 1):
            if self.webhook.get("url"):
                self._outgoing.append(copy.deepcopy(update))
            else:
                self._queue_for_polling(update)
        self._kick()
        return copy.deepcopy(update)

    def _kick(self) -> None:
        if not self._outgoing:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop: flush_webhooks() delivers later
        if self._worker is None or self._worker.done() or self._worker.get_loop() is not loop:
            self._worker = loop.create_task(self._deliver_all())

    async def flush_webhooks(self) -> list[JSON]:
        """Wait until every queued update was POSTed; returns :attr:`deliveries`."""
        while self._outgoing or (self._worker is not None and not self._worker.done()):
            self._kick()
            if self._worker is not None and not self._worker.done():
                await asyncio.shield(self._worker)
        return copy.deepcopy(self.deliveries)

    async def close_webhooks(self) -> None:
        """Stop delivering (server stop); what was not delivered stays queued."""
        worker, self._worker = self._worker, None
        if (
            worker is not None
            and not worker.done()
            and worker.get_loop() is asyncio.get_running_loop()
        ):
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker

    async def _deliver_all(self) -> None:
        timeout = aiohttp.ClientTimeout(total=self.webhook_timeout)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while self._outgoing:
                update = self._outgoing.pop(0)
                if not self.webhook.get("url"):  # deleted meanwhile: back to polling
                    self._queue_for_polling(update)
                    continue
                await self._deliver(session, update)

    async def _deliver(self, session: aiohttp.ClientSession, update: JSON) -> None:
        url = str(self.webhook["url"])
        record: JSON = {"url": url, "update": update, "status": None, "error": None}
        body = json.dumps({"ok": True, "result": update}, ensure_ascii=False)
        headers = {
            SECRET_HEADER: str(self.webhook.get("secret_token") or ""),
            "Content-Type": "application/json",
        }
        try:
            async with session.post(url, data=body.encode(), headers=headers) as response:
                record["status"] = response.status
                record["body"] = await response.text()
        except (aiohttp.ClientError, TimeoutError) as exc:
            record["error"] = repr(exc)
        self.deliveries.append(record)

    # ----- the methods ------------------------------------------------------------------

    def _m_setWebhook(self, bot_id: str, p: JSON) -> JSON:
        url = required_str(p, "url")
        if not is_http_url(url, https_only=not self.allow_http_webhook):
            raise ZaloApiError.bad_request(f"url must be an HTTPS URL, got {url!r}")
        secret = required_str(p, "secret_token")
        if not MIN_SECRET_LENGTH <= len(secret) <= MAX_SECRET_LENGTH:
            raise ZaloApiError.bad_request(
                f"secret_token must be {MIN_SECRET_LENGTH}-{MAX_SECRET_LENGTH} characters, "
                f"got {len(secret)}"
            )
        self.webhook = {"url": url, "secret_token": secret, "updated_at": self.now_ms()}
        self._webhook_ever_set = True
        # Updates nobody polled yet go to the new webhook (as Telegram does; Zalo: unknown).
        while self.pending:
            self._outgoing.append(self.pending.popleft())
        self._kick()
        return self._webhook_info()

    def _m_deleteWebhook(self, bot_id: str, p: JSON) -> JSON:
        self.webhook = {"url": "", "secret_token": None, "updated_at": self.now_ms()}
        return self._webhook_info()

    def _m_getWebhookInfo(self, bot_id: str, p: JSON) -> JSON:
        if not self._webhook_ever_set and self.webhook_info_unset_error is not None:
            error = self.webhook_info_unset_error
            raise ZaloApiError(error.code, error.description, reason="no webhook was ever set")
        return self._webhook_info()

    def _webhook_info(self) -> JSON:
        return {"url": self.webhook["url"], "updated_at": self.webhook["updated_at"]}

    def webhook_config(self) -> dict[str, Any]:
        """The current webhook, secret included (for tests)."""
        return copy.deepcopy(self.webhook)
