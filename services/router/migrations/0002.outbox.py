"""The transactional outbox (`shared.migrations.OUTBOX`)."""

from shared.migrations import OUTBOX, create

create(*OUTBOX)
