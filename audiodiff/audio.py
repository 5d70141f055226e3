"""Audio files and levels: load / save through soundfile, resampling through torchaudio, channel mapping,
peak and RMS (dBFS) normalisation, silence detection.

Audio in memory is a float32 tensor [ch, n] in [-1, 1] (full scale = 1). The toolkit handles mono and
stereo; files with more channels load only when mixed down (`channels=1`). Every problem with a file is
an `AudioError` (a `ValueError`) whose one-line message starts with the file's path.
"""
from __future__ import annotations

import os
import uuid
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio.functional as AF
from torch import Tensor

from .shape import per_sample

SUBTYPES = ("PCM_16", "PCM_24", "FLOAT")  # from the fewest bits to the most
PCM_BITS = {"PCM_16": 16, "PCM_24": 24}
FORMATS = {".wav": "WAV", ".flac": "FLAC", ".aiff": "AIFF", ".aif": "AIFF"}  # what `save` writes
MAX_CHANNELS = 2  # mono or stereo


class AudioError(ValueError):
    """A file that cannot be read or written as audio; the message names the file."""

    def __init__(self, path: str | os.PathLike, problem: str):
        super().__init__(f"{os.fspath(path)}: {problem}")
        self.path = os.fspath(path)


def _check_samples(wav: Tensor, path: str | os.PathLike) -> None:
    """Raise AudioError unless `wav` [ch, n] has 1..MAX_CHANNELS channels, n >= 1 and finite samples."""
    if wav.ndim != 2:
        raise AudioError(path, f"audio must be [channels, samples], got shape {tuple(wav.shape)}")
    ch, n = wav.shape
    if not 1 <= ch <= MAX_CHANNELS:
        raise AudioError(path, f"unsupported channel count {ch} (expected 1..{MAX_CHANNELS}; shape is [ch, n])")
    if n == 0:
        raise AudioError(path, "audio has zero length")
    if not torch.isfinite(wav).all():
        raise AudioError(path, "audio contains NaN or inf samples")


def set_channels(wav: Tensor, channels: int | None, *, path: str | os.PathLike = "<audio>") -> Tensor:
    """Map [ch, n] to [channels, n]: 1 averages all channels, 2 duplicates mono, None keeps `ch`."""
    ch = wav.shape[-2]
    if channels is None or channels == ch:
        return wav
    if channels == 1:
        return wav.mean(dim=-2, keepdim=True)
    if channels == 2 and ch == 1:
        return wav.expand(*wav.shape[:-2], 2, wav.shape[-1]).clone()
    raise AudioError(path, f"cannot map {ch} channels to {channels} (channels must be 1, 2 or None)")


def resample(wav: Tensor, orig_sr: int, new_sr: int) -> Tensor:
    """Band-limited sinc resampling of `wav` [..., n] from `orig_sr` to `new_sr` Hz -> [..., n'] (torchaudio)."""
    for name, sr in (("orig_sr", orig_sr), ("new_sr", new_sr)):
        if int(sr) != sr or sr <= 0:
            raise ValueError(f"{name} must be a positive integer, got {sr!r}")
    if orig_sr == new_sr:
        return wav
    dtype = wav.dtype if wav.is_floating_point() else torch.float32
    return AF.resample(wav.to(dtype), int(orig_sr), int(new_sr))


def band_limited(wav: Tensor, sample_rate: int, cutoff_hz: float) -> Tensor:
    """wav [..., n] sinc-resampled to 2 * cutoff_hz and back, n samples: its band below cutoff_hz (the
    observation of bandwidth extension; the part of a recording a model at 2 * cutoff_hz can make)."""
    low = round(2 * cutoff_hz)
    return resample(resample(wav, sample_rate, low), low, sample_rate)[..., : wav.shape[-1]]


