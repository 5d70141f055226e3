"""Spoken digits "zero"-"nine" synthesised by espeak-ng: an SC09-like, class-labelled set built offline.

Every clip varies the English accent (8 espeak-ng English voices), the voice variant (~100 of
espeak-ng's `!v` variants: m1..m7, f1..f5, klatt, croak, whisper, ...), the speed (-s), the pitch (-p) and the
level (peak -12..-1 dBFS). Clip i is a pure function of (seed, i): asking for more clips only adds clips. Each word is
synthesised at 22.05 kHz, resampled to 16 kHz, silence-trimmed and centred in exactly 1 s (a take that clips
is re-spoken softer, one too long for the clip faster). The split is fixed by a hash of the voice (accent +
variant), so val/test voices are never heard in training.

Needs: `apt-get install espeak-ng`.

    python recipes/espeak_digits.py prepare --out /work/data/espeak_digits --count 3000
    python recipes/espeak_digits.py train --data /work/data/espeak_digits/train --out runs/digits
    python recipes/espeak_digits.py evaluate runs/digits --data /work/data/espeak_digits/test --task inpaint
    python recipes/espeak_digits.py classifier --data /work/data/espeak_digits --out runs/digit_classifier
    python recipes/espeak_digits.py score runs/digits --classifier runs/digit_classifier -n 10 --steps 25

`classifier` trains the digit classifier (audiodiff.classifier) on DATA/train and reports its DATA/test
accuracy; `score` generates n clips per digit and reports the share the classifier names as the requested
digit and their Inception Score, next to the real test set's.

Layout: OUT/{train,val,test}/{zero,...,nine}/NNNNNN.wav + OUT/manifest.csv (see recipes/README.md).
"""
from __future__ import annotations

import os
import random
import re
import subprocess
import sys
import tempfile
from functools import partial
from multiprocessing import Pool
from pathlib import Path

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import (SAMPLE_RATE, ClipWriter, MissingToolError, cli, fit_length,  # noqa: E402
                     require_tool, split_of, trim_silence)

from audiodiff.audio import is_silent, load, normalize_peak, resample  # noqa: E402
from audiodiff.config import Config, FrontendConfig, NetConfig, SampleConfig, SDEConfig, TrainConfig  # noqa: E402

DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
# English accents of espeak-ng 1.51 (gmw/*); other languages' voices read English spelling with their own
# rules ("two" -> [tvo]), which would mislabel the digit, so they are not used.
ACCENTS = ("en", "en-us", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-029", "en-us-nyc")
SPEED = (120, 240)        # words per minute (espeak default 175)
PITCH = (15, 85)          # 0..99 (default 50)
LEVEL = (-12.0, -1.0)     # peak dBFS of the clip
AMPLITUDE = 50            # espeak -a, 0..200 (default 100; loud variants clip above ~60): halved while clipping
DEFAULT_OUT = "/work/data/espeak_digits"


def variants(espeak: str) -> list[str]:
    """Voice variants espeak-ng knows (`espeak-ng --voices=variant`), sorted: ['Alex', ..., 'm1', ..., 'zac']."""
    out = subprocess.run([espeak, "--voices=variant"], capture_output=True, text=True, check=True).stdout
    names = (re.search(r"!v/(\S+)\s*$", line) for line in out.splitlines())
    return sorted({m.group(1) for m in names if m})


def clip_params(i: int, *, seed: int, variant_names: list[str]) -> dict:
    """The synthesis parameters of clip i: a pure function of (seed, i); digit = i mod 10 keeps classes balanced."""
    rng = random.Random(f"espeak_digits/{seed}/{i}")
    variant = rng.choice([None] + variant_names)
    return {"digit": DIGITS[i % 10], "accent": rng.choice(ACCENTS), "variant": variant,
            "speed": rng.randint(*SPEED), "pitch": rng.randint(*PITCH), "amplitude": AMPLITUDE,
            "level": round(rng.uniform(*LEVEL), 1)}


def voice_of(params: dict) -> str:
    """espeak-ng voice name: accent[+variant]."""
    return params["accent"] + (f"+{params['variant']}" if params["variant"] else "")


def synthesize(params: dict, *, espeak: str, seconds: float = 1.0) -> torch.Tensor | None:
    """One digit as [1, seconds * 16000] float32, silence-trimmed and centred; None if no clean take fits.

    Updates params to the take kept: amplitude halved while espeak clips, speed x1.3 while the word is too long.
    """
    voice = voice_of(params)
    n = int(seconds * SAMPLE_RATE)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "word.wav"
        for _ in range(6):
            wav = None
            subprocess.run([espeak, "-v", voice, "-s", str(params["speed"]), "-p", str(params["pitch"]),
                            "-a", str(params["amplitude"]), "-w", str(path), params["digit"]],
                           check=True, capture_output=True)
            raw, sr = load(path, channels=1)
            take = trim_silence(resample(raw, sr, SAMPLE_RATE))
            # espeak clipped (or resampling overshoots full scale): some variants are loud, speak softer
            if raw.abs().max() >= 32767 / 32768 or take.abs().max() >= 0.99:
                params["amplitude"] = max(params["amplitude"] // 2, 1)
            elif take.shape[-1] > n:  # too long for the clip: speak 30% faster
                params["speed"] = int(params["speed"] * 1.3)
            else:
                wav = take
                break
    if wav is None or wav.shape[-1] == 0 or bool(is_silent(wav, threshold_db=-50.0)):
        return None
    return fit_length(normalize_peak(wav, target_db=params["level"]), n)


def _render(i: int, *, seed: int, variant_names: list[str], espeak: str, seconds: float):
    params = clip_params(i, seed=seed, variant_names=variant_names)
    return i, params, synthesize(params, espeak=espeak, seconds=seconds)


def prepare(raw_dir: None, out_dir: str | Path, *, count: int = 3000, seed: int = 0, seconds: float = 1.0,
            val: float = 0.1, test: float = 0.1, workers: int = 1, overwrite: bool = False) -> dict:
    """Synthesise `count` labelled clips into out_dir/{split}/{digit}/; returns the summary of manifest.csv."""
    if raw_dir is not None:
        raise ValueError("raw_dir: espeak_digits synthesises its data; pass None")
    if count < 1:
        raise ValueError(f"count={count} must be >= 1")
    espeak = require_tool("espeak-ng", package="espeak-ng")
    names = variants(espeak)
    if not names:
        raise MissingToolError("espeak-ng lists no voice variants; reinstall its data: "
                               "`sudo apt-get install --reinstall espeak-ng-data`")
    writer = ClipWriter(Path(out_dir), overwrite=overwrite)
    render = partial(_render, seed=seed, variant_names=names, espeak=espeak, seconds=seconds)
    torch.set_num_threads(1)  # tiny tensors: threads cost more than they give on a shared machine
    with Pool(workers) if workers > 1 else _Serial() as pool:
        for i, params, wav in pool.imap(render, range(count), chunksize=16):
            if wav is None:
                print(f"warning: clip {i} ({params}) is silent; skipped", file=sys.stderr)
                continue
            voice = voice_of(params)
            source = "espeak-ng -v {} -s {speed} -p {pitch} -a {amplitude} {digit}; peak {level} dBFS".format(
                voice, **params)
            writer.write(wav, split=split_of(voice, val=val, test=test), label=params["digit"],
                         name=f"{i:06d}", source=source)
    return writer.close()


class _Serial:
    """Pool stand-in running in-process (workers=1)."""
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def imap(self, fn, items, chunksize=1):
        return map(fn, items)


def config() -> Config:
    """Class-conditional log-mel model of 1 s digits at 16 kHz (80 mel bins x 63 frames), VP SDE, CFG-ready."""
    return Config(
        frontend=FrontendConfig(name="logmel", sample_rate=SAMPLE_RATE, n_fft=1024, hop_length=256, n_mels=80),
        sde=SDEConfig(name="vp"),
        # 63 frames: three 2x levels (padded to 64) instead of the presets' 128x waveform downsampling
        net=NetConfig(preset="small", options={"channels": [96, 128, 192], "factors": [2, 2, 2],
                                               "blocks": [2, 2, 2], "attention": [False, True, True]}),
        train=TrainConfig(lr=2e-4, batch_size=32, steps=60_000, warmup=1000, seconds=1.0, labels=True,
                          label_dropout=0.1, normalize="peak", ckpt_every=2000),
        # guidance 3: 95% of generated digits named right by the recipe's classifier, 60% without (step 8500)
        sample=SampleConfig(sampler="heun", steps=25, guidance=3.0),
    )


def _arguments(p):
    p.add_argument("--count", type=int, default=3000, help="number of clips (balanced over the 10 digits)")
    p.add_argument("--seed", type=int, default=0, help="clip i depends only on (seed, i)")
    p.add_argument("--seconds", type=float, default=1.0, help="clip length")
    p.add_argument("--val", type=float, default=0.1, help="fraction of voices held out for validation")
    p.add_argument("--test", type=float, default=0.1, help="fraction of voices held out for test")
    p.add_argument("--workers", type=int, default=1, help="processes synthesising in parallel")


def _classifier_command(argv: list[str]) -> int:
    """`classifier` (train + save the digit classifier) and `score` (classifier-based scores of a model)."""
    import argparse
    import json
    import platform
    import time

    from audiodiff import AudioDiffusion, CheckpointError
    from audiodiff.checkpoint import read_model_config
    from audiodiff.classifier import (accuracy, inception_score, load_classifier, load_clips, save_classifier,
                                      score_generation, train_classifier)
    from audiodiff.pipeline import resolve_model

    parser = argparse.ArgumentParser(prog="espeak_digits.py", formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("classifier", help="train the digit classifier on DATA/train, test it on DATA/test",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    c.add_argument("--data", default=DEFAULT_OUT, help="prepared set (holds train/ and test/)")
    c.add_argument("--out", required=True, help="classifier directory")
    c.add_argument("--epochs", type=int, default=20)
    c.add_argument("--seed", type=int, default=0)
    s = sub.add_parser("score", help="classify n generated clips per digit; Inception Score vs the real test set",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    s.add_argument("model", help="model directory or shipped name")
    s.add_argument("--classifier", required=True, help="directory written by the classifier command")
    s.add_argument("--data", default=DEFAULT_OUT, help="prepared set (its test/ is the real reference)")
    s.add_argument("-n", type=int, default=10, help="clips per digit")
    s.add_argument("--sampler", default="heun")
    s.add_argument("--steps", type=int, default=25)
    s.add_argument("--guidance", type=float, default=None, help="classifier-free guidance weight (default: the model's)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--roundtrip", action="store_true",
                   help="also classify the real test clips after the model's front end (encode, decode): the ceiling "
                        "its decoder (Griffin-Lim for log-mel) leaves")
    s.add_argument("--json", default=None, help="also write the figures to this file")
    args = parser.parse_args(argv)
    data = Path(args.data)
    try:
        if args.command == "classifier":
            wav, labels, names = load_clips(data / "train")
            start = time.time()
            model = train_classifier(wav, labels, names, epochs=args.epochs, seed=args.seed, callback=lambda e, loss:
                                     print(f"epoch {e + 1}: loss {loss:.4f}", file=sys.stderr))
            wall = time.time() - start
            test_wav, test_labels, _ = load_clips(data / "test", label_names=names)
            probs = model.probs(test_wav)
            figures = {"test_accuracy": accuracy(probs, test_labels), "test_inception_score": inception_score(probs),
                       "train_clips": len(labels), "test_clips": len(test_labels),
                       "parameters": sum(p.numel() for p in model.parameters())}
            save_classifier(args.out, model, info={
                "recipe": "espeak_digits", "command": "python recipes/espeak_digits.py " + " ".join(argv),
                "epochs": args.epochs, "seed": args.seed, "wall_time_s": round(wall, 1), "threads":
                torch.get_num_threads(), "hardware": platform.processor() or platform.machine(), **figures})
            print(f"{figures['parameters']:,} params, {args.epochs} epochs in {wall:.0f} s on {len(labels)} clips; "
                  f"test accuracy {figures['test_accuracy']:.4f} ({len(test_labels)} clips), "
                  f"test IS {figures['test_inception_score']:.3f} -> {args.out}")
        else:
            classifier = load_classifier(args.classifier)
            test_wav, test_labels, _ = load_clips(data / "test", label_names=classifier.label_names)
            real = classifier.probs(test_wav)
            pipe = AudioDiffusion.from_pretrained(args.model)
            step = read_model_config(resolve_model(args.model))["step"]
            start = time.time()
            gen = score_generation(pipe, classifier, n=args.n, seed=args.seed, sampler=args.sampler,
                                   steps=args.steps, guidance=args.guidance)
            figures = {"model": args.model, "step": step, "sampler": args.sampler, "steps": args.steps,
                       "guidance": pipe.config.sample.guidance if args.guidance is None else args.guidance, "seed": args.seed,
                       "test_accuracy": accuracy(real, test_labels), "test_inception_score": inception_score(real),
                       "generated_accuracy": gen["accuracy"], "generated_inception_score": gen["inception_score"],
                       "per_digit": gen["per_label"], "confusion": gen["confusion"],
                       "labels": classifier.label_names, "generation_s": round(time.time() - start, 1)}
            if args.roundtrip:
                f = pipe.frontend
                decoded = torch.cat([f.decode(f.encode(w), length=w.shape[-1]) for w in test_wav.split(64)])
                figures["roundtrip_accuracy"] = accuracy(classifier.probs(decoded), test_labels)
            if args.json:
                Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
            print(f"real test: accuracy {figures['test_accuracy']:.4f}, IS {figures['test_inception_score']:.3f} "
                  f"({len(test_labels)} clips)\ngenerated: accuracy {gen['accuracy']:.4f}, "
                  f"IS {gen['inception_score']:.3f} ({args.n} per digit, {args.sampler} {args.steps} steps, "
                  f"{figures['generation_s']:.0f} s)\nper digit: "
                  + ", ".join(f"{k} {v:.2f}" for k, v in gen["per_label"].items()))
            if args.roundtrip:
                print(f"real test through the model's front end: accuracy {figures['roundtrip_accuracy']:.4f}")
    except (ValueError, CheckpointError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in ("classifier", "score"):
        return _classifier_command(argv)
    return cli(__doc__, recipe=__file__, arguments=_arguments, default_data=DEFAULT_OUT, argv=argv,
               prepare=lambda a: prepare(None, a.out, count=a.count, seed=a.seed, seconds=a.seconds, val=a.val,
                                         test=a.test, workers=a.workers, overwrite=a.overwrite))


if __name__ == "__main__":
    sys.exit(main())
