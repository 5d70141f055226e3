"""Front ends: waveform round trip, log-mel round trip on real audio, tone placement, shapes, configs."""
from __future__ import annotations

import cmath
import json
import math
from pathlib import Path

import librosa
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import audiodiff as ad
from audiodiff import metrics

DATA = Path(__file__).parent / "data"
FAST = settings(max_examples=15, deadline=None)


def clip(name: str) -> torch.Tensor:
    """A test clip as [1, 1, n] at 16 kHz."""
    wav, sr = ad.load_audio(DATA / f"{name}.wav")
    assert sr == 16000
    return wav[None]


# --- LogMel on real audio --------------------------------------------------------------------------

# name: (spectral convergence, LSD) measured with the defaults (n_fft 1024, hop 256, 80 mels, 64 Griffin-Lim
# iterations, momentum 0.99); the bounds below allow 15 % on top.
MEASURED = {"speech": (0.323, 0.824), "piano": (0.371, 1.498), "guitar": (0.235, 1.431)}


@pytest.mark.parametrize("name", sorted(MEASURED))
def test_logmel_round_trip_on_real_audio(name):
    """Griffin-Lim round trip of the 16 kHz clips in tests/data (espeak-ng speech, fluidsynth piano and guitar).

    SC = ||S - S_hat||_F / ||S||_F of the STFT magnitude (LogMel.magnitude), LSD = metrics.lsd (NU-Wave 2,
    log10 power units; 0.1 unit = 1 dB). Measured: speech SC 0.323 LSD 0.824, piano SC 0.371 LSD 1.498,
    guitar SC 0.235 LSD 1.431. The 80-band mel itself is the limit: the NNLS magnitude before any phase
    retrieval already has SC 0.302 / 0.363 / 0.233; zero-phase decoding (0 iterations) gives SC 0.93-0.94.
    """
    frontend = ad.LogMel(16000)
    wav = clip(name)
    x = frontend.encode(wav)
    assert x.shape == (1, 80, wav.shape[-1] // 256 + 1)
    assert -1.0 <= x.min() and x.max() <= 1.0  # the documented unit range
    wav_hat = frontend.decode(x, length=wav.shape[-1])
    assert wav_hat.shape == wav.shape and torch.isfinite(wav_hat).all()
    s, s_hat = frontend.magnitude(wav[:, 0]), frontend.magnitude(wav_hat[:, 0])
    sc = float((s - s_hat).norm() / s.norm())
    lsd = float(metrics.lsd(wav_hat, wav))
    sc_measured, lsd_measured = MEASURED[name]
    assert sc <= 1.15 * sc_measured, f"spectral convergence {sc:.3f}"
    assert lsd <= 1.15 * lsd_measured, f"LSD {lsd:.3f}"
    assert torch.equal(frontend.decode(x, length=wav.shape[-1]), wav_hat)  # deterministic (zero initial phase)


def test_nnls_inverts_the_filterbank():
    """The mel of the NNLS magnitude reproduces the mel (relative residual < 1e-2) and is non-negative."""
    frontend = ad.LogMel(16000)
    mel = frontend.filters.float().T @ frontend.magnitude(clip("speech")[:, 0])
    s = frontend.mel_to_magnitude(mel)
    assert s.shape == (1, 513, mel.shape[-1]) and (s >= 0).all()
    residual = (frontend.filters.float().T @ s - mel).norm() / mel.norm()
    assert residual < 1e-2, residual


def test_filterbank_is_librosas_slaney_mel_normalised_to_band_means():
    frontend = ad.LogMel(22050, n_fft=2048, n_mels=64, f_min=30.0, f_max=9000.0)
    ref = torch.from_numpy(librosa.filters.mel(sr=22050, n_fft=2048, n_mels=64, fmin=30.0, fmax=9000.0,
                                               htk=False, norm=None)).double().T  # [F, M]
    assert torch.allclose(frontend.filters, ref / ref.sum(0), atol=1e-6)


@pytest.mark.parametrize("band", [5, 20, 47, 70])
def test_pure_tone_peaks_in_its_mel_band(band):
    """A tone at the centre frequency of mel band m (librosa's slaney scale as oracle) is loudest in band m."""
    centres = librosa.mel_frequencies(n_mels=82, fmin=0.0, fmax=8000.0, htk=False)[1:-1]
    freq = float(centres[band])
    n = 16000
    wav = torch.sin(2 * math.pi * freq * torch.arange(n, dtype=torch.float64) / 16000).float()[None, None]
    x = ad.LogMel(16000).encode(wav)
    assert (x.mean(-1).argmax(-1) == band).all()
    assert (x[0, :, 2:-2].argmax(0) == band).all()  # in every frame away from the edges


def test_decode_survives_overshooting_samples():
    """Sampler outputs beyond the data range (here x = +-40) are clamped to [-1, X_MAX] and decode finitely."""
    frontend = ad.LogMel(16000, griffin_lim_iters=4)
    x = 40 * torch.sign(torch.randn(2, 80, 20, generator=torch.Generator().manual_seed(0)))
    wav = frontend.decode(x, length=4000)
    assert wav.shape == (2, 1, 4000) and torch.isfinite(wav).all()
    assert torch.equal(wav, frontend.decode(x.clamp(-1.0, 1.0 + 20 * math.log10(2) / 50), length=4000))
    loudest = frontend.encode(torch.sign(torch.randn(1, 1, 4000, generator=torch.Generator().manual_seed(1))))
    assert loudest.max() <= frontend.X_MAX  # full-scale square-ish noise stays under the clamp


def test_length_matches_encode():
    for frontend in (ad.LogMel(16000), ad.LogMel(24000, n_fft=512, hop_length=128), ad.Waveform(16000)):
        for seconds in (0.1, 1.0, 2.37):
            n = frontend.num_samples(seconds)
            x = frontend.encode(torch.zeros(1, frontend.audio_channels, n))
            assert x.shape[-1] == frontend.length(seconds)


# --- properties for any length and batch -----------------------------------------------------------

@FAST
@given(n=st.integers(513, 6000), batch=st.integers(1, 3), seed=st.integers(0, 2 ** 16))
def test_logmel_shapes_and_finiteness(n, batch, seed):
    frontend = ad.LogMel(16000, griffin_lim_iters=2)
    wav = 0.3 * torch.randn(batch, 1, n, generator=torch.Generator().manual_seed(seed))
    wav[0] = 0.0  # silence must stay finite too
    x = frontend.encode(wav)
    assert x.shape == (batch, 80, n // 256 + 1) and torch.isfinite(x).all()
    assert x.min() >= -1.0
    wav_hat = frontend.decode(x, length=n)
    assert wav_hat.shape == (batch, 1, n) and torch.isfinite(wav_hat).all()
    assert frontend.decode(x).shape == (batch, 1, 256 * (x.shape[-1] - 1))


@FAST
@given(frames=st.integers(1, 30), length=st.integers(1, 9000), batch=st.integers(1, 3), seed=st.integers(0, 99))
def test_logmel_decodes_any_frames_to_any_length(frames, length, batch, seed):
    """Model outputs need not come from encode: any L and any requested length give finite audio."""
    frontend = ad.LogMel(16000, griffin_lim_iters=2)
    x = torch.rand(batch, 80, frames, generator=torch.Generator().manual_seed(seed)) * 2 - 1
    wav = frontend.decode(x, length=length)
    assert wav.shape == (batch, 1, length) and torch.isfinite(wav).all()


@FAST
@given(n=st.integers(1, 6000), batch=st.integers(1, 3), channels=st.sampled_from([1, 2]),
       scale=st.sampled_from([1.0, 0.5, 4.0, 2.0 ** -6]), seed=st.integers(0, 2 ** 16))
def test_waveform_round_trip_is_exact(n, batch, channels, scale, seed):
    frontend = ad.Waveform(16000, channels=channels, scale=scale)
    wav = torch.randn(batch, channels, n, generator=torch.Generator().manual_seed(seed)).clamp(-1, 1)
    x = frontend.encode(wav)
    assert x.shape == (batch, channels, n) and frontend.channels == channels
    assert torch.equal(frontend.decode(x), wav)
    assert torch.equal(x, wav * scale)


def test_waveform_non_power_of_two_scale_within_an_ulp_and_length():
    frontend = ad.Waveform(16000, scale=3.0)
    wav = torch.rand(2, 1, 1000, generator=torch.Generator().manual_seed(0)) * 2 - 1
    back = frontend.decode(frontend.encode(wav))
    assert ((back - wav).abs() <= wav.abs() * torch.finfo(torch.float32).eps).all()
    assert frontend.decode(frontend.encode(wav), length=900).shape == (2, 1, 900)
    padded = frontend.decode(frontend.encode(wav), length=1100)
    assert padded.shape == (2, 1, 1100) and (padded[..., 1000:] == 0).all()


def test_preemphasis_is_the_first_order_filter_and_decode_inverts_it():
    a, scale, sr = 0.9, 2.0, 16000
    frontend = ad.Waveform(sr, preemphasis=a, scale=scale)
    t = torch.arange(8000) / sr
    for hz in (100.0, 1000.0, 7000.0):
        x = frontend.encode(torch.sin(2 * math.pi * hz * t)[None, None])[0, 0, 1000:]
        gain = abs(1 - a * cmath.exp(-2j * math.pi * hz / sr)) * scale  # |H(e^{jw})| of 1 - a z^-1
        assert x.pow(2).mean().sqrt().item() == pytest.approx(gain / math.sqrt(2), rel=2e-3)
    wav = torch.rand(2, 2, 5000, generator=torch.Generator().manual_seed(0)) * 2 - 1
    stereo = ad.Waveform(sr, channels=2, preemphasis=a)
    assert torch.allclose(stereo.decode(stereo.encode(wav)), wav, atol=1e-5)


def test_preemphasis_observed_samples_need_their_predecessor():
    frontend = ad.Waveform(16000, preemphasis=0.5)
    known = torch.tensor([[[False, True, True, False, False, True, True]]])
    assert frontend.observed(known).tolist() == [[[False, False, True, False, False, False, True]]]
    assert torch.equal(ad.Waveform(16000).observed(known), known)


@pytest.mark.parametrize("gap", [[0], [150], [299], [0, 1, 299]])
def test_decode_known_fills_one_sample_gaps(gap):
    frontend = ad.Waveform(16000, preemphasis=0.9)
    wav = torch.randn(1, 1, 300, dtype=torch.float64)
    known = torch.ones(1, 1, 300, dtype=torch.bool)
    known[..., gap] = False
    assert torch.allclose(frontend.decode_known(frontend.encode(wav), wav, known), wav, atol=1e-9)


def test_decode_known_is_the_least_squares_fill_and_exact_on_clean_input():
    a, n = 0.9, 300
    frontend = ad.Waveform(16000, preemphasis=a, scale=2.0)
    g = torch.Generator().manual_seed(0)
    wav = torch.randn(1, 1, n, generator=g, dtype=torch.float64)
    known = torch.ones(1, 1, n, dtype=torch.bool)
    known[..., :5] = known[..., 100:160] = known[..., 290:] = False  # gaps at the start, inside, at the end
    known[..., 200] = known[..., 202] = False  # one-sample gaps (clicks, declipping's short runs)
    assert torch.allclose(frontend.decode_known(frontend.encode(wav), wav, known), wav, atol=1e-9)
    x = frontend.encode(wav) + 0.3 * torch.randn(1, 1, n, generator=g, dtype=torch.float64)
    out = frontend.decode_known(x, wav, known)
    assert torch.equal(out[known], wav[known])
    # oracle: dense least squares of ||encode(w) - x||^2 over the unknown samples of w, the rest fixed
    D = torch.eye(n, dtype=torch.float64) - a * torch.diag(torch.ones(n - 1, dtype=torch.float64), -1)
    free = ~known[0, 0]
    rhs = x[0, 0] / 2.0 - D[:, ~free] @ wav[0, 0, ~free]
    best = torch.linalg.lstsq(D[:, free], rhs[:, None]).solution[:, 0]
    assert torch.allclose(out[0, 0, free], best, atol=1e-9)
    # plain de-emphasis then keeping the known samples fits x worse
    plain = torch.where(known, wav, frontend.decode(x))
    assert (frontend.encode(out) - x).pow(2).sum() < (frontend.encode(plain) - x).pow(2).sum()


# --- configs and bad arguments ---------------------------------------------------------------------

@pytest.mark.parametrize("frontend", [
    ad.Waveform(16000), ad.Waveform(44100, channels=2, scale=0.5), ad.Waveform(16000, preemphasis=0.9),
    ad.LogMel(16000), ad.LogMel(22050, n_fft=512, hop_length=128, n_mels=40, f_min=50.0, f_max=8000.0,
                                  griffin_lim_iters=8, momentum=0.9),
])
def test_config_round_trip(frontend):
    config = json.loads(json.dumps(frontend.config()))
    rebuilt = ad.frontend_from_config(config)
    assert type(rebuilt) is type(frontend) and rebuilt.config() == frontend.config()
    wav = 0.1 * torch.randn(1, frontend.audio_channels, 4000, generator=torch.Generator().manual_seed(0))
    assert torch.equal(rebuilt.encode(wav), frontend.encode(wav))
    assert (rebuilt.sample_rate, rebuilt.channels, rebuilt.audio_channels) == \
        (frontend.sample_rate, frontend.channels, frontend.audio_channels)


@pytest.mark.parametrize("make, match", [
    (lambda: ad.frontend_from_config({"name": "cqt"}), "cqt"),
    (lambda: ad.frontend_from_config({"name": "logmel", "sample_rate": 16000, "n_bins": 3}), "n_bins"),
    (lambda: ad.LogMel(16000, channels=2), "Waveform"),
    (lambda: ad.LogMel(16000, n_fft=256, hop_length=64, n_mels=128), "n_mels"),
    (lambda: ad.LogMel(16000, f_max=9000.0), "f_max"),
    (lambda: ad.LogMel(16000, hop_length=2048), "hop_length"),
    (lambda: ad.Waveform(16000, channels=3), "channels"),
    (lambda: ad.Waveform(16000, scale=0.0), "scale"),
    (lambda: ad.Waveform(16000, preemphasis=1.0), "preemphasis"),
    (lambda: ad.Waveform(0), "sample_rate"),
    (lambda: ad.LogMel(16000).encode(torch.zeros(1, 1, 512)), "513"),
    (lambda: ad.LogMel(16000).encode(torch.zeros(1, 2, 4000)), r"\[B, 1, n\]"),
    (lambda: ad.LogMel(16000).decode(torch.zeros(1, 40, 10)), r"\[B, 80, L"),
    (lambda: ad.Waveform(16000).length(0.0), "seconds"),
    (lambda: ad.LogMel(16000).decode(torch.full((1, 80, 5), float("nan"))), "NaN"),
    (lambda: ad.Waveform(16000).encode(torch.full((1, 1, 5), float("inf"))), "NaN or inf"),
    (lambda: ad.LogMel(16000).decode(torch.zeros(1, 80, 1)), "length"),
])
def test_bad_arguments_raise_value_error(make, match):
    with pytest.raises(ValueError, match=match):
        make()
