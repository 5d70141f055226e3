"""Checkpoints as data, never pickled code: safetensors for tensors, JSON for everything else.

A model directory holds
    model.safetensors  the EMA weights under the ScoreModel's own keys, the raw (online) weights under "raw."
    config.json        the experiment Config, the resolved net / front end / SDE configs, label names,
                       training step, package version and provenance (recipe, command, wall time)
and `load(dir)` rebuilds a ready ScoreModel from it. A run directory is a model directory plus
    state.safetensors  raw + EMA weights, optimizer tensors and RNG states, with the JSON half of the training
                       state (step, optimizer scalars, Python/NumPy RNG, data position, config) in its metadata,
so the resume state is one file, replaced atomically (temp file + os.replace): a kill at any moment leaves
the previous good checkpoint. Every problem is a one-line `CheckpointError` (a ValueError) naming the file.
"""
from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any, Callable

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import Tensor, nn

from .config import Config, net_class
from .sde import sde_from_config

MODEL_FILE, CONFIG_FILE, STATE_FILE = "model.safetensors", "config.json", "state.safetensors"
FORMAT, STATE_FORMAT, FORMAT_VERSION = "audiodiff-model", "audiodiff-train-state", 1
RAW_PREFIX = "raw."


class CheckpointError(ValueError):
    """A missing, corrupt, truncated or mismatched checkpoint file; the message names it."""


def _version() -> str:
    from . import __version__
    return __version__


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Run write(tmp) on a temp file next to `path`, then os.replace it onto `path` (all or nothing)."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # writers may create 0600 temp files; give the usual permissions
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json(path: Path, data: dict) -> None:
    """Atomically write `data` as indented JSON."""
    atomic_write(Path(path), lambda tmp: tmp.write_text(json.dumps(data, indent=2) + "\n"))


def save_tensors(path: Path, tensors: dict[str, Tensor], metadata: dict[str, str]) -> None:
    """Atomically write `tensors` (moved to CPU) and string `metadata` as a safetensors file."""
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    atomic_write(Path(path), lambda tmp: save_file(tensors, str(tmp), metadata=metadata))


def read_tensors(path: str | os.PathLike) -> tuple[dict[str, Tensor], dict[str, str]]:
    """(tensors, metadata) of a safetensors file; a missing or unreadable one is a CheckpointError."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: file not found")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            return {k: f.get_tensor(k) for k in f.keys()}, dict(f.metadata() or {})
    except Exception as e:  # safetensors raises several types for damaged files
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise CheckpointError(f"{path}: corrupt or truncated safetensors file ({reason})") from None


def read_json(path: str | os.PathLike) -> dict:
    """A JSON object from `path`; missing, truncated or non-object files are a CheckpointError."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: file not found")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path}: corrupt JSON ({e})") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: expected a JSON object")
    return data


def load_weights(module: nn.Module, tensors: dict[str, Tensor], path: str | os.PathLike) -> None:
    """Strict load_state_dict with missing / unexpected keys or shape mismatches as one-line CheckpointErrors."""
    own = module.state_dict()
    missing, unexpected = sorted(set(own) - set(tensors)), sorted(set(tensors) - set(own))
    if missing or unexpected:
        raise CheckpointError(f"{path}: weights do not match the model: {len(missing)} missing (e.g. "
                              f"{missing[:2]}), {len(unexpected)} unexpected (e.g. {unexpected[:2]})")
    for k, v in own.items():
        if v.shape != tensors[k].shape:
            raise CheckpointError(f"{path}: weight {k!r} has shape {tuple(tensors[k].shape)}, "
                                  f"the model expects {tuple(v.shape)}")
    module.load_state_dict(tensors)


