"""The density benchmark: live AI calls per core, memory per call and latency under a SIPp load."""
