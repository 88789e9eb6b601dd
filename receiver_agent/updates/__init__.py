"""Over-the-air updates on the board: install a signed release beside the running one, and return
to the previous one by itself when the new one is not healthy (launcher.py)."""
