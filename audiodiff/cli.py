"""The `audiodiff` command line: a thin click group; every command is a library call.

Errors a user can cause (bad folder, bad config key, corrupt checkpoint, ...) print one line
`Error: ...` and exit with status 1, never a traceback; set AUDIODIFF_DEBUG=1 to see the traceback.
Commands wrap themselves in `cli_errors` to get that behaviour.
"""
from __future__ import annotations

import functools
import os
import shlex
import sys
import warnings
from pathlib import Path
from typing import Any, Callable

import click

from .baselines import BASELINES  # the classical fills a warm start can begin from (the package loads torch anyway)

CONTEXT = {"show_default": True, "help_option_names": ["-h", "--help"]}


def one_line(error: BaseException) -> str:
    """The first non-empty line of an exception's message (its type name when it has none)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


def cli_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Decorator for click commands: library errors become `Error: <one line>` and exit status 1."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            with warnings.catch_warnings():  # library warnings as one `Warning:` line each, for this command only
                warnings.showwarning = _show_warning
                return command(*args, **kwargs)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except KeyboardInterrupt:
            raise click.ClickException("interrupted") from None
        except Exception as e:  # noqa: BLE001 - the user sees one line, the debug switch shows the rest
            if os.environ.get("AUDIODIFF_DEBUG"):
                raise
            known = isinstance(e, (ValueError, OSError, RuntimeError))
            raise click.ClickException(one_line(e) if known else f"{type(e).__name__}: {one_line(e)}") from None

    return wrapper


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    click.echo(f"Warning: {message}", err=True)


@click.group(context_settings=CONTEXT)
@click.version_option(package_name="audiodiff")
def main() -> None:
    """audiodiff: score-SDE diffusion for audio and music, no vocoder.

    \b
    Example:
      audiodiff train tiny --data tests/data --out runs/tiny
    """


@main.command(context_settings=CONTEXT)
@click.argument("recipe", required=False)
@click.option("--data", required=True, type=click.Path(path_type=Path), help="folder of audio files (recursive)")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="run directory")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="config override, e.g. --set train.lr=2e-4 (repeatable)")
@click.option("--resume", is_flag=True, help="continue the run in --out from its last checkpoint")
@click.option("--init-from", "init_from", default=None, metavar="MODEL",
              help="fine-tune: start from a model's weights (shipped name or model folder); RECIPE defaults to "
                   "its config")
@click.option("--steps", type=click.IntRange(min=0), default=None, help="total steps (default: train.steps)")
@click.option("--device", default=None, help="torch device (default: cuda if available, else cpu)")
@click.option("--progress/--no-progress", default=True, help="show a progress bar")
@cli_errors
def train(recipe: str | None, data: Path, out: Path, overrides: tuple[str, ...], resume: bool,
          init_from: str | None, steps: int | None, device: str | None, progress: bool) -> None:
    """Train a model from RECIPE (a recipe name or .py, or a config .json) on --data into --out.

    Under `torchrun --nproc_per_node=K` the same command trains with DistributedDataParallel.

    \b
    Examples:
      audiodiff train tiny --data tests/data --out runs/tiny --set train.lr=2e-4
      audiodiff train --resume --data tests/data --out runs/tiny --steps 80
      audiodiff train --init-from speech --data my_speech --out runs/my_speech --steps 2000
    """
    from . import checkpoint as ckpt
    from .config import apply_overrides, build_frontend, load_recipe
    from .data import AudioFolder
    from .pipeline import resolve_model
    from .train import Trainer, distributed_teardown

    state = out / ckpt.STATE_FILE
    base = None
    if init_from is not None:
        if resume:
            raise click.UsageError("--init-from starts a new run; --resume continues one: pass one of them")
        base = resolve_model(init_from)
        base_doc = ckpt.read_model_config(base)
    if resume:
        config = ckpt.saved_config(ckpt.load_state(state)[1], state)
        if recipe is not None:
            click.echo(f"resuming: using the run's saved config, not {recipe}", err=True)
    else:
        if recipe is None and base is None:
            raise click.UsageError("give a RECIPE (name, .py or config .json), --init-from MODEL, or --resume")
        if out.exists() and (state.exists() or (out / ckpt.MODEL_FILE).exists()):
            raise ValueError(f"{out} already holds a training run: pass --resume to continue it or choose a new --out")
        if out.exists() and not out.is_dir():
            raise ValueError(f"--out {out} exists and is not a folder")
        if recipe is not None:
            config = load_recipe(recipe)
        else:  # fine-tuning with no recipe: the base model's own config
            config = ckpt.saved_config(base_doc, base)
    config = apply_overrides(config, list(overrides) + ([f"train.steps={steps}"] if steps is not None else []))
    t = config.train
    frontend = build_frontend(config.frontend)
    dataset = AudioFolder(data, frontend, t.seconds, labels=t.labels, pad_short=t.pad_short, normalize=t.normalize,
                          split="train", val_fraction=t.val_fraction, cache=t.cache, seed=t.seed)
    val = None
    if t.val_fraction > 0:
        try:
            val = AudioFolder(data, frontend, t.seconds, labels=t.labels, pad_short=t.pad_short,
                              normalize=t.normalize, split="val", val_fraction=t.val_fraction, cache=t.cache,
                              seed=t.seed, label_names=dataset.label_names if t.labels else None)
        except ValueError as e:
            click.echo(f"Warning: no validation set ({one_line(e)})", err=True)
    if recipe is None and base is not None:  # fine-tuning on the base's config: its recipe is ours
        recipe = base_doc.get("info", {}).get("recipe")
    info = {"recipe": recipe, "command": shlex.join(sys.argv), "data": os.fspath(data)}
    if resume:  # keep the run's provenance: the first command, and every resume after it
        previous = saved_info(out)
        info = {**previous, "data": os.fspath(data),
                "resume_commands": previous.get("resume_commands", []) + [shlex.join(sys.argv)]}
    trainer = Trainer(config, dataset, out, resume=resume, device=device, progress=progress, info=info,
                      val_dataset=val, init_from=base)
    if trainer.rank == 0:
        params = sum(p.numel() for p in trainer.model.parameters())
        click.echo(f"{dataset!r}; {params:,} parameters; step {trainer.step} -> {t.steps} on "
                   f"{trainer.world} x {trainer.device}", err=True)
    try:
        stats = trainer.train(t.steps)
    finally:
        distributed_teardown()
    if trainer.rank == 0:
        loss = f", loss {stats['loss']:.4g}, {stats['samples_per_s']:.1f} samples/s" if stats else ""
        click.echo(f"step {trainer.step}{loss}; model in {out}")


def saved_info(run_dir: Path) -> dict:
    """The provenance kept across resumes (recipe, first command, resume commands) from a run's config.json."""
    from .checkpoint import CheckpointError, read_json

    try:
        info = read_json(run_dir / "config.json").get("info", {})
    except CheckpointError:
        return {}
    if not isinstance(info, dict):
        return {}
    return {k: info[k] for k in ("recipe", "command", "resume_commands", "init_from") if k in info}


