"""Put a fill made at the model's rate back into a recording at its own rate: the rest of the file stays
as it was, in its own rate and channels. `splice` fills gaps in time (inpainting), `splice_band` a band in
frequency (bandwidth extension).

A model sampled at 16 kHz knows nothing above 8 kHz. Resampled to a 44.1 kHz recording, its fill would leave
a hole above 8 kHz inside each gap, and a step at the gap's edges wherever the recording has content there.
So the band above the model's Nyquist frequency comes from the classical LPC fill made at the recording's own
rate (Etter 1996): it continues the recording's high band out of both edges and fades over the gap.
"""
from __future__ import annotations

import torch
from torch import Tensor

from .audio import band_limited, resample
from .baselines import lpc_fill


def splice(recording: Tensor, sample_rate: int, known: Tensor, fill: Tensor, fill_rate: int, *,
           classical: Tensor | None = None) -> Tensor:
    """recording [..., n] at sample_rate, known bool [..., n] (broadcastable), fill [..., m] at fill_rate (the
    same leading shape, the recording resampled and filled) -> [..., n]: the recording where known, else the
    fill resampled to sample_rate plus, when sample_rate > fill_rate, the band above fill_rate / 2 of the
    classical fill [..., n] (LPC's when not given)."""
    n = recording.shape[-1]
    known = known.expand_as(recording)
    gap = resample(fill.to(recording.dtype), fill_rate, sample_rate)
    gap = torch.nn.functional.pad(gap, (0, n - gap.shape[-1]))  # sinc resampling rounds lengths: crop or pad
    if sample_rate > fill_rate:
        classical = (lpc_fill(recording, known) if classical is None else classical).to(recording.dtype)
        gap = gap + classical - band_limited(classical, sample_rate, fill_rate / 2)
    return torch.where(known, recording, gap)


def splice_band(recording: Tensor, sample_rate: int, cutoff_hz: float, fill: Tensor, fill_rate: int) -> Tensor:
    """recording [..., n] at sample_rate >= fill_rate, fill [..., m] at fill_rate (the same leading shape, the
    recording band-extended) -> [..., n]: the recording with its band from cutoff_hz up to fill_rate / 2
    replaced by the fill's, a brick wall on the FFT of the whole signal. Below the cutoff and above the
    model's Nyquist frequency the recording stays (to float rounding): there the fill knows nothing more."""
    if sample_rate < fill_rate:
        raise ValueError(f"the recording's rate ({sample_rate} Hz) must be at least the fill's ({fill_rate} Hz)")
    n = recording.shape[-1]
    up = resample(fill.to(recording.dtype), fill_rate, sample_rate)
    up = torch.nn.functional.pad(up, (0, n - up.shape[-1]))
    freqs = torch.fft.rfftfreq(n, 1 / sample_rate).to(recording.device)
    band = (freqs >= cutoff_hz) & ((freqs < fill_rate / 2) | (sample_rate == fill_rate))  # at one rate: all above
    return torch.fft.irfft(torch.where(band, torch.fft.rfft(up), torch.fft.rfft(recording)), n)
