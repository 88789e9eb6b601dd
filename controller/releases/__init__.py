"""Signed agent releases held by the controller (issue: over-the-air updates)."""
