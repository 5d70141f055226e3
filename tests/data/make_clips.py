"""Regenerate the test clips in this folder: speech (espeak-ng) and music (fluidsynth), 16 kHz mono PCM-16.

Run: /work/venv/bin/python tests/data/make_clips.py   (needs espeak-ng, fluidsynth, fluid-soundfont-gm, sox)
"""
from __future__ import annotations

import struct
import subprocess
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOUNDFONT = "/usr/share/sounds/sf2/FluidR3_GM.sf2"
SR = 16000
TPQ = 480  # MIDI ticks per quarter note


def vlq(n: int) -> bytes:
    """MIDI variable-length quantity."""
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    return bytes(reversed(out))


def midi_file(notes: list[tuple[int, int, int]], *, program: int, bpm: int) -> bytes:
    """A format-0 standard MIDI file from (start_tick, duration_ticks, pitch) notes on channel 0."""
    events = []
    for start, dur, pitch in notes:
        events.append((start, 1, bytes([0x90, pitch, 96])))
        events.append((start + dur, 0, bytes([0x80, pitch, 0])))  # note-offs sort before note-ons
    events.sort()
    track = b"\x00\xff\x51\x03" + (60_000_000 // bpm).to_bytes(3, "big")  # tempo
    track += b"\x00" + bytes([0xC0, program])
    now = 0
    for tick, _, msg in events:
        track += vlq(tick - now) + msg
        now = tick
    track += b"\x00\xff\x2f\x00"  # end of track
    return b"MThd" + struct.pack(">IHHH", 6, 0, 1, TPQ) + b"MTrk" + struct.pack(">I", len(track)) + track


def to_clip(src: Path, dst: Path, seconds: float) -> None:
    """Resample to 16 kHz mono 16-bit, trim to `seconds`, peak-normalise to -1 dBFS."""
    # explicit effect order (mix, rate, trim, then norm) and no dither, so the output is reproducible
    subprocess.run(["sox", "-D", str(src), "-b", "16", str(dst),
                    "remix", "-", "rate", str(SR), "trim", "0", str(seconds), "norm", "-1"], check=True)


def speech(dst: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "speech.wav"
        subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(raw),
                        "The quick brown fox jumps over the lazy dog."], check=True)
        to_clip(raw, dst, 2.5)


def music(dst: Path, notes: list[tuple[int, int, int]], *, program: int, bpm: int, seconds: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        mid, raw = Path(tmp) / "music.mid", Path(tmp) / "music.wav"
        mid.write_bytes(midi_file(notes, program=program, bpm=bpm))
        subprocess.run(["fluidsynth", "-ni", "-g", "0.8", "-r", "44100", "-F", str(raw), SOUNDFONT, str(mid)],
                       check=True, capture_output=True)
        to_clip(raw, dst, seconds)


def main() -> None:
    speech(HERE / "speech.wav")
    q = TPQ
    # piano: C major arpeggio then a C-E-G chord (one bar of 4/4 + a half-note chord at 120 bpm)
    piano = [(i * q // 2, q // 2, p) for i, p in enumerate([60, 64, 67, 72, 67, 64, 60, 55])]
    piano += [(4 * q, 2 * q, p) for p in (48, 60, 64, 67)]
    music(HERE / "piano.wav", piano, program=0, bpm=120, seconds=3.0)
    # plucked strings: a short A-minor melody over a bass note
    guitar = [(i * q // 2, q // 2, p) for i, p in enumerate([69, 72, 76, 74, 72, 71, 69, 64])]
    guitar += [(0, 4 * q, 45)]
    music(HERE / "guitar.wav", guitar, program=24, bpm=140, seconds=2.0)


if __name__ == "__main__":
    main()
