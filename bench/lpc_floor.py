#!/usr/bin/env python
"""How much of an inpainting LSD is a noise floor? Order-1024 LPC with faint noise added, plain and floored LSD.

LPC's extrapolation fades out inside a long gap (the predictor's own output decays), so the plain LSD, whose
power floor (1e-8) lies ~100 dB under full scale, charges every bin the fill leaves near silence. Any faint
noise there lowers the score. This script adds white noise of std SIGMA to the order-1024 LPC fill in the
model's signal domain (the model's front end: level gain, pre-emphasis and scale, as a sampler's residual
noise would be; no network is run), decodes it like a model's fill, and reports per gap length:

  lsd      the plain gap LSD of `audiodiff evaluate`
  lsd60    the same with both spectrograms floored 60 dB under the reference's peak (evaluation.GAP_FLOOR_DB)
  level    the fill's power in the middle third of the gap against the truth's, in dB

    python bench/lpc_floor.py --model speech --data DATA/klettres/test --limit 16 --out bench/results/lpc_floor_klettres
Writes OUT.md and OUT.json.
"""
from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch

from audiodiff.baselines import lpc_long_fill
from audiodiff.evaluation import GAP_FLOOR_DB, centred_gap, gap_lsd, inpaint_clips
from audiodiff.operators import Mask
from audiodiff.pipeline import AudioDiffusion

SIGMAS = (0.0, 0.001, 0.003, 0.01, 0.03)


def noisy_fills(pipe, ref: torch.Tensor, known: torch.Tensor, sigmas, generator) -> dict[float, torch.Tensor]:
    """{sigma: ref [1, n] with its gap filled by order-1024 LPC plus white noise of std sigma in the model's
    signal domain, decoded by the front end as a model's fill is}."""
    lpc = lpc_long_fill(ref, known)
    gain = pipe.level_gain(torch.where(known, ref, torch.zeros_like(ref))[None])
    x = pipe.frontend.encode(gain * lpc[None])
    known_x = pipe.frontend.observed(known[None])
    noise = torch.randn(x.shape, generator=generator)
    out = {}
    for sigma in sigmas:
        xn = torch.where(known_x, x, x + sigma * noise)
        out[sigma] = torch.where(known, ref, (pipe.frontend.decode_known(xn, gain * ref[None], known[None]) / gain)[0])
    return out


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="speech", help="the model whose front end defines the signal domain")
    p.add_argument("--data", required=True)
    p.add_argument("--limit", type=int, default=16)
    p.add_argument("--seconds", type=float, default=None, help="crop each file to its first SECONDS")
    p.add_argument("--gap-ms", default="50,100,200,300")
    p.add_argument("--sigmas", default=",".join(map(str, SIGMAS)))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="write OUT.md and OUT.json")
    args = p.parse_args(argv)
    gaps = [float(g) for g in args.gap_ms.split(",")]
    sigmas = [float(s) for s in args.sigmas.split(",")]
    pipe = AudioDiffusion.from_pretrained(args.model)
    sr = pipe.sample_rate
    generator = torch.Generator().manual_seed(args.seed)
    scores: dict[tuple[float, float], dict[str, list[float]]] = {}
    used, began = 0, time.time()
    for _, ref in inpaint_clips(args.data, sr, gaps, seconds=args.seconds, limit=args.limit):
        used += 1
        for ms in gaps:
            start, width = centred_gap(ref.shape[-1], ms, sr)
            known = Mask.from_gaps([(start / sr, (start + width) / sr)], length=ref.shape[-1], rate=sr).known
            mid = slice(start + width // 3, start + 2 * width // 3)
            for sigma, out in noisy_fills(pipe, ref, known.expand_as(ref), sigmas, generator).items():
                row = scores.setdefault((ms, sigma), {"lsd": [], "lsd60": [], "level": []})
                row["lsd"].append(gap_lsd(out, ref, start, width).mean().item())
                row["lsd60"].append(gap_lsd(out, ref, start, width, floor_db=GAP_FLOOR_DB).mean().item())
                row["level"].append(10 * math.log10(out[..., mid].pow(2).mean().item() /
                                                    ref[..., mid].pow(2).mean().clamp_min(1e-20).item()))
    if not used:
        raise SystemExit(f"error: no usable file in {args.data}")
    means = {k: {m: sum(v) / len(v) for m, v in row.items()} for k, row in scores.items()}
    title = (f"Order-1024 LPC plus white noise of std sigma in the `{args.model}` model's signal domain, {used} files "
             f"of `{args.data}`{f', first {args.seconds:g} s' if args.seconds else ''} ({time.time() - began:.0f} s). "
             f"Each cell: plain LSD / LSD floored {GAP_FLOOR_DB:g} dB under the reference's peak / mid-gap level "
             "against the truth (dB).")
    lines = [title, "", "| gap | " + " | ".join(f"sigma {s:g}" for s in sigmas) + " |",
             "|---|" + "---|" * len(sigmas)]
    for ms in gaps:
        cells = [f"{means[ms, s]['lsd']:.3f} / {means[ms, s]['lsd60']:.3f} / {means[ms, s]['level']:.1f}"
                 for s in sigmas]
        lines.append(f"| {ms:g} ms | " + " | ".join(cells) + " |")
    text = "\n".join(lines)
    print(text)
    result = {"model": args.model, "data": args.data, "files": used, "floor_db": GAP_FLOOR_DB,
              "rows": [{"gap_ms": ms, "sigma": s, **means[ms, s]} for ms in gaps for s in sigmas]}
    if args.out:
        Path(args.out).with_suffix(".md").write_text(text + "\n")
        Path(args.out).with_suffix(".json").write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
