"""The sync service's settings: `LAPOR_HUB_SYNC_*` on top of the shared ones (national LAPOR's
address and credentials are `LAPOR_HUB_NATIONAL_*`, see adapters/national.py)."""

from __future__ import annotations

from shared.settings import Settings


class SyncSettings(Settings):
    sync_metrics_port: int = 9103
    sync_consumer_group: str = "lapor-hub-sync"
    # The local queue's bound: at this many pending events Kafka consumption pauses.
    sync_max_backlog: int = 5000
    # Different complaints mirrored side by side (one complaint's events are always in order).
    # A place is held from the call to national until its outcome is recorded (a few ms of
    # group commit after it), so fewer places cap the rate (README, Cost per complaint).
    sync_concurrency: int = 16
    # Events claimed together (one statement) when that many places are free (their calls
    # still go at the pace). When none was due the claimer waits to be woken (an event queued by
    # this process, or the next of a complaint made claimable) or this long at most (retries
    # coming due, events queued elsewhere, e.g. a replay from the command line).
    sync_claim_batch: int = 8
    sync_idle_poll_s: float = 0.5
    # An event's outcome waits this long for others' to be recorded in the same statement
    # (besides those done while the previous recording statement ran).
    sync_outcome_linger_s: float = 0.005
    # Calls a second to national LAPOR (set to its rate limit); after an outage the drain starts
    # at the fraction and reaches the rate over the ramp.
    sync_rate_per_s: float = 20.0
    sync_ramp_start_fraction: float = 0.25
    sync_ramp_s: float = 10.0
    # Failures in a row that open the circuit; first and longest pause between probes.
    sync_failure_threshold: int = 5
    sync_probe_interval_s: float = 5.0
    sync_max_probe_interval_s: float = 60.0
    # Retry of one event after a passing failure (exponential, capped).
    sync_retry_initial_s: float = 0.5
    sync_retry_max_s: float = 30.0
    # A claimed event whose worker died is taken up again (as in doubt) after this.
    sync_lease_s: float = 60.0
    # How often national is asked for changes made by its admins.
    sync_poll_interval_s: float = 30.0
    sync_poll_page: int = 100
