#!/usr/bin/env python
"""Inpainting recordings at their own rate: what `audiodiff inpaint` writes, scored at the recording's rate.

For each file (any rate, mono or stereo: e.g. the Wesnoth soundtrack's 44.1 kHz stereo OGGs), one excerpt
of --seconds from --offset, one centred gap per length, LSD (metrics.lsd, averaged over channels) on the gap
padded by one LSD frame each side, at the file's rate:

  keep_rate   pipe.inpaint(keep_rate=True): the model's fill per channel, resampled, plus LPC's band above
              the model's Nyquist frequency (the CLI's output)
  model_only  the model's fill resampled to the file's rate with nothing above the model's band
  lpc         LPC's fill at the file's rate

and, for stereo files, how far each fill's left-right correlation in the gap is from the recording's
(|corr(L, R) - corr_true(L, R)|, "image" columns): a fill drawn per channel decorrelates the channels.

    python bench/keep_rate.py --model music --data /work/data/raw/wesnoth --limit 8 --out bench/results/keep_rate_music
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see bench/speed.py

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch

from audiodiff.audio import load, resample
from audiodiff.baselines import lpc_fill
from audiodiff.evaluation import audio_files, centred_gap, gap_lsd
from audiodiff.operators import Mask
from audiodiff.pipeline import AudioDiffusion

METHODS = ("keep_rate", "model_only", "lpc")


def score_file(pipe: AudioDiffusion, path: Path, *, offset: float, seconds: float, gaps_ms: list[float],
               seed: int) -> dict[float, dict[str, float]] | None:
    """{gap ms: {method: LSD}} for one excerpt, or None when the file is shorter than offset + seconds."""
    wav, sr = load(path)
    ref = wav[:, round(offset * sr):round((offset + seconds) * sr)]
    if ref.shape[-1] < round(seconds * sr):
        return None
    n, rows = ref.shape[-1], {}
    for ms in gaps_ms:
        start, width = centred_gap(n, ms, sr)
        gaps = [(start / sr, (start + width) / sr)]
        known = Mask.from_gaps(gaps, length=n, rate=sr).known
        gapped = ref * known
        kept = pipe.inpaint(gapped, sr, gaps=gaps, keep_rate=True, seed=seed)[0]
        fill = pipe.inpaint(gapped.reshape(-1, 1, n), sr, gaps=gaps, seed=seed)[:, 0]  # per channel, model rate
        model_only = torch.where(known, ref, resample(fill, pipe.sample_rate, sr)[..., :n])
        outs = {"keep_rate": kept, "model_only": model_only, "lpc": lpc_fill(gapped, known.expand_as(ref))}
        rows[ms] = {m: gap_lsd(outs[m], ref, start, width).mean().item() for m in METHODS}
        if ref.shape[0] == 2:
            gap = slice(start, start + width)
            truth = lr_correlation(ref[:, gap])
            rows[ms].update({f"image {m}": abs(lr_correlation(outs[m][:, gap]) - truth) for m in METHODS})
    return rows


def lr_correlation(x: torch.Tensor) -> float:
    """Normalised correlation of the two channels of x [2, n]."""
    return (x[0] @ x[1] / (x[0].norm() * x[1].norm() + 1e-12)).item()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="music")
    p.add_argument("--data", required=True, help="folder of recordings at any rate")
    p.add_argument("--limit", type=int, default=8)
    p.add_argument("--offset", type=float, default=30.0, help="excerpt start in seconds")
    p.add_argument("--seconds", type=float, default=2.0)
    p.add_argument("--gap-ms", default="50,100,200")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--out", default=None, help="write OUT.json and OUT.md")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    gaps_ms = [float(g) for g in args.gap_ms.split(",")]
    pipe = AudioDiffusion.from_pretrained(args.model)
    scores: dict[float, dict[str, list[float]]] = {ms: {} for ms in gaps_ms}
    files, begin = [], time.time()
    for path in audio_files(args.data):
        rows = score_file(pipe, path, offset=args.offset, seconds=args.seconds, gaps_ms=gaps_ms, seed=args.seed)
        if rows is None:
            continue
        files.append(str(path))
        for ms, row in rows.items():
            for m, v in row.items():
                scores[ms].setdefault(m, []).append(v)
        print(path.name, " ".join(f"{ms:g}ms " + "/".join(f"{row[m]:.3f}" for m in row)
                                  for ms, row in rows.items()), flush=True)
        if len(files) == args.limit:
            break
    if not files:
        raise SystemExit(f"no file in {args.data} is longer than {args.offset + args.seconds} s")
    means = {ms: {m: statistics.mean(v) for m, v in by.items()} for ms, by in scores.items()}
    columns = list(means[gaps_ms[0]])  # LSD per method, then the image errors when there were stereo files
    lines = [f"Model `{args.model}`, {len(files)} excerpts of {args.seconds} s from `{args.data}`, LSD at the files' "
             f"own rate, {time.time() - begin:.0f} s", "", "| gap | " + " | ".join(columns) + " |",
             "|---|" + "---|" * len(columns)]
    lines += [f"| {ms:g} ms | " + " | ".join(f"{means[ms][m]:.3f}" for m in columns) + " |" for ms in gaps_ms]
    print("\n".join(lines))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(f"{args.out}.md").write_text("\n".join(lines) + "\n")
        Path(f"{args.out}.json").write_text(json.dumps(dict(
            model=args.model, data=args.data, files=files, offset=args.offset, seconds=args.seconds,
            seed=args.seed, machine=platform.machine(), torch=torch.__version__,
            lsd={f"{ms:g}": means[ms] for ms in gaps_ms}), indent=1) + "\n")


if __name__ == "__main__":
    main()
