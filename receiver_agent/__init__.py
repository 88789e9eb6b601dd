"""The loalang receiver agent: runs on each loudspeaker cluster and converges to the desired state."""

__version__ = "0.1.0"
