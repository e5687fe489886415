"""The citizens' pages, served by intake: `/lapor` (file a complaint) and `/lacak` (follow it)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from services.intake.citizen.routes import STATIC_DIR, STATIC_PREFIX, citizen, citizen_state

__all__ = ["citizen_state", "mount_citizen"]


def mount_citizen(api: FastAPI) -> None:
    """Serve the pages (their state is set by the lifespan: `citizen_state`)."""
    api.include_router(citizen)
    api.mount(STATIC_PREFIX, StaticFiles(directory=STATIC_DIR), name="citizen-static")
