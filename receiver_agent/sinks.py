"""Choosing the audio sink and the microphone from the configuration."""

from __future__ import annotations

from .audio.alsa import AlsaSink
from .audio.alsa_mic import AlsaMicrophone
from .audio.microphone import Microphone
from .audio.null import NullSoundCard
from .audio.simulated import SimulatedSoundCard
from .audio.simulated_mic import SimulatedMicrophone
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


def make_microphone(config: AgentConfig, sink: AudioSink) -> Microphone | None:
    """The configured microphone, capturing; None without one. ValueError when a simulated microphone
    is asked for beside a card it cannot hear."""
    if config.audio.mic == "alsa":
        microphone = AlsaMicrophone(config.audio.mic_device)
        microphone.start()
        return microphone
    if config.audio.mic == "simulated":
        if not isinstance(sink, SimulatedSoundCard):
            raise ValueError("a simulated microphone hears only the simulated sound card (audio.sink)")
        return SimulatedMicrophone(sink)
    return None
