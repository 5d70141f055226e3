"""Helpers for the training tests: small folders of real audio cut from tests/data, and a tiny-net config."""
from __future__ import annotations

from pathlib import Path

from audiodiff import audio
from audiodiff.config import Config, apply_overrides

DATA = Path(__file__).parent / "data"
# a 4-level U-Net of ~70k parameters: a training step on 4 x 0.25 s takes tens of milliseconds on one core
TINY_NET = ("net.options.channels=[8,16,32,32]", "net.options.emb_channels=32")


def make_folder(root: Path, *, seconds: float = 1.0, labels: bool = True) -> Path:
    """root/{speech,music}/*.wav: `seconds`-long cuts of the test clips (speech at 0.5 s and 1.2 s; piano, guitar)."""
    cuts = [("speech", "speech", 0.5), ("speech", "speech", 1.2), ("music", "piano", 0.5), ("music", "guitar", 0.3)]
    for i, (label, name, start) in enumerate(cuts):
        wav, sr = audio.load(DATA / f"{name}.wav")
        folder = root / label if labels else root
        folder.mkdir(parents=True, exist_ok=True)
        a = round(start * sr)
        audio.save(folder / f"{name}{i}.wav", wav[:, a:a + round(seconds * sr)], sr)
    return root


def tiny_config(*overrides: str) -> Config:
    """The tiny recipe's shape with the test net, 0.25 s crops, batch 4, frequent logs."""
    base = [*TINY_NET, "train.seconds=0.25", "train.batch_size=4", "train.lr=2e-3", "train.warmup=2",
            "train.log_every=2", "train.ckpt_every=1000", "train.ema_decay=0.9", "sample.steps=2"]
    return apply_overrides(Config(), base + list(overrides))
