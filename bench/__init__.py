"""Benchmarks: scripts that start real processes on loopback and save their figures under results/."""
