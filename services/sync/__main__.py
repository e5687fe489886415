from services.sync.app import app, settings
from shared.runtime import run

run(app, settings)
