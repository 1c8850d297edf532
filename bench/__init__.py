"""Benchmarks of phonepresence against a real Prosody and the Wazo simulator (``make bench``)."""
