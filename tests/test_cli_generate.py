"""`audiodiff generate | inpaint | extend | evaluate | models` end to end with click's CliRunner.

The model is the tiny U-Net saved untrained (0.125 s clips, 4 sampler steps): the CLI's job is files,
rates, exactness and errors, not quality. Each bad input gives one line `Error: ...`, a non-zero exit
status and no output file.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from click.testing import CliRunner

import audiodiff as ad
from audiodiff.checkpoint import save_model
import audiodiff.cli as cli_module
from audiodiff.cli import main
from audiodiff.config import Config, build_frontend, build_model
from audiodiff.pipeline import shipped_models

DATA = Path(__file__).parent / "data"
QUIET = ["--no-progress", "--steps", "3"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> str:
    config = Config()
    config.train.seconds, config.sample.steps = 0.125, 3
    frontend = build_frontend(config.frontend)
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("cli") / "tiny"
    save_model(path, build_model(config, frontend), frontend, config)
    return str(path)


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """0.5 s of piano as a 22.05 kHz stereo WAV, for a model at 16 kHz mono."""
    wav = ad.load_audio(DATA / "piano.wav", sample_rate=22050)[0][:, 8000:19025].expand(2, -1)
    path = tmp_path_factory.mktemp("in") / "piano.wav"
    ad.save_audio(path, wav, 22050)
    return path


def invoke(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args])


def assert_one_line_error(result, *words: str) -> None:
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code != 0, result.output
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    for word in words:
        assert word in lines[0], lines[0]


def test_generate_writes_wavs_and_spectrograms(model_dir, tmp_path):
    out = tmp_path / "gen"
    result = invoke("generate", "--model", model_dir, "-n", 2, "--seconds", 0.1, "--seed", 3, "-o", out, "--plot",
                    *QUIET)
    assert result.exit_code == 0, result.output
    assert "16000 Hz" in result.output
    for i in range(2):
        data, sr = sf.read(out / f"sample_{i:03d}.wav")
        assert sr == 16000 and data.shape == (1600,)
        assert (out / f"sample_{i:03d}.png").stat().st_size > 1000


def test_eps_sets_the_final_sampling_time(model_dir, clip, tmp_path):
    """--eps moves where sampling stops: the same seed fills a gap otherwise, and the model's own eps alike."""
    fills = {}
    for name, flags in (("default", []), ("model_eps", ["--eps", 1e-3]), ("late", ["--eps", 0.05])):
        out = tmp_path / f"{name}.wav"
        result = invoke("inpaint", clip, "-o", out, "--gap", "0.2:0.25", "--model", model_dir, *flags, *QUIET)
        assert result.exit_code == 0, result.output
        fills[name] = sf.read(out)[0][4410:5512]  # the gap at IN's 22.05 kHz
    assert np.array_equal(fills["default"], fills["model_eps"])  # VP's default eps is 1e-3
    assert not np.allclose(fills["default"], fills["late"], atol=1e-3)


def test_generate_without_a_model_says_how_to_train(tmp_path):
    result = invoke("generate", "--model", tmp_path / "absent", "-o", tmp_path / "gen", *QUIET)
    assert_one_line_error(result, "not found", "audiodiff train")
    assert not (tmp_path / "gen").exists()


def test_inpaint_converts_and_keeps_samples_outside_the_gap(model_dir, clip, tmp_path):
    out = tmp_path / "filled.wav"
    result = invoke("inpaint", clip, "-o", out, "--gap", "0.2:0.25", "--gap", "0.3:0.31", "--model", model_dir,
                    "--plot", *QUIET)
    assert result.exit_code == 0, result.output
    assert "22050 Hz, 2 channel(s), as IN" in result.output and "above 8000 Hz, LPC" in result.output
    data, sr = sf.read(out, dtype="float32", always_2d=True)
    wav, _ = ad.load_audio(clip)  # 22.05 kHz stereo PCM-16
    assert sr == 22050 and data.shape == wav.T.shape
    known = ad.Mask.from_gaps([(0.2, 0.25), (0.3, 0.31)], length=wav.shape[-1], rate=sr).known
    assert torch.equal(torch.from_numpy(data.T)[:, known], wav[:, known])  # PCM-16 in, the same PCM-16 out
    assert (torch.from_numpy(data.T)[:, ~known] - wav[:, ~known]).abs().max() > 1e-3  # the gaps were filled
    assert out.with_suffix(".png").exists() and out.with_suffix(".input.png").exists()


