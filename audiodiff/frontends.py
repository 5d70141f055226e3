"""Front ends: audio [B, ch, n] <-> the 1D model signal x [B, C, L] that the score model sees.

Waveform: x is the audio itself (times a fixed scale, optionally pre-emphasised), C = audio channels,
          L = n; mono or stereo.
LogMel:   x is a normalised log-mel spectrogram, C = n_mels, L = frames; mono audio only (stereo is for
          Waveform). Decoding needs no vocoder: non-negative least squares through the mel filterbank, then
          Griffin-Lim (Griffin & Lim 1984) with momentum (Perraudin et al. 2013). Lower quality than a vocoder.
A front end is described fully by `config()`; `frontend_from_config(config)` rebuilds it.
"""
from __future__ import annotations

import math
import warnings
from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np
import torch
import torchaudio.functional as AF
from scipy.linalg import solveh_banded
from torch import Tensor

from .baselines import gaps_of


class Frontend(ABC):
    """Maps audio [B, audio_channels, n] at `sample_rate` to a model signal [B, channels, L] and back."""

    name: ClassVar[str] = ""

    def __init__(self, sample_rate: int, *, audio_channels: int, channels: int):
        if int(sample_rate) != sample_rate or sample_rate <= 0:
            raise ValueError(f"sample_rate must be a positive integer, got {sample_rate!r}")
        self.sample_rate = int(sample_rate)
        self.audio_channels = int(audio_channels)
        self.channels = int(channels)

    @abstractmethod
    def encode(self, wav: Tensor) -> Tensor:
        """Audio [B, audio_channels, n] -> model signal [B, channels, L]."""

    @abstractmethod
    def decode(self, x: Tensor, *, length: int | None = None) -> Tensor:
        """Model signal [B, channels, L] -> audio [B, audio_channels, n]; n = `length` when given."""

    @abstractmethod
    def observed(self, known: Tensor) -> Tensor:
        """Which entries of the model signal a bool mask `known` [B, audio_channels, n] of the audio determines
        -> bool [B, channels or 1, L] (the mask inpainting holds fixed)."""

    def decode_known(self, x: Tensor, wav: Tensor, known: Tensor) -> Tensor:
        """Audio like `wav` [B, audio_channels, n]: `wav` where `known` (bool, broadcast to wav), the decoded
        x [B, channels, L] elsewhere (inpainting's output before the gain is undone)."""
        return torch.where(known, wav, self.decode(x, length=wav.shape[-1]))

    @abstractmethod
    def frames(self, n: int) -> int:
        """Length L of the model signal for n audio samples."""

    @abstractmethod
    def config(self) -> dict:
        """JSON-able description; `frontend_from_config(config())` rebuilds an equal front end."""

    def num_samples(self, seconds: float) -> int:
        """Audio samples in `seconds` at this sample rate (rounded)."""
        if not seconds > 0:
            raise ValueError(f"seconds must be positive, got {seconds!r}")
        return round(seconds * self.sample_rate)

    def length(self, seconds: float) -> int:
        """Length L of the model signal for `seconds` of audio (the same L that `encode` gives)."""
        return self.frames(self.num_samples(seconds))

    def check_wav(self, wav: Tensor, *, min_samples: int = 1) -> None:
        """Raise ValueError unless `wav` is a finite [B, audio_channels, n >= min_samples] float tensor."""
        if wav.ndim != 3 or wav.shape[1] != self.audio_channels:
            raise ValueError(f"wav must be [B, {self.audio_channels}, n], got {tuple(wav.shape)}")
        if wav.shape[-1] < min_samples:
            raise ValueError(f"wav needs at least {min_samples} samples for {self.name}, got {wav.shape[-1]}")
        if not wav.is_floating_point():
            raise ValueError(f"wav must be a float tensor, got {wav.dtype}")
        if not torch.isfinite(wav).all():
            raise ValueError("wav contains NaN or inf samples")

    def check_x(self, x: Tensor) -> None:
        """Raise ValueError unless `x` is a [B, channels, L >= 1] float tensor."""
        if x.ndim != 3 or x.shape[1] != self.channels or x.shape[-1] < 1:
            raise ValueError(f"x must be [B, {self.channels}, L >= 1], got {tuple(x.shape)}")
        if not x.is_floating_point():
            raise ValueError(f"x must be a float tensor, got {x.dtype}")
        if not torch.isfinite(x).all():
            raise ValueError("x contains NaN or inf values")

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items() if k != "name")
        return f"{type(self).__name__}({args})"


