#!/usr/bin/env python
"""Quality against the number of network evaluations (NFE) for every sampler, on a trained model.

For each sampler and a ladder of step counts, restore the same test clips with the same seed and measure:

  inpaint   LSD (metrics.lsd) on one centred gap (default 200 ms) padded by one LSD frame each side, as in
            `audiodiff evaluate`; the LPC fill is the baseline line
  extend    high-band LSD above the cutoff (default 4 kHz -> 8 kHz at 16 kHz); the low-passed input is the
            baseline line

NFE is counted at the network (one call per batch; a DPS evaluation also costs a backward pass). The step
samplers use replacement (RePaint with `resample`=0); the adaptive rk45 cannot be projected and uses DPS;
"+warm" rows start from the classical fill diffused to t_init (CCDF): for inpainting the model's own warm start
(config.sample.inpaint's init, e.g. order-1024 LPC; order-32 LPC if it has none), for extension the observation.
The model's own defaults for the task (config.sample.inpaint / .extend) are run too and compared with the best
figure any configuration reached: the target is within 5% of it at <= 40 NFE.

    python bench/nfe.py --model speech --data DATA/klettres/test --out bench/results/nfe_speech
    python bench/nfe.py --model speech --data DIR --quick      # 3 clips, short ladder: a smoke run
Writes OUT.json, OUT.md and OUT.png (LSD against NFE, log axis).
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see bench/speed.py: idle OpenMP threads must sleep

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch

from audiodiff.audio import load
from audiodiff.baselines import lpc_fill
from audiodiff.evaluation import audio_files, band_limited, centred_gap, gap_lsd
from audiodiff.metrics import lsd
from audiodiff.operators import Mask
from audiodiff.pipeline import AudioDiffusion

# steps giving about `nfe` evaluations (sampling.py's docstring): em steps + 1; pc, heun, stochastic_heun 2 steps + 1
STEPS = {"euler_maruyama": lambda nfe: nfe - 1, "pc": lambda nfe: (nfe - 1) // 2, "heun": lambda nfe: (nfe - 1) // 2,
         "stochastic_heun": lambda nfe: (nfe - 1) // 2}
LADDER = (10, 20, 40, 100, 250, 1000)
RK45_TOLERANCES = (1e-1, 1e-2, 1e-3)
# VP sigma 0.07, 0.17, 0.015 (--quick runs the first)
T_INIT = tuple(float(v) for v in os.environ.get("NFE_T_INIT", "0.01,0.05,0.002").split(","))


def configurations(ladder, quick: bool) -> list[dict]:
    """Every (label, options) to run: each step sampler along the ladder, warm-started Heun, rk45 + DPS."""
    configs = []
    for name, steps_for in STEPS.items():
        for nfe in ladder:
            if (nfe > 250 and name != "euler_maruyama") or (nfe > 100 and name == "stochastic_heun"):
                continue  # only first-order Euler-Maruyama still moves beyond 250 NFE (measured); time is short
            configs.append(dict(label=name, sampler=name, steps=max(1, steps_for(nfe)), resample=0))
    for t_init in T_INIT[:1] if quick else T_INIT:
        for nfe in [n for n in ladder if n <= 100]:
            configs.append(dict(label=f"heun+warm t_init={t_init}", sampler="heun", steps=max(1, (nfe - 1) // 2),
                                resample=0, warm=t_init))
    for nfe in [n for n in ladder if 40 <= n <= 100]:
        configs.append(dict(label="heun+repaint r=1", sampler="heun", steps=max(1, (nfe - 1) // 4), resample=1))
    for rtol in RK45_TOLERANCES[:1] if quick else RK45_TOLERANCES:
        configs.append(dict(label="rk45+dps", sampler="rk45", steps=1, resample=0, strategy="dps",
                            rtol=rtol, atol=rtol))
    for c in configs:
        c.setdefault("init", "none")  # cold unless said: a model's shipped warm start must not leak in
    return configs


def load_clips(data: str, n: int, seconds: float, sample_rate: int) -> tuple[torch.Tensor, list[str]]:
    """n clips [n, 1, seconds * rate] spread evenly over the sorted files long enough for the crop."""
    length = round(seconds * sample_rate)
    chosen, names = [], []
    for path in audio_files(data):
        wav, _ = load(path, sample_rate=sample_rate, channels=1)
        if wav.shape[-1] >= length:
            chosen.append(wav[:, :length])
            names.append(os.fspath(path))
    if len(chosen) < n:
        raise SystemExit(f"error: {data} has {len(chosen)} file(s) of at least {seconds} s, {n} needed")
    pick = torch.linspace(0, len(chosen) - 1, n).round().long().tolist()
    return torch.stack([chosen[i] for i in pick]), [names[i] for i in pick]


class NetCounter:
    """Counts calls of the model's network (one per batched evaluation)."""

    def __init__(self, module: torch.nn.Module):
        self.calls = 0
        module.register_forward_pre_hook(self.hook)

    def hook(self, module, args):
        self.calls += 1


