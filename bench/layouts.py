#!/usr/bin/env python
"""Fraction of the fp32 matmul rate that candidate UNet1d layouts of about 2M parameters reach.

Where a small net's time goes depends on its layout: 3-tap convolutions on 64 channels, and the elementwise
passes around them, split badly over two threads, while 128+ channels run near the matmul rate. This times
one training step (forward, MSE, backward, fused AdamW) and one no-grad NFE per layout, mono 16384 samples,
batch 4, as bench/speed.py does, against a 2048^2 matmul timed just before in the same process.

    python bench/layouts.py --threads 2
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as bench/speed.py

import argparse
import statistics
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from audiodiff.nets import UNet1d

# overrides of the `small` preset, which is the second row (until 2026-11-24 `small` was the first row's
# layout, the one the shipped speech and music models use)
LAYOUTS = {
    "c=(32,64,128,192) f=(4,4,4,2) b=(0,2,2,1)": dict(channels=(32, 64, 128, 192), factors=(4, 4, 4, 2),
                                                     blocks=(0, 2, 2, 1)),
    "c=(32,128,160,192) f=(8,2,4,2) b=(0,1,1,1)": {},
    "c=(32,128,128,192) f=(8,2,4,2) b=(0,1,2,1)": dict(channels=(32, 128, 128, 192), factors=(8, 2, 4, 2),
                                                      blocks=(0, 1, 2, 1)),
    "c=(48,128,192,192) f=(8,4,2,2) b=(0,1,1,1)": dict(channels=(48, 128, 192, 192), factors=(8, 4, 2, 2),
                                                      blocks=(0, 1, 1, 1)),
    "c=(32,64,160,256) b=(0,1,2,1)": dict(channels=(32, 64, 160, 256), factors=(4, 4, 4, 2), blocks=(0, 1, 2, 1)),
}
LENGTH, BATCH = 16384, 4


def median_s(fn, repeats: int) -> float:
    fn(), fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=7)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    x, c_noise = torch.randn(BATCH, 1, LENGTH), torch.randn(BATCH)
    a = torch.randn(2048, 2048)
    print(f"{args.threads} threads, OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}, batch {BATCH} x {LENGTH}\n")
    print("| layout | params | GFLOP/sample fwd | train ms | train / matmul rate | NFE ms | NFE / matmul rate |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, overrides in LAYOUTS.items():
        torch.manual_seed(0)
        net = UNet1d.preset("small", 1, **overrides)
        opt = torch.optim.AdamW(net.parameters(), lr=1e-4, fused=True)
        with FlopCounterMode(display=False) as counter:
            net(x, c_noise)
        fwd = counter.get_total_flops()

        def train() -> None:
            opt.zero_grad(set_to_none=True)
            (net(x, c_noise) - x).square().mean().backward()
            opt.step()

        def nfe() -> None:
            with torch.no_grad():
                net(x, c_noise)

        peak = 2 * 2048 ** 3 / median_s(lambda: a @ a, 5)
        t_train, t_nfe = median_s(train, args.repeats), median_s(nfe, args.repeats)
        params = sum(q.numel() for q in net.parameters())
        print(f"| {name} | {params:,} | {fwd / BATCH / 1e9:.2f} | {t_train * 1e3:.0f} | {3 * fwd / t_train / peak:.0%} "
              f"| {t_nfe * 1e3:.1f} | {fwd / t_nfe / peak:.0%} |", flush=True)


if __name__ == "__main__":
    main()