class Waveform(Frontend):
    """x = scale * P(wav), C = audio channels (1 or 2), L = n, with P the first-order pre-emphasis
    P(wav)[n] = wav[n] - a wav[n - 1] (wav[-1] = 0; a = `preemphasis`, 0 = none) undone by the de-emphasis
    IIR wav[n] = x[n] / scale + a wav[n - 1]. Why pre-emphasis: a diffusion model leaves an error that is
    nearly white in its own signal; de-emphasis shapes it like the audio's falling spectrum (noise shaping,
    as in speech coders), so the quiet high band of a fill is no longer buried under a flat noise floor.
    The round trip is exact with a = 0 and `scale` a power of two (1 by default), else within float32 round-off."""

    name = "waveform"

    def __init__(self, sample_rate: int, *, channels: int = 1, scale: float = 1.0, preemphasis: float = 0.0):
        if channels not in (1, 2):
            raise ValueError(f"channels must be 1 (mono) or 2 (stereo), got {channels!r}")
        if not (math.isfinite(scale) and scale > 0):
            raise ValueError(f"scale must be positive and finite, got {scale!r}")
        if not 0.0 <= preemphasis < 1.0:
            raise ValueError(f"preemphasis must lie in [0, 1), got {preemphasis!r}")
        super().__init__(sample_rate, audio_channels=channels, channels=channels)
        self.scale, self.preemphasis = float(scale), float(preemphasis)

    def encode(self, wav: Tensor) -> Tensor:
        self.check_wav(wav)
        if self.preemphasis:
            wav = torch.cat([wav[..., :1], wav[..., 1:] - self.preemphasis * wav[..., :-1]], -1)
        return wav * self.scale

    def decode(self, x: Tensor, *, length: int | None = None) -> Tensor:
        self.check_x(x)
        if length is not None and length < 1:
            raise ValueError(f"length must be positive, got {length}")
        wav = x / self.scale
        if self.preemphasis:
            a = torch.tensor([1.0, -self.preemphasis], dtype=torch.float64, device=x.device)
            b = torch.tensor([1.0, 0.0], dtype=torch.float64, device=x.device)
            wav = AF.lfilter(wav.double(), a, b, clamp=False).to(x.dtype)
        if length is not None and length != wav.shape[-1]:  # crop, or pad with silence
            wav = torch.nn.functional.pad(wav, (0, length - wav.shape[-1]))
        return wav

    def observed(self, known: Tensor) -> Tensor:
        """Which samples of x [..., n] a bool mask `known` [..., n] of the audio determines: x[n] needs
        wav[n] and, with pre-emphasis, wav[n - 1]."""
        if not self.preemphasis:
            return known
        return torch.cat([known[..., :1], known[..., 1:] & known[..., :-1]], -1)

    def decode_known(self, x: Tensor, wav: Tensor, known: Tensor) -> Tensor:
        """With pre-emphasis, each gap gets the samples whose encoding best fits x [B, ch, n] (least squares
        over the gap's encoded samples, its known neighbours held fixed): plain de-emphasis would drift and
        jump at a gap's right edge, where the fill's running sum meets the known audio."""
        if not self.preemphasis:
            return super().decode_known(x, wav, known)
        self.check_x(x)
        known = known.expand_as(wav)
        a = self.preemphasis
        target = (x / self.scale).detach().cpu().double().numpy().reshape(-1, x.shape[-1])
        out = wav.detach().cpu().double().numpy().reshape(-1, wav.shape[-1]).copy()
        for row, y, k in zip(out, target, known.cpu().numpy().reshape(out.shape)):
            n = row.size
            for s, e in gaps_of(k):
                # rows: x[i] - a x[i-1] = y[i] for i in s..e (e only if known); unknowns x[s..e-1]
                m = e - s
                rhs = y[s:e].copy()  # D^T b for the bidiagonal D of those rows
                rhs[0] += a * (row[s - 1] if s > 0 else 0.0)
                rhs[:-1] -= a * y[s + 1:e]
                if e < n:
                    rhs[-1] -= a * (y[e] - row[e])
                diag = np.full(m, 1 + a * a)
                if e >= n:
                    diag[-1] = 1.0  # no equation past the end
                if m == 1:  # scipy's banded solver rejects a 1 x 1 system
                    row[s] = rhs[0] / diag[0]
                    continue
                bands = np.stack([np.concatenate([[0.0], np.full(m - 1, -a)]), diag])  # upper form
                row[s:e] = solveh_banded(bands, rhs)
        filled = torch.from_numpy(out).reshape(wav.shape).to(wav)
        return torch.where(known, wav, filled)

    def frames(self, n: int) -> int:
        return int(n)

    def config(self) -> dict:
        return {"name": self.name, "sample_rate": self.sample_rate, "channels": self.channels,
                "scale": self.scale, "preemphasis": self.preemphasis}


