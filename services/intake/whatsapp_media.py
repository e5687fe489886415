"""A WhatsApp message's photo or document, fetched from Meta's Graph API (the webhook carries
only a media id): `GET {graph}/{id}` with the business account's token answers where the file
is, `GET {url}` with the same token answers its bytes. A thin adapter: what it brings is checked
and cleaned as any upload (`domain/attachments.py`)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError

from services.intake.domain.attachments import MAX_ATTACHMENT_BYTES

TOO_LARGE = f"over {MAX_ATTACHMENT_BYTES // (1024 * 1024)} MB"


class MediaUnavailableError(Exception):
    """Not fetched; the message says why."""


class _MediaInfo(BaseModel):
    url: str
    file_size: int | None = None


@dataclass(frozen=True)
class GraphMedia:
    client: httpx.AsyncClient
    """Redirects are not followed: the token goes only to the hosts Meta names."""
    graph_url: str
    access_token: str
    within_s: float
    """All the media of one webhook are fetched (or given up) within this: Meta waits for the
    webhook's answer."""

    async def fetch_all(self, media: Mapping[str, str]) -> dict[str, bytes | str]:
        """Each media's bytes, or why it was not fetched, by the key it was given under."""
        tasks = {key: asyncio.create_task(self.fetch(media_id)) for key, media_id in media.items()}
        if not tasks:
            return {}
        _, late = await asyncio.wait(tasks.values(), timeout=self.within_s)
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)
        fetched: dict[str, bytes | str] = {}
        for key, task in tasks.items():
            if task in late:
                fetched[key] = f"media {media[key]}: not fetched within {self.within_s:g} s"
            elif (error := task.exception()) is not None:
                fetched[key] = f"media {media[key]}: {error}"
            else:
                fetched[key] = task.result()
        return fetched

    async def fetch(self, media_id: str) -> bytes:
        """Raises MediaUnavailableError."""
        headers = {"Authorization": f"Bearer {self.access_token}"}
        graph = httpx.URL(f"{self.graph_url.rstrip('/')}/{quote(media_id, safe='')}")
        try:
            answer = await self.client.get(graph, headers=headers)
            if answer.status_code != 200:
                raise MediaUnavailableError(f"the Graph API answered {answer.status_code}")
            info = _MediaInfo.model_validate_json(answer.content)
            if info.file_size is not None and info.file_size > MAX_ATTACHMENT_BYTES:
                raise MediaUnavailableError(TOO_LARGE)
            url = httpx.URL(info.url)
            if url.scheme != graph.scheme:  # the token never leaves TLS in production
                raise MediaUnavailableError(f"a media URL that is not {graph.scheme}")
            return await self._download(url, headers)
        except (httpx.HTTPError, ValidationError) as error:
            raise MediaUnavailableError(f"{type(error).__name__}: {error}") from error

    async def _download(self, url: httpx.URL, headers: dict[str, str]) -> bytes:
        async with self.client.stream("GET", url, headers=headers) as download:
            if download.status_code != 200:
                raise MediaUnavailableError(f"the media URL answered {download.status_code}")
            declared = download.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > MAX_ATTACHMENT_BYTES:
                raise MediaUnavailableError(TOO_LARGE)
            body = bytearray()
            async for chunk in download.aiter_bytes():
                body += chunk
                if len(body) > MAX_ATTACHMENT_BYTES:
                    raise MediaUnavailableError(TOO_LARGE)
            return bytes(body)


def graph_media(graph_url: str, access_token: str | None, within_s: float) -> GraphMedia | None:
    """None without a token: then a photo's caption is taken, not the photo."""
    if access_token is None:
        return None
    client = httpx.AsyncClient(timeout=within_s, follow_redirects=False)
    return GraphMedia(client, graph_url, access_token, within_s)
