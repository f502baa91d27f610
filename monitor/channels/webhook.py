"""The webhook channel: alerts as signed JSON POSTs, for Slack, Matrix or ntfy bridges.

Each alert, update or digest is one POST of a UTF-8 JSON object to the recipient's URL
(``event``: alert, update or digest; see ``alert_payload`` for the fields) through an
httpx ``AsyncClient`` with a timeout. Bridges often run on localhost, so this is not the
feed fetcher (no private-network guard), and redirects are not followed.

Signature (when ``channels.webhook.secret_env`` names a secret)::

    X-Monitor-Timestamp: 1764150000                 (Unix seconds when sent)
    X-Monitor-Signature: sha256=<hex HMAC-SHA256 of  timestamp + "." + raw body>

To verify, a receiver recomputes the HMAC with the shared secret over the timestamp
header, a dot and the raw request body (bytes as received, before any JSON parsing),
compares it with ``hmac.compare_digest``, and refuses timestamps more than a few
minutes old (a replayed request carries an old timestamp; ``verify_signature`` does
all three). ``X-Monitor-Delivery`` carries the delivery id: a retry repeats it, so a
receiver can drop duplicates.

Answers: 2xx delivered; 408, 429 and 5xx (Retry-After honoured) or a network failure
-> TransientDeliveryError; any other status -> PermanentDeliveryError. Must not: retry,
sleep, or put the URL's path or query (often a secret) into errors.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from pydantic import SecretStr

from monitor.channels.base import Digest
from monitor.clock import Clock, SystemClock
from monitor.core.models import Alert, Recipient
from monitor.core.schedule import parse_retry_after
from monitor.errors import PermanentDeliveryError, TransientDeliveryError

SIGNATURE_HEADER = "X-Monitor-Signature"
TIMESTAMP_HEADER = "X-Monitor-Timestamp"
DELIVERY_HEADER = "X-Monitor-Delivery"
EVENT_HEADER = "X-Monitor-Event"


def alert_payload(alert: Alert) -> dict[str, Any]:
    """The JSON fields of one alert; ``highlights`` are offsets into ``snippet``."""
    first = alert.matches[0] if alert.matches else None
    return {
        "delivery_id": alert.delivery_id,
        "story_id": alert.story_id,
        "title": alert.title,
        "url": alert.url,
        "source": alert.source,
        "published": alert.published.isoformat(),
        "watchlists": list(dict.fromkeys(m.watchlist for m in alert.matches)),
        "terms": list(dict.fromkeys(t for m in alert.matches for t in m.terms)),
        "snippet": first.snippet if first else "",
        "highlights": [list(span) for span in first.highlights] if first else [],
        "matches": [
            {
                "watchlist": m.watchlist,
                "terms": list(m.terms),
                "snippet": m.snippet,
                "highlights": [list(span) for span in m.highlights],
            }
            for m in alert.matches
        ],
        "also_reported_by": list(alert.also_reported_by),
    }


def encode(payload: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON (a lone surrogate, which UTF-8 cannot carry, becomes '?')."""
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    return text.encode("utf-8", "replace")


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """The signature header value: ``sha256=`` + HMAC-SHA256(timestamp + "." + body)."""
    digest = hmac.new(secret, timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def verify_signature(
    secret: bytes,
    timestamp: str,
    body: bytes,
    signature: str,
    *,
    now: datetime,
    tolerance_s: float = 300.0,
) -> bool:
    """What a receiver checks: the HMAC matches and the timestamp is recent."""
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if abs(now.timestamp() - sent) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


def _where(url: str) -> str:
    """Scheme and host of a URL, for messages (the path may hold a secret)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or '?'}"


class WebhookChannel:
    """POSTs signed JSON to each recipient's URL; see the module docstring."""

    name = "webhook"

    def __init__(
        self,
        *,
        secret: SecretStr | None = None,
        timeout_s: float = 10.0,
        clock: Clock | None = None,
        user_agent: str = "monitor/0.1 (webhook)",
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._secret = secret.get_secret_value().encode("utf-8") if secret else None
        self.clock = clock or SystemClock()
        self._client = httpx.AsyncClient(
            timeout=timeout_s,
            follow_redirects=False,
            headers={"User-Agent": user_agent},
            transport=transport,
            trust_env=False,
        )
        self.sent = 0

    def __repr__(self) -> str:
        return f"WebhookChannel(signed={self._secret is not None})"

    async def send(self, alert: Alert, recipient: Recipient) -> str:
        payload = {"event": "alert", **alert_payload(alert)}
        await self._post(recipient, "alert", str(alert.delivery_id), payload)
        return f"webhook:{alert.delivery_id}"

    async def update(self, ref: str, alert: Alert, recipient: Recipient) -> str:
        payload = {"event": "update", "ref": ref, **alert_payload(alert)}
        await self._post(recipient, "update", str(alert.delivery_id), payload)
        return ref

    async def send_digest(self, digest: Digest, recipient: Recipient) -> Sequence[str]:
        if not digest.alerts:
            return []
        ids = ",".join(str(a.delivery_id) for a in digest.alerts)
        payload = {
            "event": "digest",
            "reason": digest.reason,
            "period_start": digest.period_start.isoformat(),
            "period_end": digest.period_end.isoformat(),
            "alerts": [alert_payload(a) for a in digest.alerts],
        }
        await self._post(recipient, "digest", ids, payload)
        return [f"webhook:digest:{digest.alerts[0].delivery_id}"]

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _post(
        self, recipient: Recipient, event: str, delivery: str, payload: dict[str, Any]
    ) -> None:
        url = recipient.address
        body = encode(payload)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            EVENT_HEADER: event,
            DELIVERY_HEADER: delivery,
        }
        if self._secret is not None:
            timestamp = str(int(self.clock.now().timestamp()))
            headers[TIMESTAMP_HEADER] = timestamp
            headers[SIGNATURE_HEADER] = sign(self._secret, timestamp, body)
        try:
            response = await self._client.post(url, content=body, headers=headers)
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
            raise PermanentDeliveryError(f"webhook URL unusable: {_where(url)}") from exc
        except httpx.TimeoutException as exc:
            raise TransientDeliveryError(f"webhook {_where(url)} timed out") from exc
        except httpx.HTTPError as exc:
            raise TransientDeliveryError(
                f"webhook {_where(url)} unreachable: {type(exc).__name__}"
            ) from exc
        status = response.status_code
        if 200 <= status < 300:
            self.sent += 1
            return
        if status in (408, 429) or status >= 500:
            wait = parse_retry_after(response.headers.get("retry-after"), self.clock.now())
            raise TransientDeliveryError(
                f"webhook {_where(url)} answered {status}", retry_after=wait
            )
        raise PermanentDeliveryError(f"webhook {_where(url)} refused the alert: {status}")
