"""A stand-in for national SP4N-LAPOR!, whose API is closed: `python -m services.sync.simulator`.

It behaves like the national service as far as it is known (routes in `server.py`), never
deduplicates, and goes down, slows, rate-limits and fails on command or on a schedule
(`faults.py`), so the sync service can be tested against the outages the real one had.
"""
