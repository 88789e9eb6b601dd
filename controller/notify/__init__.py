"""Notifications of incidents, per area and role, by e-mail and webhook.

Where something breaks is detected by the part that knows (presence, delivery reports, the alert
intake); it raises an incident through `incidents.py`, which keeps it once (a unique key in the
database, whichever controller sees it) and queues one message per subscription that the rules
(`rules.py`) say should hear of it. `outbox.py` sends the queued messages through `channels.py`;
`digest.py` queues the daily digest of what is still broken; `watch.py` opens and resolves the
incidents of clusters offline, and `plays.py` raises those of scheduled plays that did not play
everywhere. See docs/notifications.md.
"""
