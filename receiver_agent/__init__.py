"""The loalang receiver agent: runs on each loudspeaker cluster and converges to the desired state."""

from loalang_protocol import __version__

__all__ = ["__version__"]
