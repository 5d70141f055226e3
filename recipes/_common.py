"""Shared recipe helpers: the on-disk layout, hash splits, silence trimming, clip writing, tool checks, CLI.

Layout written by every recipe (documented in recipes/README.md)::

    OUT/manifest.csv                 split,label,path,seconds,source  (one row per clip)
    OUT/{train,val,test}/LABEL/*.wav labelled sets (first-level folder under the split = class label)
    OUT/{train,val,test}/*.wav       unlabelled sets

All clips are 16 kHz mono PCM-16 WAV.  Train with ``--data OUT/train``.
"""
from __future__ import annotations

import argparse
import csv
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

import torch

from audiodiff.audio import is_silent, load, save
from audiodiff.data import hash_fraction

SAMPLE_RATE = 16000
# Waveform models' pre-emphasis and scale (x = 2 (wav[n] - 0.9 wav[n-1])): de-emphasis shapes a model's white
# error like speech's and music's falling spectrum; fine-tuning with it moved the shipped models' gap LSD
# 4-11% (README). Scale 2 keeps the emphasised signal's rms near the raw waveform's.
PREEMPHASIS, SCALE = 0.9, 2.0
# The waveform models' net: the `small` preset's stride-4 layout of before 2026-11-24, which the shipped speech
# and music weights have. Today's stride-8 `small` runs nearer the matmul rate, but a speech model of it trained
# as long (21,500 steps) inpainted 200 / 300 ms gaps worse (recipes/README.md), so the recipes keep this one.
WAVEFORM_NET = dict(channels=[32, 64, 128, 192], factors=[4, 4, 4, 2], blocks=[0, 2, 2, 1],
                    attention=[False, False, False, True], head_channels=64, emb_channels=128)
SPLITS = ("train", "val", "test")
APT_HINT = "install it with `sudo apt-get install {package}`"


class LayoutError(ValueError):
    """The raw dataset folder does not have the layout a recipe expects."""


class MissingToolError(RuntimeError):
    """An external program or data file a recipe needs is not installed."""


def split_of(key: str, *, val: float = 0.05, test: float = 0.05) -> str:
    """Fixed split of a clip (or speaker / piece) key by SHA-1: stable across runs, machines and counts."""
    if not (0 <= val and 0 <= test and val + test < 1):
        raise ValueError(f"val={val}, test={test}: fractions must be >= 0 and sum below 1")
    u = hash_fraction(key)
    return "test" if u < test else "val" if u < test + val else "train"


def subset(items: Sequence, limit: int | None, *, key: Callable = str) -> list:
    """At most `limit` of items, a fixed hash-chosen subset (kept in input order); all when limit is None."""
    if limit is None or limit >= len(items):
        return list(items)
    if limit < 1:
        raise ValueError(f"limit={limit} must be >= 1")
    chosen = set(sorted(range(len(items)), key=lambda i: hash_fraction(str(key(items[i]))))[:limit])
    return [item for i, item in enumerate(items) if i in chosen]


