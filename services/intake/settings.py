"""Intake's configuration (`LAPOR_HUB_INTAKE_*`, beside the shared settings)."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import Field, SecretStr

from shared.settings import Settings


@dataclass(frozen=True)
class WhatsAppApp:
    """The Meta app whose webhooks intake receives directly (without a gateway adding a key)."""

    verify_token: str
    app_secret: str


class IntakeSettings(Settings):
    intake_http_port: int = 8080
    # Several intake processes on one port (SO_REUSEPORT), each a whole intake: see __main__.
    intake_share_port: bool = False
    intake_rate_limit: str = "50/second"
    # Lookups by tracking number (status page, Open311) need no key: per client address, this
    # many, and this many that find nothing (someone guessing numbers; then every lookup waits).
    intake_public_rate_limit: str = "60/minute"
    intake_public_miss_limit: str = "10/minute"
    intake_db_pool_size: int = 20
    intake_consumer_group: str = "lapor-hub-intake"
    # Both set: Meta's WhatsApp webhooks are accepted directly (subscription check, signature).
    intake_whatsapp_verify_token: SecretStr | None = None
    intake_whatsapp_app_secret: SecretStr | None = None
    # Set: a WhatsApp photo's or document's file is fetched from Meta's Graph API with this
    # token (the business account's) and kept as the complaint's attachment; unset: its caption
    # only. All the media of one webhook within the timeout (Meta waits for the answer).
    intake_whatsapp_access_token: SecretStr | None = None
    intake_whatsapp_graph_url: str = "https://graph.facebook.com/v21.0"
    intake_whatsapp_media_timeout_s: float = Field(default=4.0, gt=0, le=10)
    # Signs the citizen pages' form tokens; unset: a random one per process (several intake
    # processes behind one address need the same).
    intake_pages_secret: SecretStr | None = None

    def whatsapp_app(self) -> WhatsAppApp | None:
        token, secret = self.intake_whatsapp_verify_token, self.intake_whatsapp_app_secret
        if token is None or secret is None:
            return None
        return WhatsAppApp(token.get_secret_value(), secret.get_secret_value())
