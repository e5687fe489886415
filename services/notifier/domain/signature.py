"""Webhook signatures: HMAC-SHA256 over the timestamp, the delivery id and the body, so a receiver
can tell the hub's requests from forgeries, refuse old ones replayed, and trust the delivery id it
drops duplicates by (a captured request cannot be replayed under another id)."""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Lapor-Signature"
TIMESTAMP_HEADER = "X-Lapor-Timestamp"
DELIVERY_HEADER = "X-Lapor-Delivery"


def sign(secret: str, timestamp: int, delivery_id: str, body: bytes) -> str:
    """`sha256=<hex>` of HMAC-SHA256(secret, "<timestamp>.<delivery id>." + body)."""
    signed = f"{timestamp}.{delivery_id}.".encode() + body
    return f"sha256={hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()}"


def signed_headers(secret: str, timestamp: int, body: bytes, delivery_id: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(secret, timestamp, delivery_id, body),
        DELIVERY_HEADER: delivery_id,
    }