def load(path: str | os.PathLike, sample_rate: int | None = None,
         channels: int | None = None) -> tuple[Tensor, int]:
    """Read WAV / FLAC / OGG / AIFF -> (wav [ch, n] float32 in [-1, 1], sr); resample to `sample_rate` and map
    to `channels` (1 mixes down, 2 duplicates mono) when given."""
    if channels not in (None, 1, 2):
        raise ValueError(f"channels must be 1, 2 or None, got {channels!r}")
    if sample_rate is not None and (int(sample_rate) != sample_rate or sample_rate <= 0):
        raise ValueError(f"sample_rate must be a positive integer or None, got {sample_rate!r}")
    p = Path(path)
    if not p.exists():
        raise AudioError(p, "file not found")
    if p.is_dir():
        raise AudioError(p, "is a directory, not an audio file")
    if p.stat().st_size == 0:
        raise AudioError(p, "file is empty (0 bytes)")
    try:
        data, sr = sf.read(p, dtype="float32", always_2d=True)  # [n, ch]
    except (sf.SoundFileError, RuntimeError) as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        reason = reason.split("': ", 1)[-1]  # libsndfile repeats the path: "Error opening '<path>': why"
        raise AudioError(p, f"not a readable audio file ({reason})") from None
    wav = torch.from_numpy(np.ascontiguousarray(data.T))
    if wav.shape[0] > MAX_CHANNELS and channels == 1:
        wav = set_channels(wav, 1, path=p)  # mix down before the channel-count check
    _check_samples(wav, p)
    wav = set_channels(wav, channels, path=p)
    if sample_rate is not None and sample_rate != sr:
        wav = resample(wav, sr, sample_rate)
        sr = int(sample_rate)
    return wav.contiguous(), int(sr)


def check_writable(path: str | os.PathLike, *, subtype: str = "PCM_16") -> str:
    """The soundfile format `save` would write `path` in, or AudioError (unknown extension, a subtype the
    format cannot hold, a missing folder): callers check before long work, not after."""
    p = Path(path)
    if subtype not in SUBTYPES:
        raise AudioError(p, f"subtype must be one of {SUBTYPES}, got {subtype!r}")
    fmt = FORMATS.get(p.suffix.lower())
    if fmt is None:
        raise AudioError(p, f"unknown audio extension {p.suffix!r}; expected one of {sorted(FORMATS)}")
    if not sf.check_format(fmt, subtype):
        raise AudioError(p, f"format {fmt} cannot hold subtype {subtype}")
    if not p.parent.is_dir():
        raise AudioError(p, f"folder {os.fspath(p.parent)!r} does not exist")
    return fmt


def matching_subtype(path: str | os.PathLike, out_path: str | os.PathLike) -> str:
    """The subtype of SUBTYPES that keeps the samples of the audio file at `path` (read by `load`) exactly when
    written to `out_path`'s format: 24-bit stays 24-bit, float and 32-bit go to FLOAT, the rest to PCM_16
    (where the output format cannot hold FLOAT, e.g. FLAC, PCM_24)."""
    given = sf.info(str(path)).subtype
    wanted = "PCM_24" if given == "PCM_24" else "FLOAT" if given in ("FLOAT", "DOUBLE", "PCM_32") else "PCM_16"
    fmt = FORMATS.get(Path(out_path).suffix.lower())
    for subtype in SUBTYPES[SUBTYPES.index(wanted)::-1]:  # the wanted one, else the next smaller
        if fmt is not None and sf.check_format(fmt, subtype):
            return subtype
    return "PCM_16"


def save(path: str | os.PathLike, wav: Tensor, sample_rate: int, *, subtype: str = "PCM_16") -> None:
    """Write `wav` [ch, n] atomically (temp file in the same folder, then os.replace); format from the
    extension. PCM_16 / PCM_24 clip to [-1, 1] and round to the nearest of 2^16 / 2^24 levels (never wrap), so
    samples read from a file of that subtype are written back bit-identical; FLOAT is exact."""
    p = Path(path)
    fmt = check_writable(p, subtype=subtype)
    if int(sample_rate) != sample_rate or sample_rate <= 0:
        raise AudioError(p, f"sample_rate must be a positive integer, got {sample_rate!r}")
    wav = torch.as_tensor(wav).detach().cpu()
    if wav.ndim == 1:
        raise AudioError(p, "audio must be [channels, samples]; add a channel axis with wav[None]")
    _check_samples(wav, p)
    if subtype in PCM_BITS:
        full = 2.0 ** (PCM_BITS[subtype] - 1)  # reading divides by the same: the round trip is exact
        data = (wav.double().clamp(-1, 1) * full).round().clamp(-full, full - 1)
        # int32 carries 24-bit samples in its top bits, as libsndfile reads and writes them
        data = data.to(torch.int16) if subtype == "PCM_16" else data.to(torch.int32) * 256
    else:
        data = wav.float()
    tmp = p.with_name(f".{p.name}.{uuid.uuid4().hex}.tmp")
    try:
        sf.write(tmp, data.numpy().T, int(sample_rate), subtype=subtype, format=fmt)
        os.replace(tmp, p)
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        if isinstance(e, (sf.SoundFileError, OSError)):
            raise AudioError(p, f"could not write ({e})") from None
        raise


