"""The router service's FastStream application (`faststream run services.router.app:app`)."""

from shared.runtime import build_app, build_broker
from shared.settings import Settings

SERVICE = "router"
settings = Settings()
broker = build_broker(SERVICE, settings)
app = build_app(SERVICE, broker, settings)
