"""Typed experiment configuration: front end, SDE, net, training and sampling, serialised as JSON.

Recipes are Python files whose `config()` returns a `Config`; the command line tweaks it with
`--set train.lr=2e-4` style overrides, which are type-checked against the dataclass fields (nanoGPT-style
configs, no YAML trees). The builders at the bottom turn a config into the objects it describes.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import json
import math
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from torch import nn

from .sde import SDE, sde_from_config


@dataclass
class FrontendConfig:
    """The audio <-> model-signal map; `name` picks Waveform or LogMel, the other fields are its options."""

    name: Literal["waveform", "logmel"] = "waveform"
    sample_rate: int = 16000
    channels: int = 1              # audio channels (1 mono, 2 stereo)
    scale: float = 1.0             # waveform only
    preemphasis: float = 0.0       # waveform only: x[n] = wav[n] - a wav[n-1] (0: none)
    n_fft: int = 1024              # logmel only, from here down
    hop_length: int = 256
    n_mels: int = 80
    f_min: float = 0.0
    f_max: float | None = None
    griffin_lim_iters: int | None = None   # logmel; None: the front end's default
    momentum: float | None = None          # logmel Griffin-Lim momentum; None: the front end's default


@dataclass
class SDEConfig:
    """The noise process (Song et al. 2021): VP and sub-VP use beta_*, VE uses sigma_*."""

    name: Literal["vp", "subvp", "ve"] = "vp"
    beta_min: float = 0.1
    beta_max: float = 20.0
    sigma_min: float = 0.01
    sigma_max: float = 50.0
    T: float = 1.0


@dataclass
class NetConfig:
    """The network: a preset of `name` plus constructor overrides, or (preset None) the full constructor kwargs."""

    name: Literal["unet1d"] = "unet1d"
    preset: str | None = "tiny"
    options: dict[str, Any] = field(default_factory=dict)
    sigma_data: float = 0.5        # EDM preconditioning's data std (Karras et al. 2022, eq. 7)


@dataclass
class TrainConfig:
    """Optimisation, data and logging settings of `Trainer`."""

    lr: float = 2e-4
    batch_size: int = 16           # global batch, split over DDP ranks
    steps: int = 100_000
    warmup: int = 1000             # linear learning-rate warm-up steps
    lr_schedule: Literal["constant", "cosine"] = "constant"  # after warm-up; cosine reaches 0 at `steps`
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    ema_decay: float = 0.999
    grad_clip: float | None = 1.0
    weighting: Literal["sigma2", "likelihood"] = "sigma2"
    eps: float = 1e-5              # smallest diffusion time drawn by the loss
    t_sampling: Literal["uniform", "lognormal"] = "uniform"  # training times (losses.sample_times)
    p_mean: float = -1.2           # lognormal: mean and std of ln sigma (Karras et al. 2022)
    p_std: float = 1.2
    seconds: float = 1.0           # crop length
    labels: bool = False           # class-conditional on first-level sub-folder names
    label_dropout: float = 0.0     # drop labels to the null class (-1) for classifier-free guidance
    pad_short: bool = True         # pad clips shorter than the crop (else skip them)
    normalize: Literal["peak", "rms"] | None = "peak"
    val_fraction: float = 0.0
    cache: bool = True
    seed: int = 0
    num_workers: int = 0
    amp: Literal["auto", "bf16", "fp16", "none"] = "auto"   # auto: bf16 on CUDA (fp16 if unsupported), fp32 on CPU
    compile: bool = False          # torch.compile the network for the training step (needs a C++ compiler on CPU)
    log_every: int = 50
    ckpt_every: int = 1000
    preview_every: int = 0         # 0: no audio previews
    preview_count: int = 2
    max_nonfinite: int = 10        # stop after this many non-finite losses in a row


@dataclass
class SampleConfig:
    """Default sampler for previews and generation (see sampling.sample)."""

    sampler: str = "heun"
    steps: int = 50
    eps: float | None = None
    seconds: float | None = None   # None: train.seconds
    guidance: float = 1.0          # classifier-free guidance scale for class-conditional models
    options: dict[str, Any] = field(default_factory=dict)
    # per-task defaults of AudioDiffusion.inpaint / .extend (sampler, steps, strategy, resample, zeta, init,
    # t_init, options), measured by bench/nfe.py and shipped with the model; explicit arguments win
    inpaint: dict[str, Any] = field(default_factory=dict)
    extend: dict[str, Any] = field(default_factory=dict)


@dataclass
class Config:
    """A whole experiment; `Config.from_dict(c.to_dict()) == c`."""

    frontend: FrontendConfig = field(default_factory=FrontendConfig)
    sde: SDEConfig = field(default_factory=SDEConfig)
    net: NetConfig = field(default_factory=NetConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    sample: SampleConfig = field(default_factory=SampleConfig)
    label_names: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        """A JSON-able nested dict."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), indent=2, **kwargs)

    @classmethod
    def from_dict(cls, d: dict) -> "Config":
        """Rebuild from `to_dict()`; unknown keys or wrongly typed values raise ValueError naming them."""
        config = _from_dict(cls, d, "")
        config.validate()
        return config

    @classmethod
    def from_json(cls, text: str) -> "Config":
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"config is not valid JSON: {e}") from None
        return cls.from_dict(d)

    def validate(self) -> None:
        """Range checks a type cannot express; ValueError naming the field."""
        t, f = self.train, self.frontend
        checks = [
            (f.sample_rate > 0, "frontend.sample_rate must be > 0"),
            (f.channels in (1, 2), "frontend.channels must be 1 or 2"),
            (t.lr > 0 and math.isfinite(t.lr), "train.lr must be a positive number"),
            (t.batch_size >= 1, "train.batch_size must be >= 1"),
            (t.steps >= 0, "train.steps must be >= 0"),
            (t.warmup >= 0, "train.warmup must be >= 0"),
            (0 <= t.ema_decay < 1, "train.ema_decay must lie in [0, 1)"),
            (t.grad_clip is None or t.grad_clip > 0, "train.grad_clip must be > 0 or null"),
            (t.seconds > 0, "train.seconds must be > 0"),
            (0 <= t.val_fraction < 1, "train.val_fraction must lie in [0, 1)"),
            (0 <= t.label_dropout < 1, "train.label_dropout must lie in [0, 1)"),
            (0 < t.eps < 1, "train.eps must lie in (0, 1)"),
            (t.p_std > 0, "train.p_std must be > 0"),
            (t.num_workers >= 0, "train.num_workers must be >= 0"),
            (t.log_every >= 1, "train.log_every must be >= 1"),
            (t.ckpt_every >= 1, "train.ckpt_every must be >= 1"),
            (t.preview_every >= 0, "train.preview_every must be >= 0"),
            (t.max_nonfinite >= 1, "train.max_nonfinite must be >= 1"),
            (self.net.sigma_data > 0, "net.sigma_data must be > 0"),
            (self.sample.steps >= 1, "sample.steps must be >= 1"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)


# --- typed (de)serialisation ------------------------------------------------------------------------
def _coerce(value: Any, tp: Any, name: str) -> Any:
    """Check a JSON value against a type hint and convert it (lists to tuples, ints to floats)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(value, arg, name)
            except ValueError as e:
                errors.append(str(e))
        raise ValueError(errors[0] if len(errors) == 1 else f"{name}: {value!r} matches none of {tp}")
    if origin is Literal:
        if value not in args:
            raise ValueError(f"{name} must be one of {list(args)}, got {value!r}")
        return value
    if dataclasses.is_dataclass(tp):
        return _from_dict(tp, value, name + ".")
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{name} must be a list, got {value!r}")
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            if len(value) != len(args):
                raise ValueError(f"{name} must have {len(args)} entries, got {len(value)}")
            return tuple(_coerce(v, a, f"{name}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
        item = args[0] if args else Any
        out = [_coerce(v, item, f"{name}[{i}]") for i, v in enumerate(value)]
        return tuple(out) if origin is tuple else out
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise ValueError(f"{name} must be a mapping, got {value!r}")
        return dict(value)
    if tp is bool:
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{name} must be an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{name} must be a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ValueError(f"{name} must be a string, got {value!r}")
        return value
    raise TypeError(f"unsupported config type {tp} for {name}")


def _from_dict(cls: type, d: Any, prefix: str) -> Any:
    if not isinstance(d, dict):
        raise ValueError(f"{prefix.rstrip('.') or 'config'} must be a mapping, got {d!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - names)
    if unknown:
        raise ValueError(f"unknown config key {prefix + unknown[0]!r}; known keys: {sorted(names)}")
    return cls(**{k: _coerce(v, hints[k], prefix + k) for k, v in d.items()})


def _parse_value(text: str, tp: Any) -> Any:
    """Command-line text -> JSON value: JSON literals, Python's True/False/None, else the bare string."""
    if tp is str:
        return text
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return {"True": True, "False": False, "None": None, "none": None}.get(text, text)


def apply_overrides(config: Config, overrides: list[str] | tuple[str, ...]) -> Config:
    """A copy of `config` with `section.key=value` overrides applied, e.g. ["train.lr=2e-4", "net.preset=small"].

    Values are JSON (`[32, 64]`, `null`, `true`); `net.options.<kwarg>=...` sets a net constructor argument.
    An unknown key or a value of the wrong type raises ValueError naming it.
    """
    d = config.to_dict()
    for item in overrides:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"override {item!r} must look like section.key=value")
        node, cls, parts = d, Config, key.split(".")
        for i, part in enumerate(parts):
            path = ".".join(parts[: i + 1])
            if cls is None:  # inside a free-form dict such as net.options
                if i == len(parts) - 1:
                    node[part] = _parse_value(text, Any)
                else:
                    node = node.setdefault(part, {})
                continue
            hints = typing.get_type_hints(cls)
            if part not in hints:
                raise ValueError(f"unknown config key {path!r}; known keys: {sorted(hints)}")
            tp = hints[part]
            if i == len(parts) - 1:
                if dataclasses.is_dataclass(tp):
                    raise ValueError(f"config key {path!r} is a section; set one of its fields")
                node[part] = _parse_value(text, tp)
            elif dataclasses.is_dataclass(tp):
                node, cls = node[part], tp
            elif typing.get_origin(tp) is dict or tp is dict:
                node, cls = node[part], None
            else:
                raise ValueError(f"config key {path!r} has no sub-keys")
    return Config.from_dict(d)