# --- model directories -------------------------------------------------------------------------------
def save_model(model_dir: str | os.PathLike, model: nn.Module, frontend, config: Config, *,
               ema: nn.Module | None = None, step: int = 0, info: dict[str, Any] | None = None,
               half: bool = False) -> Path:
    """Write model.safetensors (EMA weights, raw ones under "raw.") + config.json; returns the directory.

    `model` is the raw ScoreModel, `ema` its exponential moving average (None: the raw weights are the
    model's). `info` adds provenance (recipe, command, wall_time_s, ...) to config.json. `half` stores the
    floating weights as float16 (half the file; `load` casts them back to the model's float32).
    """
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    served = ema if ema is not None else model
    tensors = dict(served.state_dict())
    if ema is not None:
        tensors.update({RAW_PREFIX + k: v for k, v in model.state_dict().items()})
    if half:
        tensors = {k: v.half() if v.is_floating_point() else v for k, v in tensors.items()}
    meta = {"format": FORMAT, "step": str(int(step))}
    save_tensors(model_dir / MODEL_FILE, tensors, meta)
    net = model.net
    doc = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "version": _version(), "step": int(step),
        "config": config.to_dict(), "net_name": config.net.name, "net": net.config(),
        "frontend": frontend.config(), "sde": model.sde.config(), "sigma_data": model.sigma_data,
        "label_names": list(config.label_names), "ema_decay": config.train.ema_decay if ema is not None else None,
        "parameters": sum(p.numel() for p in net.parameters()), "info": dict(info or {}),
        "weights_dtype": "float16" if half else "float32",
    }
    write_json(model_dir / CONFIG_FILE, doc)
    return model_dir


def saved_config(doc: dict, path: str | os.PathLike) -> Config:
    """The training Config stored under "config" in a checkpoint's JSON `doc` (read from `path`); a
    CheckpointError if it is missing or invalid."""
    try:
        return Config.from_dict(doc["config"])
    except (KeyError, ValueError) as e:
        raise CheckpointError(f"{path}: bad saved config ({e})") from None