@main.command(context_settings=CONTEXT)
@click.argument("model_dir", metavar="MODEL", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="print the whole config.json instead")
@cli_errors
def info(model_dir: Path, as_json: bool) -> None:
    """Summarise a model (a directory or a shipped name): config, parameter count, training step.

    \b
    Examples:
      audiodiff info runs/tiny
      audiodiff info speech
    """
    import json

    from .checkpoint import MODEL_FILE, RAW_PREFIX, load, read_model_config, read_tensors
    from .pipeline import resolve_model

    model_dir = resolve_model(model_dir)
    doc = read_model_config(model_dir)
    model, frontend, config = load(model_dir)
    if as_json:
        click.echo(json.dumps(doc, indent=2))
        return
    has_raw = any(k.startswith(RAW_PREFIX) for k in read_tensors(model_dir / MODEL_FILE)[0])
    net, meta = config.net, doc.get("info", {})
    preset = f"preset {net.preset}" if net.preset else "custom"
    sde = ", ".join(f"{k}={v}" for k, v in doc["sde"].items() if k != "name")
    rows = [
        ("model", os.fspath(model_dir)),
        ("step", f"{doc['step']:,}" + (f" ({meta['samples_seen']:,} samples, {meta['wall_time_s']:.0f} s)"
                                       if "samples_seen" in meta else "")),
        ("front end", f"{frontend!r} -> {frontend.channels} model channels"),
        ("SDE", f"{doc['sde']['name']} ({sde}), sigma_data {model.sigma_data}"),
        ("net", f"{doc.get('net_name', 'unet1d')} {preset}: channels {doc['net'].get('channels')}, factors "
                f"{doc['net'].get('factors')}, blocks {doc['net'].get('blocks')}, "
                f"{sum(p.numel() for p in model.net.parameters()):,} parameters"),
        ("labels", ", ".join(config.label_names) or "none (unconditional)"),
        ("weights", "EMA" + (f" (decay {doc['ema_decay']})" if doc.get("ema_decay") is not None else "")
                    + (" + raw" if has_raw else "")
                    + f", stored as {doc.get('weights_dtype', 'float32')}"),
        ("training", f"lr {config.train.lr}, batch {config.train.batch_size}, {config.train.seconds} s crops, "
                     f"weighting {config.train.weighting}"),
        ("sampler", f"{config.sample.sampler}, {config.sample.steps} steps"),
        ("version", f"audiodiff {doc.get('version')}" + (f"; recipe {meta['recipe']}" if meta.get("recipe") else "")),
    ]
    for key, value in rows:
        click.echo(f"{key:<10} {value}")


