"""Media files stored by content hash and served to enrolled devices."""
