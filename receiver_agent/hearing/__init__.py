"""Knowing an item was heard: what a microphone at the horns picked up, against what was played."""
