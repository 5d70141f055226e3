"""LJSpeech 1.1 (Ito & Johnson 2017): one speaker reading non-fiction, 13,100 clips, from its raw download.

Raw layout (LJSpeech-1.1.tar.bz2 unpacked; nothing is downloaded here)::

    RAW/[LJSpeech-1.1/]metadata.csv      ID|transcription|normalized transcription   (no header)
    RAW/[LJSpeech-1.1/]wavs/ID.wav       22.05 kHz mono PCM-16, 1-10 s

Every listed clip is resampled to 16 kHz and kept whole (training crops it); the normalized transcription
goes to the manifest's source column. The split is a hash of the clip ID.

    python recipes/ljspeech.py prepare --raw ~/datasets/LJSpeech-1.1 --out data/ljspeech
    python recipes/ljspeech.py train --data data/ljspeech/train --out runs/ljspeech
    python recipes/ljspeech.py evaluate runs/ljspeech --data data/ljspeech/test --task extend --cutoff 4000

Layout: OUT/{train,val,test}/ID.wav + OUT/manifest.csv (unlabelled; see recipes/README.md).
"""
from __future__ import annotations

import csv
import os
import sys
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import ClipWriter, LayoutError, cli, find_root, load_mono, split_of, subset  # noqa: E402

EXPECTED = "metadata.csv (ID|text|normalized text) and wavs/ID.wav"


def read_metadata(path: Path) -> list[tuple[str, str]]:
    """(ID, normalized transcription) rows of metadata.csv; LayoutError on a malformed line."""
    rows = []
    with open(path, newline="", encoding="utf-8") as f:
        for i, row in enumerate(csv.reader(f, delimiter="|", quoting=csv.QUOTE_NONE), 1):
            if len(row) != 3:
                raise LayoutError(f"{path}:{i}: expected ID|text|normalized text, got {len(row)} fields")
            rows.append((row[0], row[2]))
    if not rows:
        raise LayoutError(f"{path} lists no clips")
    return rows


def prepare(raw_dir: str | Path, out_dir: str | Path, *, val: float = 0.02, test: float = 0.02,
            max_files: int | None = None, overwrite: bool = False) -> dict:
    """Resample every clip of metadata.csv into out_dir/{split}/; returns the summary of manifest.csv."""
    root = find_root(raw_dir, "LJSpeech-1.1", "metadata.csv", expected=EXPECTED)
    rows = subset(read_metadata(root / "metadata.csv"), max_files, key=lambda r: r[0])
    missing = [i for i, _ in rows if not (root / "wavs" / f"{i}.wav").is_file()]
    if missing:
        raise LayoutError(f"expected {root / 'wavs' / (missing[0] + '.wav')} (listed in metadata.csv; "
                          f"{len(missing)} listed clips missing)")
    writer = ClipWriter(Path(out_dir), overwrite=overwrite)
    for clip_id, text in rows:
        wav = load_mono(root / "wavs" / f"{clip_id}.wav")
        writer.write(wav, split=split_of(clip_id, val=val, test=test), name=clip_id, source=text)
    return writer.close()


def config():
    """The klettres speech model (unconditional 16 kHz waveform, 1 s crops) trained on LJSpeech instead."""
    from klettres import config as speech_config
    return speech_config()


def _arguments(p):
    p.add_argument("--raw", required=True, help="LJSpeech-1.1 folder (or its parent)")
    p.add_argument("--val", type=float, default=0.02, help="fraction held out for validation")
    p.add_argument("--test", type=float, default=0.02, help="fraction held out for test")
    p.add_argument("--max-files", type=int, default=None, help="use at most this many clips")


def main(argv=None) -> int:
    return cli(__doc__, recipe=__file__, arguments=_arguments, default_data="data/ljspeech", argv=argv,
               prepare=lambda a: prepare(a.raw, a.out, val=a.val, test=a.test, max_files=a.max_files,
                                         overwrite=a.overwrite))


if __name__ == "__main__":
    sys.exit(main())
