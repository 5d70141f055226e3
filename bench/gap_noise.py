#!/usr/bin/env python
"""How much a small error in a gap's fill costs in gap LSD, against the classical fills: why 50 ms is hard.

For each test clip (one centred gap, as `audiodiff evaluate`), the *true* signal is put back into the gap with
an added error of relative level r (rms of the error / rms of the gap's signal):
  white    white noise, the shape a diffusion model's residual has in its own signal;
  shaped   white noise in the pre-emphasised signal (x[n] = wav[n] - a wav[n-1]) at r times that signal's
           gap rms, then de-emphasised: the residual of a model trained with `frontend.preemphasis = a`.
Next to them: the LPC, linear and zero fills. A fill beats LPC only if its error is this small *and* shaped.
With --model, also the error a model's own denoiser leaves: the whole clip diffused to time t and denoised once
(Tweedie's E[x_0 | x_t]), the gap put back into the known audio. A sampler that ends at eps = t (VP default 1e-3)
cannot do better than this even if everything before its last step were exact. And the model's whole inpainting
sampler with its shipped defaults, once warm-started as shipped and once from the true audio (`init=wav`): the
second is the sampler's own floor, the error it adds to a perfect fill, which no better warm start can go under.

    python bench/gap_noise.py --data DATA/klettres/test --gap-ms 50 --model speech --out bench/results/gap_noise_speech
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

import torch

from audiodiff.audio import load, normalize
from audiodiff.baselines import BASELINES
from audiodiff.evaluation import audio_files, centred_gap, gap_lsd, silent_gap
from audiodiff.frontends import Waveform
from audiodiff.pipeline import AudioDiffusion
from audiodiff.sampling import denoise

LEVELS = (0.01, 0.03, 0.08)
DENOISE_TIMES = (1e-4, 1e-3, 1e-2)


def clip_rows(ref: torch.Tensor, ms: float, frontend: Waveform, generator: torch.Generator,
              pipe: AudioDiffusion | None = None) -> dict[str, float]:
    """Gap LSD [name -> value] for one clip ref [1, n] (float64, peak-normalised); `frontend` pre-emphasises;
    with `pipe`, also its denoiser's rows."""
    n = ref.shape[-1]
    start, width = centred_gap(n, ms, 16000)
    known = torch.ones(1, n, dtype=torch.bool)
    known[:, start:start + width] = False
    rows = {name: gap_lsd(fill(ref[None], known[None])[0], ref, start, width).item()
            for name, fill in BASELINES.items()}
    gap = slice(start, start + width)
    z = torch.randn(width, generator=generator, dtype=torch.float64)
    e = frontend.encode(ref[None])[0, 0, gap]
    shaped_unit = frontend.decode((z * e.pow(2).mean().sqrt())[None, None])[0, 0]
    for r in LEVELS:
        for name, error in (("white", r * ref[0, gap].pow(2).mean().sqrt() * z), ("shaped", r * shaped_unit)):
            noisy = ref.clone()
            noisy[0, gap] += error
            rows[f"{name} {r:g}"] = gap_lsd(noisy, ref, start, width).item()
    if pipe is not None:
        rows.update(denoised_rows(ref, start, width, known, pipe, generator))
        rows.update(sampled_rows(ref, start, width, known, pipe))
    return rows


def sampled_rows(ref: torch.Tensor, start: int, width: int, known: torch.Tensor,
                 pipe: AudioDiffusion) -> dict[str, float]:
    """Gap LSD [name -> value] of `pipe.inpaint` with its shipped defaults on ref [1, n] (`known` [1, n]), warm
    started as shipped and from the truth itself."""
    wav = ref.float()[None]
    shipped = pipe.task_options("inpaint", {}).get("init", "none")
    fills = {f"sampled, shipped init ({shipped})": pipe.inpaint(wav, 16000, mask=known[0], seed=0),
             "sampled, init = the true audio": pipe.inpaint(wav, 16000, mask=known[0], seed=0, init=wav)}
    return {name: gap_lsd(out[0].double(), ref, start, width).item() for name, out in fills.items()}


@torch.no_grad()
def denoised_rows(ref: torch.Tensor, start: int, width: int, known: torch.Tensor, pipe: AudioDiffusion,
                  generator: torch.Generator) -> dict[str, float]:
    """Gap LSD [name -> value] of the truth ref [1, n] (gap [start, start + width), `known` [1, n]) diffused to
    each of DENOISE_TIMES and denoised once."""
    wav, known = ref.float()[None], known[None]
    gain = pipe.level_gain(wav)
    x0, score = pipe.frontend.encode(gain * wav), pipe.score()
    rows = {}
    for t in DENOISE_TIMES:
        t_batch = torch.full((1,), t)
        mean, std = pipe.sde.marginal(x0, t_batch)
        x_t = mean + std * torch.randn(x0.shape, generator=generator)
        out = pipe.frontend.decode_known(denoise(score, pipe.sde, x_t, t_batch), gain * wav, known) / gain
        rows[f"denoised t={t:g}"] = gap_lsd(torch.where(known, wav, out)[0].double(), ref, start, width).item()
    return rows


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="folder of test audio (a recipe's test split)")
    p.add_argument("--gap-ms", type=float, default=50.0)
    p.add_argument("--limit", type=int, default=16, help="clips (skipping digital silence under the gap)")
    p.add_argument("--seconds", type=float, default=None, help="crop each clip to this length")
    p.add_argument("--preemphasis", type=float, default=0.9)
    p.add_argument("--model", default=None, help="also this 16 kHz model's denoiser and sampler on the truth")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="write JSON here and markdown next to it (.md)")
    args = p.parse_args(argv)
    generator = torch.Generator().manual_seed(args.seed)
    frontend = Waveform(16000, preemphasis=args.preemphasis)
    pipe = AudioDiffusion.from_pretrained(args.model) if args.model else None
    if pipe is not None and pipe.sample_rate != 16000:
        sys.exit(f"--model must be a 16 kHz model, {args.model} runs at {pipe.sample_rate} Hz")
    per_clip = []
    for path in audio_files(args.data):
        ref, _ = load(path, 16000)
        ref = ref[:1, : int(args.seconds * 16000) if args.seconds else None]
        if ref.shape[-1] < 4 * args.gap_ms * 16 or silent_gap(ref, [args.gap_ms], 16000):
            continue
        ref = normalize(ref.double(), "peak")
        per_clip.append(clip_rows(ref, args.gap_ms, frontend, generator, pipe))
        if len(per_clip) == args.limit:
            break
    if not per_clip:
        sys.exit(f"no usable clips in {args.data}")
    means = {k: sum(c[k] for c in per_clip) / len(per_clip) for k in per_clip[0]}
    lines = [f"gap LSD at {args.gap_ms:g} ms, {len(per_clip)} clips of {args.data} (lower is better)", "",
             "| fill | LSD |", "|---|---|"] + [f"| {k} | {v:.3f} |" for k, v in means.items()]
    print("\n".join(lines))
    result = {"data": args.data, "gap_ms": args.gap_ms, "clips": len(per_clip), "preemphasis": args.preemphasis,
              "levels": list(LEVELS), "model": args.model, "denoise_times": list(DENOISE_TIMES) if pipe else [],
              "mean_lsd": means, "machine": platform.machine()}
    if args.out:
        Path(args.out).with_suffix(".json").write_text(json.dumps(result, indent=1))
        Path(args.out).with_suffix(".md").write_text("\n".join(lines) + "\n")
    return result


if __name__ == "__main__":
    main()