def safe_name(text: str) -> str:
    """A file-system friendly label or file stem: runs of characters outside [A-Za-z0-9_.-] become "_"."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", text.strip()).strip("_.")
    if not name:
        raise ValueError(f"name {text!r} has no usable characters")
    return name


def require_tool(program: str, *, package: str) -> str:
    """Path of an executable on PATH, or MissingToolError saying which Debian package provides it."""
    path = shutil.which(program)
    if path is None:
        raise MissingToolError(f"`{program}` not found on PATH; " + APT_HINT.format(package=package))
    return path


def require_file(path: str | Path, *, what: str, package: str | None = None) -> Path:
    """An existing file, or MissingToolError (with an install hint) / LayoutError naming what was expected."""
    path = Path(path)
    if not path.is_file():
        if package is not None:
            raise MissingToolError(f"{what} not found at {path}; " + APT_HINT.format(package=package))
        raise LayoutError(f"expected {what} at {path}")
    return path


def require_dir(path: str | Path, *, what: str) -> Path:
    """An existing directory, or LayoutError naming what was expected there."""
    path = Path(path)
    if not path.is_dir():
        raise LayoutError(f"expected {what} at {path} (directory not found)")
    return path


def fetch_deb(package: str, raw_dir: str | Path) -> Path:
    """`apt-get download PACKAGE` into raw_dir (unless its .deb is there) and unpack it there with `dpkg -x`."""
    raw_dir = Path(raw_dir)
    raw_dir.mkdir(parents=True, exist_ok=True)
    apt = require_tool("apt-get", package="apt")
    dpkg = require_tool("dpkg", package="dpkg")
    debs = sorted(raw_dir.glob(f"{package}_*.deb"))
    if not debs:
        result = subprocess.run([apt, "download", package], cwd=raw_dir, capture_output=True, text=True)
        debs = sorted(raw_dir.glob(f"{package}_*.deb"))
        if not debs:
            raise ValueError(f"`apt-get download {package}` in {raw_dir} failed: "
                             f"{(result.stderr.strip().splitlines() or ['no .deb written'])[-1]} "
                             "(run `apt-get update` first?)")
    subprocess.run([dpkg, "-x", str(debs[-1]), str(raw_dir)], check=True, capture_output=True)
    return raw_dir


def find_root(raw_dir: str | Path, name: str, marker: str, *, expected: str) -> Path:
    """The dataset folder `name` holding `marker`: raw_dir itself or raw_dir/name; else LayoutError saying
    `expected` (the layout, relative to the dataset folder) was looked for where."""
    raw_dir = Path(raw_dir)
    for root in (raw_dir, raw_dir / name):
        if (root / marker).exists():
            return root
    raise LayoutError(f"expected {name}/{expected}: found no {marker} in {raw_dir} or {raw_dir / name}")


def frame_db(wav: torch.Tensor, *, frame: int = 160) -> torch.Tensor:
    """RMS level in dBFS of consecutive frames of a [1, n] signal -> [n // frame] (10 ms frames at 16 kHz)."""
    n = wav.shape[-1] // frame * frame
    x = wav[..., :n].reshape(-1, frame).double() if n else wav.new_zeros(0, frame).double()
    return (10 * torch.log10(x.pow(2).mean(dim=-1) + 1e-12)).float()


def trim_silence(wav: torch.Tensor, *, top_db: float = 40.0, floor_db: float = -60.0,
                 margin: float = 0.02, sample_rate: int = SAMPLE_RATE) -> torch.Tensor:
    """Cut leading/trailing frames quieter than both peak-top_db and floor_db; [1, n] -> [1, m] (m = 0 if silent)."""
    frame = sample_rate // 100
    db = frame_db(wav, frame=frame)
    if db.numel() == 0:
        return wav[..., :0]
    active = torch.nonzero(db > max(float(db.max()) - top_db, floor_db)).flatten()
    if active.numel() == 0:
        return wav[..., :0]
    pad = int(margin * sample_rate)
    start = max(int(active[0]) * frame - pad, 0)
    stop = min((int(active[-1]) + 1) * frame + pad, wav.shape[-1])
    return wav[..., start:stop]


def fit_length(wav: torch.Tensor, n: int) -> torch.Tensor:
    """Centre [.., m] in exactly n samples: zero-pad both sides, or crop the middle."""
    m = wav.shape[-1]
    if m >= n:
        start = (m - n) // 2
        return wav[..., start:start + n]
    left = (n - m) // 2
    return torch.nn.functional.pad(wav, (left, n - m - left))


def is_active(chunk: torch.Tensor, *, floor_db: float = -50.0, min_active: float = 0.5,
              sample_rate: int = SAMPLE_RATE) -> bool:
    """True when at least min_active of the 10 ms frames of a [1, n] chunk are above floor_db dBFS."""
    return float((frame_db(chunk, frame=sample_rate // 100) > floor_db).float().mean()) >= min_active


def active_chunks(wav: torch.Tensor, n: int, **options) -> Iterator[tuple[int, torch.Tensor]]:
    """(k, chunk k) for the consecutive n-sample chunks of [1, m] that pass `is_active(chunk, **options)`."""
    for k, start in enumerate(range(0, wav.shape[-1] - n + 1, n)):
        chunk = wav[..., start:start + n]
        if is_active(chunk, **options):
            yield k, chunk


def load_mono(path: str | Path, *, sample_rate: int | None = SAMPLE_RATE) -> torch.Tensor:
    """Any readable audio file -> [1, n] float32 at sample_rate (None: the file's rate), channels averaged."""
    return load(path, sample_rate=sample_rate, channels=1)[0]


def load_take(path: Path) -> torch.Tensor | None:
    """A recorded take as [1, n] at 16 kHz, silence-trimmed; None (with a warning) when nothing is left above
    -50 dBFS."""
    wav = trim_silence(load_mono(path))
    if wav.shape[-1] == 0 or bool(is_silent(wav, threshold_db=-50.0)):
        print(f"warning: {path} is silent; skipped", file=sys.stderr)
        return None
    return wav


def take_stem(path: Path) -> str:
    """A file-system friendly stem for a take ("x" for names in other scripts: callers add a hash)."""
    return safe_name(path.stem) if any(c.isascii() and c.isalnum() for c in path.stem) else "x"


@dataclass
class ClipWriter:
    """Writes 16 kHz mono clips into OUT/SPLIT[/LABEL]/NAME.wav and a manifest.csv summarising them."""
    out_dir: Path
    overwrite: bool = False
    sample_rate: int = SAMPLE_RATE
    rows: list[dict] = field(default_factory=list)
    _written: set[str] = field(default_factory=set, repr=False)

    def __post_init__(self) -> None:
        self.out_dir = Path(self.out_dir)
        manifest = self.out_dir / "manifest.csv"
        if self.out_dir.exists() and any(self.out_dir.iterdir()):
            if not manifest.exists():
                raise ValueError(f"out_dir {self.out_dir} is not empty and holds no manifest.csv: "
                                 "refusing to write into a folder a recipe did not make")
            if not self.overwrite:
                raise ValueError(f"out_dir {self.out_dir} already holds a prepared set; pass --overwrite to redo it")
            for split in SPLITS:  # only what a recipe wrote
                shutil.rmtree(self.out_dir / split, ignore_errors=True)
            manifest.unlink()
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._write_manifest()  # header only: marks the folder as a recipe's, even if this run is interrupted

    def write(self, wav: torch.Tensor, *, split: str, name: str, label: str | None = None,
              source: str = "") -> Path:
        """Save one [1, n] clip; returns its path."""
        if split not in SPLITS:
            raise ValueError(f"split {split!r} is not one of {SPLITS}")
        folder = self.out_dir / split / (safe_name(label) if label is not None else "")
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{safe_name(name)}.wav"
        rel = path.relative_to(self.out_dir).as_posix()
        if rel in self._written:  # two sources mapped to one name: never overwrite silently
            raise ValueError(f"name {name!r}: {rel} was already written by this run")
        self._written.add(rel)
        save(path, wav, self.sample_rate)
        self.rows.append({"split": split, "label": "" if label is None else safe_name(label),
                          "path": rel,
                          "seconds": round(wav.shape[-1] / self.sample_rate, 4), "source": source})
        return path

    def close(self) -> dict:
        """Write manifest.csv (atomically) and return a summary {clips, seconds, splits, labels}."""
        self._write_manifest()
        return summarize(self.rows)

    def _write_manifest(self) -> None:
        manifest = self.out_dir / "manifest.csv"
        tmp = manifest.with_suffix(".csv.tmp")
        with open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=["split", "label", "path", "seconds", "source"])
            w.writeheader()
            w.writerows(sorted(self.rows, key=lambda r: r["path"]))
        os.replace(tmp, manifest)


def summarize(rows: Sequence[dict]) -> dict:
    """Counts per split and label plus total duration, from manifest rows."""
    return {"clips": len(rows), "seconds": round(sum(float(r["seconds"]) for r in rows), 2),
            "splits": dict(Counter(r["split"] for r in rows)),
            "labels": dict(sorted(Counter(r["label"] for r in rows if r["label"]).items()))}


def read_manifest(out_dir: str | Path) -> list[dict]:
    """Rows of OUT/manifest.csv."""
    path = require_file(Path(out_dir) / "manifest.csv", what="a prepared set's manifest.csv")
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def cli(doc: str, *, recipe: str, prepare: Callable[[argparse.Namespace], dict],
        arguments: Callable[[argparse.ArgumentParser], None], default_data: str,
        argv: Sequence[str] | None = None) -> int:
    """`python recipes/NAME.py prepare|train|evaluate ...`: build the clip folder, then hand the recipe file and
    that folder to `audiodiff train` / `audiodiff evaluate` (the library's CLI, which reads `config()`)."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare", help="build the clip folder", formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--out", default=default_data, help="output folder")
    p.add_argument("--overwrite", action="store_true", help="replace a set prepared earlier in --out")
    arguments(p)
    t = sub.add_parser("train", help="audiodiff train RECIPE --data DATA/train --out RUN",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    t.add_argument("--data", default=f"{default_data}/train", help="training clips")
    t.add_argument("--out", required=True, help="run directory")
    t.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="config override, e.g. train.lr=2e-4 (repeatable)")
    t.add_argument("--steps", type=int, default=None, help="total training steps")
    t.add_argument("--resume", action="store_true", help="continue the run in --out")
    e = sub.add_parser("evaluate", help="audiodiff evaluate MODEL --task T --data DATA/test [options]",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    e.add_argument("model", help="model directory")
    e.add_argument("--data", default=f"{default_data}/test", help="held-out clips")
    e.add_argument("--task", choices=["inpaint", "extend"], required=True, help="inverse problem to score")
    # any further options (--gap-ms 50,100 / --cutoff 4000 / --limit 50 / --steps ...) go to `audiodiff evaluate`
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "evaluate":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command == "prepare":
        try:
            summary = prepare(args)
        except (ValueError, MissingToolError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        print(f"{summary['clips']} clips, {summary['seconds'] / 60:.1f} min -> {args.out}: "
              f"splits {summary['splits']}" + (f", {len(summary['labels'])} labels" if summary["labels"] else ""))
        return 0
    if args.command == "train":
        command = ["train", recipe, "--data", args.data, "--out", args.out]
        command += [a for o in args.overrides for a in ("--set", o)]
        command += ["--steps", str(args.steps)] if args.steps is not None else []
        command += ["--resume"] if args.resume else []
    else:
        command = ["evaluate", args.model, "--task", args.task, "--data", args.data, *extra]
    from audiodiff.cli import main as audiodiff
    print("audiodiff " + " ".join(command), file=sys.stderr)
    return audiodiff(command, prog_name="audiodiff")
