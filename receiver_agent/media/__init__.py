"""Media files on the device: the cache and the attention signal."""
