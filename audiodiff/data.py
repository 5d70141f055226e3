"""AudioFolder: every audio file under a folder as fixed-length, front-end-encoded training crops.

Files are read once when the dataset is built (through `audio.load`, resampled to the front end's rate and
mapped to its channel count), so unreadable, silent and truncated (under MIN_SECONDS) files are found up front:
each is skipped with one warning and counted in `skipped`. Crops are drawn from a seeded generator per item, so
a crop depends only on (index, crop seed): the trainer's sampler hands out `(index, seed)` keys, which makes data
order and crops exactly reproducible on resume and independent of worker processes.
"""
from __future__ import annotations

import hashlib
import os
import warnings
from collections import Counter
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from . import audio

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".aiff", ".aif", ".mp3")
NORMALIZERS = ("peak", "rms")
MIN_SECONDS = 0.02  # shorter than any phone or note: a truncated file, which padding would turn into silence


class SkippedFileWarning(UserWarning):
    """An audio file left out of a dataset (unreadable, silent or truncated)."""


def hash_fraction(key: str) -> float:
    """A fixed number in [0, 1) from the SHA-1 of `key`: stable across runs, machines and file counts."""
    return int.from_bytes(hashlib.sha1(key.encode("utf-8")).digest()[:8], "big") / 2.0 ** 64


def mix_seed(*values: int) -> int:
    """A 63-bit seed from integers (SplitMix64 finaliser on a running hash), for per-item generators."""
    h = 0x9E3779B97F4A7C15
    for v in values:
        h = (h ^ (int(v) & 0xFFFFFFFFFFFFFFFF)) * 0xBF58476D1CE4E5B9 & 0xFFFFFFFFFFFFFFFF
        h = (h ^ (h >> 31)) * 0x94D049BB133111EB & 0xFFFFFFFFFFFFFFFF
    return h >> 1


def find_audio(root: Path) -> list[Path]:
    """Audio files under `root` (recursive, sorted, hidden files and folders left out)."""
    files = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        files += [Path(dirpath) / f for f in filenames
                  if f.lower().endswith(AUDIO_EXTENSIONS) and not f.startswith(".")]
    return sorted(files)


