"""The body size limit every HTTP API of lapor-hub applies (intake, notifier): 413 at once when
the declared length is over it, and while reading when the body is streamed (chunked)."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import HTTPException
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY_BYTES = 256 * 1024


def too_large(limit: int) -> str:
    return f"Terlalu besar / request larger than {limit} bytes"


class BodySizeLimit:
    """A plain ASGI middleware (Starlette's BaseHTTPMiddleware costs a task per request).
    `larger`: path endings allowed more (intake's imports)."""

    def __init__(
        self, app: ASGIApp, limit: int = MAX_BODY_BYTES, larger: Mapping[str, int] | None = None
    ) -> None:
        self.app = app
        self.limit = limit
        self.larger = dict(larger or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        limit = next((n for end, n in self.larger.items() if path.endswith(end)), self.limit)
        length = dict(scope["headers"]).get(b"content-length", b"")
        if length.isdigit() and int(length) > limit:
            await JSONResponse({"detail": too_large(limit)}, status_code=413)(scope, receive, send)
            return
        received = 0

        async def receive_within_limit() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:  # answered 413 by the application's exception handler
                raise HTTPException(413, too_large(limit))
            return message

        await self.app(scope, receive_within_limit, send)
