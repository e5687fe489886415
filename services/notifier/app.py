"""The notifier service's FastStream application (`faststream run services.notifier.app:app`)."""

from shared.runtime import build_app, build_broker
from shared.settings import Settings

SERVICE = "notifier"
settings = Settings()
broker = build_broker(SERVICE, settings)
app = build_app(SERVICE, broker, settings)
