"""Client retries that must not act twice (the `Idempotency-Key` header, or a web form's hidden
key): what intake's submissions and the notifier's inbox actions share. A key is scoped to its
caller and remembered with the fingerprint of the request it came with; the same key again with
the same request is a retry (answered as the first time), with another request a mistake the
client is told of (`IdempotencyKeyReusedError`), never applied."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

# Longest key accepted (header or form field); clients send a UUID or similar.
MAX_KEY_LENGTH = 200


@dataclass(frozen=True)
class IdempotencyKey:
    """A client's key and the fingerprint of the request that came with it."""

    key: str
    fingerprint: str


class IdempotencyKeyReusedError(Exception):
    """The key was used before with a different request."""

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(f"Idempotency-Key {key!r} was already used with a different request")


def fingerprint(*parts: str | None) -> str:
    """Equal for equal requests (its parts in order, None apart from an empty text): tells a
    retry from a key reused for another request."""
    text = "\x1f".join("\x00" if part is None else part for part in parts)
    return hashlib.sha256(text.encode()).hexdigest()


def ensure_same_request(key: IdempotencyKey, remembered_fingerprint: str | None) -> None:
    """A remembered key (its fingerprint; None when stored before fingerprints were kept) seen
    again: IdempotencyKeyReusedError unless it came with this same request."""
    if remembered_fingerprint not in (None, key.fingerprint):
        raise IdempotencyKeyReusedError(key.key)
