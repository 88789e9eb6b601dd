"""The loalang wire protocol: topics, message models, signing and the audio chunk format.

Both the controller and the receiver agent import this package; it is the only place
where a topic string or a message shape is spelled out.
"""

PROTOCOL_VERSION = 1
__version__ = "0.1.0"  # of the whole project (pyproject.toml reads it); a release bumps it
