from services.notifier.app import app, settings
from shared.runtime import run

run(app, settings)
