"""Fetching a WhatsApp media from a real local HTTP server playing Meta's Graph API: the size
limit before the whole body is read, no redirect followed, the time bound of one webhook."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from services.intake.domain.attachments import MAX_ATTACHMENT_BYTES
from services.intake.whatsapp_media import GraphMedia, MediaUnavailableError

TOKEN = "business-token"


@pytest.fixture
async def graph() -> AsyncIterator[tuple[TestServer, list[str]]]:
    """Media ids: `ok` (a small file), `huge` (says so), `endless` (says nothing, sends more
    than the limit), `moved` (its URL redirects elsewhere), `https` (a URL of another scheme),
    `slow` (answers after 2 s); any other: 404. Every path asked is listed."""
    asked: list[str] = []

    async def media(request: web.Request) -> web.Response:
        asked.append(request.path)
        assert request.headers["Authorization"] == f"Bearer {TOKEN}"
        media_id = request.match_info["media_id"]
        if media_id not in {"ok", "huge", "endless", "moved", "https", "slow"}:
            raise web.HTTPNotFound()
        if media_id == "slow":
            await asyncio.sleep(2)
        base = f"http://127.0.0.1:{request.url.port}"
        url = (
            f"https://127.0.0.1:{request.url.port}/file" if media_id == "https" else f"{base}/file"
        )
        size = {"huge": MAX_ATTACHMENT_BYTES + 1, "endless": None}.get(media_id, 5)
        return web.json_response({"url": f"{url}/{media_id}", "file_size": size})

    async def file(request: web.Request) -> web.StreamResponse:
        asked.append(request.path)
        assert request.headers["Authorization"] == f"Bearer {TOKEN}"
        if request.match_info["media_id"] == "moved":
            raise web.HTTPFound("/elsewhere")
        response = web.StreamResponse()  # chunked: no Content-Length to go by
        await response.prepare(request)
        if request.match_info["media_id"] == "ok":
            await response.write(b"%PDF-")
        else:
            for _ in range(MAX_ATTACHMENT_BYTES // 65536 + 2):
                await response.write(b"x" * 65536)
        return response

    application = web.Application()
    application.router.add_get("/v21.0/{media_id}", media)
    application.router.add_get("/file/{media_id}", file)
    server = TestServer(application, host="127.0.0.1")
    await server.start_server()
    yield server, asked
    await server.close()


@contextlib.asynccontextmanager
async def _media(server: TestServer, within_s: float = 5) -> AsyncIterator[GraphMedia]:
    async with httpx.AsyncClient(timeout=within_s, follow_redirects=False) as client:
        yield GraphMedia(client, f"http://127.0.0.1:{server.port}/v21.0/", TOKEN, within_s)


async def test_a_media_is_fetched_with_the_token_in_two_calls(
    graph: tuple[TestServer, list[str]],
) -> None:
    server, asked = graph
    async with _media(server) as media:
        assert await media.fetch("ok") == b"%PDF-"
    assert asked == ["/v21.0/ok", "/file/ok"]


@pytest.mark.parametrize(
    ("media_id", "reason", "downloaded"),
    [
        ("huge", "over 5 MB", False),  # Meta's file_size: not downloaded at all
        ("endless", "over 5 MB", True),  # stopped after the limit, not read to its end
        ("moved", "the media URL answered 302", True),
        ("https", "a media URL that is not http", False),
        ("../file/ok", "the Graph API answered 404", False),  # an id is one path segment
    ],
)
async def test_a_media_that_cannot_be_taken_is_not_fetched(
    graph: tuple[TestServer, list[str]], media_id: str, reason: str, downloaded: bool
) -> None:
    server, asked = graph
    async with _media(server) as media:
        with pytest.raises(MediaUnavailableError, match=reason):
            await media.fetch(media_id)
    assert "/elsewhere" not in asked
    assert any(path.startswith("/file/") for path in asked) is downloaded


async def test_what_is_not_fetched_within_the_time_bound_is_given_up_and_the_rest_kept(
    graph: tuple[TestServer, list[str]],
) -> None:
    server, _ = graph
    async with _media(server, within_s=0.5) as media:
        fetched = await media.fetch_all({"wamid.1": "ok", "wamid.2": "slow", "wamid.3": "huge"})
    assert fetched == {
        "wamid.1": b"%PDF-",
        "wamid.2": "media slow: not fetched within 0.5 s",
        "wamid.3": "media huge: over 5 MB",
    }
