"""Checkpoints: model directory round trip (EMA and raw), training-state round trip, atomic writes, and
one-line CheckpointErrors for corrupt, truncated and mismatched files."""
from __future__ import annotations

import json

import pytest
import torch
from audio_folders import tiny_config

import audiodiff as ad
from audiodiff import checkpoint as ckpt
from audiodiff.config import apply_overrides, build_frontend, build_model


def _models(config):
    torch.manual_seed(0)
    model = build_model(config)
    ema = build_model(config)
    with torch.no_grad():  # distinct, non-zero weights (the U-Net's head starts at zero)
        for p, q in zip(model.parameters(), ema.parameters()):
            p.normal_(0, 0.05)
            q.copy_(p + 0.01)
    return model, ema


@pytest.fixture
def saved(tmp_path):
    config = tiny_config("label_names=[\"speech\", \"music\"]")
    model, ema = _models(config)
    frontend = build_frontend(config.frontend)
    ckpt.save_model(tmp_path / "m", model, frontend, config, ema=ema, step=7, info={"recipe": "tiny"})
    return tmp_path / "m", model, ema, config


def test_round_trip_gives_the_same_denoiser(saved):
    path, model, ema, config = saved
    loaded, frontend, cfg = ad.load(path)
    assert cfg == config and cfg.label_names == ["speech", "music"]
    assert frontend.sample_rate == 16000 and not loaded.training
    assert not any(p.requires_grad for p in loaded.parameters())
    x, t, y = torch.randn(2, 1, 300), torch.tensor([0.1, 0.7]), torch.tensor([0, 1])
    model.eval().requires_grad_(False)  # autograd flags select other (equally exact) kernels: compare like for like
    ema.eval().requires_grad_(False)
    with torch.no_grad():
        assert torch.equal(loaded.denoise(x, t, y), ema.denoise(x, t, y))
        raw, _, _ = ad.load(path, weights="raw")
        assert torch.equal(raw.denoise(x, t, y), model.denoise(x, t, y))
        assert not torch.equal(raw.denoise(x, t, y), loaded.denoise(x, t, y))
    doc = json.loads((path / "config.json").read_text())
    assert doc["step"] == 7 and doc["version"] == ad.__version__ and doc["info"]["recipe"] == "tiny"
    assert doc["frontend"]["sample_rate"] == 16000 and doc["sde"]["name"] == "vp"
    assert doc["parameters"] == sum(p.numel() for p in model.net.parameters())


