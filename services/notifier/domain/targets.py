"""Where agencies' webhooks may point. Whoever edits the directory chooses the URL the notifier
then POSTs to from inside the hub's network, so a URL may not reach the hub's own neighbours:
outside development only https; never a loopback, link-local (cloud metadata at 169.254.169.254),
private, shared or otherwise non-global address, unless it lies in a network the deployment
allows (`LAPOR_HUB_NOTIFIER_WEBHOOK_ALLOWED_NETWORKS`, e.g. an agency on the provincial
network). A URL naming a host is checked again on every address its name resolves to, when it
is sent to (`senders.py`), so a name pointed inside later is refused too."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

from services.notifier.domain.directory import AgencyContacts

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
NOT_PUBLIC = "a loopback, link-local or private address"


@dataclass(frozen=True)
class WebhookTargets:
    https_only: bool
    allowed_networks: tuple[Network, ...] = ()

    def url_problem(self, url: str) -> str | None:
        """Why the notifier may not POST to `url`, or None. A host name passes here; its
        addresses are checked when it is resolved."""
        parts = urlsplit(url)
        if self.https_only and parts.scheme != "https":
            return "only https outside development"
        if parts.scheme not in ("http", "https"):
            return "only http or https"
        host = (parts.hostname or "").rstrip(".")
        if host == "localhost" or host.endswith(".localhost"):
            host = "127.0.0.1"
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return None
        return None if self.address_allowed(address) else f"{NOT_PUBLIC} is not allowed"

    def address_allowed(self, address: str | Address) -> bool:
        """A global unicast address, or one in an allowed network."""
        ip = ipaddress.ip_address(address.split("%")[0] if isinstance(address, str) else address)
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if ip.is_global and not ip.is_multicast:
            return True
        return any(ip in network for network in self.allowed_networks)


def webhook_targets(environment: str, allowed_networks: str) -> WebhookTargets:
    """The rules of a deployment: https only outside development; `allowed_networks` as
    comma-separated networks (`10.20.0.0/16, 127.0.0.1/32`)."""
    return WebhookTargets(
        https_only=environment != "development",
        allowed_networks=tuple(
            ipaddress.ip_network(network.strip(), strict=False)
            for network in allowed_networks.split(",")
            if network.strip()
        ),
    )


def contacts_problems(contacts: AgencyContacts, targets: WebhookTargets) -> list[str]:
    """Why an agency's webhook or SMS gateway may not be posted to, one line each."""
    endpoints = (("webhook", contacts.webhook), ("sms_gateway", contacts.sms_gateway))
    return [
        f"{contacts.code}: {field}.url: {problem}"
        for field, hook in endpoints
        if hook is not None and (problem := targets.url_problem(str(hook.url))) is not None
    ]
