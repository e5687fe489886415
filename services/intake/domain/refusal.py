"""Refusals a citizen reads on the pages, in both of their languages."""

from __future__ import annotations


class RefusedError(ValueError):
    """What cannot be done, said to the reporter; the Indonesian is the message."""

    def __init__(self, indonesian: str, english: str) -> None:
        super().__init__(indonesian)
        self.indonesian = indonesian
        self.english = english

    def said(self, english: bool) -> str:
        return self.english if english else self.indonesian
