"""Objective audio metrics: log-spectral distance (NU-Wave 2 protocol), SNR, SI-SDR and log-mel distance.

Every metric takes `estimate` and `reference` of the same shape [..., n] (samples last) and returns one
value per leading index, shape [...]; lower is better for distances, higher for SNR / SI-SDR (in dB).
"""
from __future__ import annotations

import functools

import torch
import torchaudio
from torch import Tensor

LSD_N_FFT, LSD_HOP = 2048, 512
LOG_FLOOR = 1e-8  # power floor of NU-Wave 2's LSD, before log10


def check_pair(estimate: Tensor, reference: Tensor) -> None:
    """Raise ValueError unless both are floating tensors of one shape with samples last."""
    if estimate.shape != reference.shape:
        raise ValueError(f"estimate shape {tuple(estimate.shape)} differs from reference {tuple(reference.shape)}")
    if estimate.ndim < 1 or estimate.shape[-1] == 0:
        raise ValueError("estimate and reference need at least one sample on the last axis")


def log_power_spectrogram(wav: Tensor, *, n_fft: int = LSD_N_FFT, hop_length: int = LSD_HOP) -> Tensor:
    """log10(max(|STFT|^2, 1e-8)) with a Hann window, [..., n] -> [..., n_fft // 2 + 1, frames]."""
    lead, n = wav.shape[:-1], wav.shape[-1]
    flat = wav.reshape(-1, n).double()
    # reflect padding (torch.stft's default) needs more samples than half a frame; zero-pad shorter clips
    pad_mode = "reflect" if n > n_fft // 2 else "constant"
    spec = torch.stft(flat, n_fft, hop_length=hop_length, window=torch.hann_window(n_fft, dtype=flat.dtype),
                      center=True, pad_mode=pad_mode, return_complex=True)
    power = spec.real ** 2 + spec.imag ** 2
    return power.clamp_min(LOG_FLOOR).log10().reshape(*lead, *power.shape[-2:])


def band_bins(band: str | None, cutoff_hz: float | None, sample_rate: int | None, n_fft: int) -> slice:
    """The STFT bins of `band`: all (None), "low" (below cutoff_hz) or "high" (at or above it)."""
    if band is None:
        return slice(None)
    if band not in ("low", "high"):
        raise ValueError(f"band must be None, 'low' or 'high', got {band!r}")
    if cutoff_hz is None or sample_rate is None:
        raise ValueError("band='low'/'high' needs cutoff_hz and sample_rate")
    if not 0 < cutoff_hz < sample_rate / 2:
        raise ValueError(f"cutoff_hz must lie in (0, {sample_rate / 2}), got {cutoff_hz}")
    k = int(torch.ceil(torch.tensor(cutoff_hz * n_fft / sample_rate)).item())  # first bin at or above cutoff
    return slice(None, k) if band == "low" else slice(k, None)


def lsd(estimate: Tensor, reference: Tensor, *, band: str | None = None, cutoff_hz: float | None = None,
        sample_rate: int | None = None, n_fft: int = LSD_N_FFT, hop_length: int = LSD_HOP,
        floor_db: float | None = None) -> Tensor:
    """Log-spectral distance of NU-Wave 2 (Han & Lee 2022): mean over frames of the RMS over frequency
    of log10 power differences; `band="high"|"low"` restricts to bins above/below `cutoff_hz`. [...]
    floor_db: both spectrograms floored `floor_db` dB below the reference's loudest bin (per item) first. The
    plain LSD's floor, 1e-8, sits ~100 dB under audio at full scale, so a fill that fades out (LPC over a long
    gap) pays for every bin it leaves near silence and any faint noise there lowers the score; a relative
    floor (e.g. 60 dB) judges only what can be heard over the loudest sound. Never above the plain LSD."""
    check_pair(estimate, reference)
    if floor_db is not None and not floor_db > 0:
        raise ValueError(f"floor_db must be positive (dB below the reference's peak), got {floor_db}")
    bins = band_bins(band, cutoff_hz, sample_rate, n_fft)
    est = log_power_spectrogram(estimate, n_fft=n_fft, hop_length=hop_length)
    ref = log_power_spectrogram(reference, n_fft=n_fft, hop_length=hop_length)
    if floor_db is not None:
        floor = ref.flatten(-2).amax(-1)[..., None, None] - floor_db / 10  # log10 power
        est, ref = torch.maximum(est, floor), torch.maximum(ref, floor)
    d = est[..., bins, :] - ref[..., bins, :]
    return d.pow(2).mean(-2).sqrt().mean(-1).to(estimate.dtype)


def snr(estimate: Tensor, reference: Tensor, *, eps: float = 1e-12) -> Tensor:
    """Signal-to-noise ratio 10 log10(|ref|^2 / |ref - est|^2) in dB, [...]."""
    check_pair(estimate, reference)
    signal = reference.double().pow(2).sum(-1)
    noise = (reference.double() - estimate.double()).pow(2).sum(-1)
    return (10 * torch.log10((signal + eps) / (noise + eps))).to(estimate.dtype)


def si_sdr(estimate: Tensor, reference: Tensor, *, zero_mean: bool = True, eps: float = 1e-12) -> Tensor:
    """Scale-invariant SDR (Le Roux et al. 2019, eq. 1-2) in dB, [...]: est projected on ref is the target."""
    check_pair(estimate, reference)
    est, ref = estimate.double(), reference.double()
    if zero_mean:
        est, ref = est - est.mean(-1, keepdim=True), ref - ref.mean(-1, keepdim=True)
    alpha = (est * ref).sum(-1, keepdim=True) / (ref.pow(2).sum(-1, keepdim=True) + eps)
    target = alpha * ref
    ratio = (target.pow(2).sum(-1) + eps) / ((est - target).pow(2).sum(-1) + eps)
    return (10 * torch.log10(ratio)).to(estimate.dtype)


@functools.lru_cache(maxsize=8)
def mel_transform(sample_rate: int, n_fft: int, hop_length: int, n_mels: int) -> torchaudio.transforms.MelSpectrogram:
    """A cached power mel spectrogram transform (torchaudio, HTK mel scale)."""
    return torchaudio.transforms.MelSpectrogram(sample_rate, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels,
                                                power=2.0)


def mel_distance(estimate: Tensor, reference: Tensor, *, sample_rate: int, n_fft: int = 1024,
                 hop_length: int = 256, n_mels: int = 80, floor: float = 1e-5) -> Tensor:
    """Mean absolute difference of log10 mel power spectrograms (floor 1e-5), [...]."""
    check_pair(estimate, reference)
    mel = mel_transform(int(sample_rate), n_fft, hop_length, n_mels)
    lead, n = estimate.shape[:-1], estimate.shape[-1]

    def logmel(w: Tensor) -> Tensor:
        return mel(w.reshape(-1, n).float()).clamp_min(floor).log10()

    d = (logmel(estimate) - logmel(reference)).abs().mean((-2, -1))
    return d.reshape(lead).to(estimate.dtype)
