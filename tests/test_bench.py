"""bench/speed.py smoke tests: the measurement code on the tiny preset, with the peers absent (as in CI)."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

from audiodiff.nets import UNet1d

SPEED_PATH = Path(__file__).resolve().parents[1] / "bench" / "speed.py"


@pytest.fixture(scope="module")
def speed():
    spec = importlib.util.spec_from_file_location("bench_speed", SPEED_PATH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def no_peers(speed, monkeypatch):
    """Make both peers fail to import, whether or not they are installed here."""
    real = speed.importlib.import_module

    def fake(name, *args, **kwargs):
        if name in speed.PEERS:
            raise ModuleNotFoundError(f"No module named {name!r}")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(speed.importlib, "import_module", fake)


def test_tiny_run_without_peers(speed, no_peers):
    logs = []
    result = speed.run(["tiny"], rounds=2, warmup=1, log=logs.append)
    assert all(result["peers"][p].startswith("ModuleNotFoundError") for p in speed.PEERS)
    assert any("absent" in line for line in logs)
    (size,) = result["sizes"]
    (row,) = size["rows"]
    assert row["params"] == sum(p.numel() for p in UNet1d.preset("tiny", 1).parameters())
    # backward costs about twice the forward: fwd + bwd FLOPs lie within 2.5-3.5x the forward's
    assert 2.5 < row["train_gflop"] / row["fwd_gflop"] < 3.5
    assert row["train_ms"] > 0 and row["nfe_ms"] > 0
    assert row["train_samples_per_s"] == pytest.approx(speed.BATCH / (row["train_ms"] / 1e3))
    assert 0 < row["train_frac_fp32_peak"] < 2 and 0 < row["nfe_frac_fp32_peak"] < 2
    # training keeps activations for backward and AdamW moments: more memory than a no_grad evaluation
    assert row["train_mib"] > row["nfe_mib"] >= 0
    assert size["ratios"] == [] and size["load"][0]["loadavg"]
    text = speed.markdown(result)
    assert "audio_diffusion_pytorch absent" in text and f"| audiodiff tiny | {row['params']:,} |" in text
    lines = speed.summary_lines(result)
    assert [line.split()[0] for line in lines] == [f"train_speedup_vs_{p}=n/a" for p in speed.PEERS]


def test_ratio_of_a_net_with_itself_is_about_one(speed, monkeypatch):
    """A 'peer' that is audiodiff tiny itself: params and FLOPs ratios exactly 1, speed-ups near 1."""
    real_build = speed.build
    tiny = speed.Spec("audiodiff tiny", speed.AD, dict(preset="tiny"))
    monkeypatch.setattr(speed, "build", lambda spec: real_build(tiny))
    specs = [tiny, speed.Spec("tiny as peer", speed.ADP, {})]
    size = speed.measure_size("tiny", specs, device=torch.device("cpu"), bf16=False, rounds=3, warmup=1,
                              threads=1, memory=False, log=lambda s: None)
    (ratio,) = size["ratios"]
    assert ratio["matched_on"] == "params" and ratio["params_ratio"] == 1 and ratio["flops_ratio"] == 1
    assert 0.4 < ratio["train_speedup"] < 2.5 and 0.4 < ratio["nfe_speedup"] < 2.5
    q1, median, q3 = ratio["train_speedup_q"]
    assert q1 <= median <= q3


def test_quartiles_and_bad_sizes(speed):
    assert speed.quartiles([5.0, 1.0, 3.0, 2.0, 4.0]) == [2.0, 3.0, 4.0]
    assert speed.quartiles([1.5]) == [1.5, 1.5, 1.5]
    with pytest.raises(ValueError, match="sizes"):
        speed.run(["3M"])


def test_compile_wraps_the_timed_module_but_counts_flops_on_the_eager_net(speed):
    """--compile: the timed calls go through torch.compile's module; FLOPs are counted on the eager network
    (no compilation needed for that) and equal the uncompiled job's."""
    tiny = speed.Spec("audiodiff tiny", speed.AD, dict(preset="tiny"))
    plain = speed.Job(tiny, device=torch.device("cpu"), bf16=False, batch=1)
    compiled = speed.Job(tiny, device=torch.device("cpu"), bf16=False, batch=1, compile=True)
    assert plain.module is plain.net
    assert isinstance(compiled.module, torch._dynamo.eval_frame.OptimizedModule)
    assert compiled.module._orig_mod is compiled.net
    assert compiled.flops() == plain.flops()
