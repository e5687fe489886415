"""Idempotent consumption (`shared.migrations.PROCESSED_EVENTS`)."""

from shared.migrations import PROCESSED_EVENTS, create

create(*PROCESSED_EVENTS)
