"""Trainer on real audio: a tiny model overfits a tiny folder, resume is bit-exact, 2-process gloo DDP keeps the
ranks identical, non-finite losses are skipped then stop training, logs and previews are written."""
from __future__ import annotations

import csv
import os
import shutil
import socket

import pytest
import torch
import torch.multiprocessing as mp
from audio_folders import make_folder, tiny_config
from safetensors.torch import load_file, save_file

import audiodiff as ad
import audiodiff.train as train_module
from audiodiff.config import build_frontend
from audiodiff.data import AudioFolder
from audiodiff.losses import dsm_loss_per_sample
from audiodiff.train import Trainer, TrainingError


def _dataset(root, config):
    t = config.train
    return AudioFolder(root, build_frontend(config.frontend), t.seconds, labels=t.labels, seed=t.seed)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_folder(tmp_path_factory.mktemp("clips"), seconds=1.0)


def _weights(trainer):
    return {**{"raw." + k: v for k, v in trainer.model.state_dict().items()},
            **{"ema." + k: v for k, v in trainer.ema.state_dict().items()}}


def test_tiny_model_overfits_a_tiny_folder(folder, tmp_path):
    """60 steps of batch 8 on four 1 s clips cut the DSM loss on fixed crops, times and noise by > 1.6x (1.83x
    measured; most of what remains is the low-sigma bands, where the tiny net must learn the waveform's fine
    structure)."""
    config = tiny_config("train.batch_size=8", "train.lr=5e-3", "train.warmup=10", "train.log_every=20")
    ds = _dataset(folder, config)
    x = torch.stack([ds[(i % len(ds), 100 + i)][0] for i in range(12)])

    def held_loss(model):
        g = torch.Generator().manual_seed(0)
        with torch.no_grad():
            return torch.cat([dsm_loss_per_sample(model, x, generator=g)[0] for _ in range(8)]).mean().item()

    trainer = Trainer(config, ds, tmp_path / "run", progress=False)
    before = held_loss(trainer.model)
    trainer.train(60)
    after = held_loss(trainer.model)
    assert after < before / 1.6, (before, after)
    assert held_loss(trainer.ema) < before / 1.5


@pytest.mark.parametrize("schedule", ["constant", "cosine"])
def test_learning_rate_schedule(folder, tmp_path, schedule):
    """Warm-up rises linearly to lr; then constant, or cosine: lr/2 halfway to train.steps, ~0 at the end and
    falling throughout. The optimizer runs at the schedule's value."""
    config = tiny_config("train.lr=1e-3", "train.warmup=10", "train.steps=110", f"train.lr_schedule={schedule}")
    trainer = Trainer(config, _dataset(folder, config), tmp_path / "run", progress=False)
    lr = [trainer.lr_at(s) for s in range(110)]
    assert lr[0] == pytest.approx(1e-4) and lr[9] == pytest.approx(1e-3)
    if schedule == "constant":
        assert lr[9:] == [pytest.approx(1e-3)] * 101
    else:
        assert lr[60] == pytest.approx(5e-4)
        assert lr[-1] == pytest.approx(0.0, abs=1e-6) and lr[-1] > 0
        assert all(a > b for a, b in zip(lr[10:], lr[11:]))
    trainer.train(12)
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(lr[11])


def test_resume_is_bit_exact(folder, tmp_path):
    """6 steps straight == 3 steps, a fresh Trainer resuming, 3 more: raw and EMA weights identical (dropout,
    label dropout and random crops all in play)."""
    config = tiny_config("train.labels=true", "train.label_dropout=0.3", "net.options.dropout=0.2")
    straight = Trainer(config, _dataset(folder, config), tmp_path / "a", progress=False)
    straight.train(6)
    first = Trainer(config, _dataset(folder, config), tmp_path / "b", progress=False)
    first.train(3)
    second = Trainer(config, _dataset(folder, config), tmp_path / "b", progress=False, resume=True)
    assert second.step == 3
    second.train(6)
    a, b = _weights(straight), _weights(second)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], _weights(first)[k]) for k in a)  # training did move the weights
    with open(tmp_path / "b" / "log.csv") as f:
        assert [int(r["step"]) for r in csv.DictReader(f)] == [2, 3, 4, 6]
    model, _, cfg = ad.load(tmp_path / "b")
    assert cfg.label_names == ["music", "speech"] and torch.equal(model.net.out_conv.weight,
                                                                   second.ema.net.out_conv.weight)


@pytest.mark.skipif(not any(shutil.which(c) for c in ("c++", "g++", "clang++")),
                    reason="torch.compile on CPU needs a C++ compiler")
def test_compiled_training_matches_eager(folder, tmp_path):
    """train.compile=true runs the step through torch.compile: the same weights as eager to float rounding
    after 3 steps, and the run directory holds the plain network's state_dict (no compiler key prefixes)."""
    config = tiny_config("train.lr=1e-3")
    eager = Trainer(config, _dataset(folder, config), tmp_path / "eager", progress=False)
    start = {k: v.clone() for k, v in _weights(eager).items()}
    eager.train(3)
    config.train.compile = True
    compiled = Trainer(config, _dataset(folder, config), tmp_path / "compiled", progress=False)
    assert compiled.step_model.net is not compiled.model.net  # the step really runs the compiled twin
    compiled.train(3)
    a, b = _weights(eager), _weights(compiled)
    assert a.keys() == b.keys()
    assert max((a[k] - start[k]).abs().max().item() for k in a) > 1e-4  # the steps moved the weights
    assert all(torch.allclose(a[k], b[k], rtol=1e-4, atol=1e-6) for k in a)
    model, _, cfg = ad.load(tmp_path / "compiled")
    assert cfg.train.compile and torch.equal(model.net.out_conv.weight, compiled.ema.net.out_conv.weight)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank: int, world: int, root: str, out: str, port: int) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    config = tiny_config()
    trainer = Trainer(config, _dataset(root, config), out, progress=False, device="cpu")
    trainer.train(4)
    save_file({k: v.contiguous() for k, v in _weights(trainer).items()}, os.path.join(out, f"rank{rank}.weights"))
    torch.distributed.destroy_process_group()


