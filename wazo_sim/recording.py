"""Voicemail recordings as Asterisk leaves them: WAV, 8 kHz, 16-bit signed linear, mono.

Generated in code (a tone whose pitch depends on the message) so that each message has its own,
valid, small recording: a player can play it and a test can compare it byte for byte.
"""

from __future__ import annotations

import io
import math
import struct
import wave

SAMPLE_RATE = 8000
# Long messages would make the simulator hold megabytes for nothing: the audio is cut, the
# message keeps its announced duration (as a truncated file would on a real mailbox).
MAX_SECONDS = 20


def voicemail_wav(duration_seconds: int, pitch_hz: float = 440.0) -> bytes:
    """A WAV file of ``duration_seconds`` (at most :data:`MAX_SECONDS`) of a soft tone."""
    frames = SAMPLE_RATE * max(0, min(duration_seconds, MAX_SECONDS))
    step = 2 * math.pi * pitch_hz / SAMPLE_RATE
    samples = struct.pack(f"<{frames}h", *(int(8000 * math.sin(step * i)) for i in range(frames)))
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(SAMPLE_RATE)
        wav.writeframes(samples)
    return out.getvalue()
