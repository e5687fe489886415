"""The operator console's settings: `LAPOR_HUB_CONSOLE_*` on top of the shared ones."""

from __future__ import annotations

from pydantic import SecretStr

from shared.settings import Settings


class ConsoleSettings(Settings):
    # Where the console finds the other services (their /readyz, dead letters, sync's /metrics).
    console_router_ops_url: str = "http://127.0.0.1:9101"
    console_sync_ops_url: str = "http://127.0.0.1:9103"
    console_notifier_url: str = "http://127.0.0.1:8081"
    # A dead-letter operator's key of the notifier's inbox API (`lapor-hub notifier keys create
    # NAME --role dead_letter_operator`), for its dead deliveries; unset: the console says so
    # instead of listing them.
    console_notifier_api_key: SecretStr | None = None
    # Signs the session cookie; unset: a random one per process (sessions end on restart, and
    # several intake processes behind one address need the same secret).
    console_session_secret: SecretStr | None = None
    console_session_hours: float = 8.0
    # Seconds the console waits for another service before showing it as not answering.
    console_remote_timeout_s: float = 2.0
