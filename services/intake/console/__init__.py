"""The operator console: web pages served by intake for Diskominfo's operators (see README)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from services.intake.console.routes import (
    PREFIX,
    STATIC_DIR,
    console,
    console_state,
    login_required,
)
from shared.pages import LoginRequiredError

__all__ = ["console_state", "mount_console"]


def mount_console(api: FastAPI) -> None:
    """Serve the console under /console (its state is set by the lifespan: `console_state`)."""
    api.include_router(console)
    api.mount(f"{PREFIX}/static", StaticFiles(directory=STATIC_DIR), name="console-static")
    api.add_exception_handler(LoginRequiredError, login_required)
