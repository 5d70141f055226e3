"""Metrics (LSD of NU-Wave 2, SNR, SI-SDR, log-mel distance) and the gap-filling baselines."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import scipy.signal
import torch

from audiodiff.audio import load
from audiodiff.baselines import BASELINES, linear_fill, lpc_autocorrelation, lpc_burg, lpc_fill, zeros_fill
from audiodiff.metrics import lsd, mel_distance, si_sdr, snr
from audiodiff.operators import LowPass, Mask

DATA = Path(__file__).parent / "data"
SR = 16000


@pytest.fixture(scope="module")
def speech() -> torch.Tensor:
    return load(DATA / "speech.wav")[0]  # [1, 40000] at 16 kHz


def test_lsd_is_zero_on_identity_and_log10_of_power_ratio_on_gain(speech):
    assert lsd(speech, speech).item() == 0
    # a gain of 2 is a power ratio 4 at every (unfloored) bin: LSD = log10(4) up to floored silent bins
    assert lsd(2 * speech, speech).item() == pytest.approx(math.log10(4), abs=0.01)
    noisy = speech + 0.01 * torch.randn(speech.shape, generator=torch.Generator().manual_seed(0))
    assert lsd(noisy, speech).item() == pytest.approx(lsd(speech, noisy).item(), rel=1e-6)


def test_lsd_bands_split_at_the_cutoff(speech):
    low = LowPass(4000, SR)(speech[None])[0]
    assert lsd(low, speech, band="low", cutoff_hz=3800, sample_rate=SR).item() < 0.1
    assert lsd(low, speech, band="high", cutoff_hz=4200, sample_rate=SR).item() > 1.5
    with pytest.raises(ValueError, match="cutoff_hz"):
        lsd(low, speech, band="high", cutoff_hz=9000, sample_rate=SR)
    with pytest.raises(ValueError, match="shape"):
        lsd(low, speech[..., :-1])


def test_lsd_floor_ignores_what_lies_far_below_the_reference_peak(speech):
    """A tone with white noise 80 dB under it: the plain LSD charges the noise in every bin where the tone's
    spectrum sits at the 1e-8 floor (log10 ratio ~2); floored 60 dB under the tone's peak bin it costs ~0. A gain
    is still charged in full where it shows (the tone's bins), and flooring never raises the distance."""
    t = torch.arange(SR, dtype=torch.float64) / SR
    tone = (0.5 * torch.sin(2 * math.pi * 1000 * t))[None]
    noisy = tone + 0.5e-4 * torch.randn(tone.shape, generator=torch.Generator().manual_seed(0), dtype=tone.dtype)
    assert lsd(noisy, tone).item() > 1.5
    assert lsd(noisy, tone, floor_db=60).item() < 0.01
    assert lsd(2 * tone, tone, floor_db=60).item() > 0.05
    rough = speech + 0.01 * torch.randn(speech.shape, generator=torch.Generator().manual_seed(1))
    for est in (rough, 0.3 * speech, torch.zeros_like(speech)):
        assert lsd(est, speech, floor_db=60).item() <= lsd(est, speech).item() + 1e-6
    assert lsd(torch.zeros_like(speech), speech, floor_db=60).item() > 1.0  # a silent fill is still far off
    with pytest.raises(ValueError, match="floor_db"):
        lsd(speech, speech, floor_db=0)


def test_snr_and_si_sdr_closed_forms():
    g = torch.Generator().manual_seed(0)
    ref = torch.randn(3, 8000, generator=g)
    noise = torch.randn(3, 8000, generator=g)
    noise = noise - (noise * ref).sum(-1, keepdim=True) / ref.pow(2).sum(-1, keepdim=True) * ref  # orthogonal
    noise = noise / noise.norm(dim=-1, keepdim=True) * ref.norm(dim=-1, keepdim=True) * 0.1  # -20 dB
    assert torch.allclose(snr(ref + noise, ref), torch.full((3,), 20.0), atol=1e-3)
    est = ref + noise
    assert torch.allclose(si_sdr(est, ref, zero_mean=False), torch.full((3,), 20.0), atol=1e-3)
    for a in (0.01, 3.0, 100.0):  # scale invariance; SNR is not
        assert torch.allclose(si_sdr(a * est, ref), si_sdr(est, ref), atol=1e-4)
    assert snr(3 * est, ref).max() < 0


def test_mel_distance(speech):
    assert mel_distance(speech, speech, sample_rate=SR).item() == 0
    low = LowPass(2000, SR)(speech[None])[0]
    assert mel_distance(low, speech, sample_rate=SR).item() > 0.3


def test_burg_and_levinson_recover_an_ar2_process():
    e = np.random.default_rng(0).standard_normal(20000)
    x = scipy.signal.lfilter([1], [1, -1.5, 0.7], e)
    for fit in (lpc_burg, lpc_autocorrelation):
        assert np.allclose(fit(x, 2), [1.5, -0.7], atol=0.02)


def test_baselines_keep_known_samples_and_lpc_beats_zeros_on_a_tone():
    t = torch.arange(SR, dtype=torch.float64) / SR
    tone = (0.5 * torch.sin(2 * math.pi * 440 * t) + 0.3 * torch.sin(2 * math.pi * 1250 * t)).float()[None]
    known = Mask.from_gaps([(0.5, 0.55)], length=SR, rate=SR).known[None]
    gap = ~known
    scores = {}
    for name, fill in BASELINES.items():
        out = fill(tone, known)
        assert torch.equal(out[known], tone[known])
        scores[name] = snr(out[gap][None], tone[gap][None]).item()
    assert scores["zeros"] == pytest.approx(0.0, abs=1e-6)
    assert scores["lpc"] > 15 and scores["lpc"] > scores["linear"] + 10  # measured: lpc 18 dB, linear < 1 dB


def test_lpc_fills_a_real_piano_gap_better_than_interpolation():
    piano = load(DATA / "piano.wav")[0]
    known = Mask.from_gaps([(0.7, 0.71)], length=piano.shape[-1], rate=SR).known[None]  # a sustained chord
    gap = ~known
    lpc = snr(lpc_fill(piano, known)[gap][None], piano[gap][None]).item()
    lin = snr(linear_fill(piano, known)[gap][None], piano[gap][None]).item()
    zero = snr(zeros_fill(piano, known)[gap][None], piano[gap][None]).item()
    assert lpc > lin + 6 and lpc > zero + 6  # measured: lpc 10.6 dB (order 32), zeros 0 dB


def test_lpc_arguments_are_checked():
    x, known = torch.zeros(1, 100), torch.ones(1, 100, dtype=torch.bool)
    with pytest.raises(ValueError, match="method"):
        lpc_fill(x, known, method="covariance")
    with pytest.raises(ValueError, match="order"):
        lpc_fill(x, known, order=0)
    with pytest.raises(ValueError, match="boolean"):
        lpc_fill(x, known.float())
