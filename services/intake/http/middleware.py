"""The timing of each request, and its refusal counted by channel (the body's size limit is
`shared.http_limits.BodySizeLimit`, inside this one)."""

from __future__ import annotations

import time

from prometheus_client import Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.intake.http.errors import count_rejection

MAX_IMPORT_BYTES = 10 * 1024 * 1024
MAX_EMAIL_BYTES = 25 * 1024 * 1024  # mail servers' usual limit: three photos, base64-encoded
HTTP_SECONDS = Histogram(
    "lapor_hub_intake_http_request_duration_seconds",
    "HTTP request latency, by route and status",
    ["method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)


class Timing:
    """Times every request and counts its refusal. A plain ASGI middleware: Starlette's
    BaseHTTPMiddleware costs a task per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        began = time.perf_counter()

        async def send_and_note_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note_status)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            HTTP_SECONDS.labels(scope["method"], route, str(status)).observe(
                time.perf_counter() - began
            )
            count_rejection(scope["path"], status)