class AudioFolder(torch.utils.data.Dataset):
    """Random fixed-length crops of the audio under `root`, encoded by `frontend`.

    Item: `dataset[i]` or `dataset[(i, seed)]` -> (x [C, L] float32, label int64 scalar; -1 when unlabelled),
    with x = frontend.encode(crop) (or the raw crop [audio_channels, n] when `encode=False`).
    `labels=True` takes class labels from first-level sub-folder names (files directly in `root` are skipped);
    `label_names` fixes the name -> index map (e.g. a validation split uses the training set's labels).
    `split` picks a fixed hash-of-relative-path split: "train" (fraction 1 - val_fraction), "val" or "all".
    `normalize` scales each file to a -1 dBFS peak ("peak"), a -20 dBFS RMS ("rms"), or not at all (None).
    """

    def __init__(self, root: str | os.PathLike, frontend, seconds: float, *, labels: bool = False,
                 pad_short: bool = True, normalize: Literal["peak", "rms"] | None = "peak",
                 split: Literal["train", "val", "all"] = "train", val_fraction: float = 0.0, cache: bool = True,
                 seed: int = 0, encode: bool = True, label_names: list[str] | None = None):
        self.root = Path(root)
        if not self.root.is_dir():
            raise ValueError(f"data folder {os.fspath(root)!r} does not exist or is not a folder")
        if not seconds > 0:
            raise ValueError(f"seconds must be > 0, got {seconds}")
        if normalize not in (None, *NORMALIZERS):
            raise ValueError(f"normalize must be one of {NORMALIZERS} or None, got {normalize!r}")
        if split not in ("train", "val", "all"):
            raise ValueError(f"split must be 'train', 'val' or 'all', got {split!r}")
        if not 0 <= val_fraction < 1:
            raise ValueError(f"val_fraction must lie in [0, 1), got {val_fraction}")
        self.frontend, self.seconds, self.normalize = frontend, float(seconds), normalize
        self.pad_short, self.cache, self.seed, self.encode = pad_short, cache, int(seed), encode
        self.sample_rate = int(frontend.sample_rate)
        self.audio_channels = int(frontend.audio_channels)
        self.crop_samples = frontend.num_samples(self.seconds)

        candidates = find_audio(self.root)
        if not candidates:
            others = sum(len(f) for _, _, f in os.walk(self.root))
            raise ValueError(f"no audio files ({', '.join(AUDIO_EXTENSIONS)}) under {os.fspath(self.root)!r}"
                             + (f" ({others} other files)" if others else " (folder is empty)"))
        rel = [p.relative_to(self.root) for p in candidates]
        if split != "all":
            in_val = [hash_fraction(r.as_posix()) < val_fraction for r in rel]
            keep = [v == (split == "val") for v in in_val]
            candidates, rel = [p for p, k in zip(candidates, keep) if k], [r for r, k in zip(rel, keep) if k]
        self.skipped: Counter = Counter()
        found = sorted({r.parts[0] for r in rel if len(r.parts) > 1}) if labels else []
        self.label_names: list[str] = list(label_names) if labels and label_names is not None else found
        label_of = {name: i for i, name in enumerate(self.label_names)}
        self.files: list[Path] = []
        self.labels: list[int] = []
        self.lengths: list[int] = []
        self._cache: list[Tensor] = []
        for path, r in zip(candidates, rel):
            if labels and len(r.parts) == 1:
                self._skip(path, "unlabelled", "not inside a label sub-folder")
                continue
            if labels and r.parts[0] not in label_of:
                self._skip(path, "unknown label", f"label {r.parts[0]!r} is not one of {self.label_names}")
                continue
            try:
                wav = self._read(path)
            except audio.AudioError as e:
                self._skip(path, "unreadable", str(e), prefix=False)
                continue
            if bool(audio.is_silent(wav)):
                self._skip(path, "silent", "silent (RMS below -60 dBFS)")
                continue
            if wav.shape[-1] < MIN_SECONDS * self.sample_rate:
                self._skip(path, "too short", f"{1000 * wav.shape[-1] / self.sample_rate:.1f} ms long, under "
                                              f"{1000 * MIN_SECONDS:g} ms (truncated?)")
                continue
            if wav.shape[-1] < self.crop_samples and not pad_short:
                self.skipped["short"] += 1  # a design choice, not a fault: counted, no warning
                continue
            self.files.append(path)
            self.labels.append(label_of[r.parts[0]] if labels else -1)
            self.lengths.append(wav.shape[-1])
            if cache:
                self._cache.append(wav)
        if not self.files:
            counts = ", ".join(f"{n} {why}" for why, n in sorted(self.skipped.items())) or "none in this split"
            raise ValueError(f"no usable audio under {os.fspath(self.root)!r} (split {split!r}): {counts}")
        if labels and label_names is None:  # keep only the labels that have files
            used = sorted(set(self.labels))
            self.label_names = [self.label_names[i] for i in used]
            self.labels = [used.index(i) for i in self.labels]

    def _skip(self, path: Path, why: str, message: str, *, prefix: bool = True) -> None:
        self.skipped[why] += 1
        warnings.warn(f"skipping {path}: {message}" if prefix else f"skipping {message}", SkippedFileWarning,
                      stacklevel=3)

    def _read(self, path: Path) -> Tensor:
        """One whole file as [audio_channels, n] at the front end's rate, normalised."""
        wav, _ = audio.load(path, sample_rate=self.sample_rate, channels=self.audio_channels)
        return audio.normalize(wav, self.normalize)

    def __len__(self) -> int:
        return len(self.files)

    @property
    def seconds_total(self) -> float:
        """Total duration of the usable audio."""
        return sum(self.lengths) / self.sample_rate

    def crop(self, index: int, seed: int) -> Tensor:
        """A crop_samples-long crop [audio_channels, n] of file `index`, placed by a generator seeded with `seed`."""
        wav = self._cache[index] if self.cache else self._read(self.files[index])
        n, rng = wav.shape[-1], np.random.default_rng(seed)
        if n >= self.crop_samples:
            start = int(rng.integers(0, n - self.crop_samples + 1))
            return wav[:, start:start + self.crop_samples]
        left = int(rng.integers(0, self.crop_samples - n + 1))  # short clip: zero-pad at a random offset
        return torch.nn.functional.pad(wav, (left, self.crop_samples - n - left))

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[Tensor, Tensor]:
        index, seed = key if isinstance(key, tuple) else (key, mix_seed(self.seed, key))
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} files")
        wav = self.crop(index % len(self), seed)
        x = self.frontend.encode(wav[None])[0] if self.encode else wav
        return x.float(), torch.tensor(self.labels[index], dtype=torch.long)

    def __repr__(self) -> str:
        skipped = f", skipped {dict(self.skipped)}" if self.skipped else ""
        return (f"AudioFolder({os.fspath(self.root)!r}: {len(self)} files, {self.seconds_total:.1f} s, "
                f"{len(self.label_names)} labels, {self.seconds} s crops at {self.sample_rate} Hz{skipped})")


class StreamSampler(torch.utils.data.Sampler):
    """Endless batches of (index, crop seed) keys for one DDP rank, starting at batch `start`.

    The global stream walks seeded permutations of the files, one per epoch (padded to a multiple of
    `world` like DistributedSampler); rank r takes every world-th entry. Batch b of a rank is a pure
    function of (seed, rank, world, b), so resuming at batch `start` continues the very same order and crops.
    """

    def __init__(self, num_items: int, batch_size: int, *, seed: int = 0, rank: int = 0, world: int = 1,
                 start: int = 0):
        if num_items < 1 or batch_size < 1:
            raise ValueError(f"need num_items >= 1 and batch_size >= 1, got {num_items}, {batch_size}")
        if not 0 <= rank < world:
            raise ValueError(f"rank must lie in [0, world={world}), got {rank}")
        self.n, self.batch_size, self.seed, self.rank, self.world = num_items, batch_size, seed, rank, world
        self.start = int(start)
        self.per_rank = -(-num_items // world)  # ceil: each epoch gives every rank this many keys

    def _epoch(self, epoch: int) -> list[int]:
        g = torch.Generator().manual_seed(mix_seed(self.seed, epoch))
        perm = torch.randperm(self.n, generator=g).tolist()
        perm += perm[: self.per_rank * self.world - self.n]
        return perm[self.rank::self.world]

    def __iter__(self):
        pos = self.start * self.batch_size  # this rank's position in its stream
        epoch, j = divmod(pos, self.per_rank)
        order, batch = self._epoch(epoch), []
        while True:
            stream_index = epoch * self.per_rank * self.world + j * self.world + self.rank  # unique across ranks
            batch.append((order[j], mix_seed(self.seed, stream_index, 7)))
            if len(batch) == self.batch_size:
                yield batch
                batch = []
            j += 1
            if j == self.per_rank:
                epoch, j = epoch + 1, 0
                order = self._epoch(epoch)
