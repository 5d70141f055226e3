#!/usr/bin/env python
"""Restoring recordings at their own rate: what `audiodiff inpaint` and `audiodiff extend` write, scored at the
recording's rate.

For each file (any rate, mono or stereo: e.g. the Wesnoth soundtrack's 44.1 kHz stereo OGGs), one excerpt
of --seconds from --offset.

--task inpaint: one centred gap per length, LSD (metrics.lsd, averaged over channels) on the gap padded by
one LSD frame each side, at the file's rate:

  keep_rate   pipe.inpaint(keep_rate=True): the model's fill per channel, resampled, plus LPC's band above
              the model's Nyquist frequency (the CLI's output)
  model_only  the model's fill resampled to the file's rate with nothing above the model's band
  lpc         LPC's fill at the file's rate

and, for stereo files, how far each fill's left-right correlation in the gap is from the recording's
(|corr(L, R) - corr_true(L, R)|, "image" columns): a fill drawn per channel decorrelates the channels.

--task extend: the excerpt band-limited to --cutoff (sinc resampling, as `audiodiff evaluate`), LSD on the
band the model makes, from the cutoff to its Nyquist frequency, at the file's rate (and the image error of
that band):

  keep_rate   pipe.extend(keep_rate=True): mid and side extended, the band spliced into the input (the CLI's
              output)
  model_rate  the model's extension of the mono mix-down, resampled to the file's rate, in every channel
              (what the CLI wrote before it kept the rate)
  lowpass     the band-limited input itself

    python bench/keep_rate.py --model music --data /work/data/raw/wesnoth --limit 8 --out bench/results/keep_rate_music
    python bench/keep_rate.py --task extend --model music --data /work/data/raw/wesnoth --limit 8 \
        --out bench/results/keep_rate_music_extend
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

from audiodiff.audio import band_limited, load, resample
from audiodiff.baselines import lpc_fill
from audiodiff.evaluation import audio_files, centred_gap, gap_lsd
from audiodiff.metrics import log_power_spectrogram
from audiodiff.operators import Mask
from audiodiff.pipeline import AudioDiffusion

METHODS = ("keep_rate", "model_only", "lpc")
EXTEND_METHODS = ("keep_rate", "model_rate", "lowpass")


def excerpt(path: Path, offset: float, seconds: float) -> tuple[torch.Tensor, int] | None:
    """(wav [ch, n], sr) of seconds from offset, or None when the file is shorter than offset + seconds."""
    wav, sr = load(path)
    ref = wav[:, round(offset * sr):round((offset + seconds) * sr)]
    return (ref, sr) if ref.shape[-1] == round(seconds * sr) else None


def score_inpaint(pipe: AudioDiffusion, ref: torch.Tensor, sr: int, *, gaps_ms: list[float],
                  seed: int) -> dict[str, dict[str, float]]:
    """{"gap MS ms": {method: LSD}} for one excerpt ref [ch, n] at sr."""
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
        row = rows[f"gap {ms:g} ms"] = {m: gap_lsd(outs[m], ref, start, width).mean().item() for m in METHODS}
        if ref.shape[0] == 2:
            gap = slice(start, start + width)
            truth = lr_correlation(ref[:, gap])
            row.update({f"image {m}": abs(lr_correlation(outs[m][:, gap]) - truth) for m in METHODS})
    return rows


def score_extend(pipe: AudioDiffusion, ref: torch.Tensor, sr: int, *, cutoff_hz: float,
                 seed: int) -> dict[str, dict[str, float]]:
    """{"cutoff C Hz": {method: LSD on [cutoff, model Nyquist)}} for one excerpt ref [ch, n] at sr >= the
    model's rate."""
    n, top = ref.shape[-1], pipe.sample_rate / 2
    observed = band_limited(ref, sr, cutoff_hz)
    mono = pipe.extend(observed, sr, cutoff_hz=cutoff_hz, seed=seed)[0]  # [1, m]: mixed down, model rate
    outs = {"keep_rate": pipe.extend(observed, sr, cutoff_hz=cutoff_hz, keep_rate=True, seed=seed)[0],
            "model_rate": resample(mono, pipe.sample_rate, sr)[..., :n].expand_as(ref), "lowpass": observed}
    freqs = torch.fft.rfftfreq(2048, 1 / sr)
    bins = (freqs >= cutoff_hz) & (freqs < top)
    truth = log_power_spectrogram(ref, n_fft=2048, hop_length=512)[..., bins, :]

    def band_lsd(x: torch.Tensor) -> float:  # metrics.lsd on the generated band's bins
        d = log_power_spectrogram(x, n_fft=2048, hop_length=512)[..., bins, :] - truth
        return d.pow(2).mean(-2).sqrt().mean().item()

    row = {m: band_lsd(outs[m]) for m in EXTEND_METHODS}
    if ref.shape[0] == 2:
        band = lambda x: band_limited(x, sr, top) - band_limited(x, sr, cutoff_hz)  # noqa: E731
        truth_image = lr_correlation(band(ref))
        row.update({f"image {m}": abs(lr_correlation(band(outs[m])) - truth_image) for m in EXTEND_METHODS[:2]})
    return {f"cutoff {cutoff_hz:g} Hz": row}


