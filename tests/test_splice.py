"""splice: a fill made at the model's rate, put back into a recording at the recording's own rate."""
from __future__ import annotations

import math

import torch

import audiodiff as ad
from audiodiff.splice import splice


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