@main.command(context_settings=CONTEXT)
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.argument("out_dir", type=click.Path(path_type=Path))
@click.option("--note", default=None, help="free text stored in config.json's provenance (info.note)")
@click.option("--set", "overrides", multiple=True, metavar="sample.KEY=VALUE",
              help="sampling default to ship with, e.g. --set sample.guidance=3 (repeatable)")
@click.option("--half", is_flag=True, help="store float16 weights: half the file, loaded back as float32")
@cli_errors
def export(run_dir: Path, out_dir: Path, note: str | None, overrides: tuple[str, ...], half: bool) -> None:
    """Copy a run's EMA weights alone (no raw weights, no optimizer) + config.json to OUT_DIR, for shipping.

    \b
    Example:
      audiodiff export runs/digits audiodiff/pretrained/digits --set sample.guidance=3 --note "CPU, 2 cores"
    """
    import platform

    import torch

    from .checkpoint import MODEL_FILE, export_model

    if out_dir.exists() and any(out_dir.iterdir()):
        raise click.ClickException(f"{out_dir} exists and is not empty")
    info = {"exported_from": os.fspath(run_dir), "hardware": f"{platform.machine()}, {os.cpu_count()} cores",
            "torch": torch.__version__}
    if note:
        info["note"] = note
    out = export_model(run_dir, out_dir, info=info, sample=overrides, half=half)
    size = (out / MODEL_FILE).stat().st_size
    click.echo(f"exported {run_dir} to {out} ({size / 2**20:.1f} MiB of weights)")

# --- generation and inverse problems (thin wrappers over audiodiff.pipeline) -------------------------
MODEL_OPTION = click.option("--model", "model_name", default=None, metavar="NAME_OR_DIR",
                            help="a shipped model name (see `audiodiff models`) or a model directory "
                                 "[default: digits for generate, speech for inpaint/extend/evaluate]")


