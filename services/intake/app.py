"""The intake service's FastStream application (`faststream run services.intake.app:app`)."""

from shared.runtime import build_app, build_broker
from shared.settings import Settings

SERVICE = "intake"
settings = Settings()
broker = build_broker(SERVICE, settings)
app = build_app(SERVICE, broker, settings)
