"""The sync service's domain: what to tell national LAPOR, when, and how fast. No I/O."""
