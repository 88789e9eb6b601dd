"""Live broadcasting: sources (microphone, relayed station), the Opus chunker and live sessions."""
