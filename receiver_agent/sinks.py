"""Choosing the audio sink from the configuration."""

from __future__ import annotations

from .audio.alsa import AlsaSink
from .audio.null import NullSoundCard
from .audio.simulated import SimulatedSoundCard
from .audio.sink import AudioSink
from .config import AgentConfig


def make_sink(config: AgentConfig) -> AudioSink:
    """The configured sound card: ALSA on a board, the simulated card in tests and the demo, the null
    card in a large simulation."""
    if config.audio.sink == "alsa":
        return AlsaSink(config.audio.alsa_device, config.audio.alsa_mixer)
    if config.audio.sink == "null":
        return NullSoundCard(name=config.device_id)
    return SimulatedSoundCard(config.data_dir / "card", name=config.device_id)