def read_model_config(model_dir: str | os.PathLike) -> dict:
    """config.json of a model directory, checked for format; a CheckpointError otherwise."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise CheckpointError(f"{model_dir}: model directory not found")
    doc = read_json(model_dir / CONFIG_FILE)
    if doc.get("format") != FORMAT:
        raise CheckpointError(f"{model_dir / CONFIG_FILE}: not an audiodiff model config (format "
                              f"{doc.get('format')!r})")
    if int(doc.get("format_version", 0)) > FORMAT_VERSION:
        raise CheckpointError(f"{model_dir / CONFIG_FILE}: format version {doc['format_version']} is newer than "
                              f"this audiodiff ({FORMAT_VERSION}); upgrade the package")
    for key in ("config", "net", "frontend", "sde", "sigma_data", "step"):
        if key not in doc:
            raise CheckpointError(f"{model_dir / CONFIG_FILE}: missing key {key!r}")
    return doc


def load(model_dir: str | os.PathLike, *, weights: str = "ema", device: torch.device | str = "cpu"):
    """Model directory -> (ScoreModel in eval mode without grads, Frontend, Config).

    `weights="ema"` (default) loads the averaged weights, "raw" the online ones.
    """
    from .frontends import frontend_from_config
    from .precond import ScoreModel

    if weights not in ("ema", "raw"):
        raise ValueError(f"weights must be 'ema' or 'raw', got {weights!r}")
    model_dir = Path(model_dir)
    doc = read_model_config(model_dir)
    cfg_path = model_dir / CONFIG_FILE
    try:
        config = Config.from_dict(doc["config"])
        frontend = frontend_from_config(doc["frontend"])
        net = net_class(doc.get("net_name", "unet1d"))(**doc["net"])
        model = ScoreModel(net, sde_from_config(doc["sde"]), sigma_data=doc["sigma_data"])
    except (ValueError, TypeError) as e:
        raise CheckpointError(f"{cfg_path}: cannot rebuild the model ({e})") from None
    path = model_dir / MODEL_FILE
    tensors, meta = read_tensors(path)
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an audiodiff model file")
    if meta.get("step") != str(doc["step"]):
        raise CheckpointError(f"{path} (step {meta.get('step')}) does not match {cfg_path} (step {doc['step']}): "
                              "the directory holds files from different checkpoints")
    if weights == "raw":
        raw = {k[len(RAW_PREFIX):]: v for k, v in tensors.items() if k.startswith(RAW_PREFIX)}
        if not raw:
            raise CheckpointError(f"{path}: holds no raw weights (saved without EMA); use weights='ema'")
        tensors = raw
    else:
        tensors = {k: v for k, v in tensors.items() if not k.startswith(RAW_PREFIX)}
    load_weights(model, tensors, path)
    model.to(device).eval().requires_grad_(False)
    return model, frontend, config


def export_model(run_dir: str | os.PathLike, out_dir: str | os.PathLike, *, info: dict[str, Any] | None = None,
                 sample: list[str] | tuple[str, ...] = (), half: bool = False) -> Path:
    """Write the EMA weights alone (no raw copy, no optimizer) of a run or model dir to `out_dir`, for shipping.

    The provenance in config.json is kept and extended by `info` (e.g. hardware, notes); `sample` overrides
    the sampling defaults the model ships with (["sample.guidance=3", "sample.steps=25"]; other sections would
    no longer describe the weights, so they are refused); `half` stores float16 weights (half the size: the
    shipped `speech` model's inpainting LSD moved by 1e-4). The result loads with `load(out_dir)`.
    """
    from .config import apply_overrides

    bad = [item for item in sample if not item.strip().startswith("sample.")]
    if bad:
        raise ValueError(f"export overrides must be sample.* settings, got {bad}")
    doc = read_model_config(run_dir)
    model, frontend, config = load(run_dir)
    config = apply_overrides(config, list(sample))
    merged = {**doc.get("info", {}), **dict(info or {})}
    out = save_model(out_dir, model, frontend, config, step=int(doc["step"]), info=merged, half=half)
    if doc.get("ema_decay") is not None:  # say what the weights are, though the raw copy is dropped
        exported = read_json(out / CONFIG_FILE)
        exported["ema_decay"] = doc["ema_decay"]
        write_json(out / CONFIG_FILE, exported)
    return out

# --- training state ----------------------------------------------------------------------------------
def optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, Tensor], dict]:
    """Flatten an optimizer state_dict into safetensors-ready tensors ("opt.{param}.{name}") and JSON."""
    sd = optimizer.state_dict()
    tensors, scalars = {}, {}
    for idx, state in sd["state"].items():
        for name, value in state.items():
            if isinstance(value, Tensor):
                tensors[f"opt.{idx}.{name}"] = value
            else:
                scalars[f"{idx}.{name}"] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def restore_optimizer(optimizer: torch.optim.Optimizer, tensors: dict[str, Tensor], doc: dict) -> None:
    """Inverse of `optimizer_tensors`."""
    state: dict[int, dict] = {}
    for key, value in tensors.items():
        if key.startswith("opt."):
            idx, name = key[4:].split(".", 1)
            state.setdefault(int(idx), {})[name] = value
    for key, value in doc["scalars"].items():
        idx, name = key.split(".", 1)
        state.setdefault(int(idx), {})[name] = value
    optimizer.load_state_dict({"state": state, "param_groups": doc["param_groups"]})


def save_state(path: str | os.PathLike, tensors: dict[str, Tensor], doc: dict) -> None:
    """Atomically write a training state: `tensors` to safetensors, `doc` (JSON-able) into its metadata."""
    meta = {"format": STATE_FORMAT, "format_version": str(FORMAT_VERSION), "state": json.dumps(doc)}
    save_tensors(Path(path), tensors, meta)


def load_state(path: str | os.PathLike) -> tuple[dict[str, Tensor], dict]:
    """(tensors, doc) written by `save_state`; a CheckpointError for anything else."""
    tensors, meta = read_tensors(path)
    if meta.get("format") != STATE_FORMAT or "state" not in meta:
        raise CheckpointError(f"{path}: not an audiodiff training state")
    try:
        return tensors, json.loads(meta["state"])
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{path}: corrupt training-state metadata ({e})") from None