def sampling_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--sampler, --steps, --eps, --seed, --device, --progress for every sampling command."""
    from .sampling import SAMPLERS

    options = [
        click.option("--sampler", type=click.Choice(sorted(SAMPLERS)), default=None,
                     help="sampler [default: the model's]"),
        click.option("--steps", type=click.IntRange(min=1), default=None, help="sampler steps [default: the model's]"),
        click.option("--eps", type=float, default=None,
                     help="final sampling time, where the last denoise happens [default: the model's; VP 1e-3]"),
        click.option("--seed", type=int, default=0, help="random seed"),
        click.option("--device", default="cpu", help="torch device"),
        click.option("--progress/--no-progress", default=True, help="show progress bars"),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def restore_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--strategy, --resample, --zeta, --t-init for the inverse-problem commands (None: the model's default)."""
    from .posterior import STRATEGIES

    options = [
        click.option("--strategy", type=click.Choice(STRATEGIES), default=None,
                     help="posterior strategy [default: the model's, else replacement]"),
        click.option("--resample", type=click.IntRange(min=0), default=None,
                     help="RePaint resampling per step [default: the model's, else 1]"),
        click.option("--zeta", type=click.FloatRange(min=0), default=None,
                     help="DPS step size (Chung et al. 2023) [default: the model's, else 1]"),
        click.option("--t-init", "t_init", type=click.FloatRange(min=0, min_open=True), default=None,
                     help="warm start time for --init [default: the model's]"),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def open_pipeline(model_name: str | None, device: str, command: str):
    from .pipeline import DEFAULT_MODELS, AudioDiffusion

    return AudioDiffusion.from_pretrained(model_name or DEFAULT_MODELS[command], device=device)


def parse_gap(ctx, param, values: tuple[str, ...]) -> list[tuple[float, float]]:
    gaps = []
    for text in values:
        try:
            start, end = (float(v) for v in text.split(":"))
        except ValueError:
            raise click.BadParameter(f"{text!r} is not START:END in seconds, e.g. 1.0:1.2") from None
        gaps.append((start, end))
    return gaps


def load_input(path: Path, out_path: Path):
    """IN as (wav, rate), after checking that OUT can be written: a bad output path fails before the sampling."""
    from .audio import check_writable, load

    check_writable(out_path)
    return load(path)


def load_guess(path: Path, wav, sample_rate: int):
    """--init-audio FILE as a tensor like IN's `wav` [ch, n], or ValueError saying how it differs."""
    from .audio import load

    guess, rate = load(path)
    if rate != sample_rate or guess.shape != wav.shape:
        raise ValueError(f"--init-audio {path}: {rate} Hz, {guess.shape[0]} channel(s), {guess.shape[-1]} samples; "
                         f"it must match IN ({sample_rate} Hz, {wav.shape[0]} channel(s), {wav.shape[-1]} samples)")
    return guess


@main.command(context_settings=CONTEXT)
@MODEL_OPTION
@click.option("-n", "n", type=click.IntRange(min=1), default=None,
              help="number of clips [default: one per class for a class-conditional model, else 4]")
@click.option("--seconds", type=click.FloatRange(min=0, min_open=True), default=None,
              help="clip length; longer than the training clips uses overlapping windows [default: training length]")
@click.option("--label", default=None, help="class name for a class-conditional model")
@click.option("--guidance", type=click.FloatRange(min=0), default=None,
              help="classifier-free guidance scale [default: the model's]")
@sampling_options
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(path_type=Path), help="output folder")
@click.option("--plot", is_flag=True, help="also write a spectrogram PNG per clip")
@cli_errors
def generate(model_name, n, seconds, label, guidance, sampler, steps, eps, seed, device, progress, out_dir,
             plot) -> None:
    """Generate N clips into OUT_DIR as sample_000.wav, ... at the model's sample rate.

    A class-conditional model without --label cycles through its classes and names each file after its
    class (sample_000_zero.wav, ...).

    \b
    Examples:
      audiodiff generate -o out/
      audiodiff generate --model runs/tiny -n 4 --seconds 2 --steps 50 --seed 0 -o out/ --plot
    """
    from .audio import save
    from .train import save_spectrogram

    pipe = open_pipeline(model_name, device, "generate")
    names = pipe.label_names
    if label is None and names:
        n = n or len(names)
        labels = [names[i % len(names)] for i in range(n)]
    else:
        n = n or 4
        labels = label
    wav = pipe.generate(n, seconds, labels=labels, sampler=sampler, steps=steps, eps=eps, guidance=guidance,
                        seed=seed, progress=progress)
    out_dir.mkdir(parents=True, exist_ok=True)
    for i, clip in enumerate(wav):
        suffix = f"_{labels[i]}" if isinstance(labels, list) else ""
        path = out_dir / f"sample_{i:03d}{suffix}.wav"
        save(path, clip, pipe.sample_rate)
        if plot:
            save_spectrogram(path.with_suffix(".png"), clip, pipe.sample_rate, title=path.name)
    clips = f"{n} clip{'' if n == 1 else 's'}"
    click.echo(f"wrote {clips} of {wav.shape[-1] / pipe.sample_rate:.2f} s at {pipe.sample_rate} Hz to {out_dir}")


@main.command(context_settings=CONTEXT)
@click.argument("input_path", metavar="IN", type=click.Path(path_type=Path))
@click.option("-o", "--out", "out_path", required=True, type=click.Path(path_type=Path), help="output WAV")
@click.option("--gap", "gaps", multiple=True, required=True, callback=parse_gap, metavar="START:END",
              help="gap to fill, in seconds (repeatable)")
@click.option("--init", type=click.Choice([*BASELINES, "none"]), default=None,
              help="warm start from this classical fill diffused to --t-init [default: the model's]")
@click.option("--init-audio", "init_audio", type=click.Path(path_type=Path), default=None, metavar="FILE",
              help="warm start from FILE's audio in the gaps (another method's fill, at IN's rate, channels and "
                   "length), diffused to --t-init; above the model's band, FILE's content fills the gaps")
@click.option("--average", type=click.IntRange(min=1), default=None,
              help="fill with the mean of this many posterior samples (least squared error, less detail) "
                   "[default: the model's, else 1]")
