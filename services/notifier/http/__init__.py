"""The notifier's HTTP API: the agencies' inbox and the operators' routes (`inbox`)."""

from services.notifier.http.inbox import inbox_api

__all__ = ["inbox_api"]
