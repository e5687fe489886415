"""Events the router could not apply (unparseable, or refused by its handler), kept with the
reason so an operator can see them and replay them after a fix."""

from shared.migrations import create, dead_letters

create(dead_letters())
