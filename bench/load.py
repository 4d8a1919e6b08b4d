"""Density: live AI calls per core, memory per call and latency under load (issue 8).

Run: .venv/bin/python bench/load.py [--steps 20,60,...] [--window-s 30] [--compare 20]
(the same as `.venv/bin/voicegrid bench load`). It starts the Deepgram, OpenAI and Aura-2 emulators
as processes at published latencies, one voicegrid worker per core sharing one database, and SIPp
callers; it ramps N, measures voicegrid's CPU and RSS from /proc, its RTP lateness from a tcpdump
capture and voice-to-voice from the call records, then runs the same load with one voicegrid
process per call. Saves bench/results/load-<date>.json, .md and .png.
"""

import sys

from voicegrid.cli import app

if __name__ == "__main__":
    sys.argv[1:1] = ["bench", "load"]
    app()