# --- builders -------------------------------------------------------------------------------------
def build_frontend(config: FrontendConfig):
    """FrontendConfig -> Waveform or LogMel."""
    from . import frontends

    c = config
    if c.name == "waveform":
        return frontends.Waveform(c.sample_rate, channels=c.channels, scale=c.scale, preemphasis=c.preemphasis)
    options = dict(n_fft=c.n_fft, hop_length=c.hop_length, n_mels=c.n_mels, f_min=c.f_min, f_max=c.f_max,
                   channels=c.channels)
    options.update({k: v for k, v in (("griffin_lim_iters", c.griffin_lim_iters), ("momentum", c.momentum))
                    if v is not None})
    return frontends.LogMel(c.sample_rate, **options)


def build_sde(config: SDEConfig) -> SDE:
    """SDEConfig -> VPSDE, SubVPSDE or VESDE."""
    c = config
    if c.name == "ve":
        return sde_from_config({"name": "ve", "sigma_min": c.sigma_min, "sigma_max": c.sigma_max, "T": c.T})
    return sde_from_config({"name": c.name, "beta_min": c.beta_min, "beta_max": c.beta_max, "T": c.T})


def net_class(name: str) -> type[nn.Module]:
    """The network class registered under `name`."""
    from .nets.unet1d import UNet1d

    nets = {"unet1d": UNet1d}
    if name not in nets:
        raise ValueError(f"unknown net name {name!r}; expected one of {sorted(nets)}")
    return nets[name]


