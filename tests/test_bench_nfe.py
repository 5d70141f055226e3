"""Smoke tests of bench/nfe.py, rtf.py, gap_noise.py and keep_rate.py on an untrained tiny model: rows, NFE
counts, verdicts, files."""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

from audiodiff.checkpoint import save_model
from audiodiff.config import Config, build_frontend, build_model

BENCH = Path(__file__).resolve().parents[1] / "bench"
DATA = Path(__file__).parent / "data"


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> str:
    config = Config()
    config.train.seconds, config.sample.seconds = 0.125, 0.5
    config.sample.inpaint = dict(sampler="heun", steps=3, resample=0, init="lpc", t_init=0.1)
    config.sample.extend = dict(sampler="heun", steps=3, resample=0)
    frontend = build_frontend(config.frontend)
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("nfe") / "tiny"
    save_model(path, build_model(config, frontend), frontend, config)
    return str(path)


def test_nfe_ladder_counts_network_calls_and_writes_reports(model_dir, tmp_path):
    nfe = load_script("nfe")
    out = tmp_path / "ladder"
    assert nfe.main(["--model", model_dir, "--data", str(DATA), "--quick", "--seconds", "0.5", "--threads", "1",
                     "--out", str(out)]) == 0
    report = json.loads(out.with_suffix(".json").read_text())
    rows = {(r["task"], r["label"], r["nfe"]) for r in report["rows"]}
    # steps from the ladder: euler_maruyama steps + 1, Heun 2 steps + 1 (warm starts too)
    assert {("inpaint", "euler_maruyama", 10), ("inpaint", "heun", 19), ("extend", "heun+warm t_init=0.01", 39),
            ("inpaint", "lpc", 0), ("extend", "lowpass", 0), ("inpaint", "default", 7)} <= rows
    assert len(report["clips"]) == 3
    for verdict in report["verdicts"]:
        assert verdict["best_lsd"] <= verdict["default_lsd"]
        assert verdict["target_met"] == (verdict["default_nfe"] <= 40 and verdict["default_vs_best"] <= 0.05)
    assert out.with_suffix(".png").stat().st_size > 10_000 and "target" in out.with_suffix(".md").read_text()
    # after the defaults change, only the default rows are re-run and merged
    assert nfe.main(["--model", model_dir, "--data", str(DATA), "--quick", "--seconds", "0.5", "--threads", "1",
                     "--out", str(out), "--only-default", "--tasks", "extend"]) == 0
    again = json.loads(out.with_suffix(".json").read_text())
    assert len(again["rows"]) == len(report["rows"]) and len(again["verdicts"]) == 2
    # a full run of one task keeps the other task's rows and verdict
    assert nfe.main(["--model", model_dir, "--data", str(DATA), "--quick", "--seconds", "0.5", "--threads", "1",
                     "--out", str(out), "--tasks", "extend"]) == 0
    third = json.loads(out.with_suffix(".json").read_text())
    assert {r["task"] for r in third["rows"]} == {"inpaint", "extend"} and len(third["verdicts"]) == 2
    assert len(third["rows"]) == len(report["rows"])


def test_rtf_times_every_job(model_dir, tmp_path):
    rtf = load_script("rtf")
    out = tmp_path / "rtf"
    assert rtf.main(["--models", model_dir, "--data", str(DATA), "--seconds", "0.5", "--repeats", "1",
                     "--out", str(out)]) == 0
    rows = json.loads(out.with_suffix(".json").read_text())["rows"]
    assert [r["job"] for r in rows] == ["generate", "inpaint", "extend"]
    assert all(r["wall_s"] > 0 and r["rtf"] == pytest.approx(r["wall_s"] / 0.5, abs=1e-3) for r in rows)


def test_gap_noise_shaped_error_costs_less_than_white(tmp_path):
    """bench/gap_noise.py on the repo's speech and piano clips: the LSD of the truth plus an error grows with
    the error's level, and de-emphasis-shaped error of the same relative level costs less than white."""
    gap_noise = load_script("gap_noise")
    result = gap_noise.main(["--data", str(DATA), "--gap-ms", "50", "--limit", "2", "--out", str(tmp_path / "g")])
    lsd = result["mean_lsd"]
    assert result["clips"] == 2 and {"lpc", "zeros", "linear"} <= set(lsd)
    for kind in ("white", "shaped"):
        assert lsd[f"{kind} 0.01"] < lsd[f"{kind} 0.03"] < lsd[f"{kind} 0.08"]
    assert all(lsd[f"shaped {r:g}"] < lsd[f"white {r:g}"] for r in gap_noise.LEVELS)
    assert json.loads((tmp_path / "g.json").read_text())["gap_ms"] == 50 and (tmp_path / "g.md").exists()


