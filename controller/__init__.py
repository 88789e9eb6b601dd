"""The loalang controller: API, console, fleet registry, scheduler and encoders."""

__version__ = "0.1.0"