class LogMel(Frontend):
    """x = (ln max(mel, LOG_FLOOR) - LOG_CENTER) / LOG_SCALE with mel = W^T |STFT(wav)| (power 1: magnitude).

    The STFT (periodic Hann window of n_fft, center=True, reflect padding, L = n // hop_length + 1 frames) is
    scaled by 2 / sum(window), so a full-scale sinusoid has magnitude 1 at its bin whatever n_fft. W holds
    slaney-scale triangular filters, each normalised to sum to 1: a mel band is the weighted mean magnitude
    over its frequencies, so white noise gives the same level in every band. Magnitude (not power) halves
    the log range and is what Griffin-Lim consumes. The fixed constants map the band level linearly in dB
    from [LOG_FLOOR, 1] = [-100, 0] dBFS onto [-1, 1] (x = 1 + dB / 50); audio in [-1, 1] never has a band
    above +6 dBFS, so x <= X_MAX = 1.12. The test clips at -20 dBFS RMS have mean -0.23..-0.31 and std 0.30..0.35.

    `decode` inverts W by non-negative least squares (accelerated projected gradient, Beck & Teboulle 2009,
    from the clamped pseudo-inverse; NNLS_ITERS steps) and recovers phase with `griffin_lim_iters`
    iterations of Griffin-Lim with `momentum` (torchaudio; deterministic: zero initial phase). It first
    clamps x to [-1, X_MAX]: sampler outputs may overshoot, and exp would overflow.
    """

    name = "logmel"
    LOG_FLOOR: ClassVar[float] = 1e-5
    LOG_CENTER: ClassVar[float] = math.log(LOG_FLOOR) / 2  # -5.76: -50 dBFS -> 0
    LOG_SCALE: ClassVar[float] = -math.log(LOG_FLOOR) / 2  # 5.76: 50 dB per unit
    X_MAX: ClassVar[float] = 1 + 20 * math.log10(2) / 50  # 1.12: +6 dBFS, the loudest band audio can give
    NNLS_ITERS: ClassVar[int] = 30

    def __init__(self, sample_rate: int, *, n_fft: int = 1024, hop_length: int = 256, n_mels: int = 80,
                 f_min: float = 0.0, f_max: float | None = None, griffin_lim_iters: int = 64,
                 momentum: float = 0.99, channels: int = 1):
        if channels != 1:
            raise ValueError(f"LogMel takes mono audio (channels=1); use Waveform for stereo, got {channels!r}")
        for arg, v in (("n_fft", n_fft), ("hop_length", hop_length), ("n_mels", n_mels)):
            if int(v) != v or v < 1:
                raise ValueError(f"{arg} must be a positive integer, got {v!r}")
        if n_fft < 2 or hop_length > n_fft:
            raise ValueError(f"need 2 <= n_fft and hop_length <= n_fft, got n_fft={n_fft}, hop_length={hop_length}")
        f_max = sample_rate / 2 if f_max is None else float(f_max)
        if not 0 <= f_min < f_max <= sample_rate / 2:
            raise ValueError(f"need 0 <= f_min < f_max <= sample_rate / 2, got f_min={f_min}, f_max={f_max}")
        if int(griffin_lim_iters) != griffin_lim_iters or griffin_lim_iters < 0:
            raise ValueError(f"griffin_lim_iters must be a non-negative integer, got {griffin_lim_iters!r}")
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {momentum!r}")
        super().__init__(sample_rate, audio_channels=1, channels=n_mels)
        self.n_fft, self.hop_length, self.n_mels = int(n_fft), int(hop_length), int(n_mels)
        self.f_min, self.f_max = float(f_min), f_max
        self.griffin_lim_iters, self.momentum = int(griffin_lim_iters), float(momentum)

        with warnings.catch_warnings():  # torchaudio warns about empty bands; we raise below instead
            warnings.simplefilter("ignore", UserWarning)
            fb = AF.melscale_fbanks(self.n_fft // 2 + 1, self.f_min, self.f_max, self.n_mels, self.sample_rate,
                                    norm=None, mel_scale="slaney").double()  # [F, M], triangles of peak 1
        empty = (fb.sum(0) == 0).nonzero().flatten().tolist()
        if empty:
            raise ValueError(f"n_mels={n_mels} too large for n_fft={n_fft}: mel bands {empty} hold no FFT bin")
        self.filters = fb / fb.sum(0)  # W [F, M]: each band a weighted mean
        self.filters_pinv = torch.linalg.pinv(self.filters.T)  # [F, M]
        self.nnls_step = 1 / torch.linalg.matrix_norm(self.filters, ord=2).item() ** 2  # 1 / Lipschitz const.

    def frames(self, n: int) -> int:
        return int(n) // self.hop_length + 1

    def observed(self, known: Tensor) -> Tensor:
        """Frames [B, 1, L] of the STFT (centred windows of n_fft) that contain only known samples."""
        gaps = (~known[:, :1]).float()
        pad = self.n_fft // 2
        hit = torch.nn.functional.max_pool1d(torch.nn.functional.pad(gaps, (pad, pad)), self.n_fft, self.hop_length)
        return hit[..., : self.frames(known.shape[-1])] == 0

    @property
    def min_samples(self) -> int:
        """Shortest input: reflect padding of n_fft // 2 needs more samples than it pads."""
        return self.n_fft // 2 + 1

    def window(self, like: Tensor) -> Tensor:
        return torch.hann_window(self.n_fft, dtype=like.dtype, device=like.device)

    def magnitude(self, wav: Tensor) -> Tensor:
        """Scaled STFT magnitude [..., F = n_fft // 2 + 1, L] of `wav` [..., n] (full-scale sine -> 1)."""
        window = self.window(wav)
        spec = AF.spectrogram(wav, 0, window, self.n_fft, self.hop_length, self.n_fft, power=1.0,
                              normalized=False, center=True, pad_mode="reflect")
        return spec * (2 / window.sum())

    def encode(self, wav: Tensor) -> Tensor:
        self.check_wav(wav, min_samples=self.min_samples)
        mel = self.filters.to(wav).T @ self.magnitude(wav[:, 0])  # [B, M, L]
        return (mel.clamp_min(self.LOG_FLOOR).log() - self.LOG_CENTER) / self.LOG_SCALE

    def mel_to_magnitude(self, mel: Tensor) -> Tensor:
        """argmin_{S >= 0} ||W^T S - mel||^2 per frame by FISTA from clamp(pinv(W^T) mel); [B, M, L] -> [B, F, L]."""
        a, a_pinv = self.filters.to(mel).T, self.filters_pinv.to(mel)  # A = W^T [M, F]
        s = (a_pinv @ mel).clamp_min(0)
        y, t = s, 1.0
        for _ in range(self.NNLS_ITERS):
            s_next = (y - self.nnls_step * (a.T @ (a @ y - mel))).clamp_min(0)
            t_next = (1 + math.sqrt(1 + 4 * t * t)) / 2
            y = s_next + (t - 1) / t_next * (s_next - s)
            s, t = s_next, t_next
        return s

    def decode(self, x: Tensor, *, length: int | None = None) -> Tensor:
        """x [B, n_mels, L] -> wav [B, 1, n], n = `length` (the original sample count) or hop_length (L - 1);
        a `length` that L frames cannot come from is reached by cropping or zero-padding."""
        self.check_x(x)
        if length is not None and length < 1:
            raise ValueError(f"length must be positive, got {length}")
        frames = x.shape[-1]
        n = self.hop_length * (frames - 1) if length is None else length
        if n < 1:
            raise ValueError("a single frame decodes to no samples; pass length")
        # Griffin-Lim re-analyses its own output: it needs a length whose frame count is the spectrogram's,
        # and at least min_samples (reflect padding); extend the spectrogram with silent frames where short
        n_gl = n if self.frames(n) == frames else self.hop_length * (frames - 1)
        n_gl = max(n_gl, self.min_samples)
        mel = (x.clamp(-1, self.X_MAX) * self.LOG_SCALE + self.LOG_CENTER).exp()
        window = self.window(x)
        spec = self.mel_to_magnitude(mel) * (window.sum() / 2)  # back to the unscaled STFT magnitude
        spec = torch.nn.functional.pad(spec, (0, self.frames(n_gl) - frames))
        wav = AF.griffinlim(spec, window, self.n_fft, self.hop_length, self.n_fft, 1.0,
                            self.griffin_lim_iters, self.momentum, n_gl, False)
        return torch.nn.functional.pad(wav, (0, n - n_gl))[:, None]

    def config(self) -> dict:
        return {"name": self.name, "sample_rate": self.sample_rate, "n_fft": self.n_fft,
                "hop_length": self.hop_length, "n_mels": self.n_mels, "f_min": self.f_min, "f_max": self.f_max,
                "griffin_lim_iters": self.griffin_lim_iters, "momentum": self.momentum}


FRONTENDS: dict[str, type[Frontend]] = {"waveform": Waveform, "logmel": LogMel}


def frontend_from_config(config: dict) -> Frontend:
    """Rebuild a front end from `Frontend.config()`; an unknown name or key is a ValueError."""
    config = dict(config)
    name = config.pop("name", None)
    if name not in FRONTENDS:
        raise ValueError(f"unknown front end name {name!r}; expected one of {sorted(FRONTENDS)}")
    try:
        return FRONTENDS[name](**config)
    except TypeError as e:
        raise ValueError(f"bad front end config for {name!r}: {e}") from None