def test_inpaint_writes_a_24_bit_input_back_in_24_bits(model_dir, clip, tmp_path):
    """A 24-bit FLAC comes back 24-bit, every sample outside the gap the same integer (PCM-16 would round
    them all)."""
    wav, sr = ad.load_audio(clip)
    levels = (wav.double() * 2 ** 23).round() + torch.randint(-100, 100, wav.shape, dtype=torch.float64)
    source, out = tmp_path / "in24.flac", tmp_path / "out24.flac"
    sf.write(source, levels.T.numpy().astype(np.int32) * 256, sr, subtype="PCM_24")
    result = invoke("inpaint", source, "-o", out, "--gap", "0.2:0.25", "--model", model_dir, *QUIET)
    assert result.exit_code == 0, result.output
    assert sf.info(out).subtype == "PCM_24"
    back = torch.from_numpy(sf.read(out, dtype="int32", always_2d=True)[0].T // 256).double()
    known = ad.Mask.from_gaps([(0.2, 0.25)], length=wav.shape[-1], rate=sr).known
    assert torch.equal(back[:, known], levels[:, known]) and not torch.equal(back[:, ~known], levels[:, ~known])


def test_extend_keeps_rate_and_channels_and_the_band_below_the_cutoff(model_dir, clip, tmp_path):
    quiet, out = tmp_path / "quiet.wav", tmp_path / "wide.wav"
    ad.save_audio(quiet, 0.1 * ad.load_audio(clip)[0], 22050)  # the untrained model's band is loud: no clipping
    result = invoke("extend", quiet, "-o", out, "--cutoff", 3000, "--model", model_dir, *QUIET)
    assert result.exit_code == 0, result.output
    assert "22050 Hz, 2 channel(s), as IN" in result.output and "3000-8000 Hz" in result.output
    assert "clipped" not in result.output
    data, sr = sf.read(out, dtype="float32", always_2d=True)
    wav, _ = ad.load_audio(quiet)
    assert sr == 22050 and data.shape == wav.T.shape
    assert np.array_equal(data[:, 0], data[:, 1])  # dual mono stays dual mono
    low = ad.LowPass(2900, sr, kind="ideal")
    assert (low(torch.from_numpy(data.T)) - low(wav)).abs().max() < 1e-3  # PCM-16 out
    result = invoke("extend", clip, "-o", out, "--cutoff", 3000, "--model", model_dir, *QUIET)  # full scale in
    assert result.exit_code == 0 and "above full scale were clipped" in result.output, result.output


def test_extend_keeps_silence_unless_told_not_to(model_dir, clip, tmp_path):
    wav, sr = ad.load_audio(clip)
    padded = tmp_path / "padded.wav"
    ad.save_audio(padded, torch.cat([torch.zeros(wav.shape[0], sr // 4), wav], dim=-1), sr)
    gated, ungated = tmp_path / "gated.wav", tmp_path / "ungated.wav"
    for out, flags in ((gated, []), (ungated, ["--no-gate"])):
        result = invoke("extend", padded, "-o", out, "--cutoff", 3000, "--model", model_dir, *flags, *QUIET)
        assert result.exit_code == 0, result.output
    lead = sr // 4 - sr // 20  # the padding, less the gate's widening and ramp (2 frames) and the resampler's reach
    assert np.abs(sf.read(gated)[0][:lead]).max() == 0
    assert np.abs(sf.read(ungated)[0][:lead]).max() > 0


@pytest.mark.parametrize("case", ["missing", "corrupt", "gap outside", "cutoff above nyquist",
                                  "eps outside (0, T)"])
def test_bad_inputs_give_one_line_and_no_output(model_dir, clip, tmp_path, case):
    out = tmp_path / "out.wav"
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt garbage that is not audio")
    args, words = {
        "missing": (["inpaint", tmp_path / "nope.wav", "--gap", "0.1:0.2"], ["nope.wav", "not found"]),
        "corrupt": (["inpaint", corrupt, "--gap", "0.1:0.2"], ["corrupt.wav"]),
        "gap outside": (["inpaint", clip, "--gap", "0.4:0.9"], ["gap 0.4:0.9"]),
        "cutoff above nyquist": (["extend", clip, "--cutoff", 9000], ["9000", "Nyquist"]),
        "eps outside (0, T)": (["inpaint", clip, "--gap", "0.1:0.2", "--eps", 0], ["eps"]),
    }[case]
    result = invoke(*args, "-o", out, "--model", model_dir, *QUIET)
    assert_one_line_error(result, *words)
    assert not out.exists() and sorted(tmp_path.iterdir()) == [corrupt]  # nothing written, not even a temp file


def test_extend_cutoff_above_the_inputs_nyquist_is_one_line(model_dir, clip, tmp_path):
    """An 8 kHz file holds nothing above 4 kHz: --cutoff 5000 would take 4-5 kHz as known silence."""
    narrow = tmp_path / "narrow.wav"
    ad.save_audio(narrow, ad.load_audio(clip, sample_rate=8000)[0], 8000)
    result = invoke("extend", narrow, "-o", tmp_path / "out.wav", "--cutoff", 5000, "--model", model_dir, *QUIET)
    assert_one_line_error(result, "5000", "input's Nyquist", "4000")
    assert sorted(tmp_path.iterdir()) == [narrow]
    result = invoke("extend", narrow, "-o", tmp_path / "out.wav", "--cutoff", 3000, "--model", model_dir, *QUIET)
    assert result.exit_code == 0 and "16000 Hz, the model's rate (IN: 8000 Hz)" in result.output, result.output
    assert sf.info(tmp_path / "out.wav").samplerate == 16000


@pytest.mark.parametrize("command", ["inpaint", "extend"])
@pytest.mark.parametrize("out_name", ["out.mp3", "missing_folder/out.wav"])
def test_an_unwritable_output_fails_before_the_model_runs(model_dir, clip, tmp_path, monkeypatch, command,
                                                          out_name):
    """OUT's extension and folder are checked first: one line, no sampling wasted, nothing written."""
    monkeypatch.setattr(cli_module, "open_pipeline", lambda *a: pytest.fail("the model was opened"))
    task = ["--gap", "0.1:0.2"] if command == "inpaint" else ["--cutoff", 3000]
    result = invoke(command, clip, *task, "-o", tmp_path / out_name, "--model", model_dir, *QUIET)
    assert_one_line_error(result, out_name.split("/")[-1])
    assert list(tmp_path.iterdir()) == []


def test_malformed_gap_is_a_usage_error(clip, tmp_path):
    result = invoke("inpaint", clip, "-o", tmp_path / "o.wav", "--gap", "1.0-1.2")
    assert result.exit_code == 2 and "START:END" in result.output


@pytest.mark.parametrize("task, extra, methods", [
    ("inpaint", ["--gap-ms", "20,40"], {"model", "zeros", "linear", "lpc", "lpc_long"}),
    ("extend", ["--cutoff", "4000"], {"model", "lowpass"}),
])
def test_evaluate_writes_a_table_csv_and_json(model_dir, tmp_path, task, extra, methods):
    data = tmp_path / "data"
    data.mkdir()
    for name in ("speech", "guitar"):
        ad.save_audio(data / f"{name}.wav", ad.load_audio(DATA / f"{name}.wav")[0][:, :6000], 16000)
    prefix = tmp_path / "results"
    result = invoke("evaluate", model_dir, "--task", task, "--data", data, "--out", prefix, "--resample", 0,
                    *extra, *QUIET)
    assert result.exit_code == 0, result.output
    assert "±" in result.output and "2 files" in result.output
    doc = json.loads(prefix.with_suffix(".json").read_text())
    assert {e["method"] for e in doc["summary"]} == methods
    assert len(doc["files"]) == 2 * len(methods) * (2 if task == "inpaint" else 1)
    assert prefix.with_suffix(".csv").read_text().startswith("setting,method,files,")


def test_evaluate_skips_files_too_short_for_the_longest_gap(model_dir, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    speech = ad.load_audio(DATA / "speech.wav")[0]
    ad.save_audio(data / "long.wav", speech[:, :6000], 16000)
    ad.save_audio(data / "short.wav", speech[:, :1000], 16000)  # 62.5 ms: too short for a 40 ms gap
    paused = speech[:, :6000].clone()
    paused[:, 2000:4000] = 0  # digital silence where the gaps fall: LSD would compare log floors
    ad.save_audio(data / "paused.wav", paused, 16000)
    result = invoke("evaluate", model_dir, "--task", "inpaint", "--data", data, "--gap-ms", "20,40",
                    "--resample", 0, "--out", tmp_path / "r", *QUIET)
    assert result.exit_code == 0, result.output
    assert "skipped 1 file(s) not longer" in result.output and "1 files" in result.output
    assert "skipped 1 file(s) that are digital silence" in result.output
    result = invoke("evaluate", model_dir, "--task", "inpaint", "--data", data, "--gap-ms", "500", *QUIET)
    assert_one_line_error(result, "no file is longer")


def test_evaluate_extend_skips_digitally_silent_files(model_dir, tmp_path):
    """LSD of silence against silence is 0 for any output: such a file would flatter every method."""
    data = tmp_path / "data"
    data.mkdir()
    ad.save_audio(data / "speech.wav", ad.load_audio(DATA / "speech.wav")[0][:, :6000], 16000)
    ad.save_audio(data / "silence.wav", torch.zeros(1, 6000), 16000)
    result = invoke("evaluate", model_dir, "--task", "extend", "--data", data, "--out", tmp_path / "r", *QUIET)
    assert result.exit_code == 0, result.output
    assert "skipped 1 file(s) that are digital silence" in result.output and "1 files" in result.output
    (data / "speech.wav").unlink()
    result = invoke("evaluate", model_dir, "--task", "extend", "--data", data, *QUIET)
    assert_one_line_error(result, "digital silence")


def test_inpaint_init_audio_warm_starts_from_a_given_fill(model_dir, clip, tmp_path):
    """--init-audio FILE: the gaps start from FILE's audio (here the truth itself, so the fill lands nearer the
    truth than from LPC); a FILE of another length is one error line, and --init with it a usage error."""
    wav, sr = ad.load_audio(clip)
    known = ad.Mask.from_gaps([(0.2, 0.25)], length=wav.shape[-1], rate=sr).known
    error = {}
    for name, flags in (("truth", ["--init-audio", clip]), ("lpc", ["--init", "lpc"])):
        out = tmp_path / f"{name}.wav"
        result = invoke("inpaint", clip, "-o", out, "--gap", "0.2:0.25", "--t-init", 0.002, "--model", model_dir,
                        *flags, *QUIET)
        assert result.exit_code == 0, result.output
        filled = torch.from_numpy(sf.read(out, dtype="float32", always_2d=True)[0].T)
        assert torch.equal(filled[:, known], wav[:, known])
        error[name] = (filled - wav)[:, ~known].norm().item()
    assert error["truth"] < 0.5 * error["lpc"]
    short = tmp_path / "short.wav"
    ad.save_audio(short, wav[:, :8000], sr)
    out = tmp_path / "never.wav"
    result = invoke("inpaint", clip, "-o", out, "--gap", "0.2:0.25", "--init-audio", short, "--model", model_dir,
                    *QUIET)
    assert_one_line_error(result, "--init-audio", "8000 samples", "must match IN")
    assert not out.exists()
    result = invoke("inpaint", clip, "-o", out, "--gap", "0.2:0.25", "--init-audio", clip, "--init", "lpc",
                    "--model", model_dir, *QUIET)
    assert result.exit_code == 2 and "not both" in result.output


def test_inpaint_average_option_and_its_misuse(model_dir, clip, tmp_path):
    out = tmp_path / "mean.wav"
    result = invoke("inpaint", clip, "-o", out, "--gap", "0.1:0.12", "--average", 3, "--steps", 3, "--model",
                    model_dir, *QUIET)
    assert result.exit_code == 0, result.output
    assert sf.info(out).frames == 11025  # 0.5 s at IN's 22.05 kHz
    result = invoke("evaluate", model_dir, "--task", "extend", "--data", tmp_path, "--average", 2, *QUIET)
    assert result.exit_code == 2 and "only inpainting" in result.output


def test_evaluate_empty_folder_is_an_error(model_dir, tmp_path):
    result = invoke("evaluate", model_dir, "--task", "inpaint", "--data", tmp_path, *QUIET)
    assert_one_line_error(result, "no audio files")


def test_models_lists_shipped_models_or_says_how_to_train():
    result = invoke("models")
    assert result.exit_code == 0
    names = shipped_models()
    if names:
        assert all(name in result.output for name in names)
    else:
        assert "audiodiff train" in result.output


def test_generate_cycles_through_the_classes_of_a_conditional_model(tmp_path):
    config = Config()
    config.train.seconds, config.sample.steps = 0.125, 3
    config.label_names = ["one", "two", "three"]
    frontend = build_frontend(config.frontend)
    torch.manual_seed(0)
    save_model(tmp_path / "cond", build_model(config, frontend), frontend, config)
    result = invoke("generate", "--model", tmp_path / "cond", "-o", tmp_path / "out", *QUIET)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "sample_000_one.wav", "sample_001_two.wav", "sample_002_three.wav"]
    result = invoke("generate", "--model", tmp_path / "cond", "-n", "2", "--label", "two", "-o", tmp_path / "o2",
                    *QUIET)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "o2").iterdir()) == ["sample_000.wav", "sample_001.wav"]
    assert_one_line_error(invoke("generate", "--model", tmp_path / "cond", "--label", "four", "-o", tmp_path / "o3",
                                 *QUIET), "four")
    assert not (tmp_path / "o3").exists()
