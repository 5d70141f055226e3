"""`audiodiff train` / `audiodiff info` end to end through click's CliRunner on WAVs the test writes; every bad
input is one `Error:` line, a non-zero exit, no traceback and nothing written."""
from __future__ import annotations

import json

import pytest
import torch
from audio_folders import TINY_NET, make_folder
from click.testing import CliRunner

import audiodiff as ad
from audiodiff.cli import main

FAST = [a for o in (*TINY_NET, "train.seconds=0.25", "train.log_every=1") for a in ("--set", o)]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_folder(tmp_path_factory.mktemp("clips"), seconds=0.5)


@pytest.fixture(scope="module")
def run(folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "tiny"
    result = CliRunner().invoke(main, ["train", "tiny", "--data", str(folder), "--out", str(out), "--steps", "2",
                                       "--no-progress", *FAST])
    assert result.exit_code == 0, result.output
    return out


def _one_error_line(result):
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if not line.startswith("Warning: ")]  # one line per skipped file is fine
    assert len(errors) == 1 and errors[0].startswith("Error: ") and lines[-1] == errors[0], result.output
    return errors[0]


def test_train_writes_a_loadable_model_and_info_describes_it(run):
    model, frontend, config = ad.load(run)
    assert frontend.sample_rate == 16000 and config.train.steps == 2 and config.train.seconds == 0.25
    doc = json.loads((run / "config.json").read_text())
    assert doc["step"] == 2 and doc["info"]["recipe"] == "tiny"
    assert (run / "state.safetensors").is_file() and (run / "log.csv").is_file()
    result = CliRunner().invoke(main, ["info", str(run)])
    assert result.exit_code == 0, result.output
    params = sum(p.numel() for p in model.net.parameters())
    assert f"{params:,} parameters" in result.output and "step       2" in result.output
    assert "preset tiny" in result.output and "16000" in result.output


def test_resume_continues_to_the_new_total(run, folder):
    first = json.loads((run / "config.json").read_text())["info"]["command"]
    result = CliRunner().invoke(main, ["train", "--resume", "--data", str(folder), "--out", str(run), "--steps", "3",
                                       "--no-progress"])
    assert result.exit_code == 0, result.output
    doc = json.loads((run / "config.json").read_text())
    assert doc["step"] == 3
    # provenance survives the resume: the recipe and first command, then each resume command
    assert doc["info"]["recipe"] == "tiny" and doc["info"]["command"] == first
    assert len(doc["info"]["resume_commands"]) == 1


def test_existing_run_is_not_overwritten(run, folder):
    before = (run / "state.safetensors").read_bytes()
    result = CliRunner().invoke(main, ["train", "tiny", "--data", str(folder), "--out", str(run), "--no-progress"])
    assert "--resume" in _one_error_line(result)
    assert (run / "state.safetensors").read_bytes() == before


@pytest.mark.parametrize("case", ["empty", "not_audio", "unknown_key", "bad_type", "missing_recipe", "no_data"])
def test_bad_inputs_are_one_line_errors_and_write_nothing(case, folder, tmp_path):
    data, args = folder, []
    if case == "empty":
        data = tmp_path / "empty"
        data.mkdir()
    elif case == "not_audio":
        data = tmp_path / "docs"
        data.mkdir()
        (data / "readme.txt").write_text("hello")
        (data / "fake.wav").write_text("not a wav")
    elif case == "unknown_key":
        args = ["--set", "train.learning_rate=1e-3"]
    elif case == "bad_type":
        args = ["--set", "train.batch_size=many"]
    elif case == "no_data":
        data = tmp_path / "missing"
    recipe = "no_such_recipe" if case == "missing_recipe" else "tiny"
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["train", recipe, "--data", str(data), "--out", str(out), "--no-progress", *args])
    line = _one_error_line(result)
    expected = {"empty": "no audio files", "not_audio": "no usable audio", "unknown_key": "train.learning_rate",
                "bad_type": "train.batch_size", "missing_recipe": "no_such_recipe", "no_data": "does not exist"}
    assert expected[case] in line
    assert not out.exists()
    if case == "not_audio":
        assert f"Warning: skipping {data / 'fake.wav'}: not a readable audio file" in result.stderr


