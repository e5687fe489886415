"""API keys and other secret tokens: random, shown once, stored only as a hash, compared in
constant time."""

from __future__ import annotations

import hashlib
import secrets


def new_api_key() -> str:
    return secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    """SHA-256 is enough: keys are 256 random bits, not passwords a dictionary can guess."""
    return hashlib.sha256(key.encode()).hexdigest()


def same_secret(given: str, expected: str) -> bool:
    """Constant-time comparison of a token a client sent with the expected one, on their UTF-8
    bytes: `secrets.compare_digest` on two str raises TypeError when one holds a non-ASCII
    character, which answered anyone typing one with a 500."""
    return secrets.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode())
