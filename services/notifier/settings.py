"""The notifier's settings: `LAPOR_HUB_NOTIFIER_*` on top of the shared ones."""

from __future__ import annotations

import socket
from datetime import timedelta
from pathlib import Path

from pydantic import Field, SecretStr

from services.notifier.directory import DIRECTORY_FILE
from services.notifier.domain.retry import RetryPolicy
from services.notifier.domain.targets import WebhookTargets, webhook_targets
from shared.settings import Settings


class NotifierSettings(Settings):
    notifier_http_port: int = 8081
    # Requests per API key of the inbox API (limits' notation); past it 429 with Retry-After.
    notifier_rate_limit: str = "20/second"
    # Base of the links in messages (the inbox as agencies reach it).
    notifier_public_url: str = "http://127.0.0.1:8081"
    # Where the notifier reaches intake for the photos it shows in the agency web inbox, when not
    # at LAPOR_HUB_INTAKE_PUBLIC_URL (inside a container network: http://intake:8080).
    notifier_intake_url: str | None = None
    notifier_directory_file: Path = DIRECTORY_FILE
    notifier_consumer_group: str = "lapor-hub-notifier"

    notifier_smtp_host: str = "127.0.0.1"
    notifier_smtp_port: int = 1025
    notifier_smtp_starttls: bool = False
    notifier_smtp_username: str | None = None
    notifier_smtp_password: SecretStr | None = None
    notifier_smtp_sender: str = "LAPOR Kalsel <noreply@lapor-kalsel.example>"
    notifier_smtp_timeout_s: float = 10.0
    # SMTP sessions kept open and reused (each sends one message at a time).
    notifier_smtp_connections: int = 4
    notifier_smtp_local_hostname: str = Field(default_factory=socket.gethostname)
    notifier_webhook_timeout_s: float = 5.0
    # Networks (comma-separated, e.g. "10.20.0.0/16") webhooks and SMS gateways may reach even
    # though their addresses are loopback, link-local or private; by default none: only global
    # addresses (and outside development only https). See domain/targets.py.
    notifier_webhook_allowed_networks: str = ""
    # Reporters who gave a phone but no email hear through this SMS/WhatsApp gateway, if set.
    notifier_citizen_sms_gateway_url: str | None = None
    notifier_citizen_sms_gateway_secret: SecretStr | None = None

    notifier_delivery_max_attempts: int = 8
    notifier_delivery_initial_backoff_s: float = 30.0
    notifier_delivery_max_backoff_s: float = 1800.0
    # Deliveries sent side by side, in all and to one agency.
    notifier_delivery_workers: int = 32
    notifier_per_agency_concurrency: int = 2
    # A delivery claimed by a worker that died is taken up again after this.
    notifier_delivery_lease_s: float = 60.0
    notifier_delivery_poll_s: float = 1.0
    # How long a delivery's outcome waits for others' to be recorded with it in one statement
    # (an agency's slot is held until its outcome is recorded; what it saves and costs: README,
    # Figures). 0 turns it off.
    notifier_delivery_outcome_linger_s: float = 0.005
    # The agency web inbox (/instansi): signs its session cookies; unset, a random one per process
    # (sessions end on a restart, and several notifier processes need the same secret).
    notifier_pages_session_secret: SecretStr | None = None
    notifier_pages_session_hours: float = 10.0
    # Cookies only over https (set when the pages are served behind TLS); they always are Secure
    # when the request itself came over https.
    notifier_pages_secure_cookies: bool = False
    # An inbox action's Idempotency-Key (API) or form key (web inbox) is remembered this long:
    # a retry within it gets the first answer and acts no more.
    notifier_idempotency_window_hours: float = Field(default=24.0, gt=0)
    # How often the deadline job looks for reminders and escalations to send.
    notifier_deadline_interval_s: float = 300.0

    def idempotency_window(self) -> timedelta:
        return timedelta(hours=self.notifier_idempotency_window_hours)

    def webhook_targets(self) -> WebhookTargets:
        return webhook_targets(self.environment, self.notifier_webhook_allowed_networks)

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            max_attempts=self.notifier_delivery_max_attempts,
            initial=timedelta(seconds=self.notifier_delivery_initial_backoff_s),
            ceiling=timedelta(seconds=self.notifier_delivery_max_backoff_s),
        )