def test_gap_noise_model_denoiser_floor():
    """--model: the truth diffused to t and denoised once by the shipped speech model; the gap's error grows with
    t (0.17 / 0.25 / 0.32 measured at t = 1e-4 / 1e-3 / 1e-2 on 16 klettres clips) and stays far below zeros.
    The shipped sampler started from the truth keeps less error than started from its LPC fill, not none."""
    gap_noise = load_script("gap_noise")
    result = gap_noise.main(["--data", str(DATA), "--gap-ms", "50", "--limit", "2", "--model", "speech"])
    lsd = result["mean_lsd"]
    assert result["model"] == "speech" and result["denoise_times"] == list(gap_noise.DENOISE_TIMES)
    assert lsd["denoised t=0.0001"] < lsd["denoised t=0.01"] < lsd["zeros"]
    assert 0.05 < lsd["sampled, init = the true audio"] < lsd["sampled, shipped init (lpc_long)"] < lsd["zeros"]


def test_keep_rate_scores_at_the_recordings_rate(model_dir, tmp_path):
    """bench/keep_rate.py on a 44.1 kHz stereo file with a 12 kHz tone: the CLI's output (LPC above the model's
    8 kHz) beats the model's fill resampled with nothing up there."""
    import math

    import audiodiff as ad

    keep_rate = load_script("keep_rate")
    piano = ad.resample(ad.load_audio(DATA / "piano.wav")[0][:, :16000], 16000, 44100)
    tone = lambda hz: 0.05 * torch.sin(2 * math.pi * hz * torch.arange(piano.shape[-1]) / 44100)  # noqa: E731
    (tmp_path / "in").mkdir()
    ad.save_audio(tmp_path / "in" / "a.wav", torch.cat([piano + tone(12000), piano - tone(12000) + tone(5000)]),
                  44100)
    out = tmp_path / "k"
    keep_rate.main(["--model", model_dir, "--data", str(tmp_path / "in"), "--offset", "0.1", "--seconds", "0.5",
                    "--gap-ms", "20", "--out", str(out)])
    lsd = json.loads(out.with_suffix(".json").read_text())["lsd"]["gap 20 ms"]
    methods = {"keep_rate", "model_only", "lpc"}
    assert set(lsd) == methods | {f"image {m}" for m in methods} and lsd["keep_rate"] < lsd["model_only"]
    assert all(0 <= lsd[f"image {m}"] <= 2 for m in methods)  # |corr(L, R) - true corr|, a stereo file
    assert out.with_suffix(".md").exists()
    # --task extend: the generated band (3-8 kHz) scored at 44.1 kHz; the 5 kHz tone in one channel gives it a
    # stereo image that the mono mix-down, the same in both channels, misses
    keep_rate.main(["--task", "extend", "--model", model_dir, "--data", str(tmp_path / "in"), "--offset", "0.1",
                    "--seconds", "0.5", "--cutoff", "3000", "--out", str(out)])
    lsd = json.loads(out.with_suffix(".json").read_text())["lsd"]["cutoff 3000 Hz"]
    assert set(lsd) == {"keep_rate", "model_rate", "lowpass", "image keep_rate", "image model_rate"}
    assert all(v >= 0 for v in lsd.values()) and lsd["image model_rate"] > 0.01


def test_lpc_order_ranks_long_predictors_on_a_rich_harmonic_tone(tmp_path):
    """bench/lpc_order.py: a 110 Hz tone with 24 harmonics needs 48 poles: order 64 continues it through a 50 ms
    gap better than order 16 (LSD measured 0.698 vs 0.784)."""
    import math

    import audiodiff as ad

    lpc_order = load_script("lpc_order")
    t = torch.arange(16000) / 16000
    tone = sum(torch.sin(2 * math.pi * 110 * k * t + k) / k for k in range(1, 25))[None] * 0.2
    (tmp_path / "in").mkdir()
    ad.save_audio(tmp_path / "in" / "tone.wav", tone, 16000)
    out = tmp_path / "o"
    result = lpc_order.main(["--data", str(tmp_path / "in"), "--gap-ms", "50", "--orders", "16,64", "--out", str(out)])
    lsd = result["lsd"]["50"]
    assert result["files"] == 1 and lsd["64"] < lsd["16"] - 0.05, lsd
    assert "**" in out.with_suffix(".md").read_text()  # the best order is marked


def test_lpc_floor_noise_lowers_the_plain_lsd_far_more_than_the_floored(tmp_path):
    """bench/lpc_floor.py on the test speech clip, 300 ms gap: faint noise over LPC's fading fill cuts the plain
    LSD by 0.7 (1.813 -> 1.108 measured) but the 60 dB-floored LSD by under 0.1 (0.854 -> 0.786)."""
    lpc_floor = load_script("lpc_floor")
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "speech.wav").write_bytes((DATA / "speech.wav").read_bytes())
    out = tmp_path / "o"
    result = lpc_floor.main(["--data", str(tmp_path / "in"), "--gap-ms", "300", "--sigmas", "0,0.01",
                             "--out", str(out)])
    bare, noisy = result["rows"]
    assert result["files"] == 1 and bare["sigma"] == 0 and noisy["sigma"] == 0.01
    assert noisy["lsd"] < bare["lsd"] - 0.4, (bare, noisy)
    assert abs(noisy["lsd60"] - bare["lsd60"]) < 0.2 and bare["lsd60"] <= bare["lsd"]
    assert bare["level"] < -3  # LPC fades out in the gap
    assert "sigma 0.01" in out.with_suffix(".md").read_text()