def lr_correlation(x: torch.Tensor) -> float:
    """Normalised correlation of the two channels of x [2, n]."""
    return (x[0] @ x[1] / (x[0].norm() * x[1].norm() + 1e-12)).item()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", choices=["inpaint", "extend"], default="inpaint")
    p.add_argument("--model", default="music")
    p.add_argument("--data", required=True, help="folder of recordings at any rate")
    p.add_argument("--limit", type=int, default=8)
    p.add_argument("--offset", type=float, default=30.0, help="excerpt start in seconds")
    p.add_argument("--seconds", type=float, default=2.0)
    p.add_argument("--gap-ms", default="50,100,200")
    p.add_argument("--cutoff", type=float, default=4000.0, help="extend: the input's bandwidth in Hz")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--out", default=None, help="write OUT.json and OUT.md")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    gaps_ms = [float(g) for g in args.gap_ms.split(",")]
    pipe = AudioDiffusion.from_pretrained(args.model)
    scores: dict[str, dict[str, list[float]]] = {}
    files, begin = [], time.time()
    for path in audio_files(args.data):
        clip = excerpt(path, args.offset, args.seconds)
        if clip is None or (args.task == "extend" and clip[1] < pipe.sample_rate):  # no band above the model's
            continue
        if args.task == "inpaint":
            rows = score_inpaint(pipe, *clip, gaps_ms=gaps_ms, seed=args.seed)
        else:
            rows = score_extend(pipe, *clip, cutoff_hz=args.cutoff, seed=args.seed)
        files.append(str(path))
        for setting, row in rows.items():
            for m, v in row.items():
                scores.setdefault(setting, {}).setdefault(m, []).append(v)
        print(path.name, " ".join(f"{setting} " + "/".join(f"{row[m]:.3f}" for m in row)
                                  for setting, row in rows.items()), flush=True)
        if len(files) == args.limit:
            break
    if not files:
        raise SystemExit(f"no file in {args.data} is longer than {args.offset + args.seconds} s"
                         + (f" at {pipe.sample_rate} Hz or more" if args.task == "extend" else ""))
    means = {setting: {m: statistics.mean(v) for m, v in by.items()} for setting, by in scores.items()}
    columns = list(next(iter(means.values())))  # LSD per method, then the image errors when there were stereo files
    lines = [f"Model `{args.model}`, {args.task}, {len(files)} excerpts of {args.seconds} s from `{args.data}`, LSD "
             f"at the files' own rate, {time.time() - begin:.0f} s", "", "| setting | " + " | ".join(columns) + " |",
             "|---|" + "---|" * len(columns)]
    lines += [f"| {setting} | " + " | ".join(f"{row[m]:.3f}" for m in columns) + " |" for setting, row in means.items()]
    print("\n".join(lines))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(f"{args.out}.md").write_text("\n".join(lines) + "\n")
        Path(f"{args.out}.json").write_text(json.dumps(dict(
            task=args.task, model=args.model, data=args.data, files=files, offset=args.offset,
            seconds=args.seconds, seed=args.seed, machine=platform.machine(), torch=torch.__version__,
            lsd=means), indent=1) + "\n")


if __name__ == "__main__":
    main()
