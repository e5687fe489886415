"""Sync: mirrors complaint events to national SP4N-LAPOR!, through its outages."""
