"""Notifier: alerts agencies of their assignments and tracks their deadlines."""
