"""Public alerts: OASIS CAP 1.2 from warning centres, turned into emergency broadcasts."""
