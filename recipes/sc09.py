"""SC09: the spoken digits "zero"-"nine" of Speech Commands v0.02 (Warden 2018), from its raw download.

Raw layout (speech_commands_v0.02.tar.gz unpacked; nothing is downloaded here)::

    RAW/[speech_commands_v0.02/]WORD/SPEAKER_nohash_N.wav   16 kHz mono, <= 1 s
    RAW/[speech_commands_v0.02/]validation_list.txt         WORD/SPEAKER_nohash_N.wav per line
    RAW/[speech_commands_v0.02/]testing_list.txt

The dataset's own speaker-disjoint lists give val and test; every other digit clip is train. Clips are centred
in exactly 1 s (shorter ones zero-padded), as in SC09 (Donahue et al. 2019).

    python recipes/sc09.py prepare --raw ~/datasets/speech_commands_v0.02 --out data/sc09
    python recipes/sc09.py train --data data/sc09/train --out runs/sc09
    python recipes/sc09.py evaluate runs/sc09 --data data/sc09/test --task inpaint

Layout: OUT/{train,val,test}/{zero,...,nine}/SPEAKER_nohash_N.wav + OUT/manifest.csv (see recipes/README.md).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import (SAMPLE_RATE, ClipWriter, LayoutError, cli, find_root, fit_length, load_mono,  # noqa: E402
                     subset)

DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
EXPECTED = "WORD/SPEAKER_nohash_N.wav with validation_list.txt and testing_list.txt beside the WORD folders"


def read_list(path: Path) -> set[str]:
    """Relative paths (WORD/FILE.wav) listed in a Speech Commands split file."""
    return {line.strip() for line in path.read_text().splitlines() if line.strip()}


def prepare(raw_dir: str | Path, out_dir: str | Path, *, words: tuple[str, ...] = DIGITS, seconds: float = 1.0,
            max_files: int | None = None, overwrite: bool = False) -> dict:
    """Copy the `words` clips into out_dir/{split}/{word}/ at 16 kHz, exactly `seconds` long."""
    root = find_root(raw_dir, "speech_commands_v0.02", "validation_list.txt", expected=EXPECTED)
    for name in ("testing_list.txt", *words):
        if not (root / name).exists():
            raise LayoutError(f"expected {root / name} (speech_commands_v0.02 layout: {EXPECTED})")
    val, test = read_list(root / "validation_list.txt"), read_list(root / "testing_list.txt")
    files = subset(sorted(p for w in words for p in (root / w).glob("*_nohash_*.wav")), max_files,
                   key=lambda p: p.relative_to(root))
    if not files:
        raise LayoutError(f"expected {root}/{words[0]}/SPEAKER_nohash_N.wav clips: the word folders are empty")
    writer = ClipWriter(Path(out_dir), overwrite=overwrite)
    n = int(seconds * SAMPLE_RATE)
    for path in files:
        rel = path.relative_to(root).as_posix()
        split = "test" if rel in test else "val" if rel in val else "train"
        writer.write(fit_length(load_mono(path), n), split=split, label=path.parent.name, name=path.stem, source=rel)
    return writer.close()


def config():
    """The espeak_digits model (class-conditional log-mel, 1 s at 16 kHz) trained on SC09 instead."""
    from espeak_digits import config as digits_config
    return digits_config()


def _arguments(p):
    p.add_argument("--raw", required=True, help="speech_commands_v0.02 folder (or its parent)")
    p.add_argument("--words", default=",".join(DIGITS), help="comma-separated word folders")
    p.add_argument("--seconds", type=float, default=1.0, help="clip length")
    p.add_argument("--max-files", type=int, default=None, help="use at most this many clips")


def main(argv=None) -> int:
    return cli(__doc__, recipe=__file__, arguments=_arguments, default_data="data/sc09", argv=argv,
               prepare=lambda a: prepare(a.raw, a.out, words=tuple(a.words.split(",")), seconds=a.seconds,
                                         max_files=a.max_files, overwrite=a.overwrite))


if __name__ == "__main__":
    sys.exit(main())
