"""Bulletins, schedules and the scheduler that turns them into occurrences."""
