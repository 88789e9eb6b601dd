"""The loalang controller: API, console, fleet registry, scheduler and encoders."""

from loalang_protocol import __version__

__all__ = ["__version__"]
