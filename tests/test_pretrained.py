"""The shipped default model: `audiodiff generate -o DIR` with no other argument works and writes speech-like clips.

Quality proper (a classifier names >= 90% of generated digits right) is measured by
`python recipes/espeak_digits.py score` (about a minute); here a fast check that can still fail: the shipped
weights load, the command runs with the model's own defaults, and each clip has a voiced word in it (most
energy below 4 kHz, a loud part well above a quiet part), not noise.
"""
from __future__ import annotations

import json
from pathlib import Path

import soundfile as sf
import torch
from click.testing import CliRunner

import audiodiff as ad
from audiodiff.cli import main
from audiodiff.pipeline import DEFAULT_MODELS, PRETRAINED_DIR, shipped_models


def test_default_generate_model_is_shipped_small_and_documented():
    name = DEFAULT_MODELS["generate"]
    assert name in shipped_models()
    directory = PRETRAINED_DIR / name
    assert (directory / "model.safetensors").stat().st_size <= 15e6
    doc = json.loads((directory / "config.json").read_text())
    assert doc["step"] >= 10_000 and doc["info"]["recipe"].endswith("espeak_digits.py")
    assert doc["info"]["wall_time_s"] > 0 and doc["info"]["hardware"]
    model, frontend, config = ad.load(directory)
    assert sorted(config.label_names) == sorted(
        ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])


def test_generate_with_no_arguments_writes_one_word_per_digit(tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["generate", "-o", str(out), "--no-progress"])  # README's command
    assert result.exit_code == 0, result.output
    files = sorted(out.glob("*.wav"))
    assert len(files) == 10 and {f.stem.split("_")[-1] for f in files} >= {"zero", "seven", "nine"}
    voiced = 0
    for f in files:
        wav, sr = sf.read(f, dtype="float32")
        assert sr == 16000 and wav.shape == (16000,)
        assert abs(abs(wav).max() - 10 ** (-1 / 20)) < 1e-3    # the training set's -1 dBFS peak, no clipping
        spec = torch.stft(torch.from_numpy(wav), 512, 128, window=torch.hann_window(512), return_complex=True).abs()
        power = spec.pow(2)
        voiced += bool(power[:128].sum() > 0.8 * power.sum())  # vowel energy below 4 kHz ("six" is mostly /s/)
        frame_db = 10 * power.sum(0).clamp_min(1e-10).log10()
        assert frame_db.max() - frame_db.quantile(0.1) > 30   # a word over quieter surroundings (measured 60-70 dB)
    assert voiced >= 8
