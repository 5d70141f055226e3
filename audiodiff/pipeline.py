"""AudioDiffusion: load a trained model and generate, inpaint or band-extend audio in three lines.

    pipe = ad.AudioDiffusion.from_pretrained("speech")          # a shipped name or a model directory
    wav = pipe.generate(n=4, seconds=2.0, seed=0)               # [4, ch, samples] at pipe.sample_rate
    out = pipe.inpaint(wav[0], pipe.sample_rate, gaps=[(1.0, 1.2)])

Audio in is converted to the model's rate and channel count; audio out is at the model's rate, or with
keep_rate=True (inpaint, extend) at the input's rate and channels, as the CLI writes it. Signals
longer than the training clips are processed by overlapping windows (`longform`). Waveform models solve
the inverse problem on samples; log-mel models mask frames (inpainting) or mel bands above the cutoff
(bandwidth extension), decode by Griffin-Lim, and put the observed samples / low band back in audio.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Sequence

import torch
from torch import Tensor

from .audio import normalization_gain, normalize, resample, set_channels, silence_gate
from .baselines import BASELINES, gaps_of
from .checkpoint import load
from .frontends import LogMel
from .longform import generate_long, restore_long
from .operators import LowPass, Mask
from .posterior import solve
from .sampling import sample
from .sde import Score
from .shape import per_sample
from .splice import splice, splice_band

PRETRAINED_DIR = Path(__file__).parent / "pretrained"
SIDE_FLOOR_DB = -30.0  # stereo restoration: a side this far below the mid is left alone (`_by_channel`)
# The CLI's default model per command: class-conditional digits for generation, speech for restoration.
DEFAULT_MODELS = {"generate": "digits", "inpaint": "speech", "extend": "speech", "evaluate": "speech"}


class ModelNotFoundError(ValueError):
    """A model name that is neither a directory nor a shipped model."""


def shipped_models() -> list[str]:
    """Names of the models shipped under audiodiff/pretrained/."""
    if not PRETRAINED_DIR.is_dir():
        return []
    return sorted(p.name for p in PRETRAINED_DIR.iterdir() if (p / "config.json").is_file())


def resolve_model(name_or_dir: str | os.PathLike) -> Path:
    """A model directory, or audiodiff/pretrained/NAME; ModelNotFoundError (one line, how to train) otherwise."""
    path = Path(name_or_dir)
    shipped = PRETRAINED_DIR / str(name_or_dir)
    if path.is_dir() and ((path / "config.json").is_file() or not shipped.is_dir()):
        return path  # a model directory (a folder that merely shares a shipped name, e.g. samples/speech, is not)
    if shipped.is_dir():
        return shipped
    raise ModelNotFoundError(
        f"model {str(name_or_dir)!r} not found: not a directory and not shipped in audiodiff/pretrained "
        f"(shipped: {', '.join(shipped_models()) or 'none yet'}); train one with "
        f"a recipe (e.g. `audiodiff train recipes/klettres.py --data DIR --out RUN_DIR`, see recipes/README.md) "
        f"and pass --model RUN_DIR")


class AudioDiffusion:
    """A ScoreModel with its front end and config: generate(), inpaint(), extend()."""

    def __init__(self, model, frontend, config):
        self.model, self.frontend, self.config = model, frontend, config
        self.sde = model.sde
        self.device = next(model.parameters()).device

    @classmethod
    def from_pretrained(cls, name_or_dir: str | os.PathLike = DEFAULT_MODELS["generate"], *, weights: str = "ema",
                        device: torch.device | str = "cpu") -> "AudioDiffusion":
        """Load a shipped model by name or a model directory written by `audiodiff train`."""
        return cls(*load(resolve_model(name_or_dir), weights=weights, device=device))

    # --- properties -------------------------------------------------------------------------------------
    @property
    def sample_rate(self) -> int:
        return self.frontend.sample_rate

    @property
    def audio_channels(self) -> int:
        return self.frontend.audio_channels

    @property
    def label_names(self) -> list[str]:
        return list(self.config.label_names)

    @property
    def window(self) -> int:
        """Model-signal length of one window of long-form processing: config.sample.seconds (a conv net
        trained on short crops can sample longer ones in one piece), else the training clip length."""
        return self.frontend.length(self.config.sample.seconds or self.config.train.seconds)

    # --- scores -------------------------------------------------------------------------------------------
    def labels_tensor(self, labels: Sequence[int | str] | int | str | None, n: int) -> Tensor | None:
        """Class names or ids (one for all, or one per example) -> LongTensor [n]; None if unconditional."""
        if labels is None:
            return None
        if not self.label_names:
            raise ValueError("labels given, but this model is unconditional (it has no label names)")
        items = [labels] * n if isinstance(labels, (int, str)) else list(labels)
        if len(items) != n:
            raise ValueError(f"labels has {len(items)} entries for n={n} examples")
        ids = []
        for item in items:
            if isinstance(item, str):
                if item not in self.label_names:
                    raise ValueError(f"unknown label {item!r}; the model knows {self.label_names}")
                item = self.label_names.index(item)
            if not 0 <= int(item) < len(self.label_names):
                raise ValueError(f"label id {item} outside [0, {len(self.label_names)})")
            ids.append(int(item))
        return torch.tensor(ids, dtype=torch.long, device=self.device)

    def score(self, labels: Tensor | None = None, guidance: float | None = None) -> Score:
        """Score callable; with labels and guidance w != 1, classifier-free guidance (Ho & Salimans 2022):
        w * score(x | label) + (1 - w) * score(x | null), both in one batched call. guidance None: the
        model's default (config.sample.guidance)."""
        guidance = self.config.sample.guidance if guidance is None else guidance
        if not guidance >= 0:
            raise ValueError(f"guidance must be >= 0, got {guidance}")
        model = self.model
        if labels is None or guidance == 1.0:
            return lambda x, t: model.score(x, t, labels)

        both_labels = torch.cat([labels, torch.full_like(labels, -1)])  # -1: the null class

        def guided(x: Tensor, t: Tensor) -> Tensor:
            cond, null = model.score(torch.cat([x, x]), torch.cat([t, t]), both_labels).chunk(2)
            return null + guidance * (cond - null)

        return guided

    def generator(self, seed: int | None) -> torch.Generator | None:
        return None if seed is None else torch.Generator(self.device).manual_seed(int(seed))

    def sampler_options(self, sampler: str | None, steps: int | None, eps: float | None = None) -> dict:
        """Defaults from the model's SampleConfig, overridden by the arguments (eps: the final time)."""
        c = self.config.sample
        options = dict(sampler=sampler or c.sampler, steps=int(steps or c.steps), eps=c.eps if eps is None else eps)
        if sampler is None or sampler == c.sampler:
            options.update(c.options)
        return options

    # --- generation ---------------------------------------------------------------------------------------
    @torch.no_grad()
    def generate(self, n: int = 1, seconds: float | None = None, *, labels=None, sampler: str | None = None,
                 steps: int | None = None, guidance: float | None = None, seed: int | None = 0, progress: bool = False,
                 overlap: float = 0.25, resample: int = 1, eps: float | None = None, **options) -> Tensor:
        """Sample n clips of `seconds` (default: the training length) -> wav [n, ch, samples]; longer clips
        are continued window by window with `overlap` (fraction of a window) known from the previous one.
        Each clip gets the level normalisation of the training set (config.train.normalize, e.g. a -1 dBFS
        peak): the model was taught level-free data, and a log-mel decode can otherwise overshoot 0 dBFS."""
        if int(n) != n or n < 1:
            raise ValueError(f"n must be a positive integer, got {n}")
        seconds = self.config.sample.seconds or self.config.train.seconds if seconds is None else seconds
        samples = self.frontend.num_samples(seconds)
        length = self.frontend.frames(samples)
        score = self.score(self.labels_tensor(labels, n), guidance)
        opts = {**self.sampler_options(sampler, steps, eps), **options}
        shape = (int(n), self.frontend.channels, length)
        gen = self.generator(seed)
        if length <= self.window:
            x = sample(score, self.sde, shape, generator=gen, device=self.device, progress=progress, **opts)
        else:
            x = generate_long(score, self.sde, shape, window=self.window, overlap=self.overlap(overlap),
                              generator=gen, device=self.device, progress=progress, resample=resample, **opts)
        return normalize(self.frontend.decode(x, length=samples), self.config.train.normalize).cpu()

    def overlap(self, fraction: float) -> int:
        if not 0 < fraction < 1:
            raise ValueError(f"overlap must lie in (0, 1) (a fraction of the window), got {fraction}")
        return max(1, int(round(fraction * self.window)))

    # --- inverse problems -----------------------------------------------------------------------------------
    def prepare(self, wav: Tensor, sample_rate: int) -> Tensor:
        """Audio [ch, n] or [B, ch, n] at sample_rate -> [B, audio_channels, n'] at the model's rate."""
        wav = torch.as_tensor(wav, dtype=torch.float32)
        if wav.ndim not in (2, 3):
            raise ValueError(f"wav must be [channels, samples] or [batch, channels, samples], got {tuple(wav.shape)}")
        wav = wav if wav.ndim == 3 else wav[None]
        if not torch.isfinite(wav).all():
            raise ValueError("wav contains NaN or inf samples")
        wav = set_channels(wav, self.audio_channels)
        return resample(wav, int(sample_rate), self.sample_rate).to(self.device)

    RESTORE_KEYS = ("sampler", "steps", "eps", "strategy", "resample", "zeta", "init", "t_init", "options")
    TASK_KEYS = {"inpaint": RESTORE_KEYS + ("average",), "extend": RESTORE_KEYS}  # config.sample.<task> keys

    def task_options(self, task: str, given: dict) -> dict:
        """Options for `task` ("inpaint" | "extend"): the model's defaults (config.sample.<task>) overridden by
        the `given` ones that are not None; the defaults' sampler-specific `options` apply only to their own
        sampler, and init="none" turns a shipped warm start off."""
        defaults = dict(getattr(self.config.sample, task))
        unknown = sorted(set(defaults) - set(self.TASK_KEYS[task]))
        if unknown:
            raise ValueError(f"config.sample.{task} has unknown key(s) {unknown}; known: {list(self.TASK_KEYS[task])}")
        extra = defaults.pop("options", {})
        given = {k: v for k, v in given.items() if v is not None}
        if given.get("sampler", defaults.get("sampler")) == defaults.get("sampler"):
            defaults.update(extra)
        merged = {**defaults, **given}
        if isinstance(merged.get("init"), str) and merged["init"] == "none":
            merged.pop("init")
            merged.pop("t_init", None)
        return merged

    def restore(self, y: Tensor, operator_for, *, sampler=None, steps=None, strategy="replacement", resample=1,
                seed=0, progress=False, labels=None, guidance=None, overlap=0.25, eps=None, **options) -> Tensor:
        """Solve op(x) = op(y) for a model signal y [B, C, L], by windows when L exceeds the training length."""
        score = self.score(self.labels_tensor(labels, y.shape[0]), guidance)
        opts = dict(self.sampler_options(sampler, steps, eps), strategy=strategy, resample=resample,
                    generator=self.generator(seed), **options)
        length = y.shape[-1]
        if length <= self.window:
            return solve(score, self.sde, operator_for(0, length), y, progress=progress, **opts)
        return restore_long(score, self.sde, operator_for, y, window=self.window, overlap=self.overlap(overlap),
                            progress=progress, **opts)

    @torch.no_grad()
    def inpaint(self, wav: Tensor, sample_rate: int, *, gaps: Sequence[tuple[float, float]] | None = None,
                mask: Tensor | None = None, init: str | Tensor | None = None, t_init: float | None = None,
                keep_rate: bool = False, **options) -> Tensor:
        """Fill `gaps` [(start_s, end_s), ...] (or where the bool `mask` [n] at the model's rate is False) ->
        wav [B, ch, n] at the model's rate; samples outside the gaps are bit-identical to the converted input.
        keep_rate=True returns the input's own rate and channels instead, every sample outside the gaps
        bit-identical to the input (`mask` then at the input's rate): see `_inpaint_keeping_rate`.
        init ("lpc" | "lpc_long" | "linear" | "zeros") with t_init: warm start from that classical fill diffused
        to t_init (CCDF, Chung et al. 2022) instead of from pure noise; or init = your own guess, audio like
        `wav` at sample_rate (any other method's fill; the true audio measures the sampler's own error floor,
        bench/gap_noise.py), of which only the gaps are used. Options: sampler, steps, strategy ("replacement"
        | "dps" | "dps+replacement"), resample, zeta, seed, labels, guidance, overlap, progress; those left
        out (or None) take the model's defaults for the task (config.sample.inpaint). average=K fills each gap
        with the mean of K posterior samples (one batch): a Monte-Carlo estimate of the posterior mean, E[x | y],
        the fill of least squared error, with less detail than any one sample."""
        if isinstance(init, Tensor) and not torch.isfinite(init).all():
            raise ValueError("init audio contains NaN or inf samples")
        if keep_rate:
            return self._inpaint_keeping_rate(wav, sample_rate, gaps, mask, init=init, t_init=t_init, **options)
        options = self.task_options("inpaint", dict(options, init=init, t_init=t_init))
        init, t_init = options.pop("init", None), options.pop("t_init", None)
        average = options.pop("average", None)
        average = 1 if average is None else int(average)
        if average < 1:
            raise ValueError(f"average must be >= 1 (posterior samples per fill), got {average}")
        wav = self.prepare(wav, sample_rate)
        n = wav.shape[-1]
        if (gaps is None) == (mask is None):
            raise ValueError("give exactly one of gaps (seconds) or mask")
        if gaps is not None:
            known = Mask.from_gaps(gaps, length=n, rate=self.sample_rate).known
        else:
            known = torch.as_tensor(mask, dtype=torch.bool)
            if known.shape[-1] != n:
                raise ValueError(f"mask has {known.shape[-1]} samples, the audio {n} at {self.sample_rate} Hz")
        known = known.to(self.device).expand_as(wav)
        if not bool(known.flatten(1).any(1).all()):
            warnings.warn("the gaps cover the whole input: nothing is known, so this is unconditional generation")
        observed = torch.where(known, wav, torch.zeros_like(wav))
        gain = self.level_gain(observed)  # the model knows audio at its training set's level
        y = self.frontend.encode(gain * observed)
        known_x = self.frontend.observed(known)  # what the known audio fixes: samples, or whole STFT frames
        if init is not None:
            if isinstance(init, Tensor):
                fill = self.prepare(init, sample_rate)
                if fill.shape[1:] != wav.shape[1:] or fill.shape[0] not in (1, wav.shape[0]):
                    raise ValueError(f"init audio converts to {tuple(fill.shape)}, the input to {tuple(wav.shape)}")
                fill = torch.where(known, observed, fill)
            elif init in BASELINES:
                fill = BASELINES[init](observed, known)
            else:
                raise ValueError(f"init must be one of {sorted(BASELINES)} or audio like wav, got {init!r}")
            options.update(x_init=self.frontend.encode(gain * fill), t_init=t_init)
        if average > 1:  # K replicas of every clip in one batch, averaged after sampling
            y, known_x = y.repeat_interleave(average, 0), known_x.repeat_interleave(average, 0)
            if "x_init" in options:
                options["x_init"] = options["x_init"].repeat_interleave(average, 0)
            if isinstance(options.get("labels"), (list, tuple)):
                options["labels"] = [label for label in options["labels"] for _ in range(average)]
        x = self.restore(y, lambda s, e: Mask(known_x[..., s:e]), **options)
        x = x.unflatten(0, (-1, average)).mean(1)
        out = self.frontend.decode_known(x, gain * wav, known) / gain
        return torch.where(known, wav, out).cpu()  # bit-exact: dividing by the gain rounds

    def _batch(self, wav: Tensor) -> Tensor:
        """wav [ch, n] or [B, ch, n] -> float32 [B, ch, n]; ValueError on other shapes or non-finite samples."""
        x = torch.as_tensor(wav, dtype=torch.float32)
        if x.ndim not in (2, 3):
            raise ValueError(f"wav must be [channels, samples] or [batch, channels, samples], got {tuple(x.shape)}")
        if not torch.isfinite(x).all():
            raise ValueError("wav contains NaN or inf samples")
        return x if x.ndim == 3 else x[None]

    def _by_channel(self, x: Tensor, restore, guide: Tensor | None = None) -> Tensor:
        """x [B, ch, n] -> [B, ch, m]: `restore(c, g)` ([b, audio_channels, n] -> [b, audio_channels, m]) of every
        channel, as one batch when the model is mono; `guide` (like x: a warm start) is split the same way and
        handed over as g, else g is None. Stereo goes as mid (L + R) / 2 and side (L - R) / 2, so
        that what the channels share is restored once and a dual-mono input stays dual-mono. A side more than
        -SIDE_FLOOR_DB below the mid (dual mono, or near-mono recordings whose side is codec noise, 35-41 dB
        down on ktuberling's words; Wesnoth's music: 6 dB down to 2 dB up) is not restored: normalised to the
        training level, the model would give it a loud flat band or fill of its own."""
        batch, channels, n = x.shape
        if self.audio_channels != 1 or channels == 1:
            if channels != self.audio_channels:
                raise ValueError(f"a {self.audio_channels}-channel model cannot keep a {channels}-channel "
                                 "input's channels; use keep_rate=False")
            return restore(x, guide)

        def rows(t: Tensor | None) -> Tensor | None:  # [B, k, n] -> [B * k, 1, n]
            return None if t is None else t.reshape(-1, 1, n)
        if channels != 2:
            return restore(rows(x), rows(guide)).reshape(batch, channels, -1)

        def mid_side(t: Tensor | None) -> Tensor | None:  # [B, 2, n] -> [B, 2, n]
            return None if t is None else torch.cat([t.mean(1, keepdim=True), (t[:, :1] - t[:, 1:]) / 2], 1)
        ms, guide = mid_side(x), mid_side(guide)
        mid, side = ms[:, :1], ms[:, 1:]
        no_side = side.pow(2).mean(-1) <= mid.pow(2).mean(-1) * 10 ** (SIDE_FLOOR_DB / 10)  # [B, 1]
        if no_side.all():  # nothing to restore in the side: half the work
            return restore(mid, None if guide is None else guide[:, :1]).expand(-1, 2, -1)
        out = restore(rows(ms), rows(guide)).reshape(batch, 2, -1)
        side = torch.where(no_side[..., None], torch.zeros_like(out[:, 1:]), out[:, 1:])  # [B, 1, m]
        return torch.cat([out[:, :1] + side, out[:, :1] - side], 1)

    def _inpaint_keeping_rate(self, wav: Tensor, sample_rate: int, gaps: Sequence[tuple[float, float]] | None,
                              mask: Tensor | None, **options) -> Tensor:
        """inpaint(keep_rate=True): wav [ch, n] or [B, ch, n] at sample_rate -> [B, ch, n] at sample_rate. The
        model fills every channel (`_by_channel`); the fill is spliced back by `splice.splice`, which takes the
        band above the model's Nyquist frequency from LPC at the input's rate (from `init` where it is audio)."""
        x = self._batch(wav)
        n = x.shape[-1]
        if (gaps is None) == (mask is None):
            raise ValueError("give exactly one of gaps (seconds) or mask")
        if mask is not None:
            known = torch.as_tensor(mask, dtype=torch.bool)
            if known.shape != (n,):
                raise ValueError(f"mask must have shape [{n}] (the input's samples at {sample_rate} Hz), got "
                                 f"{tuple(known.shape)}")
            gaps = [(start / sample_rate, end / sample_rate) for start, end in gaps_of(known.cpu().numpy())]
        known = Mask.from_gaps(gaps, length=n, rate=sample_rate).known
        # what the gaps hold never reaches the model, but resampling would smear it into the known samples
        # next to them: a smooth guess there keeps those right, a classical one unless init is audio
        init, guide = options.pop("init", None), None
        if isinstance(init, Tensor):  # the warm start, split into channels like IN; also the fill above the band
            init = self._batch(init)
            if init.shape != x.shape:
                raise ValueError(f"init audio has shape {tuple(init.shape)}, the input {tuple(x.shape)}")
            classical = guide = torch.where(known, x, init)
        else:
            classical = BASELINES["lpc"](x, known.expand_as(x)).to(x.dtype)
        fill = self._by_channel(classical, lambda c, g: self.inpaint(c, sample_rate, gaps=gaps,
                                                                     init=init if g is None else g, **options),
                                guide)
        return splice(x, sample_rate, known, fill, self.sample_rate, classical=classical)

    def level_gain(self, wav: Tensor) -> Tensor:
        """Gain [B, 1, 1] taking wav [B, ch, n] to the training set's level (config.train.normalize)."""
        return per_sample(normalization_gain(wav, self.config.train.normalize), wav)

    @torch.no_grad()
    def extend(self, wav: Tensor, sample_rate: int, *, cutoff_hz: float, kind: str = "fir",
               init: str | None = None, t_init: float | None = None, silence_db: float | None = -80.0,
               keep_rate: bool = False, **options) -> Tensor:
        """Bandwidth extension of audio whose content lies below `cutoff_hz` -> wav [B, ch, n] at the model's
        rate. Sampling keeps data consistency with a `kind` zero-phase low-pass (waveform models) or the mel
        bands below the cutoff (log-mel models); the result's FFT bins below the cutoff are the input's.
        init="observed" with t_init: warm start from the band-limited input diffused to t_init (CCDF). Where
        the input is silent (frames below `silence_db` dBFS, e.g. digital-silence padding) the generated band
        is gated off, as the band below the cutoff says nothing sounds there (None: no gate). Options left out
        (or None) take the model's defaults for the task (config.sample.extend). keep_rate=True keeps the
        input's channels and its rate (unless below the model's): see `_extend_keeping_rate`."""
        if cutoff_hz > sample_rate / 2:  # the band between would be taken as known silence
            raise ValueError(f"cutoff {cutoff_hz:g} Hz is above the input's Nyquist frequency ({sample_rate / 2:g} "
                             f"Hz at {sample_rate} Hz): it holds nothing above {sample_rate / 2:g} Hz")
        if keep_rate:
            return self._extend_keeping_rate(wav, sample_rate, cutoff_hz=cutoff_hz, kind=kind, init=init,
                                             t_init=t_init, silence_db=silence_db, **options)
        options = self.task_options("extend", dict(options, init=init, t_init=t_init))
        init, t_init = options.pop("init", None), options.pop("t_init", None)
        if not 0 < cutoff_hz < self.sample_rate / 2:
            raise ValueError(f"cutoff {cutoff_hz:g} Hz must lie in (0, {self.sample_rate / 2:g}) Hz, the model's "
                             f"Nyquist frequency")
        wav = self.prepare(wav, sample_rate)
        lowpass = LowPass(cutoff_hz, self.sample_rate, kind=kind)
        gain = self.level_gain(wav)  # the model knows audio at its training set's level
        y = self.frontend.encode(gain * wav)
        if init is not None:
            if init != "observed":
                raise ValueError(f"init must be 'observed' for bandwidth extension, got {init!r}")
            options.update(x_init=y, t_init=t_init)
        if isinstance(self.frontend, LogMel):
            bands = self.known_bands(cutoff_hz)
            x = self.restore(y, lambda s, e: Mask(bands), **options)
        else:
            x = self.restore(y, lambda s, e: lowpass, **options)
        out = self.frontend.decode(x, length=wav.shape[-1]) / gain
        # the input's own band below the cutoff, exactly, over the whole signal (windows, the filter's
        # transition band and Griffin-Lim only approximate it): a brick-wall FFT projection
        out = LowPass(cutoff_hz, self.sample_rate, kind="ideal").project(out, wav, wav)
        if silence_db is not None:  # last: silent input stays bit-exact (the projection rings into it)
            out = wav + silence_gate(wav, self.sample_rate, threshold_db=silence_db) * (out - wav)
        return out.cpu()

    def _extend_keeping_rate(self, wav: Tensor, sample_rate: int, *, cutoff_hz: float,
                             silence_db: float | None, **options) -> Tensor:
        """extend(keep_rate=True): wav [ch, n] or [B, ch, n] at sample_rate -> [B, ch, n'] at the output rate,
        max(sample_rate, the model's): a lower-rate input is first resampled up, as its band ends below the one
        the model makes. The model extends every channel (`_by_channel`); `splice.splice_band` puts its band
        from the cutoff up to its Nyquist frequency into the input, which keeps the rest, and silent stretches
        stay bit-exact."""
        rate = max(int(sample_rate), self.sample_rate)
        x = resample(self._batch(wav), int(sample_rate), rate)
        fill = self._by_channel(x, lambda c, _: self.extend(c, rate, cutoff_hz=cutoff_hz, silence_db=silence_db,
                                                         **options))
        out = splice_band(x, rate, cutoff_hz, fill, self.sample_rate)
        if silence_db is not None:  # the whole-signal FFT rings faintly into silence: keep it exact
            out = x + silence_gate(x, rate, threshold_db=silence_db) * (out - x)
        return out

    def known_bands(self, cutoff_hz: float) -> Tensor:
        """Mel bands [1, M, 1] whose filters lie wholly below cutoff_hz (the observed bands)."""
        f = self.frontend
        freqs = torch.arange(f.filters.shape[0], dtype=torch.float64) * f.sample_rate / f.n_fft
        top = torch.stack([freqs[col > 0].max() for col in f.filters.T])
        return (top <= cutoff_hz).reshape(1, -1, 1).to(self.device)
