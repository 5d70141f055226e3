"""splice: a fill made at the model's rate, put back into a recording at the recording's own rate."""
from __future__ import annotations

import math

import pytest
import torch

import audiodiff as ad
from audiodiff.splice import splice, splice_band


def test_low_band_from_the_fill_high_band_from_the_classical_fill_and_nothing_twice():
    """With a perfect fill (the truth at 16 kHz) and a perfect classical fill (the truth at 44.1 kHz), the gap
    comes back as the truth: the fill's band and the classical band above 8 kHz add up without overlap (adding
    the whole classical fill would double the low band: error ~100%)."""
    sr, n = 44100, 8820
    t = torch.arange(n) / sr
    truth = torch.stack([0.3 * torch.sin(2 * math.pi * 440 * t) + 0.1 * torch.sin(2 * math.pi * 3000 * t + 1),
                         0.2 * torch.sin(2 * math.pi * 15000 * t)]).sum(0, keepdim=True)
    known = torch.ones(n, dtype=torch.bool)
    known[4000:4882] = False
    fill = ad.resample(truth, sr, 16000)
    out = splice(truth, sr, known, fill, 16000, classical=truth)
    assert torch.equal(out[:, known], truth[:, known])
    error = (out - truth)[:, ~known].norm() / truth[:, ~known].norm()
    assert error < 1e-4, error  # measured 5e-8
    # no classical fill above the model's band: the 15 kHz part of the gap is lost
    lost = (splice(truth, sr, known, fill, 16000, classical=ad.resample(fill, 16000, sr)[:, :n]) - truth)
    assert lost[:, ~known].norm() / truth[:, ~known].norm() > 0.3


def test_at_or_below_the_fill_rate_it_is_the_resampled_fill():
    known = torch.tensor([True, True, False, False, True, True, True, True])
    recording, fill = torch.arange(8.0)[None], -torch.ones(1, 8)
    assert splice(recording, 16000, known, fill, 16000).tolist() == [[0, 1, -1, -1, 4, 5, 6, 7]]


def test_splice_band_takes_only_the_band_from_the_cutoff_to_the_fill_nyquist():
    """Three tones at 1, 5 and 12 kHz in a 44.1 kHz recording; a 16 kHz fill holding another 5 kHz tone: the
    result is the recording's 1 and 12 kHz tones and the fill's 5 kHz one, to the error of the sinc resampler's
    round trip 44.1 -> 16 -> 44.1 kHz (0.005 on the 0.4 tone)."""
    sr, n = 44100, 8820
    t = torch.arange(n, dtype=torch.float64) / sr
    tone = lambda hz, phase=0.0: torch.sin(2 * math.pi * hz * t + phase)[None]  # noqa: E731
    recording = 0.3 * tone(1000) + 0.2 * tone(5000) + 0.1 * tone(12000)
    fill_truth = 0.3 * tone(1000) + 0.4 * tone(5000, 1.0)  # what the fill holds, had it been made at 44.1 kHz
    fill = ad.resample(fill_truth, sr, 16000)
    out = splice_band(recording, sr, 3000.0, fill, 16000)
    expected = 0.3 * tone(1000) + 0.4 * tone(5000, 1.0) + 0.1 * tone(12000)
    edge = slice(882, n - 882)  # the resampler's filter reaches past the ends
    assert (out - expected)[:, edge].abs().max() < 0.01  # measured 0.0042
    assert (out - recording)[:, edge].abs().max() > 0.3  # the 5 kHz tone was replaced (0.34)
    with pytest.raises(ValueError, match="at least the fill's"):
        splice_band(fill, 16000, 3000.0, recording, sr)


def test_splice_band_at_the_fill_rate_takes_everything_above_the_cutoff():
    recording, fill = torch.randn(2, 1, 1000, dtype=torch.float64)
    out = splice_band(recording, 16000, 3000.0, fill, 16000)
    high = lambda x: x - ad.LowPass(3000.0, 16000, kind="ideal")(x)  # noqa: E731
    assert (high(out) - high(fill)).abs().max() < 1e-12  # Nyquist's bin included
    assert ((out - high(out)) - (recording - high(recording))).abs().max() < 1e-12
