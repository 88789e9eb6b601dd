"""Audio output: the sink interface, the simulated sound card and ALSA."""