@MODEL_OPTION
@restore_options
@sampling_options
@click.option("--plot", is_flag=True, help="also write input / output spectrogram PNGs")
@cli_errors
def inpaint(input_path, out_path, gaps, init, init_audio, average, model_name, strategy, resample, zeta, t_init,
            sampler, steps, eps, seed, device, progress, plot) -> None:
    """Fill the gaps of IN; OUT keeps IN's rate and channels, every sample outside the gaps unchanged. The
    model fills each channel at its own rate; above the model's Nyquist frequency the gaps get LPC's fill.

    \b
    Example:
      audiodiff inpaint speech.wav -o filled.wav --gap 1.0:1.2 --gap 2.0:2.05 --model runs/tiny
    """
    wav, sr = load_input(input_path, out_path)
    if init_audio is not None:
        if init is not None:
            raise click.UsageError("give --init or --init-audio, not both")
        init = load_guess(init_audio, wav, sr)
    pipe = open_pipeline(model_name, device, "inpaint")
    out = pipe.inpaint(wav, sr, gaps=gaps, init=init, t_init=t_init, average=average, strategy=strategy,
                       resample=resample, zeta=zeta, sampler=sampler, steps=steps, eps=eps, seed=seed,
                       progress=progress, keep_rate=True)[0]
    write_restored(wav, sr, out, sr, out_path, plot, input_path)
    above = f"; above {pipe.sample_rate // 2} Hz, LPC" if sr > pipe.sample_rate else ""
    click.echo(f"wrote {out_path} ({sr} Hz, {out.shape[0]} channel(s), as IN; filled {len(gaps)} gap(s) by the "
               f"model at {pipe.sample_rate} Hz{above})")


@main.command(context_settings=CONTEXT)
@click.argument("input_path", metavar="IN", type=click.Path(path_type=Path))
@click.option("-o", "--out", "out_path", required=True, type=click.Path(path_type=Path), help="output WAV")
@click.option("--cutoff", type=float, required=True, help="bandwidth of IN in Hz (content above is generated)")
@click.option("--filter", "kind", type=click.Choice(["fir", "butter", "cheby1", "ideal"]), default="fir",
              help="zero-phase low-pass used for data consistency")
@click.option("--init", type=click.Choice(["observed", "none"]), default=None,
              help="warm start from IN diffused to --t-init [default: the model's]")
@click.option("--silence-db", type=float, default=-80.0, show_default=True,
              help="keep IN's silent stretches (10 ms frames below this level in dBFS) silent")
@click.option("--no-gate", is_flag=True, help="generate the high band in silent stretches too")
@MODEL_OPTION
@restore_options
@sampling_options
@click.option("--plot", is_flag=True, help="also write input / output spectrogram PNGs")
@cli_errors
def extend(input_path, out_path, cutoff, kind, init, silence_db, no_gate, model_name, strategy, resample, zeta,
           t_init, sampler, steps, eps, seed, device, progress, plot) -> None:
    """Bandwidth extension of IN above --cutoff Hz, up to the model's Nyquist frequency. OUT keeps IN's channels
    and its rate (or the model's, if higher); outside the generated band it is IN.

    \b
    Example:
      audiodiff extend phone.wav -o wide.wav --cutoff 4000 --model runs/tiny
    """
    wav, sr = load_input(input_path, out_path)
    pipe = open_pipeline(model_name, device, "extend")
    out = pipe.extend(wav, sr, cutoff_hz=cutoff, kind=kind, init=init, t_init=t_init,
                      silence_db=None if no_gate else silence_db, strategy=strategy, resample=resample, zeta=zeta,
                      sampler=sampler, steps=steps, eps=eps, seed=seed, progress=progress, keep_rate=True)[0]
    out_sr = max(sr, pipe.sample_rate)
    write_restored(wav, sr, out, out_sr, out_path, plot, input_path)
    channels = f"{out.shape[0]} channel(s)"
    held = f"{out_sr} Hz, {channels}, as IN" if out_sr == sr else \
        f"{out_sr} Hz, the model's rate (IN: {sr} Hz), {channels} as IN"
    click.echo(f"wrote {out_path} ({held}; band {cutoff:g}-{pipe.sample_rate // 2} Hz generated by the model)")


