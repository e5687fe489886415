import logging

import uvicorn

from services.intake.app import app, settings

logging.basicConfig(
    level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
)
uvicorn.run(app, host=settings.bind_host, port=settings.intake_http_port, log_level="warning")