# --- levels of a clip [ch, n] (one value) or a batch [B, ch, n] (one value per clip) ---------------

_TINY = 1e-10  # amplitude floor: -200 dBFS, so silence has a finite level


def _check_levels_input(wav: Tensor) -> None:
    if wav.ndim not in (2, 3):
        raise ValueError(f"wav must be [channels, samples] or [batch, channels, samples], got {tuple(wav.shape)}")


def peak_db(wav: Tensor) -> Tensor:
    """Peak level 20 log10 max|x| in dBFS of `wav` [(B,) ch, n] -> [] or [B]."""
    _check_levels_input(wav)
    return 20 * wav.abs().amax(dim=(-2, -1)).clamp_min(_TINY).log10()


def rms_db(wav: Tensor) -> Tensor:
    """RMS level 20 log10 sqrt(mean x^2) in dBFS of `wav` [(B,) ch, n] -> [] or [B] (full-scale sine: -3.01)."""
    _check_levels_input(wav)
    return 10 * wav.pow(2).mean(dim=(-2, -1)).clamp_min(_TINY ** 2).log10()


def _gain(level_db: Tensor, target_db: float) -> Tensor:
    """The linear gain [] or [B] that moves `level_db` to `target_db`; 1 for silent clips."""
    gain = 10 ** ((target_db - level_db) / 20)
    return torch.where(level_db <= 20 * np.log10(_TINY), torch.ones_like(gain), gain)


def _gain_to(level_db: Tensor, target_db: float, wav: Tensor) -> Tensor:
    """Scale each clip of `wav` by the gain that moves `level_db` [] or [B] to `target_db`; silent clips stay."""
    return wav * per_sample(_gain(level_db, target_db), wav)


def normalize_peak(wav: Tensor, *, target_db: float = -1.0) -> Tensor:
    """Scale `wav` [(B,) ch, n] so each clip's peak is `target_db` dBFS; all-zero clips are returned as is."""
    return _gain_to(peak_db(wav), target_db, wav)


def normalize_loudness(wav: Tensor, *, target_db: float = -20.0) -> Tensor:
    """Scale `wav` [(B,) ch, n] so each clip's RMS level is `target_db` dBFS (peaks may exceed 1: `save` clips)."""
    return _gain_to(rms_db(wav), target_db, wav)


def normalization_gain(wav: Tensor, kind: str | None) -> Tensor:
    """The per-clip gain [] or [B] of the level normalisation a training set used: "peak" (to a -1 dBFS peak),
    "rms" (to -20 dBFS RMS) or None (1); silent clips get 1."""
    if kind is None:
        return torch.ones(wav.shape[:-2], dtype=wav.dtype, device=wav.device)
    if kind == "peak":
        return _gain(peak_db(wav), -1.0)
    if kind == "rms":
        return _gain(rms_db(wav), -20.0)
    raise ValueError(f"normalize must be 'peak', 'rms' or None, got {kind!r}")


def normalize(wav: Tensor, kind: str | None) -> Tensor:
    """Apply a training set's level normalisation (see `normalization_gain`) to `wav` [(B,) ch, n]."""
    return wav * per_sample(normalization_gain(wav, kind), wav)


def is_silent(wav: Tensor, *, threshold_db: float = -60.0) -> Tensor:
    """True where a clip's RMS level is below `threshold_db` dBFS; `wav` [(B,) ch, n] -> bool [] or [B]."""
    return rms_db(wav) < threshold_db


def silence_gate(wav: Tensor, sample_rate: int, *, threshold_db: float = -80.0, frame_ms: float = 10.0) -> Tensor:
    """Gain [B, 1, n] in [0, 1]: 0 where the frame around a sample of `wav` [B, ch, n] is silent (RMS below
    `threshold_db` dBFS; digital silence, padding), 1 elsewhere, with frame-long linear ramps between them."""
    frame = max(1, int(round(frame_ms * sample_rate / 1000)))
    power = wav.pow(2).mean(dim=1, keepdim=True)  # [B, 1, n]
    local = torch.nn.functional.avg_pool1d(power, 2 * frame + 1, stride=1, padding=frame, count_include_pad=False)
    loud = (local > 10 ** (threshold_db / 10)).to(wav.dtype)
    # widen the loud parts by a frame, then ramp: the gate never cuts into sound, and never clicks
    loud = torch.nn.functional.max_pool1d(loud, 2 * frame + 1, stride=1, padding=frame)
    return torch.nn.functional.avg_pool1d(loud, 2 * frame + 1, stride=1, padding=frame, count_include_pad=False)
