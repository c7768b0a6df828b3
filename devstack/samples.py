"""Small valid window halves, for the demo, the tests and the benches: a PCM WAV and a ZIP of frames."""

from __future__ import annotations

import io
import math
import struct
import wave
import zipfile

SAMPLE_RATE = 16_000


def wav_bytes(seconds: float = 0.05, frequency: int = 440, sample_rate: int = SAMPLE_RATE) -> bytes:
    """A 16-bit mono PCM WAV of a sine tone, as the apps record (the completion path refuses anything else)."""
    frames = int(seconds * sample_rate)
    samples = (int(8000 * math.sin(2 * math.pi * frequency * n / sample_rate)) for n in range(frames))
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(sample_rate)
        writer.writeframes(b"".join(struct.pack("<h", s) for s in samples))
    return out.getvalue()


def frames_zip(frame_count: int, frame_bytes: int = 64) -> bytes:
    """A ZIP bundle of `frame_count` frames, one entry each (stored, not compressed: frames are JPEGs already)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as bundle:
        for index in range(frame_count):
            bundle.writestr(f"frame_{index:05d}.jpg", bytes([index % 256]) * frame_bytes)
    return out.getvalue()
