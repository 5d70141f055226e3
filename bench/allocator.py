#!/usr/bin/env python
"""Training speed with audiodiff.allocator.keep_freed_memory (what `audiodiff train` does on CPU) and without.

Runs `audiodiff train RECIPE --data DATA` for --steps steps in fresh processes, alternating the two settings
(glibc's defaults through AUDIODIFF_GLIBC_MALLOC=1) --rounds times, and reads samples/s from each run's
log.csv, leaving out the first logged window (warm-up). Prints the median per setting and the ratio.

    python bench/allocator.py --recipe recipes/klettres.py --data DATA/klettres/train --out bench/results/allocator
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SETTINGS = {"keep_freed_memory": {}, "glibc defaults": {"AUDIODIFF_GLIBC_MALLOC": "1"}}


def samples_per_s(recipe: str, data: str, steps: int, env: dict[str, str], run_dir: Path) -> list[float]:
    """samples/s of every logged window after the first, for one fresh training run."""
    log_every = max(steps // 4, 1)
    cmd = [sys.executable, "-c", "from audiodiff.cli import main; main()", "train", recipe, "--data", data, "--out", str(run_dir),
           "--steps", str(steps), "--set", f"train.log_every={log_every}", "--set", f"train.ckpt_every={10 * steps}",
           "--no-progress"]
    subprocess.run(cmd, env={**os.environ, **env}, check=True, capture_output=True, text=True)
    with open(run_dir / "log.csv") as f:
        rows = list(csv.DictReader(f))
    return [float(r["samples_per_s"]) for r in rows[1:]]


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--recipe", default="recipes/klettres.py")
    p.add_argument("--data", required=True, help="the recipe's training folder")
    p.add_argument("--steps", type=int, default=80)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--out", default=None, help="write OUT.json and OUT.md")
    args = p.parse_args(argv)
    rates: dict[str, list[float]] = {name: [] for name in SETTINGS}
    began = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            order = list(SETTINGS) if r % 2 == 0 else list(SETTINGS)[::-1]
            for name in order:
                got = samples_per_s(args.recipe, args.data, args.steps, SETTINGS[name], Path(tmp) / f"{r}_{name[0]}")
                rates[name] += got
                print(f"round {r + 1} {name}: {', '.join(f'{v:.1f}' for v in got)} samples/s", flush=True)
    med = {name: statistics.median(v) for name, v in rates.items()}
    ratio = med["keep_freed_memory"] / med["glibc defaults"]
    result = dict(recipe=args.recipe, data=args.data, steps=args.steps, rounds=args.rounds, cpus=os.cpu_count(),
                  samples_per_s=rates, median=med, speedup=ratio, wall_s=round(time.time() - began, 1))
    text = (f"`audiodiff train {args.recipe}` on {args.data}, {args.steps} steps x {args.rounds} rounds per setting "
            f"(alternated), samples/s after the first log window:\n\n| malloc | median samples/s | windows |\n"
            f"|---|---:|---|\n" + "".join(f"| {n} | {med[n]:.1f} | {', '.join(f'{v:.1f}' for v in rates[n])} |\n"
                                          for n in SETTINGS)
            + f"\nkeep_freed_memory / glibc defaults: **{ratio:.2f}x** ({result['wall_s']:.0f} s)\n")
    print("\n" + text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out + ".json").write_text(json.dumps(result, indent=1))
        Path(args.out + ".md").write_text(text)
    return result


if __name__ == "__main__":
    main()