def test_truncated_or_garbage_weights_are_one_line_errors(saved):
    path = saved[0]
    data = (path / "model.safetensors").read_bytes()
    for bad in (data[: len(data) // 2], data[:5], b"not a safetensors file at all"):
        (path / "model.safetensors").write_bytes(bad)
        with pytest.raises(ckpt.CheckpointError, match="model.safetensors: corrupt or truncated") as e:
            ad.load(path)
        assert "\n" not in str(e.value)


def test_corrupt_or_missing_config_json(saved):
    path = saved[0]
    text = (path / "config.json").read_text()
    (path / "config.json").write_text(text[: len(text) // 2])
    with pytest.raises(ckpt.CheckpointError, match="config.json: corrupt JSON"):
        ad.load(path)
    (path / "config.json").unlink()
    with pytest.raises(ckpt.CheckpointError, match="config.json: file not found"):
        ad.load(path)
    with pytest.raises(ckpt.CheckpointError, match="model directory not found"):
        ad.load(path / "nope")


def test_mismatched_files_are_refused(saved, tmp_path):
    path, model, ema, config = saved
    doc = json.loads((path / "config.json").read_text())
    doc["step"] = 8  # config.json from another checkpoint than the weights
    (path / "config.json").write_text(json.dumps(doc))
    with pytest.raises(ckpt.CheckpointError, match="different checkpoints"):
        ad.load(path)
    doc["step"] = 7
    doc["net"]["channels"] = [8, 16, 32, 64]  # weights of another architecture
    (path / "config.json").write_text(json.dumps(doc))
    with pytest.raises(ckpt.CheckpointError, match="has shape"):
        ad.load(path)
    doc["net"]["channels"] = [8, 16, 32, 32]
    doc["net"]["num_classes"] = None  # a class embedding the config does not have
    (path / "config.json").write_text(json.dumps(doc))
    with pytest.raises(ckpt.CheckpointError, match="unexpected"):
        ad.load(path)
    with pytest.raises(ckpt.CheckpointError, match="not an audiodiff model config"):
        (tmp_path / "x").mkdir()
        (tmp_path / "x" / "config.json").write_text('{"format": "something"}')
        ad.load(tmp_path / "x")


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "f.json"
    ckpt.write_json(target, {"a": 1})

    def failing(tmp):
        tmp.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        ckpt.atomic_write(target, failing)
    assert json.loads(target.read_text()) == {"a": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.json"]  # no temp file left behind


def test_optimizer_state_round_trip_continues_identically(tmp_path):
    config = apply_overrides(tiny_config(), [])
    torch.manual_seed(0)
    model = build_model(config)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    x = torch.randn(2, 1, 256)

    def step(m, o):
        loss = ad.dsm_loss(m, x, generator=torch.Generator().manual_seed(1))
        loss.backward()
        o.step()
        o.zero_grad()

    for _ in range(2):
        step(model, opt)
    tensors, doc = ckpt.optimizer_tensors(opt)
    tensors.update({"model." + k: v for k, v in model.state_dict().items()})
    ckpt.save_state(tmp_path / "state.safetensors", tensors, {"optimizer": doc, "step": 2})
    back, back_doc = ckpt.load_state(tmp_path / "state.safetensors")
    assert back_doc["step"] == 2

    clone = build_model(config)
    clone.load_state_dict({k[6:]: v for k, v in back.items() if k.startswith("model.")})
    opt2 = torch.optim.AdamW(clone.parameters(), lr=1e-2)
    ckpt.restore_optimizer(opt2, back, back_doc["optimizer"])
    step(model, opt)
    step(clone, opt2)
    for a, b in zip(model.parameters(), clone.parameters()):
        assert torch.equal(a, b)


def test_state_file_errors(tmp_path):
    with pytest.raises(ckpt.CheckpointError, match="file not found"):
        ckpt.load_state(tmp_path / "state.safetensors")
    ckpt.save_state(tmp_path / "s.safetensors", {"a": torch.zeros(3)}, {"step": 1})
    data = (tmp_path / "s.safetensors").read_bytes()
    (tmp_path / "s.safetensors").write_bytes(data[:-4])
    with pytest.raises(ckpt.CheckpointError, match="corrupt or truncated"):
        ckpt.load_state(tmp_path / "s.safetensors")
    from safetensors.torch import save_file
    save_file({"a": torch.zeros(1)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(ckpt.CheckpointError, match="not an audiodiff training state"):
        ckpt.load_state(tmp_path / "other.safetensors")


def test_export_keeps_only_ema_weights_and_loads_the_same(saved, tmp_path):
    path, _, ema, _ = saved
    out = ckpt.export_model(path, tmp_path / "shipped", info={"note": "test"})
    tensors, _ = ckpt.read_tensors(out / "model.safetensors")
    assert tensors and not any(k.startswith(ckpt.RAW_PREFIX) for k in tensors)
    assert (out / "model.safetensors").stat().st_size < 0.6 * (path / "model.safetensors").stat().st_size
    loaded, _, _ = ad.load(out)
    ema.eval().requires_grad_(False)
    x, t, y = torch.randn(2, 1, 300), torch.tensor([0.2, 0.9]), torch.tensor([1, 0])
    with torch.no_grad():
        assert torch.equal(loaded.denoise(x, t, y), ema.denoise(x, t, y))
    doc = json.loads((out / "config.json").read_text())
    assert doc["step"] == 7 and doc["info"] == {"recipe": "tiny", "note": "test"} and doc["ema_decay"] is not None
    with pytest.raises(ad.CheckpointError, match="raw"):
        ad.load(out, weights="raw")


def test_half_export_halves_the_file_and_loads_as_float32_within_fp16_rounding(saved, tmp_path):
    path, _, ema, _ = saved
    full = ckpt.export_model(path, tmp_path / "full")
    half = ckpt.export_model(path, tmp_path / "half", half=True)
    tensors, _ = ckpt.read_tensors(half / "model.safetensors")
    assert {v.dtype for v in tensors.values() if v.is_floating_point()} == {torch.float16}
    ratio = (half / "model.safetensors").stat().st_size / (full / "model.safetensors").stat().st_size
    assert 0.45 < ratio < 0.55
    assert json.loads((half / "config.json").read_text())["weights_dtype"] == "float16"
    loaded, _, _ = ad.load(half)
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    ema.eval().requires_grad_(False)
    x, t, y = torch.randn(2, 1, 300), torch.tensor([0.2, 0.9]), torch.tensor([1, 0])
    with torch.no_grad():
        want, got = ema.denoise(x, t, y), loaded.denoise(x, t, y)
    err = (got - want).norm() / want.norm()
    assert 0 < err < 5e-3  # rounded (not bit-equal), but only by fp16's 2^-11 relative step per weight
