"""The one ASGI middleware in front of intake's routes: the body's size limit and each
request's timing."""

from __future__ import annotations

import time

from fastapi import HTTPException
from fastapi.responses import JSONResponse
from prometheus_client import Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.intake.http.errors import count_rejection, too_large

MAX_BODY_BYTES = 256 * 1024
MAX_IMPORT_BYTES = 10 * 1024 * 1024
HTTP_SECONDS = Histogram(
    "lapor_hub_intake_http_request_duration_seconds",
    "HTTP request latency, by route and status",
    ["method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)


class SizeLimitAndTiming:
    """Refuses bodies over the limit (413): at once when declared, while reading when streamed
    (chunked, no Content-Length); times every request. A plain ASGI middleware: Starlette's
    BaseHTTPMiddleware costs a task per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        # Imports and the citizen form (with its photos) may be larger than a JSON complaint.
        large = path.endswith(":import") or path == "/lapor"
        limit = MAX_IMPORT_BYTES if large else MAX_BODY_BYTES
        length = dict(scope["headers"]).get(b"content-length", b"")
        if length.isdigit() and int(length) > limit:
            response = JSONResponse({"detail": too_large(limit)}, status_code=413)
            await response(scope, receive, send)
            count_rejection(path, 413)
            return
        status = 500
        began = time.perf_counter()
        received = 0

        async def receive_within_limit() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:  # answered 413 by the exception handler
                raise HTTPException(413, too_large(limit))
            return message

        async def send_and_note_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive_within_limit, send_and_note_status)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            HTTP_SECONDS.labels(scope["method"], route, str(status)).observe(
                time.perf_counter() - began
            )
            count_rejection(path, status)