def test_corrupt_checkpoints_are_one_line_errors(run, folder, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("config.json", "model.safetensors", "state.safetensors"):
        data = (run / name).read_bytes()
        (broken / name).write_bytes(data[: len(data) // 3])
    assert "corrupt" in _one_error_line(CliRunner().invoke(main, ["info", str(broken)]))
    (broken / "config.json").write_bytes((run / "config.json").read_bytes())
    assert "truncated" in _one_error_line(CliRunner().invoke(main, ["info", str(broken)]))
    result = CliRunner().invoke(main, ["train", "--resume", "--data", str(folder), "--out", str(broken),
                                       "--no-progress"])
    assert "state.safetensors: corrupt or truncated" in _one_error_line(result)
    assert "not found" in _one_error_line(CliRunner().invoke(main, ["info", str(tmp_path / "none")]))


def test_export_writes_a_shippable_model_and_refuses_to_overwrite(run, tmp_path):
    out = tmp_path / "shipped"
    result = CliRunner().invoke(main, ["export", str(run), str(out), "--note", "smoke"])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "config.json").read_text())["info"]["note"] == "smoke"
    model, _, _ = ad.load(out)
    assert sum(p.numel() for p in model.parameters()) > 0
    result = CliRunner().invoke(main, ["export", str(run), str(tmp_path / "half"), "--half"])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "half" / "config.json").read_text())["weights_dtype"] == "float16"
    shown = CliRunner().invoke(main, ["info", str(tmp_path / "half")]).output
    assert "stored as float16" in shown and "+ raw" not in shown  # export drops the raw copy
    assert "+ raw" in CliRunner().invoke(main, ["info", str(run)]).output
    error = _one_error_line(CliRunner().invoke(main, ["export", str(run), str(out)]))
    assert "not empty" in error
    error = _one_error_line(CliRunner().invoke(main, ["export", str(tmp_path / "nope"), str(tmp_path / "o2")]))
    assert "not found" in error and not (tmp_path / "o2").exists()


def test_export_sets_sampling_defaults_and_refuses_other_sections(run, tmp_path):
    result = CliRunner().invoke(main, ["export", str(run), str(tmp_path / "s"), "--set", "sample.guidance=3",
                                       "--set", "sample.steps=7"])
    assert result.exit_code == 0, result.output
    _, _, config = ad.load(tmp_path / "s")
    assert (config.sample.guidance, config.sample.steps) == (3.0, 7)
    error = _one_error_line(CliRunner().invoke(main, ["export", str(run), str(tmp_path / "t"), "--set",
                                                      "train.lr=1"]))
    assert "sample" in error and not (tmp_path / "t").exists()


def fine_tune(run, folder, out, *extra):
    """`audiodiff train --init-from RUN` on `folder` into `out`, quietly, with `extra` arguments."""
    return CliRunner().invoke(main, ["train", "--init-from", str(run), "--data", str(folder), "--out", str(out),
                                     "--no-progress", *extra])


def test_init_from_fine_tunes_a_model_and_records_it(run, folder, tmp_path):
    out = tmp_path / "tuned"
    result = fine_tune(run, folder, out, "--steps", "1", "--set", "train.lr=1e-5")
    assert result.exit_code == 0, result.output
    base, _, _ = ad.load(run)
    tuned, _, config = ad.load(out, weights="raw")
    assert config.net == ad.load(run)[2].net  # RECIPE left out: the model's own config, and its recipe
    assert json.loads((out / "config.json").read_text())["info"]["recipe"] == \
        json.loads((run / "config.json").read_text())["info"]["recipe"]
    # one small step from the base weights: every tensor stays near them (a fresh init would not)
    for (name, b), t in zip(base.state_dict().items(), tuned.state_dict().values()):
        assert torch.allclose(b, t, atol=1e-3), name
    info = json.loads((out / "config.json").read_text())["info"]
    base_step = json.loads((run / "config.json").read_text())["step"]
    assert info["init_from"]["model"] == str(run) and info["init_from"]["step"] == base_step
    # the EMA starts from the base model's own average: no warm-up that would drag it to the first step's weights
    assert ad.checkpoint.load_state(out / "state.safetensors")[1]["ema_offset"] == base_step


def test_init_from_may_change_the_front_end_but_not_its_channel_count(run, folder, tmp_path):
    out = tmp_path / "pre"
    result = fine_tune(run, folder, out, "--steps", "1", "--set", "frontend.preemphasis=0.9")
    assert result.exit_code == 0, result.output
    _, frontend, _ = ad.load(out)
    assert frontend.preemphasis == 0.9
    result = fine_tune(run, folder, tmp_path / "st", "--set", "frontend.channels=2")
    assert "channels" in _one_error_line(result) and not (tmp_path / "st").exists()


def test_init_from_refuses_another_architecture_and_resume(run, folder, tmp_path):
    out = tmp_path / "other"
    result = CliRunner().invoke(main, ["train", "tiny", "--init-from", str(run), "--data", str(folder), "--out",
                                       str(out), "--no-progress", "--set", "net.options.channels=[8,16,16,32]"])
    assert "different net config" in _one_error_line(result) and not out.exists()
    result = CliRunner().invoke(main, ["train", "--resume", "--init-from", str(run), "--data", str(folder),
                                       "--out", str(run), "--no-progress"])
    assert result.exit_code != 0 and "Traceback" not in result.output
