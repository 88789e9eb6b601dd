"""Playout: what plays when, decided by the arbiter and carried out by the engine."""
