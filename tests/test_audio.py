"""Audio I/O: save/load round trips, resampling, channel mapping, levels, and every bad-file case."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

import audiodiff as ad
from audiodiff import audio
from audiodiff.audio import matching_subtype

DATA = Path(__file__).parent / "data"


def tone(freq: float, sr: int, n: int, *, amp: float = 0.5) -> torch.Tensor:
    """A sine [1, n]."""
    return amp * torch.sin(2 * math.pi * freq * torch.arange(n, dtype=torch.float64) / sr)[None].float()


def peak_freq(wav: torch.Tensor, sr: int) -> float:
    """Frequency of the largest FFT bin of a [1, n] signal (Hann-windowed)."""
    x = wav[0].double() * torch.hann_window(wav.shape[-1], dtype=torch.float64)
    return float(torch.fft.rfft(x).abs().argmax()) * sr / wav.shape[-1]


def assert_audio_error(path: Path, call) -> None:
    """`call()` raises AudioError whose one-line message names `path`."""
    with pytest.raises(ad.AudioError) as info:
        call()
    message = str(info.value)
    assert str(path) in message and "\n" not in message, message


# --- round trips -----------------------------------------------------------------------------------

@pytest.mark.parametrize("suffix", [".wav", ".flac", ".aiff"])
def test_pcm16_round_trip_within_one_level(tmp_path, suffix):
    g = torch.Generator().manual_seed(0)
    wav = torch.rand(2, 3001, generator=g) * 2 - 1
    wav[0, :4] = torch.tensor([1.0, -1.0, 0.0, 0.5])
    path = tmp_path / f"x{suffix}"
    ad.save_audio(path, wav, 16000)
    back, sr = ad.load_audio(path)
    assert sr == 16000 and back.dtype == torch.float32 and back.shape == wav.shape
    assert (back - wav).abs().max() <= 1 / 32768
    assert back[0, 1] == -1.0 and back[0, 2] == 0.0 and back[0, 3] == 0.5  # exact levels stay exact


def test_float_round_trip_exact(tmp_path):
    wav = torch.randn(1, 2000, generator=torch.Generator().manual_seed(1)) * 0.3
    ad.save_audio(tmp_path / "f.wav", wav, 22050, subtype="FLOAT")
    back, sr = ad.load_audio(tmp_path / "f.wav")
    assert sr == 22050 and torch.equal(back, wav)


@pytest.mark.parametrize("suffix", [".wav", ".flac", ".aiff"])
def test_pcm24_files_are_written_back_bit_identical(tmp_path, suffix):
    """24-bit samples read by load (exact in float32) and saved as PCM_24 come back as the same integers."""
    levels = torch.randint(-2 ** 23, 2 ** 23, (2, 3001), generator=torch.Generator().manual_seed(2))
    levels[0, :2] = torch.tensor([-2 ** 23, 2 ** 23 - 1])  # both full-scale ends
    source = tmp_path / f"in{suffix}"
    sf.write(source, (levels.T.numpy().astype(np.int32) * 256), 16000, subtype="PCM_24")
    wav, _ = ad.load_audio(source)
    ad.save_audio(tmp_path / f"out{suffix}", wav, 16000, subtype="PCM_24")
    back = sf.read(tmp_path / f"out{suffix}", dtype="int32", always_2d=True)[0].T // 256
    assert sf.info(tmp_path / f"out{suffix}").subtype == "PCM_24" and np.array_equal(back, levels.numpy())


@pytest.mark.parametrize("given, out_name, expected", [
    ("PCM_24", "o.flac", "PCM_24"), ("PCM_24", "o.wav", "PCM_24"), ("FLOAT", "o.wav", "FLOAT"),
    ("FLOAT", "o.flac", "PCM_24"), ("PCM_16", "o.wav", "PCM_16"), ("PCM_32", "o.aiff", "FLOAT"),
])
def test_matching_subtype_keeps_the_inputs_bits_where_the_output_format_can(tmp_path, given, out_name, expected):
    source = tmp_path / "in.wav"
    sf.write(source, np.zeros(100, dtype=np.float32), 16000, subtype=given)
    assert matching_subtype(source, tmp_path / out_name) == expected


def test_pcm16_clips_instead_of_wrapping(tmp_path):
    wav = torch.tensor([[1.5, -1.5, 3.0, -7.0, 0.25]])
    ad.save_audio(tmp_path / "c.wav", wav, 8000)
    back, _ = ad.load_audio(tmp_path / "c.wav")
    assert torch.allclose(back, torch.tensor([[32767 / 32768, -1.0, 32767 / 32768, -1.0, 0.25]]))


def test_loads_the_real_clips_and_ogg(tmp_path):
    wav, sr = ad.load_audio(DATA / "speech.wav")
    assert sr == 16000 and wav.shape == (1, 40000) and wav.dtype == torch.float32
    assert 0.5 < wav.abs().max() <= 1
    sf.write(tmp_path / "s.ogg", wav[0].numpy(), sr, format="OGG", subtype="VORBIS")
    ogg, sr_ogg = ad.load_audio(tmp_path / "s.ogg")
    assert sr_ogg == 16000 and abs(ogg.shape[-1] - 40000) < 2000 and ogg.abs().max() > 0.3


def test_save_replaces_atomically_and_keeps_old_file_on_failure(tmp_path, monkeypatch):
    path = tmp_path / "keep.wav"
    ad.save_audio(path, torch.full((1, 100), 0.25), 16000)
    before = path.read_bytes()

    def broken_write(file, *args, **kwargs):
        Path(file).write_bytes(b"partial")  # fail after the temp file exists
        raise sf.SoundFileError("disk full")

    monkeypatch.setattr(audio.sf, "write", broken_write)
    assert_audio_error(path, lambda: ad.save_audio(path, torch.zeros(1, 100), 16000))
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["keep.wav"]


# --- resampling and channels -----------------------------------------------------------------------

@pytest.mark.parametrize("new_sr", [8000, 22050, 44100])
def test_resample_keeps_a_tones_frequency(tmp_path, new_sr):
    wav = tone(440.0, 16000, 16000)
    out = ad.resample(wav, 16000, new_sr)
    assert out.shape == (1, new_sr)
    assert abs(peak_freq(out, new_sr) - 440.0) <= 1.0  # 1 s: 1 Hz bins
    ad.save_audio(tmp_path / "t.wav", wav, 16000)
    loaded, sr = ad.load_audio(tmp_path / "t.wav", sample_rate=new_sr)
    assert sr == new_sr and abs(peak_freq(loaded, new_sr) - 440.0) <= 1.0
    if new_sr == 8000:  # energy is kept below the new Nyquist frequency
        assert abs(audio.rms_db(out) - audio.rms_db(wav)) < 0.1


def test_resample_rejects_bad_rates():
    with pytest.raises(ValueError, match="new_sr"):
        ad.resample(torch.zeros(1, 10), 16000, 0)
    with pytest.raises(ValueError, match="sample_rate"):
        ad.load_audio(DATA / "speech.wav", sample_rate=-8000)


def test_channel_mapping(tmp_path):
    stereo = torch.stack([tone(300, 16000, 800)[0], tone(500, 16000, 800, amp=0.2)[0]])
    ad.save_audio(tmp_path / "st.wav", stereo, 16000, subtype="FLOAT")
    mono, _ = ad.load_audio(tmp_path / "st.wav", channels=1)
    assert torch.allclose(mono, stereo.mean(0, keepdim=True), atol=1e-7)
    kept, _ = ad.load_audio(tmp_path / "st.wav")
    assert kept.shape == (2, 800)
    ad.save_audio(tmp_path / "mo.wav", stereo[:1], 16000, subtype="FLOAT")
    dup, _ = ad.load_audio(tmp_path / "mo.wav", channels=2)
    assert dup.shape == (2, 800) and torch.equal(dup[0], dup[1]) and torch.equal(dup[0], stereo[0])
    with pytest.raises(ValueError, match="channels"):
        ad.load_audio(tmp_path / "mo.wav", channels=3)


# --- levels ----------------------------------------------------------------------------------------

def test_levels_and_normalisation():
    sine = tone(1000, 16000, 16000, amp=1.0)  # full-scale sine: peak 0 dBFS, RMS -3.01 dBFS
    assert abs(audio.peak_db(sine)) < 1e-3 and abs(audio.rms_db(sine) + 3.0103) < 1e-3
    batch = torch.stack([sine, 0.01 * sine, torch.zeros_like(sine)])  # [3, 1, n]
    loud = ad.normalize_loudness(batch, target_db=-20.0)
    assert torch.allclose(audio.rms_db(loud[:2]), torch.tensor([-20.0, -20.0]), atol=1e-3)
    assert torch.equal(loud[2], batch[2])  # silence is left alone, no NaN
    peak = ad.normalize_peak(batch, target_db=-1.0)
    assert torch.allclose(audio.peak_db(peak[:2]), torch.tensor([-1.0, -1.0]), atol=1e-3)
    assert torch.isfinite(peak).all()
    assert ad.is_silent(batch, threshold_db=-60.0).tolist() == [False, False, True]
    quiet = 0.01 * sine  # RMS -43.01 dBFS
    assert bool(ad.is_silent(quiet, threshold_db=-43.0)) and not bool(ad.is_silent(quiet, threshold_db=-43.02))


# --- bad files -------------------------------------------------------------------------------------

def bad_files(tmp_path: Path) -> dict[str, Path]:
    """One file per failure case."""
    files = {"missing": tmp_path / "missing.wav", "empty": tmp_path / "empty.wav",
             "not_audio": tmp_path / "notes.wav", "corrupt": tmp_path / "corrupt.wav",
             "zero_length": tmp_path / "zero.wav", "nan": tmp_path / "nan.wav", "inf": tmp_path / "inf.wav",
             "three_channels": tmp_path / "three.wav", "directory": tmp_path / "folder.wav"}
    files["empty"].write_bytes(b"")
    files["not_audio"].write_text("these are not samples\n" * 20)
    good = tmp_path / "good.wav"
    sf.write(good, np.zeros(1000, dtype=np.float32), 16000, subtype="PCM_16")
    files["corrupt"].write_bytes(b"RIFF\xff\xff\x00\x00WAVEfmt " + good.read_bytes()[20:40])  # header cut short
    sf.write(files["zero_length"], np.zeros((0, 1), dtype=np.float32), 16000)
    sf.write(files["nan"], np.array([0.0, np.nan, 0.1], dtype=np.float32), 16000, subtype="FLOAT")
    sf.write(files["inf"], np.array([0.0, np.inf, 0.1], dtype=np.float32), 16000, subtype="FLOAT")
    sf.write(files["three_channels"], np.zeros((100, 3), dtype=np.float32), 16000)
    files["directory"].mkdir()
    return files


@pytest.mark.parametrize("case", ["missing", "empty", "not_audio", "corrupt", "zero_length", "nan", "inf",
                                  "three_channels", "directory"])
def test_bad_files_raise_audio_error_naming_the_file(tmp_path, case):
    path = bad_files(tmp_path)[case]
    assert_audio_error(path, lambda: ad.load_audio(path))


def test_more_than_two_channels_load_when_mixed_down(tmp_path):
    path = bad_files(tmp_path)["three_channels"]
    assert_audio_error(path, lambda: ad.load_audio(path, channels=2))
    wav, _ = ad.load_audio(path, channels=1)
    assert wav.shape == (1, 100)


@pytest.mark.parametrize("case, wav, kwargs", [
    ("nan", torch.tensor([[0.0, float("nan")]]), {}),
    ("inf", torch.tensor([[0.0, float("inf")]]), {}),
    ("zero_length", torch.zeros(1, 0), {}),
    ("three_channels", torch.zeros(3, 10), {}),
    ("transposed", torch.zeros(100, 1), {}),
    ("no_channel_axis", torch.zeros(100), {}),
    ("bad_subtype", torch.zeros(1, 10), {"subtype": "PCM_32"}),
    ("flac_float", torch.zeros(1, 10), {"subtype": "FLOAT", "name": "x.flac"}),
    ("bad_extension", torch.zeros(1, 10), {"name": "x.mp4"}),
    ("bad_rate", torch.zeros(1, 10), {"sample_rate": 0}),
    ("missing_folder", torch.zeros(1, 10), {"name": "no/such/folder.wav"}),
])
def test_bad_saves_raise_and_leave_nothing(tmp_path, case, wav, kwargs):
    kwargs = dict(kwargs)
    path = tmp_path / kwargs.pop("name", "out.wav")
    sample_rate = kwargs.pop("sample_rate", 16000)
    assert_audio_error(path, lambda: ad.save_audio(path, wav, sample_rate, **kwargs))
    assert list(tmp_path.iterdir()) == []
