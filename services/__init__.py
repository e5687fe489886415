"""The four lapor-hub services.

Each owns its PostgreSQL schema and talks to the others only through events.
"""