def write_restored(wav, sr: int, out, out_sr: int, out_path: Path, plot: bool, input_path: Path) -> None:
    """Save OUT (out at out_sr) in IN's sample format where OUT's format holds it (24-bit stays 24-bit, so
    what was not restored is bit-identical) and, with --plot, OUT.input.png and OUT.png spectrograms."""
    from .audio import matching_subtype, save
    from .train import save_spectrogram

    save(out_path, out, out_sr, subtype=matching_subtype(input_path, out_path))
    over = int((out.abs() > 1).sum())
    if over:  # the restored part can be louder than IN
        click.echo(f"warning: {over} sample(s) above full scale were clipped in {out_path}", err=True)
    if plot:
        save_spectrogram(out_path.with_suffix(".input.png"), wav, sr, title=f"input ({sr} Hz)")
        save_spectrogram(out_path.with_suffix(".png"), out, out_sr, title=f"output ({out_sr} Hz)")


@main.command(context_settings=CONTEXT)
@click.argument("model_name", metavar="MODEL")
@click.option("--task", type=click.Choice(["inpaint", "extend"]), required=True)
@click.option("--data", required=True, type=click.Path(path_type=Path), help="folder of reference audio")
@click.option("--gap-ms", default="50,100,200,300", help="inpaint: comma-separated gap lengths in ms")
@click.option("--cutoff", type=float, default=4000.0, help="extend: bandwidth of the degraded input in Hz")
@click.option("--seconds", type=click.FloatRange(min=0, min_open=True), default=None,
              help="crop each file to its first SECONDS")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="use at most this many files")
@click.option("--out", "out_prefix", type=click.Path(path_type=Path), default=None,
              help="write OUT.csv and OUT.json [default: evaluate_TASK in the current folder]")
@click.option("--init", type=click.Choice([*BASELINES, "observed", "none"]), default=None,
              help="warm start (inpaint: a classical fill; extend: observed) [default: the model's]")
@click.option("--average", type=click.IntRange(min=1), default=None,
              help="inpaint: fill with the mean of this many posterior samples [default: the model's, else 1]")
@restore_options
@sampling_options
@cli_errors
def evaluate(model_name, task, data, gap_ms, cutoff, seconds, limit, out_prefix, init, average, strategy, resample,
             zeta, t_init, sampler, steps, eps, seed, device, progress) -> None:
    """Compare MODEL with the classical baselines on --data: mean ± std over files, saved as CSV and JSON.

    \b
    Examples:
      audiodiff evaluate runs/tiny --task inpaint --data clips/ --gap-ms 50,100,200,300
      audiodiff evaluate runs/tiny --task extend --data clips/ --cutoff 4000
    """
    from .evaluation import evaluate as run_evaluation
    from .evaluation import format_table, summarize, write_results

    try:
        gaps_ms = [float(v) for v in gap_ms.split(",") if v.strip()]
    except ValueError:
        raise click.BadParameter(f"{gap_ms!r} is not a comma-separated list of milliseconds",
                                 param_hint="--gap-ms") from None
    if average is not None and task != "inpaint":
        raise click.BadParameter("only inpainting averages posterior samples", param_hint="--average")
    pipe = open_pipeline(model_name, device, "evaluate")
    rows = run_evaluation(pipe, data, task=task, gaps_ms=gaps_ms, cutoff_hz=cutoff, seconds=seconds, limit=limit,
                          init=init, t_init=t_init, strategy=strategy, resample=resample, zeta=zeta, sampler=sampler,
                          steps=steps, eps=eps, seed=seed, progress=progress, average=average)
    summary = summarize(rows)
    paths = write_results(out_prefix or Path(f"evaluate_{task}"), rows, summary)
    click.echo(format_table(summary))
    click.echo(f"{len({r['file'] for r in rows})} files at {pipe.sample_rate} Hz; wrote {', '.join(map(str, paths))}")


@main.command(context_settings=CONTEXT)
@cli_errors
def models() -> None:
    """List the models shipped with audiodiff (usable as --model NAME).

    \b
    Example:
      audiodiff models
    """
    from .checkpoint import read_model_config
    from .pipeline import DEFAULT_MODELS, PRETRAINED_DIR, shipped_models

    names = shipped_models()
    if not names:
        click.echo("no shipped models yet; train one with `audiodiff train tiny --data DIR --out RUN_DIR` "
                   "and pass --model RUN_DIR")
        return
    for name in names:
        doc = read_model_config(PRETRAINED_DIR / name)
        fe = doc["frontend"]
        labels = ", ".join(doc.get("label_names", [])) or "unconditional"
        commands = [c for c, default in DEFAULT_MODELS.items() if default == name]
        mark = f" (default for {', '.join(commands)})" if commands else ""
        click.echo(f"{name}{mark}: {fe['name']} {fe['sample_rate']} Hz, {doc['sde']['name']} SDE, "
                   f"step {doc['step']}, {labels}")
