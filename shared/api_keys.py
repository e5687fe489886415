"""API keys: random, shown once, stored only as a hash."""

from __future__ import annotations

import hashlib
import secrets


def new_api_key() -> str:
    return secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    """SHA-256 is enough: keys are 256 random bits, not passwords a dictionary can guess."""
    return hashlib.sha256(key.encode()).hexdigest()
