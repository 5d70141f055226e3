"""Degradation operators y = A(x) for inverse problems on signals [B, C, L] (time last).

Convention shared by the posterior strategies: an observation `y` lives in signal space, shaped like x,
and `A(y)` is the measurement (a masked signal, a low-passed signal, a clipped signal). Each operator has
  forward(x)        the measurement A(x)
  distance(y, x)    ||A(y) - A(x)||^2 per example, [B] (the data term of reconstruction guidance)
  project(x, v, y)  x with the part that the clean observation y determines replaced by that of v (v is y,
                    or y noised to x's time): data consistency / replacement (Song et al. 2021, App. I.2)
"""
from __future__ import annotations

import functools
import math
from typing import Sequence

import numpy as np
import scipy.signal
import torch
from torch import Tensor


class Operator:
    """A measurement operator; subclasses define forward and project."""

    def forward(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def project(self, x: Tensor, v: Tensor, y: Tensor) -> Tensor:
        raise NotImplementedError

    def __call__(self, x: Tensor) -> Tensor:
        return self.forward(x)

    def distance(self, y: Tensor, x: Tensor) -> Tensor:
        """||A(y) - A(x)||^2 summed over all but the batch axis, [B]."""
        return (self.forward(y) - self.forward(x)).pow(2).flatten(1).sum(1)


class Mask(Operator):
    """Observe the samples where `known` is True (inpainting); `known` broadcasts to x."""

    def __init__(self, known: Tensor):
        known = torch.as_tensor(known)
        if known.dtype != torch.bool:
            raise ValueError(f"known must be a boolean tensor, got dtype {known.dtype}")
        self.known = known

    def mask_like(self, x: Tensor) -> Tensor:
        try:
            return self.known.to(x.device).expand_as(x)
        except RuntimeError:
            raise ValueError(f"mask of shape {tuple(self.known.shape)} does not fit signal {tuple(x.shape)}") from None

    def forward(self, x: Tensor) -> Tensor:
        return torch.where(self.mask_like(x), x, torch.zeros_like(x))

    def project(self, x: Tensor, v: Tensor, y: Tensor) -> Tensor:
        return torch.where(self.mask_like(x), v, x)  # bit-exact copy of the known samples

    @classmethod
    def from_gaps(cls, gaps: Sequence[tuple[float, float]], *, length: int, rate: float) -> "Mask":
        """Known everywhere except the gaps [(start_s, end_s), ...] in seconds on a grid of `rate` per second;
        a gap covers every index i with start <= i / rate < end. Returns a Mask over [length]."""
        known = torch.ones(length, dtype=torch.bool)
        duration = length / rate
        for start, end in gaps:
            if not (0 <= start < end <= duration + 1e-9):
                raise ValueError(f"gap {start}:{end} s must satisfy 0 <= start < end <= {duration:.4g} s, "
                                 "the length of the audio")
            i0, i1 = int(np.ceil(start * rate - 1e-9)), int(np.ceil(end * rate - 1e-9))
            known[i0:max(i1, i0 + 1)] = False
        return cls(known)


def fftconv_same(x: Tensor, h: Tensor) -> Tensor:
    """Linear convolution of x [..., L] with a centred odd-length kernel h [K], cropped to L (zero-phase
    when h is symmetric); FFT based and differentiable."""
    k = h.shape[-1]
    n = x.shape[-1] + k - 1
    y = torch.fft.irfft(torch.fft.rfft(x, n) * torch.fft.rfft(h.to(x), n), n)
    m = k // 2
    return y[..., m: m + x.shape[-1]]


LOWPASS_KINDS = ("fir", "butter", "cheby1", "ideal")


@functools.lru_cache(maxsize=32)
def lowpass_kernel(kind: str, cutoff: float, sample_rate: float, order: int, transition: float,
                   attenuation_db: float, ripple_db: float) -> np.ndarray:
    """The symmetric zero-phase impulse response of a low-pass filter (scipy.signal design).

    fir: Kaiser windowed sinc (kaiserord for `attenuation_db` over a `transition` Hz band, cutoff at -6 dB);
    butter / cheby1: the IIR run forward and backward (filtfilt), i.e. the autocorrelation of its impulse
    response, |H|^2 in frequency, truncated where the tail holds < 1e-12 of the energy."""
    nyq = sample_rate / 2
    if kind == "fir":
        numtaps, beta = scipy.signal.kaiserord(attenuation_db, transition / nyq)
        numtaps |= 1  # odd length: a centred, exactly zero-phase kernel
        return scipy.signal.firwin(numtaps, cutoff, window=("kaiser", beta), fs=sample_rate)
    if kind == "butter":
        sos = scipy.signal.butter(order, cutoff, fs=sample_rate, output="sos")
    else:
        sos = scipy.signal.cheby1(order, ripple_db, cutoff, fs=sample_rate, output="sos")
    n = 1024
    while True:
        impulse = np.zeros(n)
        impulse[0] = 1.0
        h = scipy.signal.sosfilt(sos, impulse)
        energy = np.cumsum(h[::-1] ** 2)[::-1]  # energy from each index to the end
        if energy[-n // 4] < 1e-12 * energy[0] or n >= 2 ** 20:
            break
        n *= 2
    h = h[: int(np.argmax(energy < 1e-12 * energy[0])) or n]
    return np.convolve(h, h[::-1])


class LowPass(Operator):
    """Zero-phase low-pass at `cutoff_hz` on the time axis (bandwidth extension observes the low band).

    kind: "fir" (Kaiser windowed sinc, default), "butter" / "cheby1" (IIR of `order`, zero-phase by
    forward-backward filtering), or "ideal" (brick wall on the FFT of the whole signal: an orthogonal
    projection, so replacement with it is exact data consistency)."""

    def __init__(self, cutoff_hz: float, sample_rate: float, *, kind: str = "fir", order: int = 8,
                 transition_hz: float | None = None, attenuation_db: float = 80.0, ripple_db: float = 0.1):
        if kind not in LOWPASS_KINDS:
            raise ValueError(f"kind must be one of {LOWPASS_KINDS}, got {kind!r}")
        if not 0 < cutoff_hz < sample_rate / 2:
            raise ValueError(f"cutoff_hz must lie in (0, {sample_rate / 2:g}) (the Nyquist rate), got {cutoff_hz:g}")
        if order < 1:
            raise ValueError(f"order must be >= 1, got {order}")
        self.cutoff_hz, self.sample_rate, self.kind = float(cutoff_hz), float(sample_rate), kind
        transition = 0.05 * cutoff_hz if transition_hz is None else float(transition_hz)
        if kind != "ideal" and not 0 < transition < min(cutoff_hz, sample_rate / 2 - cutoff_hz) * 2:
            if transition_hz is None:  # the default band (5% of the cutoff) fits up to 2 / 2.05 of Nyquist
                raise ValueError(f"cutoff {cutoff_hz:g} Hz is too close to the Nyquist frequency "
                                 f"({sample_rate / 2:g} Hz) for the filter's transition band: use at most "
                                 f"{math.floor(sample_rate / 2.05):d} Hz, or the ideal filter")
            raise ValueError(f"transition_hz must be positive and fit around the cutoff, got {transition:g}")
        self.kernel = None if kind == "ideal" else torch.from_numpy(
            lowpass_kernel(kind, self.cutoff_hz, self.sample_rate, order, transition, attenuation_db, ripple_db))

    def forward(self, x: Tensor) -> Tensor:
        if self.kernel is not None:
            return fftconv_same(x, self.kernel)
        spec = torch.fft.rfft(x)
        freqs = torch.fft.rfftfreq(x.shape[-1], 1 / self.sample_rate).to(x.device)
        return torch.fft.irfft(torch.where(freqs < self.cutoff_hz, spec, torch.zeros_like(spec)), x.shape[-1])

    def project(self, x: Tensor, v: Tensor, y: Tensor) -> Tensor:
        # replace the low band of x by that of v: exact for "ideal" (A^2 = A), to the filter's
        # transition-band error for the others
        return x - self.forward(x) + self.forward(v)


class Clip(Operator):
    """Hard clipping at +-threshold (declipping): samples with |y| < threshold are observed exactly."""

    def __init__(self, threshold: float):
        if not threshold > 0:
            raise ValueError(f"threshold must be positive, got {threshold}")
        self.threshold = float(threshold)

    def forward(self, x: Tensor) -> Tensor:
        return x.clamp(-self.threshold, self.threshold)

    def reliable(self, y: Tensor) -> Tensor:
        """The unclipped samples of the clean observation y (bool like y)."""
        return y.abs() < self.threshold

    def project(self, x: Tensor, v: Tensor, y: Tensor) -> Tensor:
        return torch.where(self.reliable(y), v, x)


class Compose(Operator):
    """Several measurements of one signal against one observation y: data terms add, projections chain."""

    def __init__(self, *operators: Operator):
        if not operators:
            raise ValueError("Compose needs at least one operator")
        self.operators = operators

    def forward(self, x: Tensor) -> Tensor:
        return torch.stack([op.forward(x) for op in self.operators], 1)

    def distance(self, y: Tensor, x: Tensor) -> Tensor:
        return sum(op.distance(y, x) for op in self.operators)

    def project(self, x: Tensor, v: Tensor, y: Tensor) -> Tensor:
        for op in self.operators:
            x = op.project(x, v, y)
        return x
