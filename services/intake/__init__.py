"""Intake: accepts complaints from every channel and publishes ComplaintReceived."""
