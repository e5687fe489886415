"""`lapor-hub`, the composition root: the command line, the demo feed and the load generator.
It may import every service; `shared/` and the services import nothing from here."""