def build_net(config: NetConfig, in_channels: int, *, num_classes: int | None = None) -> nn.Module:
    """NetConfig -> network for signals with `in_channels` channels (class-conditional if num_classes)."""
    cls = net_class(config.name)
    options = dict(config.options)
    if num_classes:
        options["num_classes"] = num_classes
    try:
        if config.preset is not None:
            return cls.preset(config.preset, in_channels, **options)
        return cls(in_channels=in_channels, **options) if "in_channels" not in options else cls(**options)
    except TypeError as e:  # an unknown constructor keyword
        raise ValueError(f"bad net.options for {config.name}: {e}") from None


def build_model(config: Config, frontend=None):
    """Config -> ScoreModel (net + SDE with EDM preconditioning), for `frontend` (built from config if None)."""
    from .precond import ScoreModel

    frontend = frontend if frontend is not None else build_frontend(config.frontend)
    net = build_net(config.net, frontend.channels, num_classes=len(config.label_names) or None)
    return ScoreModel(net, build_sde(config.sde), sigma_data=config.net.sigma_data)


# --- recipes ----------------------------------------------------------------------------------------
def recipe_dirs() -> list[Path]:
    """Where recipe names are looked up: ./recipes, then the recipes/ folder next to the package."""
    return [Path.cwd() / "recipes", Path(__file__).resolve().parents[1] / "recipes"]


def load_recipe(spec: str | os.PathLike) -> Config:
    """A Config from a recipe .py (its `config()`), a config .json (or a model's config.json), or a recipe name."""
    path = Path(spec)
    if path.suffix == ".json":
        if not path.is_file():
            raise ValueError(f"config file {os.fspath(path)!r} not found")
        try:
            d = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ValueError(f"{os.fspath(path)}: not valid JSON ({e})") from None
        if isinstance(d, dict) and isinstance(d.get("config"), dict):  # a model directory's config.json
            d = d["config"]
        return Config.from_dict(d)
    if path.suffix != ".py":
        candidates = [d / f"{spec}.py" for d in recipe_dirs()]
        found = [p for p in candidates if p.is_file()]
        if not found:
            names = sorted({p.stem for d in recipe_dirs() if d.is_dir() for p in d.glob("[!_]*.py")})
            raise ValueError(f"recipe {os.fspath(spec)!r} not found: give a recipe .py, a config .json or one of "
                             f"{names}")
        path = found[0]
    if not path.is_file():
        raise ValueError(f"recipe file {os.fspath(path)!r} not found")
    module_spec = importlib.util.spec_from_file_location(f"audiodiff_recipe_{path.stem}", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    if not callable(getattr(module, "config", None)):
        raise ValueError(f"recipe {os.fspath(path)!r} has no config() function")
    config = module.config()
    if not isinstance(config, Config):
        raise ValueError(f"recipe {os.fspath(path)!r}: config() returned {type(config).__name__}, not a Config")
    config.validate()
    return config
