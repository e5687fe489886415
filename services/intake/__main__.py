import logging

import uvicorn

from services.intake.app import app, settings

logging.basicConfig(
    level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
)
# No access log: every request is measured (`lapor_hub_intake_http_request_duration_seconds`).
uvicorn.run(
    app,
    host=settings.bind_host,
    port=settings.intake_http_port,
    log_level="warning",
    access_log=False,
)
