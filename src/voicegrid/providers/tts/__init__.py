"""TTS providers: the interface in base.py, one module per client or engine."""