def run_task(pipe, task: str, clips: torch.Tensor, options: dict, *, gap_ms: float, cutoff_hz: float,
             seed: int) -> torch.Tensor:
    """Per-clip LSD [n] of one configuration: inpaint (gap region) or extend (band above the cutoff)."""
    sr, n = pipe.sample_rate, clips.shape[-1]
    options = dict(options, seed=seed)
    warm = options.pop("warm", None)
    if task == "inpaint":
        start, width = centred_gap(n, gap_ms, sr)
        known = Mask.from_gaps([(start / sr, (start + width) / sr)], length=n, rate=sr).known
        if options.pop("baseline", False):
            out = lpc_fill(clips, known.expand_as(clips))
        else:
            if warm is not None:
                init = pipe.config.sample.inpaint.get("init")
                options.update(init=init if init not in (None, "none") else "lpc", t_init=warm)
            out = pipe.inpaint(clips, sr, mask=known, **options)
        return gap_lsd(out, clips, start, width)
    observed = band_limited(clips, sr, cutoff_hz)
    if warm is not None:
        options.update(init="observed", t_init=warm)
    out = observed if options.pop("baseline", False) else pipe.extend(observed, sr, cutoff_hz=cutoff_hz, **options)
    return lsd(out, clips, band="high", cutoff_hz=cutoff_hz, sample_rate=sr)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="speech", help="a shipped model name or a model directory")
    p.add_argument("--data", required=True, help="folder of test audio (e.g. a recipe's test split)")
    p.add_argument("--tasks", default="inpaint,extend")
    p.add_argument("--clips", type=int, default=6, help="clips, restored as one batch")
    p.add_argument("--seconds", type=float, default=1.0, help="crop length")
    p.add_argument("--gap-ms", type=float, default=200.0)
    p.add_argument("--cutoff", type=float, default=4000.0)
    p.add_argument("--ladder", default=",".join(map(str, LADDER)), help="target NFEs, comma-separated")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    p.add_argument("--quick", action="store_true", help="3 clips, NFE 10-40: a smoke run")
    p.add_argument("--out", default=None, help="write OUT.json, OUT.md, OUT.png")
    p.add_argument("--only-default", action="store_true",
                   help="re-run only the model's default rows and merge them into an existing OUT.json (after the "
                        "defaults changed)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    ladder = (10, 20, 40) if args.quick else tuple(int(v) for v in args.ladder.split(","))
    clips_n = 3 if args.quick else args.clips
    tasks = [t for t in args.tasks.split(",") if t]
    if set(tasks) - {"inpaint", "extend"}:
        p.error(f"--tasks takes inpaint and/or extend, got {args.tasks}")

    pipe = AudioDiffusion.from_pretrained(args.model)
    pipe.config.sample.seconds = max(pipe.config.sample.seconds or 0, args.seconds)  # one window per clip
    counter = NetCounter(pipe.model.net)
    clips, names = load_clips(args.data, clips_n, args.seconds, pipe.sample_rate)
    gain = pipe.level_gain(clips)  # the test clips at the training level, as the CLI does
    clips = clips * gain
    kw = dict(gap_ms=args.gap_ms, cutoff_hz=args.cutoff, seed=args.seed)
    t_start = time.time()
    earlier = Path(args.out).with_suffix(".json") if args.out else None
    previous = json.loads(earlier.read_text())["rows"] if earlier and earlier.is_file() else []
    if args.only_default:
        if not previous:
            p.error("--only-default needs --out pointing at an earlier run's OUT.json")
        rows = [r for r in previous if r["label"] != "default" or r["task"] not in tasks]
    else:
        rows = [r for r in previous if r["task"] not in tasks]  # the tasks not run keep their earlier rows
    for task in tasks:
        runs = [dict(pipe.task_options(task, {}), label="default")]  # as the CLI runs it
        if not args.only_default:
            base = run_task(pipe, task, clips, dict(baseline=True), **kw)
            rows.append(dict(task=task, label="lpc" if task == "inpaint" else "lowpass", nfe=0,
                             lsd=base.mean().item(), lsd_std=base.std().item(), seconds=0.0))
            runs = [dict(c) for c in configurations(ladder, args.quick)] + runs
        for options in runs:
            label = options.pop("label")
            calls, t0 = counter.calls, time.time()
            values = run_task(pipe, task, clips, options, **kw)
            row = dict(task=task, label=label, nfe=counter.calls - calls, lsd=values.mean().item(),
                       lsd_std=values.std().item(), seconds=round(time.time() - t0, 2),
                       options={k: v for k, v in options.items()})
            rows.append(row)
            print(f"{task:8s} {label:26s} nfe {row['nfe']:5d}  lsd {row['lsd']:.3f}  ({row['seconds']:.1f} s)",
                  flush=True)
    verdicts = [verdict(rows, task) for task in ("inpaint", "extend") if any(r["task"] == task for r in rows)]
    report = dict(model=str(args.model), data=str(args.data), clips=names, seconds=args.seconds, gap_ms=args.gap_ms,
                  cutoff_hz=args.cutoff, seed=args.seed, threads=torch.get_num_threads(), torch=torch.__version__,
                  machine=platform.processor() or platform.machine(), wall_s=round(time.time() - t_start, 1),
                  rows=rows, verdicts=verdicts)
    text = markdown(report)
    print(text)
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.with_suffix(".json").write_text(json.dumps(report, indent=2))
        out.with_suffix(".md").write_text(text + "\n")
        plot(report, out.with_suffix(".png"))
    return 0


def verdict(rows: list[dict], task: str) -> dict:
    """The default's LSD and NFE against the best any model configuration reached (lower LSD is better)."""
    mine = [r for r in rows if r["task"] == task and r["nfe"] > 0]
    best = min(mine, key=lambda r: r["lsd"])
    default = next(r for r in mine if r["label"] == "default")
    return dict(task=task, best_label=best["label"], best_nfe=best["nfe"], best_lsd=best["lsd"],
                default_nfe=default["nfe"], default_lsd=default["lsd"],
                default_vs_best=default["lsd"] / best["lsd"] - 1,
                target_met=default["nfe"] <= 40 and default["lsd"] <= 1.05 * best["lsd"])


def markdown(report: dict) -> str:
    lines = [f"NFE ladder: model `{report['model']}`, {len(report['clips'])} clips of {report['seconds']} s from "
             f"`{report['data']}`, {report['threads']} thread(s), {report['wall_s']} s", "",
             "| task | configuration | NFE | LSD (mean ± sd over clips) | wall s |", "|---|---|---|---|---|"]
    for r in report["rows"]:
        lines.append(f"| {r['task']} | {r['label']} | {r['nfe']} | {r['lsd']:.3f} ± {r['lsd_std']:.3f} | "
                     f"{r['seconds']} |")
    lines.append("")
    for v in report["verdicts"]:
        lines.append(f"{v['task']}: default {v['default_lsd']:.3f} at {v['default_nfe']} NFE; best {v['best_lsd']:.3f} "
                     f"({v['best_label']}, {v['best_nfe']} NFE); default is {100 * v['default_vs_best']:+.1f}% "
                     f"-> target (<= 5% at <= 40 NFE) {'met' if v['target_met'] else 'MISSED'}")
    return "\n".join(lines)


def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = sorted({r["task"] for r in report["rows"]}, reverse=True)
    fig, axes = plt.subplots(1, len(tasks), figsize=(6 * len(tasks), 4), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        rows = [r for r in report["rows"] if r["task"] == task]
        for label in dict.fromkeys(r["label"] for r in rows):
            pts = sorted((r["nfe"], r["lsd"]) for r in rows if r["label"] == label)
            if pts[0][0] == 0:
                ax.axhline(pts[0][1], color="k", ls="--", lw=1, label=f"{label} (no network)")
            elif label == "default":
                ax.plot(*zip(*pts), "r*", ms=14, label="default")
            else:
                ax.plot(*zip(*pts), "o-", label=label)
        ax.set_xscale("log")
        ax.set_xlabel("NFE")
        ax.set_ylabel("LSD" if task == "inpaint" else "high-band LSD")
        ax.set_title(f"{task}: {report['model']}")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
