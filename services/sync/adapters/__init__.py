"""Adapters of the sync service to the outside world (national SP4N-LAPOR!)."""
