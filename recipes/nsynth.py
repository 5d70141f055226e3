"""NSynth (Engel et al. 2017): 305,979 four-second musical notes of 1,006 instruments, from its raw download.

Raw layout (nsynth-{train,valid,test}.jsonwav.tar.gz unpacked side by side; nothing is downloaded here)::

    RAW/nsynth-train/examples.json   {NOTE: {"instrument_family_str": "bass", "instrument_source_str":
    RAW/nsynth-train/audio/NOTE.wav          "acoustic", "pitch": 60, "velocity": 100, ...}, ...}
    RAW/nsynth-valid/...   RAW/nsynth-test/...     (16 kHz mono PCM-16, 4 s)

The dataset's own splits are kept (valid -> val); any subset of the three folders may be present. Notes are
already 16 kHz and 4 s: they are copied as read (through audiodiff.audio), labelled by --label: instrument family
(11 classes: bass, brass, flute, guitar, keyboard, mallet, organ, reed, string, synth_lead, vocal), source
(acoustic / electronic / synthetic), both (family_source) or none; --pitches keeps a MIDI pitch range.

    python recipes/nsynth.py prepare --raw ~/datasets/nsynth --out data/nsynth --max-files 20000
    python recipes/nsynth.py train --data data/nsynth/train --out runs/nsynth
    python recipes/nsynth.py evaluate runs/nsynth --data data/nsynth/test --task extend --cutoff 4000

Layout: OUT/{train,val,test}/LABEL/NOTE.wav (or OUT/SPLIT/NOTE.wav with --label none) + OUT/manifest.csv.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import ClipWriter, LayoutError, cli, load_mono, subset  # noqa: E402

from audiodiff.config import Config  # noqa: E402

FOLDERS = {"nsynth-train": "train", "nsynth-valid": "val", "nsynth-test": "test"}
LABELS = ("family", "source", "family_source", "none")
EXPECTED = "nsynth-{train,valid,test}/examples.json and nsynth-*/audio/NOTE.wav"


def label_of(meta: dict, label: str) -> str | None:
    """The class name of one note's metadata under the --label scheme (None when unlabelled)."""
    if label == "none":
        return None
    try:
        family, source = meta["instrument_family_str"], meta["instrument_source_str"]
    except KeyError as e:
        raise LayoutError(f"examples.json entry lacks {e.args[0]!r}") from None
    return {"family": family, "source": source, "family_source": f"{family}_{source}"}[label]


def read_examples(folder: Path) -> dict[str, dict]:
    """examples.json of one split folder: {note: metadata}."""
    try:
        examples = json.loads((folder / "examples.json").read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise LayoutError(f"expected {folder / 'examples.json'} to be NSynth's JSON ({e})") from None
    if not isinstance(examples, dict):
        raise LayoutError(f"{folder / 'examples.json'}: expected an object {{note: metadata}}")
    return examples


def prepare(raw_dir: str | Path, out_dir: str | Path, *, label: str = "family",
            pitches: tuple[int, int] = (0, 127), max_files: int | None = None, overwrite: bool = False) -> dict:
    """Copy notes into out_dir/{split}/{label}/ (at most max_files per split); returns the manifest summary."""
    if label not in LABELS:
        raise ValueError(f"label={label!r} must be one of {LABELS}")
    raw_dir = Path(raw_dir)
    folders = [raw_dir / name for name in FOLDERS if (raw_dir / name / "examples.json").is_file()]
    if not folders:
        raise LayoutError(f"expected {raw_dir}/{EXPECTED}: no nsynth-*/examples.json found")
    writer = ClipWriter(Path(out_dir), overwrite=overwrite)
    for folder in folders:
        examples = read_examples(folder)
        notes = sorted(k for k, m in examples.items() if pitches[0] <= int(m.get("pitch", -1)) <= pitches[1])
        for note in subset(notes, max_files):
            path = folder / "audio" / f"{note}.wav"
            if not path.is_file():
                raise LayoutError(f"expected {path} (listed in {folder / 'examples.json'})")
            writer.write(load_mono(path), split=FOLDERS[folder.name], label=label_of(examples[note], label),
                         name=note, source=f"{folder.name}/audio/{note}.wav")
    return writer.close()


def config() -> Config:
    """The chorales music model (16 kHz waveform, 1 s crops), conditioned on the instrument family with CFG."""
    from chorales import config as music_config
    c = music_config()
    c.train.labels, c.train.label_dropout = True, 0.1
    return c


def _arguments(p):
    p.add_argument("--raw", required=True, help="folder holding nsynth-train/, nsynth-valid/, nsynth-test/")
    p.add_argument("--label", choices=LABELS, default="family", help="class labels")
    p.add_argument("--pitches", default="0-127", help="MIDI pitch range to keep, LOW-HIGH")
    p.add_argument("--max-files", type=int, default=None, help="at most this many notes per split")


def main(argv=None) -> int:
    def pitch_range(text: str) -> tuple[int, int]:
        low, _, high = text.partition("-")
        if not (low.isdigit() and high.isdigit() and int(low) <= int(high)):
            raise ValueError(f"--pitches {text!r} must look like LOW-HIGH, e.g. 21-108")
        return int(low), int(high)
    return cli(__doc__, recipe=__file__, arguments=_arguments, default_data="data/nsynth", argv=argv,
               prepare=lambda a: prepare(a.raw, a.out, label=a.label, pitches=pitch_range(a.pitches),
                                         max_files=a.max_files, overwrite=a.overwrite))


if __name__ == "__main__":
    sys.exit(main())
