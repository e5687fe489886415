"""The four lapor-hub services; each owns its PostgreSQL schema and talks to the others through events."""
