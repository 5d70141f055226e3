#!/usr/bin/env python
"""Early-training quality of two UNet1d layouts: the shipped models' stride-4 one against today's `small`.

Both train from scratch with the `speech` recipe (recipes/klettres.py) on the same data, seed and steps. Then
the EMA net denoises 64 held-out crops at fixed VP times, and this prints the relative MSE of each (lower is
better) with the wall time. A few thousand steps show optimisation speed and gross defects, not final quality.

    python bench/layout_quality.py --data DATA/speech/train --val DATA/klettres/val --steps 2500   # ~21 min
"""
from __future__ import annotations

import argparse
import copy
import os
import tempfile
import time

import torch

from audiodiff.config import build_frontend, load_recipe
from audiodiff.data import AudioFolder
from audiodiff.train import Trainer

RECIPE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "recipes", "klettres.py")
# the shipped speech model's layout (`small` until 2026-11-24) and today's `small`
LAYOUTS = {"stride-4 (shipped)": dict(channels=[32, 64, 128, 192], factors=[4, 4, 4, 2], blocks=[0, 2, 2, 1]),
           "stride-8 stem (small)": {}}
TIMES = (0.002, 0.01, 0.05, 0.2)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True)
    p.add_argument("--val", required=True)
    p.add_argument("--steps", type=int, default=2500)
    args = p.parse_args(argv)
    base = load_recipe(RECIPE)
    for name, options in LAYOUTS.items():
        config = copy.deepcopy(base)
        config.net.preset, config.net.options = "small", dict(options)  # the recipe pins its own net
        config.train.ckpt_every, config.train.log_every = 10 ** 9, 500
        t = config.train
        frontend = build_frontend(config.frontend)
        folder = lambda root: AudioFolder(root, frontend, t.seconds, labels=False, pad_short=t.pad_short,
                                          normalize=t.normalize, seed=t.seed)
        val = folder(args.val)
        with tempfile.TemporaryDirectory() as run:
            trainer = Trainer(config, folder(args.data), run, progress=False)
            start = time.time()
            trainer.train(args.steps)
            wall = time.time() - start
        x = torch.stack([val[(j % len(val), 1000 + j)][0] for j in range(64)])
        errors = []
        for time_ in TIMES:
            tt = torch.full((x.shape[0],), time_)
            mean, std = trainer.ema.sde.marginal(x, tt)
            noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(0))
            with torch.no_grad():
                d = trainer.ema.denoise(mean + std.reshape(-1, 1, 1) * noise, tt)
            errors.append(f"t={time_}: {((d - x) ** 2).mean().item() / (x ** 2).mean().item():.4f}")
        params = sum(q.numel() for q in trainer.model.parameters())
        print(f"{name}: {params:,} parameters, {args.steps} steps in {wall:.0f} s; EMA relative denoising MSE "
              + ", ".join(errors), flush=True)


if __name__ == "__main__":
    main()
