"""VCTK 0.92 (Yamagishi et al. 2019): 110 English speakers with various accents, from its raw download.

Raw layout (VCTK-Corpus-0.92.zip unpacked; nothing is downloaded here)::

    RAW/[VCTK-Corpus-0.92/]wav48_silence_trimmed/pXXX/pXXX_NNN_mic1.flac   48 kHz mono FLAC (also _mic2)

One microphone (--mic, default mic1) is resampled to 16 kHz, utterances kept whole, labelled by speaker. The
split hashes the utterance (every speaker is seen in training: speaker-conditional models) or, with
--split-by speaker, the speaker (held-out voices).

    python recipes/vctk.py prepare --raw ~/datasets/VCTK-Corpus-0.92 --out data/vctk
    python recipes/vctk.py train --data data/vctk/train --out runs/vctk
    python recipes/vctk.py evaluate runs/vctk --data data/vctk/test --task extend --cutoff 4000

Layout: OUT/{train,val,test}/pXXX/pXXX_NNN.wav + OUT/manifest.csv (see recipes/README.md).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import ClipWriter, LayoutError, cli, find_root, load_mono, split_of, subset  # noqa: E402

EXPECTED = "wav48_silence_trimmed/pXXX/pXXX_NNN_mic1.flac"


def prepare(raw_dir: str | Path, out_dir: str | Path, *, mic: str = "mic1", split_by: str = "utterance",
            val: float = 0.05, test: float = 0.05, speakers: tuple[str, ...] | None = None,
            max_files: int | None = None, overwrite: bool = False) -> dict:
    """Resample one microphone's utterances into out_dir/{split}/{speaker}/; returns the manifest summary."""
    if mic not in ("mic1", "mic2"):
        raise ValueError(f"mic={mic!r} must be 'mic1' or 'mic2'")
    if split_by not in ("utterance", "speaker"):
        raise ValueError(f"split_by={split_by!r} must be 'utterance' or 'speaker'")
    root = find_root(raw_dir, "VCTK-Corpus-0.92", "wav48_silence_trimmed", expected=EXPECTED)
    audio = root / "wav48_silence_trimmed"
    files = sorted(audio.glob(f"*/*_{mic}.flac"))
    if speakers is not None:
        files = [f for f in files if f.parent.name in speakers]
    if not files:
        raise LayoutError(f"expected {audio}/pXXX/pXXX_NNN_{mic}.flac"
                          + (f" for speakers {list(speakers)}" if speakers else "") + ": none found")
    files = subset(files, max_files, key=lambda p: p.name)
    writer = ClipWriter(Path(out_dir), overwrite=overwrite)
    for path in files:
        speaker, utterance = path.parent.name, path.name.removesuffix(f"_{mic}.flac")
        key = utterance if split_by == "utterance" else speaker
        writer.write(load_mono(path), split=split_of(key, val=val, test=test), label=speaker, name=utterance,
                     source=path.relative_to(root).as_posix())
    return writer.close()


def config():
    """The klettres speech model (16 kHz waveform, 1 s crops) made speaker-conditional with CFG label dropout."""
    from klettres import config as speech_config
    c = speech_config()
    c.train.labels, c.train.label_dropout = True, 0.1
    return c


def _arguments(p):
    p.add_argument("--raw", required=True, help="VCTK-Corpus-0.92 folder (or its parent)")
    p.add_argument("--mic", choices=["mic1", "mic2"], default="mic1", help="which microphone's recordings")
    p.add_argument("--split-by", choices=["utterance", "speaker"], default="utterance", help="what the split hashes")
    p.add_argument("--speakers", default=None, help="comma-separated speakers (default: all)")
    p.add_argument("--val", type=float, default=0.05, help="fraction held out for validation")
    p.add_argument("--test", type=float, default=0.05, help="fraction held out for test")
    p.add_argument("--max-files", type=int, default=None, help="use at most this many utterances")


def main(argv=None) -> int:
    return cli(__doc__, recipe=__file__, arguments=_arguments, default_data="data/vctk", argv=argv,
               prepare=lambda a: prepare(a.raw, a.out, mic=a.mic, split_by=a.split_by, val=a.val, test=a.test,
                                         speakers=tuple(a.speakers.split(",")) if a.speakers else None,
                                         max_files=a.max_files, overwrite=a.overwrite))


if __name__ == "__main__":
    sys.exit(main())
