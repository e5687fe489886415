"""Router: assigns each complaint to the agency (SKPD) with authority over it."""
