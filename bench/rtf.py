#!/usr/bin/env python
"""Wall time of generation, inpainting and bandwidth extension of 4 s of audio with each model's defaults.

Real-time factor RTF = wall time / audio duration (below 1: faster than real time). The bound of issue 6 is
60 s for 4 s of audio on a 2-core CPU (RTF 15). Inputs for inpainting and extension are the first 4 s of a
test file (looped if shorter): inpainting fills three gaps of 50, 100 and 200 ms (at 1/4, 1/2, 3/4);
extension regenerates the band above 4 kHz of the file low-passed by sinc resampling to 8 kHz. Every run is
timed `--repeats` times (after one warm-up run) and the median is reported, with the machine's load average.

    python bench/rtf.py --models digits,speech,music --data DATA/klettres/test --out bench/results/rtf
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see bench/speed.py

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

from audiodiff.audio import load
from audiodiff.evaluation import audio_files, band_limited
from audiodiff.pipeline import AudioDiffusion

GAP_MS = (50, 100, 200)  # centred at 1/4, 1/2 and 3/4 of the clip


def gaps_for(seconds: float) -> list[tuple[float, float]]:
    return [((k + 1) * seconds / 4 - ms / 2000, (k + 1) * seconds / 4 + ms / 2000) for k, ms in enumerate(GAP_MS)]


def clip_of(data: str, seconds: float, sample_rate: int) -> torch.Tensor:
    """The first `seconds` of the longest file in `data` at `sample_rate`, looped if shorter: [1, n]."""
    path = max(audio_files(data), key=lambda p: p.stat().st_size)
    wav, _ = load(path, sample_rate=sample_rate, channels=1)
    n = round(seconds * sample_rate)
    return wav.repeat(1, -(-n // wav.shape[-1]))[:, :n]


def timed(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", default="digits,speech,music")
    p.add_argument("--data", required=True, help="folder of test audio for inpainting and extension")
    p.add_argument("--seconds", type=float, default=4.0)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--out", default=None, help="write OUT.json and OUT.md")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = []
    for name in args.models.split(","):
        pipe = AudioDiffusion.from_pretrained(name)
        sr = pipe.sample_rate
        wav = clip_of(args.data, args.seconds, sr)
        narrow = band_limited(wav, sr, 4000)
        labels = pipe.label_names[:1] or None
        jobs = {"generate": lambda: pipe.generate(1, args.seconds, labels=labels),
                "inpaint": lambda: pipe.inpaint(wav, sr, gaps=gaps_for(args.seconds)),
                "extend": lambda: pipe.extend(narrow, sr, cutoff_hz=4000)}
        if pipe.label_names:  # a class-conditional model of 1 s words: generation is its job
            jobs = {"generate": jobs["generate"]}
        for job, fn in jobs.items():
            seconds = timed(fn, args.repeats)
            rows.append(dict(model=name, job=job, audio_s=args.seconds, wall_s=round(seconds, 4),
                             rtf=round(seconds / args.seconds, 4), within_60s=seconds <= 60))
            print(f"{name:8s} {job:9s} {seconds:6.2f} s for {args.seconds:g} s of audio: "
                  f"RTF {seconds / args.seconds:.3f}", flush=True)
    report = dict(rows=rows, threads=torch.get_num_threads(), load_avg=os.getloadavg(), torch=torch.__version__,
                  machine=f"{platform.machine()}, {os.cpu_count()} cores")
    text = "\n".join([f"{torch.get_num_threads()} thread(s), load average {report['load_avg'][0]:.2f}", "",
                      "| model | job | wall s (4 s audio) | RTF |", "|---|---|---|---|"]
                     + [f"| {r['model']} | {r['job']} | {r['wall_s']} | {r['rtf']} |" for r in rows])
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).with_suffix(".json").write_text(json.dumps(report, indent=2))
        Path(args.out).with_suffix(".md").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
