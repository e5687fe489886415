"""Intake's pure domain: tracking numbers, what a submission is, channel payloads, imports."""
