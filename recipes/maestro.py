"""MAESTRO v3.0.0 (Hawthorne et al. 2019): ~200 h of virtuosic piano performances, from its raw download.

Raw layout (maestro-v3.0.0.zip unpacked; nothing is downloaded here)::

    RAW/[maestro-v3.0.0/]maestro-v3.0.0.csv   canonical_composer,canonical_title,split,year,midi_filename,
                                              audio_filename,duration   (split: train / validation / test)
    RAW/[maestro-v3.0.0/]YEAR/NAME.wav        44.1-48 kHz stereo PCM-16, minutes long

The dataset's own split column is kept (its pieces do not cross splits). Each performance is streamed in
--clip-seconds windows (a long file never sits in memory whole), mixed to mono, resampled to 16 kHz, and
windows that are mostly silence are skipped.

    python recipes/maestro.py prepare --raw ~/datasets/maestro-v3.0.0 --out data/maestro --minutes 600
    python recipes/maestro.py train --data data/maestro/train --out runs/maestro
    python recipes/maestro.py evaluate runs/maestro --data data/maestro/test --task inpaint

Layout: OUT/{train,val,test}/YEAR_NAME_NNNN.wav + OUT/manifest.csv (unlabelled; see recipes/README.md).
"""
from __future__ import annotations

import csv
import os
import sys
from pathlib import Path
from typing import Iterator

import soundfile as sf
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import (SAMPLE_RATE, ClipWriter, LayoutError, cli, find_root, fit_length, is_active,  # noqa: E402
                     subset)

from audiodiff.audio import AudioError, resample  # noqa: E402

CSV = "maestro-v3.0.0.csv"
COLUMNS = ("canonical_composer", "canonical_title", "split", "year", "midi_filename", "audio_filename", "duration")
SPLITS = {"train": "train", "validation": "val", "test": "test"}
MARGIN = 0.05  # seconds of context each side of a window, so resampling has no edge effects


def read_csv(path: Path) -> list[dict]:
    """Rows of maestro-v3.0.0.csv; LayoutError when a column or a split name is not MAESTRO's."""
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise LayoutError(f"{path}: expected columns {list(COLUMNS)}, missing {missing}")
        rows = list(reader)
    for i, row in enumerate(rows, 2):
        if row["split"] not in SPLITS:
            raise LayoutError(f"{path}:{i}: split {row['split']!r} is not one of {sorted(SPLITS)}")
    return rows


def windows(path: Path, seconds: float) -> Iterator[tuple[int, torch.Tensor]]:
    """(k, window k) of a long file: consecutive `seconds`-long windows [1, seconds * 16000], mono, 16 kHz."""
    try:
        f = sf.SoundFile(path)
    except (sf.SoundFileError, RuntimeError) as e:
        raise AudioError(path, f"not a readable audio file ({e})") from None
    with f:
        sr, frames = f.samplerate, f.frames
        hop, margin, n = round(seconds * sr), round(MARGIN * sr), round(seconds * SAMPLE_RATE)
        for k, start in enumerate(range(0, frames - hop + 1, hop)):
            lo, hi = max(start - margin, 0), min(start + hop + margin, frames)
            f.seek(lo)
            block = torch.from_numpy(f.read(hi - lo, dtype="float32", always_2d=True).T)
            wav = resample(block.mean(dim=0, keepdim=True), sr, SAMPLE_RATE)
            left = round((start - lo) * SAMPLE_RATE / sr)  # drop the resampled left context
            yield k, fit_length(wav[:, left:left + n], n)


def prepare(raw_dir: str | Path, out_dir: str | Path, *, clip_seconds: float = 8.0, minutes: float | None = None,
            max_files: int | None = None, overwrite: bool = False) -> dict:
    """Cut performances into out_dir/{split}/ clips; stop after `minutes` of clips (all when None)."""
    if not clip_seconds > 0:
        raise ValueError(f"clip_seconds={clip_seconds} must be > 0")
    root = find_root(raw_dir, "maestro-v3.0.0", CSV, expected=f"{CSV} and YEAR/NAME.wav")
    rows = subset(read_csv(root / CSV), max_files, key=lambda r: r["audio_filename"])
    missing = [r["audio_filename"] for r in rows if not (root / r["audio_filename"]).is_file()]
    if missing:
        raise LayoutError(f"expected {root / missing[0]} (listed in {CSV}; {len(missing)} listed files missing)")
    writer = ClipWriter(Path(out_dir), overwrite=overwrite)
    total = 0.0
    for row in rows:
        name = Path(row["audio_filename"]).with_suffix("").as_posix().replace("/", "_")
        source = f"{row['canonical_composer']}: {row['canonical_title']} ({row['audio_filename']})"
        for k, clip in windows(root / row["audio_filename"], clip_seconds):
            if not is_active(clip):  # mostly silence
                continue
            writer.write(clip, split=SPLITS[row["split"]], name=f"{name}_{k:04d}", source=source)
            total += clip_seconds
            if minutes is not None and total >= minutes * 60:
                return writer.close()
    return writer.close()


def config():
    """The chorales music model (unconditional 16 kHz waveform, 1 s crops) trained on MAESTRO piano instead."""
    from chorales import config as music_config
    return music_config()


def _arguments(p):
    p.add_argument("--raw", required=True, help="maestro-v3.0.0 folder (or its parent)")
    p.add_argument("--clip-seconds", type=float, default=8.0, help="clip length")
    p.add_argument("--minutes", type=float, default=None, help="stop after this much audio (default: all)")
    p.add_argument("--max-files", type=int, default=None, help="use at most this many performances")


def main(argv=None) -> int:
    return cli(__doc__, recipe=__file__, arguments=_arguments, default_data="data/maestro", argv=argv,
               prepare=lambda a: prepare(a.raw, a.out, clip_seconds=a.clip_seconds, minutes=a.minutes,
                                         max_files=a.max_files, overwrite=a.overwrite))


if __name__ == "__main__":
    sys.exit(main())
