"""The transactional outbox (`shared.migrations.OUTBOX`): ComplaintMirrored after a create,
national changes as ComplaintStatusChanged / ComplaintReceived, and rejected events for the
dead-letter topic, each written in the transaction that records it."""

from shared.migrations import OUTBOX, create

create(*OUTBOX)
