"""Configuration shared by every service, read from `LAPOR_HUB_*` environment variables.

Defaults point at the local stack that `make up` starts, so a fresh clone runs with no `.env`.
"""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.topics import COMPLAINT_EVENTS

ENV_PREFIX = "LAPOR_HUB_"


class Settings(BaseSettings):
    """Settings every service reads; services subclass it for their own knobs."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    kafka_bootstrap_servers: str = "127.0.0.1:19092"
    database_url: str = Field(
        default="postgresql://lapor_hub:lapor_hub@127.0.0.1:55432/lapor_hub",
        # DATABASE_URL is the name hosting platforms set for an existing server.
        validation_alias=AliasChoices("LAPOR_HUB_DATABASE_URL", "DATABASE_URL"),
    )
    # The stream of every complaint's events (a test gives each run a topic of its own).
    complaint_events_topic: str = COMPLAINT_EVENTS.name
    log_level: str = "INFO"
    # Address every HTTP endpoint binds to: loopback locally, 0.0.0.0 inside a container.
    bind_host: str = "127.0.0.1"
    # Addresses (or networks, e.g. 10.0.0.0/8) of the TLS proxies in front of intake and the
    # notifier, comma-separated: only from them are X-Forwarded-Proto (https: the console's, the
    # agency inbox's and the citizen pages' cookies are Secure) and X-Forwarded-For (the client
    # address the limits count) believed. Empty: from nobody.
    trusted_proxies: str = ""
    # Where citizens and agencies reach intake: attachments' URLs in the events begin with it,
    # and the notifier fetches from it the photos it shows agency staff in their web inbox.
    intake_public_url: str = "http://127.0.0.1:8080"
    # Bearer token with which the notifier fetches a confidential complaint's photos from intake
    # (/lampiran/{sha256} answers 404 without it). The default is for a developer's machine only.
    attachments_token: SecretStr = SecretStr("lapor-hub-local-attachments-token")
    # Bearer token of the router's and sync's operations endpoints beyond health and metrics
    # (their dead letters, which the operator console lists and retries). The default is for a
    # developer's machine only: set a secret one anywhere else.
    ops_token: SecretStr = SecretStr("lapor-hub-local-ops-token")
    # Requests with an unknown API key one client address may make (intake and notifier): past
    # it 429 instead of 401, so that keys cannot be guessed at the rate of the server.
    unknown_api_key_limit: str = "10/minute"
    # "development" (a developer's machine: the defaults below work) or anything else, where
    # a service refuses to start with a secret unset, empty or at its default (`refuse_unsafe`).
    environment: str = "development"
    # Key from which intake derives each confidential complaint's access token (HMAC of its id),
    # so the reporter gets the same token again on every retry, replay or re-import. Changing it
    # changes every token. The default is for a developer's machine only.
    intake_access_token_secret: SecretStr = SecretStr("lapor-hub-local-access-token-secret")


class UnsafeSecretsError(SystemExit):
    """A service outside development with a secret left unset, empty or at its default."""


def unsafe_secrets(environment: str, settings: BaseSettings, *names: str) -> list[str]:
    """The variables of `settings` among `names` that are unset, empty or still their
    development default; none in development, where the defaults are meant to work."""
    if environment == "development":
        return []
    fields = type(settings).model_fields
    prefix = settings.model_config.get("env_prefix", "")
    return [
        f"{prefix}{name.upper()}"
        for name in names
        if _secret_text(getattr(settings, name)) in ("", _secret_text(fields[name].default))
    ]


def refuse_unsafe(unsafe: list[str]) -> None:
    """Stop the service, naming every secret still unsafe (an empty ops token once authorised
    everyone; a default one is in this repository for anyone to read)."""
    if unsafe:
        raise UnsafeSecretsError(
            f"refusing to start outside development: set {', '.join(unsafe)}"
            " (each is unset, empty or its development default)"
        )


def _secret_text(value: object) -> str:
    text = value.get_secret_value() if isinstance(value, SecretStr) else value
    return "" if text is None else str(text).strip()
