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


def _warning_line(message, category, filename, lineno, line=None) -> str:
    return f"Warning: {message}\n"


@click.group(context_settings=CONTEXT)
@click.version_option(package_name="audiodiff")
def main() -> None:
    """audiodiff: score-SDE diffusion for audio and music, no vocoder.

    \b
    Example:
      audiodiff train tiny --data tests/data --out runs/tiny
    """
    warnings.formatwarning = _warning_line  # library warnings as one line each


@main.command(context_settings=CONTEXT)
@click.argument("recipe", required=False)
@click.option("--data", required=True, type=click.Path(path_type=Path), help="folder of audio files (recursive)")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="run directory")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="config override, e.g. --set train.lr=2e-4 (repeatable)")
@click.option("--resume", is_flag=True, help="continue the run in --out from its last checkpoint")
@click.option("--steps", type=click.IntRange(min=0), default=None, help="total steps (default: train.steps)")
@click.option("--device", default=None, help="torch device (default: cuda if available, else cpu)")
@click.option("--progress/--no-progress", default=True, help="show a progress bar")
@cli_errors
def train(recipe: str | None, data: Path, out: Path, overrides: tuple[str, ...], resume: bool,
          steps: int | None, device: str | None, progress: bool) -> None:
    """Train a model from RECIPE (a recipe name or .py, or a config .json) on --data into --out.

    Under `torchrun --nproc_per_node=K` the same command trains with DistributedDataParallel.

    \b
    Examples:
      audiodiff train tiny --data tests/data --out runs/tiny --set train.lr=2e-4
      audiodiff train --resume --data tests/data --out runs/tiny --steps 80
    """
    from . import checkpoint as ckpt
    from .config import Config, apply_overrides, build_frontend, load_recipe
    from .data import AudioFolder
    from .train import Trainer

    state = out / ckpt.STATE_FILE
    if resume:
        _, doc = ckpt.load_state(state)
        try:
            config = Config.from_dict(doc["config"])
        except (KeyError, ValueError) as e:
            raise ckpt.CheckpointError(f"{state}: bad saved config ({e})") from None
        if recipe is not None:
            click.echo(f"resuming: using the run's saved config, not {recipe}", err=True)
    else:
        if recipe is None:
            raise click.UsageError("give a RECIPE (name, .py or config .json), or --resume")
        if out.exists() and (state.exists() or (out / ckpt.MODEL_FILE).exists()):
            raise ValueError(f"{out} already holds a training run: pass --resume to continue it or choose a new --out")
        if out.exists() and not out.is_dir():
            raise ValueError(f"--out {out} exists and is not a folder")
        config = load_recipe(recipe)
    config = apply_overrides(config, list(overrides) + ([f"train.steps={steps}"] if steps is not None else []))
    t = config.train
    frontend = build_frontend(config.frontend)
    dataset = AudioFolder(data, frontend, t.seconds, labels=t.labels, pad_short=t.pad_short, normalize=t.normalize,
                          split="train", val_fraction=t.val_fraction, cache=t.cache, seed=t.seed)
    info = {"recipe": recipe if not resume else None, "command": shlex.join(sys.argv), "data": os.fspath(data)}
    trainer = Trainer(config, dataset, out, resume=resume, device=device, progress=progress, info=info)
    if trainer.rank == 0:
        params = sum(p.numel() for p in trainer.model.parameters())
        click.echo(f"{dataset!r}; {params:,} parameters; step {trainer.step} -> {t.steps} on "
                   f"{trainer.world} x {trainer.device}", err=True)
    stats = trainer.train(t.steps)
    if trainer.rank == 0:
        loss = f", loss {stats['loss']:.4g}, {stats['samples_per_s']:.1f} samples/s" if stats else ""
        click.echo(f"step {trainer.step}{loss}; model in {out}")


@main.command(context_settings=CONTEXT)
@click.argument("model_dir", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="print the whole config.json instead")
@cli_errors
def info(model_dir: Path, as_json: bool) -> None:
    """Summarise a model directory: config, parameter count, training step.

    \b
    Example:
      audiodiff info runs/tiny
    """
    import json

    from .checkpoint import load, read_model_config

    doc = read_model_config(model_dir)
    model, frontend, config = load(model_dir)
    if as_json:
        click.echo(json.dumps(doc, indent=2))
        return
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
                f"{doc['net'].get('factors')}, {sum(p.numel() for p in model.net.parameters()):,} parameters"),
        ("labels", ", ".join(config.label_names) or "none (unconditional)"),
        ("weights", "EMA" + (f" (decay {doc['ema_decay']}) + raw" if doc.get("ema_decay") is not None else "")),
        ("training", f"lr {config.train.lr}, batch {config.train.batch_size}, {config.train.seconds} s crops, "
                     f"weighting {config.train.weighting}"),
        ("sampler", f"{config.sample.sampler}, {config.sample.steps} steps"),
        ("version", f"audiodiff {doc.get('version')}" + (f"; recipe {meta['recipe']}" if meta.get("recipe") else "")),
    ]
    for key, value in rows:
        click.echo(f"{key:<10} {value}")
