"""Management commands of the base app (they call services and demo data; nothing imports them)."""
