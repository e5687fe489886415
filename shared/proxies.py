"""Which peers may speak for the client: a TLS-terminating proxy in front of intake or the notifier
says in `X-Forwarded-Proto` that the browser came over https (so the pages' cookies are `Secure`)
and in `X-Forwarded-For` who the client is (so limits per client address count the client, not
the proxy). Those headers are honoured only from `LAPOR_HUB_TRUSTED_PROXIES`; from anyone else
they are ignored, as anyone can send them."""

from __future__ import annotations

from typing import Any


def uvicorn_proxy_options(trusted_proxies: str) -> dict[str, Any]:
    """uvicorn's own proxy-header handling, limited to the configured addresses (its default
    trusts every local peer, 127.0.0.1 and ::1); none configured: the headers are never read."""
    addresses = [address.strip() for address in trusted_proxies.split(",") if address.strip()]
    return {"proxy_headers": bool(addresses), "forwarded_allow_ips": addresses}
