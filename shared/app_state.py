"""What an HTTP app's lifespan keeps in `app.state`, read back typed (Starlette's `app.state` is
not): each app's routes get their accessor from `state_of`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from fastapi import Request

T = TypeVar("T")


def state_of(name: str, kind: type[T]) -> Callable[[Request], T]:
    """The accessor of `request.app.state.<name>`, a `kind` (also usable with `Depends`)."""

    def read(request: Request) -> T:
        state = getattr(request.app.state, name)
        if not isinstance(state, kind):
            raise TypeError(f"app.state.{name} is a {type(state).__name__}, not a {kind.__name__}")
        return state

    return read
