"""Capacity and admission control. So far: `planning`, the queueing arithmetic behind `voicegrid plan`."""