def test_two_process_gloo_ddp_keeps_ranks_identical(folder, tmp_path):
    """Each rank sees different crops; identical final weights prove the gradients were all-reduced."""
    out = tmp_path / "ddp"
    out.mkdir()
    mp.spawn(_ddp_worker, args=(2, str(folder), str(out), _free_port()), nprocs=2, join=True)
    w0, w1 = load_file(str(out / "rank0.weights")), load_file(str(out / "rank1.weights"))
    assert w0.keys() == w1.keys() and all(torch.equal(w0[k], w1[k]) for k in w0)
    config = tiny_config()
    torch.manual_seed(config.train.seed)
    init = ad.build_model(config).state_dict()
    assert any(not torch.equal(w0["raw." + k], v) for k, v in init.items())
    model, _, _ = ad.load(out)  # rank 0 wrote the checkpoint
    assert all(torch.equal(v, w0["ema." + k]) for k, v in model.state_dict().items())


def test_non_finite_losses_are_skipped_then_stop_training(folder, tmp_path, monkeypatch):
    config = tiny_config("train.max_nonfinite=3")
    trainer = Trainer(config, _dataset(folder, config), tmp_path / "run", progress=False)
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}

    def nan_loss(*args, **kwargs):
        loss, t = dsm_loss_per_sample(*args, **kwargs)
        return loss * float("nan"), t

    monkeypatch.setattr(train_module, "dsm_loss_per_sample", nan_loss)
    with pytest.raises(TrainingError, match="non-finite for 3 steps in a row"):
        trainer.train(10)
    assert trainer.step == 3 and trainer.nonfinite_total == 3
    assert all(torch.equal(v, before[k]) for k, v in trainer.model.state_dict().items())


def test_log_buckets_validation_and_previews(folder, tmp_path):
    config = tiny_config("train.preview_every=2", "train.preview_count=2", "train.labels=true", "train.ckpt_every=1")
    run = tmp_path / "run"
    ds = _dataset(folder, config)
    val = AudioFolder(folder, ds.frontend, 0.25, labels=True, split="all", label_names=ds.label_names)
    trainer = Trainer(config, ds, run, progress=False, val_dataset=val)
    stats = trainer.train(2)
    with open(run / "val.csv") as f:
        val_rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in val_rows] == [1, 2]
    again = trainer.validate()  # fixed crops, times and noise: the same number for the same weights
    assert float(val_rows[-1]["loss_ema"]) == pytest.approx(again["loss_ema"], rel=1e-5)
    assert float(val_rows[-1]["loss_raw"]) == pytest.approx(again["loss_raw"], rel=1e-5)
    with open(run / "log.csv") as f:
        rows = list(csv.DictReader(f))
    buckets = [k for k in rows[0] if k.startswith("loss_sigma_")]
    assert len(rows) == 1 and len(buckets) == 5 and float(rows[0]["loss"]) == pytest.approx(stats["loss"], rel=1e-4)
    assert float(rows[0]["samples_per_s"]) > 0
    for i in range(2):
        wav, sr = ad.load_audio(run / "previews" / f"step00000002_{i}.wav")
        assert sr == 16000 and wav.shape == (1, 4000)
        assert (run / "previews" / f"step00000002_{i}.png").stat().st_size > 1000


def test_a_crash_while_checkpointing_leaves_the_last_good_state(folder, tmp_path, monkeypatch):
    """A failure half-way through writing step 4's files leaves step 2's state, which resumes cleanly."""
    import audiodiff.checkpoint as ckpt_module

    config = tiny_config("train.ckpt_every=2")
    run = tmp_path / "run"
    Trainer(config, _dataset(folder, config), run, progress=False).train(2)
    good = (run / "state.safetensors").read_bytes()
    real_save = ckpt_module.save_file

    def dying_save(tensors, filename, metadata=None):
        real_save(tensors, filename, metadata=metadata)
        with open(filename, "r+b") as f:  # the process dies with a half-written temp file
            f.truncate(100)
        raise KeyboardInterrupt

    monkeypatch.setattr(ckpt_module, "save_file", dying_save)
    with pytest.raises(KeyboardInterrupt):
        Trainer(config, _dataset(folder, config), run, progress=False, resume=True).train(4)
    monkeypatch.undo()
    assert (run / "state.safetensors").read_bytes() == good
    assert sorted(p.name for p in run.iterdir()) == ["config.json", "log.csv", "model.safetensors",
                                                    "state.safetensors"]  # no temp files left
    resumed = Trainer(config, _dataset(folder, config), run, progress=False, resume=True)
    assert resumed.step == 2
    resumed.train(4)
    assert ckpt_module.read_model_config(run)["step"] == 4


def test_cpu_training_keeps_freed_memory(folder, tmp_path, monkeypatch):
    """The CPU trainer asks for glibc's thresholds that stop a step page-faulting its activations back in
    (audiodiff.allocator; tests/test_allocator.py measures the faults)."""
    calls = []
    monkeypatch.setattr(train_module, "keep_freed_memory", lambda: calls.append(1) or True)
    config = tiny_config()
    Trainer(config, _dataset(folder, config), tmp_path / "run", progress=False, device="cpu")
    assert calls == [1]
