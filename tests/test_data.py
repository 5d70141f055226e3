"""AudioFolder and StreamSampler on real clips: labels, exact crops, resampling, skipping bad files, splits,
reproducible order for resume and disjoint DDP shards."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from audio_folders import make_folder

from audiodiff import audio
from audiodiff.data import AudioFolder, SkippedFileWarning, StreamSampler
from audiodiff.frontends import LogMel, Waveform

WAVE = Waveform(16000)


def test_labels_shapes_and_crops_are_real_segments(tmp_path):
    root = make_folder(tmp_path / "d", seconds=1.0)
    ds = AudioFolder(root, WAVE, 0.25, labels=True, normalize=None)
    assert len(ds) == 4 and ds.label_names == ["music", "speech"] and sorted(ds.labels) == [0, 0, 1, 1]
    assert ds.seconds_total == pytest.approx(4.0)
    for i in range(len(ds)):
        x, y = ds[(i, 123 + i)]
        assert x.shape == (1, 4000) and x.dtype == torch.float32 and y.dtype == torch.long
        assert ds.label_names[int(y)] == ds.files[i].parent.name
        whole, _ = audio.load(ds.files[i])
        starts = [s for s in range(whole.shape[-1] - 4000 + 1) if torch.equal(whole[0, s:s + 4000], x[0])]
        assert len(starts) == 1  # the crop is one exact window of the file
    assert torch.equal(ds[(0, 5)][0], ds[(0, 5)][0])  # same key, same crop
    assert not torch.equal(ds[(0, 5)][0], ds[(0, 6)][0])
    assert torch.equal(ds[2][0], ds[2][0])  # integer keys are deterministic too


def test_fixed_label_names_map_a_split_like_the_training_set(tmp_path):
    root = make_folder(tmp_path / "d", seconds=0.5)
    with pytest.warns(SkippedFileWarning, match="label 'music' is not one of"):
        ds = AudioFolder(root, WAVE, 0.25, labels=True, label_names=["other", "speech"])
    assert ds.label_names == ["other", "speech"] and ds.labels == [1, 1] and ds.skipped["unknown label"] == 2


def test_normalisation_and_resampling(tmp_path):
    wav, sr = audio.load(make_folder(tmp_path / "d", labels=False) / "speech0.wav")
    (tmp_path / "r").mkdir()
    audio.save(tmp_path / "r" / "x.wav", 0.1 * audio.resample(wav, sr, 22050), 22050)
    ds = AudioFolder(tmp_path / "r", WAVE, 0.5, normalize="peak")
    assert ds.lengths == [16000]  # 1 s at 22.05 kHz back at the front end's 16 kHz
    assert float(ds.crop(0, 0).abs().max()) <= 10 ** (-1 / 20) + 1e-6
    rms = AudioFolder(tmp_path / "r", WAVE, 0.5, normalize="rms")._cache[0]
    assert float(audio.rms_db(rms)) == pytest.approx(-20.0, abs=0.01)


def test_unreadable_silent_and_truncated_files_are_skipped_with_one_warning_each(tmp_path):
    root = make_folder(tmp_path / "d", labels=False)
    (root / "broken.wav").write_bytes(b"RIFF....WAVEfmt garbage")
    (root / "empty.flac").write_bytes(b"")
    audio.save(root / "quiet.wav", torch.zeros(1, 8000), 16000)
    audio.save(root / "truncated.wav", 0.3 * torch.randn(1, 10), 16000)  # 0.6 ms: padding would make it silence
    (root / "notes.txt").write_text("not audio, ignored")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = AudioFolder(root, WAVE, 0.25)
    skipped = [str(w.message) for w in caught if issubclass(w.category, SkippedFileWarning)]
    assert len(skipped) == 4 and all(m.startswith("skipping ") for m in skipped)
    assert any("broken.wav" in m for m in skipped) and any("quiet.wav" in m and "silent" in m for m in skipped)
    assert any("truncated.wav" in m and "0.6 ms" in m for m in skipped)
    assert dict(ds.skipped) == {"unreadable": 2, "silent": 1, "too short": 1} and len(ds) == 4


def test_empty_and_useless_folders_are_errors_naming_the_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no audio files.*empty.*folder is empty"):
        AudioFolder(tmp_path / "empty", WAVE, 0.25)
    (tmp_path / "txt").mkdir()
    (tmp_path / "txt" / "a.txt").write_text("x")
    with pytest.raises(ValueError, match=r"no audio files.*txt.*\(1 other files\)"):
        AudioFolder(tmp_path / "txt", WAVE, 0.25)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "a.wav").write_text("x")
    with pytest.warns(SkippedFileWarning), pytest.raises(ValueError, match="no usable audio.*bad.*1 unreadable"):
        AudioFolder(tmp_path / "bad", WAVE, 0.25)
    with pytest.raises(ValueError, match="does not exist"):
        AudioFolder(tmp_path / "nope", WAVE, 0.25)


def test_short_clips_are_padded_or_skipped(tmp_path):
    root = make_folder(tmp_path / "d", seconds=0.2, labels=False)  # 3200 samples < 4000
    ds = AudioFolder(root, WAVE, 0.25)
    x, _ = ds[(0, 3)]
    assert x.shape == (1, 4000) and int((x != 0).sum()) <= 3200
    with pytest.raises(ValueError, match="4 short"):
        AudioFolder(root, WAVE, 0.25, pad_short=False)


def test_validation_split_is_fixed_disjoint_and_complete(tmp_path):
    root = tmp_path / "many"
    root.mkdir()
    tone = torch.sin(torch.arange(2000) * 0.3)[None] * 0.5
    for i in range(40):
        audio.save(root / f"c{i:02d}.wav", tone, 16000)
    train = AudioFolder(root, WAVE, 0.1, split="train", val_fraction=0.25)
    val = AudioFolder(root, WAVE, 0.1, split="val", val_fraction=0.25)
    assert 3 <= len(val) <= 20 and len(train) + len(val) == 40
    assert not set(train.files) & set(val.files)
    assert AudioFolder(root, WAVE, 0.1, split="val", val_fraction=0.25).files == val.files
    assert len(AudioFolder(root, WAVE, 0.1, split="all", val_fraction=0.25)) == 40


def test_logmel_items_have_the_front_end_length(tmp_path):
    frontend = LogMel(16000, n_fft=256, hop_length=64, n_mels=20)
    ds = AudioFolder(make_folder(tmp_path / "d"), frontend, 0.25)
    x, _ = ds[0]
    assert x.shape == (20, frontend.length(0.25))


def _take(sampler, n):
    it = iter(sampler)
    return [next(it) for _ in range(n)]


def test_stream_sampler_resumes_exactly_and_shards_disjointly():
    full = _take(StreamSampler(10, 3, seed=4), 12)
    assert _take(StreamSampler(10, 3, seed=4, start=5), 7) == full[5:]
    flat = [k for batch in full for k in batch]
    assert sorted(i for i, _ in flat[:10]) == list(range(10))  # an epoch visits every item once
    assert len({s for _, s in flat}) == len(flat)  # every draw gets its own crop seed
    ranks = [[k for b in _take(StreamSampler(9, 1, seed=0, rank=r, world=2), 5) for k in b] for r in range(2)]
    assert set(i for i, _ in ranks[0]) | set(i for i, _ in ranks[1]) == set(range(9))  # 9 padded to 10
    assert not {s for _, s in ranks[0]} & {s for _, s in ranks[1]}
    assert np.unique([i for i, _ in ranks[0]]).size == 5
