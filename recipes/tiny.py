"""Tiny: a seconds-long CPU smoke recipe (tiny U-Net, 0.5 s waveform clips at 16 kHz, a few dozen steps).

It checks an install end to end on any folder of audio, e.g. the test clips:

    audiodiff train tiny --data tests/data --out runs/tiny
    audiodiff info runs/tiny

The model learns little in 40 steps; it exists so tests, CI and users can run the whole training path fast.
"""
from __future__ import annotations

from audiodiff.config import Config, FrontendConfig, NetConfig, SampleConfig, SDEConfig, TrainConfig


def config() -> Config:
    """Waveform 16 kHz, VP SDE, tiny U-Net, 0.5 s crops, batch 4, 40 steps, no warm-up to speak of."""
    return Config(
        frontend=FrontendConfig(name="waveform", sample_rate=16000),
        sde=SDEConfig(name="vp"),
        net=NetConfig(preset="tiny"),
        train=TrainConfig(lr=1e-3, batch_size=4, steps=40, warmup=5, ema_decay=0.99, seconds=0.5,
                          log_every=10, ckpt_every=20, preview_count=1),
        sample=SampleConfig(sampler="heun", steps=10),
    )
