"""Trainer: denoising score matching with AdamW, warm-up, EMA, clipping, AMP, exact resume and DDP.

One step: a batch of crops -> per-sample DSM loss (losses.py) -> backward -> clip -> AdamW at the warmed-up
learning rate -> EMA. Everything random is seeded and saved: the data order and crops are a function of the
step (data.StreamSampler), the noise comes from the trainer's own generator, and the global torch / NumPy /
Python RNG states (dropout) are checkpointed, so training N steps straight and training k, stopping and
resuming to N give bit-identical weights on CPU. Under `torchrun` the same code runs DistributedDataParallel
(gloo on CPU, NCCL on GPU); rank 0 alone writes files.

Run directory: model.safetensors + config.json (a model directory, `ad.load` reads it), state.safetensors
(resume), log.csv (loss, learning rate, gradient norm, samples/s and the loss in 5 bands of log sigma: a
training-health view), previews/ (optional audio + spectrogram PNGs).
"""
from __future__ import annotations

import copy
import csv
import math
import os
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn

from . import checkpoint as ckpt
from .allocator import keep_freed_memory
from .config import Config, build_model
from .data import AudioFolder, StreamSampler, mix_seed
from .losses import dsm_loss_per_sample
from .precond import ScoreModel

NUM_BUCKETS = 5
LOG_KEYS = ["loss", "lr", "grad_norm", "samples_per_s", "nonfinite"]
VAL_CROPS = (32, 256)  # validation crops: at least one per file and 32, at most 256


class TrainingError(RuntimeError):
    """Training cannot go on (e.g. the loss stayed non-finite); the message says why and what to try."""


def distributed_setup(device: str | torch.device | None = None) -> tuple[int, int, torch.device]:
    """(rank, world size, device); joins the torchrun process group when WORLD_SIZE > 1."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", str(rank)))
    if device is None:
        device = f"cuda:{local}" if torch.cuda.is_available() else "cpu"
    device = torch.device(device)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", local if world > 1 else torch.cuda.current_device())
    if world > 1 and not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", rank=rank, world_size=world)
    return rank, world, device


def distributed_teardown() -> None:
    """Leave the torchrun process group, if one was joined."""
    if dist.is_initialized():
        dist.destroy_process_group()


class _DDPDenoiser:
    """Route ScoreModel.denoise through DDP's forward, so gradients are all-reduced, keeping `.sde`."""

    def __init__(self, ddp: nn.parallel.DistributedDataParallel):
        self.ddp, self.sde = ddp, ddp.module.sde

    def denoise(self, x: Tensor, t: Tensor, labels: Tensor | None = None) -> Tensor:
        return self.ddp(x, t, labels)


def save_spectrogram(path: str | os.PathLike, wav: Tensor, sample_rate: int, *, title: str = "") -> None:
    """Plot the STFT magnitude in dBFS (a full-scale sine at 0 dB) of `wav` [n] or [ch, n] (first channel) to a PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    wav = wav.detach().float().cpu().reshape(-1, wav.shape[-1])[0]
    n_fft = 512 if sample_rate <= 24000 else 1024
    window = torch.hann_window(n_fft)
    spec = torch.stft(wav, n_fft, n_fft // 4, window=window, return_complex=True).abs() * (2 / window.sum())
    db = 20 * spec.clamp_min(1e-5).log10()
    fig, ax = plt.subplots(figsize=(6, 3), dpi=100)
    extent = (0, wav.numel() / sample_rate, 0, sample_rate / 2000)
    ax.imshow(db.numpy(), origin="lower", aspect="auto", extent=extent, vmin=-100, vmax=0, cmap="magma")
    ax.set(xlabel="time (s)", ylabel="frequency (kHz)", title=title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


class Trainer:
    """Train `config`'s ScoreModel on `dataset`, checkpointing into `run_dir` (see the module docstring).

    `resume=True` continues from run_dir/state.safetensors (the model parts of the config must match).
    `init_from` (a model directory) starts a new run from its weights (fine-tuning): step 0, fresh optimizer,
    both the online and the EMA weights set to the model's served (EMA) weights.
    `info` (recipe, command, ...) is stored in config.json. `progress` shows a tqdm bar on rank 0.
    With `val_dataset`, every checkpoint also logs the EMA and raw models' loss on it to val.csv.
    """

    def __init__(self, config: Config, dataset: AudioFolder, run_dir: str | os.PathLike, *, resume: bool = False,
                 device: str | torch.device | None = None, progress: bool = True,
                 info: dict[str, Any] | None = None, val_dataset: AudioFolder | None = None,
                 init_from: str | os.PathLike | None = None):
        self.rank, self.world, self.device = distributed_setup(device)
        t = config.train
        if t.batch_size % self.world:
            raise ValueError(f"train.batch_size={t.batch_size} must be divisible by the {self.world} processes")
        if t.labels and not dataset.label_names:
            raise ValueError(f"train.labels is on but {dataset.root} has no label sub-folders")
        self.config = config = copy.deepcopy(config)
        config.label_names = list(dataset.label_names) if t.labels else []
        self.dataset, self.frontend, self.run_dir = dataset, dataset.frontend, Path(run_dir)
        self.val_dataset = val_dataset
        self.progress, self.info = progress, dict(info or {})
        self.state_path = self.run_dir / ckpt.STATE_FILE
        if self.device.type == "cpu":
            keep_freed_memory()  # 1.13x samples/s: activations stop being page-faulted back in every step

        torch.manual_seed(t.seed)  # same initial weights on every rank
        self.model = build_model(config, self.frontend).to(self.device)
        self.ema = copy.deepcopy(self.model).requires_grad_(False).eval()
        # fused: one kernel for all parameters; 3x faster optimizer step for the base preset on CPU
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=t.lr, betas=t.betas,
                                           weight_decay=t.weight_decay, fused=True)
        self.generator = torch.Generator(self.device).manual_seed(mix_seed(t.seed, self.rank, 1))
        self.amp_dtype = self._amp_dtype(t.amp)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        self.step, self.samples_seen, self.wall_time, self.nonfinite_total = 0, 0, 0.0, 0
        self.ema_offset = 0  # steps the weights had before this run (fine-tuning): the EMA needs no warm-up
        if resume and init_from is not None:
            raise ValueError("resume continues a run from its own state; init_from starts a new one: pick one")
        if resume:
            self._load_state()
        elif init_from is not None:
            self._init_from(Path(init_from))
        # what the training step runs: the model, or a twin whose network is compiled (the same parameters, so
        # checkpoints, EMA and evaluation keep using the plain modules and their state_dict keys)
        self.step_model = self.model
        if t.compile:
            self.step_model = ScoreModel(torch.compile(self.model.net), self.model.sde,
                                         sigma_data=self.model.sigma_data)
        self.ddp = None
        if self.world > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.ddp = nn.parallel.DistributedDataParallel(self.step_model, device_ids=ids)
        sde = self.model.sde
        lo, hi = (math.log(sde.sigma(torch.tensor([v], dtype=torch.float64)).item()) for v in (t.eps, sde.T))
        self.bucket_edges = torch.linspace(lo, hi, NUM_BUCKETS + 1)

    # --- set-up helpers -----------------------------------------------------------------------------
    def _amp_dtype(self, amp: str) -> torch.dtype | None:
        if self.device.type != "cuda" or amp == "none":
            return None  # fp32 on CPU: CPU autocast is slower for convs and would break exact resume checks
        if amp == "fp16" or (amp == "auto" and not torch.cuda.is_bf16_supported()):
            return torch.float16
        return torch.bfloat16

    def _rng_tensors(self) -> dict[str, Tensor]:
        """This rank's RNG states (the trainer's generator, global torch and CUDA), gathered to every rank."""
        mine = {"generator": self.generator.get_state(), "torch": torch.get_rng_state()}
        if self.device.type == "cuda":
            mine["cuda"] = torch.cuda.get_rng_state(self.device)
        out = {}
        for name, state in mine.items():
            states = [state]
            if self.world > 1:
                local = state.to(torch.int64).to(self.device)
                states = [torch.empty_like(local) for _ in range(self.world)]
                dist.all_gather(states, local)
                states = [s.cpu().to(torch.uint8) for s in states]
            out.update({f"rng.{name}.rank{r}": s for r, s in enumerate(states)})
        return out

    def _check_same_model(self, doc: dict, path: Path, whose: str, advice: str,
                          parts: tuple[str, ...] = ("frontend", "sde", "net", "label_names")) -> None:
        """A CheckpointError unless the saved config in `doc` has the same `parts` (default: the whole model)."""
        saved = ckpt.saved_config(doc, path)
        for part in parts:
            if getattr(saved, part) != getattr(self.config, part):
                raise ckpt.CheckpointError(f"{path}: {whose} a different {part} config "
                                           f"({getattr(saved, part)}); {advice}")

    def _load_state(self) -> None:
        """Restore weights, optimizer, counters and RNG states from run_dir/state.safetensors."""
        path = self.state_path
        tensors, doc = ckpt.load_state(path)
        self._check_same_model(doc, path, "the run was trained with", "resume with the run's own config")
        ckpt.load_weights(self.model, {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}, path)
        ckpt.load_weights(self.ema, {k[4:]: v for k, v in tensors.items() if k.startswith("ema.")}, path)
        ckpt.restore_optimizer(self.optimizer, tensors, doc["optimizer"])
        self.step, self.samples_seen = int(doc["step"]), int(doc["samples_seen"])
        self.wall_time, self.nonfinite_total = float(doc["wall_time_s"]), int(doc["nonfinite_total"])
        self.ema_offset = int(doc.get("ema_offset", 0))
        if doc.get("scaler"):
            self.scaler.load_state_dict(doc["scaler"])
        random.setstate((doc["python_rng"][0], tuple(doc["python_rng"][1]), doc["python_rng"][2]))
        np_rng = doc["numpy_rng"]
        np.random.set_state((np_rng[0], tensors["rng.numpy"].numpy().astype(np.uint32), *np_rng[1:]))
        same_world = int(doc["world"]) == self.world
        r = self.rank if same_world else 0  # another world size: continue from rank 0's streams
        self.generator.set_state(tensors[f"rng.generator.rank{r}"])
        torch.set_rng_state(tensors[f"rng.torch.rank{r}"])
        if self.device.type == "cuda" and f"rng.cuda.rank{r}" in tensors:
            torch.cuda.set_rng_state(tensors[f"rng.cuda.rank{r}"], self.device)

    def _init_from(self, model_dir: Path) -> None:
        """Load a model directory's weights into the online and EMA models; record where they came from."""
        doc = ckpt.read_model_config(model_dir)
        # another front end is allowed (e.g. adding pre-emphasis) as long as the net sees as many channels
        self._check_same_model(doc, model_dir, "the model has", "fine-tune with the model's own",
                               parts=("sde", "net", "label_names"))
        model, frontend, _ = ckpt.load(model_dir)
        if frontend.channels != self.frontend.channels:
            raise ckpt.CheckpointError(f"{model_dir}: the model's front end gives {frontend.channels} channels, "
                                       f"this config's {self.frontend.channels}; fine-tune with as many")
        weights = model.state_dict()
        self.model.load_state_dict(weights)
        self.ema.load_state_dict(weights)
        self.ema_offset = int(doc["step"])
        before = doc.get("info", {})
        self.info["init_from"] = {"model": os.fspath(model_dir), "step": int(doc["step"]),
                                  **{k: before[k] for k in ("samples_seen", "wall_time_s", "recipe", "command")
                                     if k in before}}

    # --- checkpoints --------------------------------------------------------------------------------
    def save(self) -> None:
        """Write model.safetensors + config.json and the resume state (rank 0 writes; all ranks take part)."""
        rng = self._rng_tensors()  # a collective: every rank calls it
        if self.rank != 0:
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        info = {**self.info, "step": self.step, "samples_seen": self.samples_seen,
                "wall_time_s": round(self.wall_time, 3), "world_size": self.world, "device": self.device.type}
        ckpt.save_model(self.run_dir, self.model, self.frontend, self.config, ema=self.ema, step=self.step,
                        info=info)
        opt_tensors, opt_doc = ckpt.optimizer_tensors(self.optimizer)
        np_state = np.random.get_state()
        py_state = random.getstate()
        tensors = {**{"model." + k: v for k, v in self.model.state_dict().items()},
                   **{"ema." + k: v for k, v in self.ema.state_dict().items()},
                   **opt_tensors, **rng, "rng.numpy": torch.from_numpy(np_state[1].astype(np.int64))}
        doc = {"step": self.step, "samples_seen": self.samples_seen, "wall_time_s": self.wall_time,
               "nonfinite_total": self.nonfinite_total, "ema_offset": self.ema_offset, "world": self.world,
               "data_position": self.step,
               "config": self.config.to_dict(), "optimizer": opt_doc,
               "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else None,
               "python_rng": [py_state[0], list(py_state[1]), py_state[2]],
               "numpy_rng": [np_state[0], int(np_state[2]), int(np_state[3]), float(np_state[4])]}
        ckpt.save_state(self.state_path, tensors, doc)

    # --- the loop -----------------------------------------------------------------------------------
    def lr_at(self, step: int) -> float:
        """Linear warm-up from lr / warmup to lr over `warmup` steps, then constant, or with
        lr_schedule="cosine" lr (1 + cos(pi p)) / 2 at progress p from the warm-up's end to train.steps
        (annealing: Loshchilov & Hutter 2017, without restarts)."""
        t = self.config.train
        lr = t.lr * min(1.0, (step + 1) / t.warmup) if t.warmup > 0 else t.lr
        if t.lr_schedule == "cosine" and step >= t.warmup:
            progress = min(1.0, (step - t.warmup) / max(1, t.steps - t.warmup))
            lr *= 0.5 * (1 + math.cos(math.pi * progress))
        return lr

    @torch.no_grad()
    def _update_ema(self) -> None:
        """ema <- d ema + (1 - d) params with d = min(decay, (1 + step) / (10 + step)) (averages early steps too)."""
        n = self.step + self.ema_offset
        d = min(self.config.train.ema_decay, (1 + n) / (10 + n))
        for e, p in zip(self.ema.parameters(), self.model.parameters()):
            e.lerp_(p, 1 - d)
        for e, b in zip(self.ema.buffers(), self.model.buffers()):
            e.copy_(b)

    def _loader(self) -> torch.utils.data.DataLoader:
        t = self.config.train
        sampler = StreamSampler(len(self.dataset), t.batch_size // self.world, seed=t.seed, rank=self.rank,
                                world=self.world, start=self.step)
        # a private generator: creating an iterator must not draw from the global RNG (exact resume)
        return torch.utils.data.DataLoader(self.dataset, batch_sampler=sampler, num_workers=t.num_workers,
                                           pin_memory=self.device.type == "cuda",
                                           generator=torch.Generator().manual_seed(t.seed))

    def _train_step(self, x: Tensor, labels: Tensor | None) -> tuple[Tensor, Tensor, Tensor | None]:
        """Forward, backward, clip, optimizer step, EMA. Returns (per-sample loss [B], t [B], grad norm or None)."""
        t = self.config.train
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr_at(self.step)
        model = _DDPDenoiser(self.ddp) if self.ddp is not None else self.step_model
        with torch.autocast(self.device.type, dtype=self.amp_dtype or torch.float32,
                            enabled=self.amp_dtype is not None):
            loss, times = dsm_loss_per_sample(model, x, labels, weighting=t.weighting, generator=self.generator,
                                              eps=t.eps, t_sampling=t.t_sampling, p_mean=t.p_mean, p_std=t.p_std)
        self.scaler.scale(loss.mean()).backward()  # always: DDP expects every rank to reduce
        mean = loss.detach().float().mean().reshape(1)
        if self.world > 1:
            dist.all_reduce(mean)  # every rank must agree on skipping
        grad_norm = None
        if torch.isfinite(mean).all():
            self.scaler.unscale_(self.optimizer)
            clip = t.grad_clip if t.grad_clip is not None else math.inf
            grad_norm = nn.utils.clip_grad_norm_(self.model.parameters(), clip)
            if torch.isfinite(grad_norm) or self.scaler.is_enabled():  # fp16: the scaler skips inf steps
                self.scaler.step(self.optimizer)
                self.scaler.update()
                self._update_ema()
            else:
                grad_norm = None
        self.optimizer.zero_grad(set_to_none=True)
        return loss.detach().float(), times.detach(), grad_norm

    def train(self, steps: int | None = None) -> dict[str, float]:
        """Train until `steps` total steps (default train.steps); returns the last logged statistics."""
        from tqdm.auto import tqdm

        t = self.config.train
        total = t.steps if steps is None else int(steps)
        if total < self.step:
            raise ValueError(f"steps={total} is below the run's current step {self.step}")
        edges = self.bucket_edges.tolist()
        bands = [f"loss_sigma_{math.exp(lo):.3g}_{math.exp(hi):.3g}" for lo, hi in zip(edges[:-1], edges[1:])]
        log = val_log = None
        if self.rank == 0:
            log = _Log(self.run_dir / "log.csv", ["step", "samples", *LOG_KEYS, *bands], self.step)
            val_log = _Log(self.run_dir / "val.csv", ["step", "loss_ema", "loss_raw"], self.step)
        bar = tqdm(total=total, initial=self.step, disable=not (self.progress and self.rank == 0),
                   unit="step", dynamic_ncols=True)
        stats: dict[str, float] = {}
        window = _Window(NUM_BUCKETS, self.device)
        in_a_row = 0
        batches = iter(self._loader())
        started = time.perf_counter()
        while self.step < total:
            x, labels = next(batches)
            x = x.to(self.device, non_blocking=True)
            labels = labels.to(self.device) if t.labels else None
            if labels is not None and t.label_dropout > 0:  # null class -1 for classifier-free guidance
                drop = torch.rand(labels.shape, generator=self.generator, device=self.device) < t.label_dropout
                labels = labels.masked_fill(drop, -1)
            loss, times, grad_norm = self._train_step(x, labels)
            self.step += 1
            self.samples_seen += t.batch_size
            if grad_norm is None:
                in_a_row += 1
                self.nonfinite_total += 1
                if in_a_row >= t.max_nonfinite:
                    raise TrainingError(f"loss or gradients were non-finite for {in_a_row} steps in a row "
                                        f"(at step {self.step}); lower train.lr or set train.grad_clip")
            else:
                in_a_row = 0
                log_sigma = self.model.sde.sigma(times.double()).log().float().cpu()
                window.add(loss, log_sigma, self.bucket_edges, grad_norm)
            if self.step % t.log_every == 0 or self.step == total:
                now = time.perf_counter()
                self.wall_time += now - started
                stats = window.reduce(self.world, now - started, self.lr_at(self.step - 1), self.nonfinite_total)
                started = now
                if log is not None:
                    log.write([self.step, self.samples_seen, *(stats[k] for k in LOG_KEYS),
                               *(stats[f"bucket{i}"] for i in range(NUM_BUCKETS))])
                bar.set_postfix(loss=f"{stats['loss']:.4g}", samples_s=f"{stats['samples_per_s']:.1f}")
            bar.update(1)
            if t.preview_every and self.step % t.preview_every == 0 and self.rank == 0:
                self.preview()
            if self.step % t.ckpt_every == 0 or self.step == total:
                if self.val_dataset is not None:
                    val = self.validate()
                    if val_log is not None:
                        val_log.write([self.step, val["loss_ema"], val["loss_raw"]])
                self.save()
        bar.close()
        if self.world > 1:
            dist.barrier()
        return stats

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """DSM loss of the EMA and raw models on fixed validation crops, times and noise (comparable across steps)."""
        t, ds = self.config.train, self.val_dataset
        n = min(max(len(ds), VAL_CROPS[0]), VAL_CROPS[1])
        keys = [(j % len(ds), mix_seed(t.seed, j, 11)) for j in range(self.rank, n, self.world)]
        labels_on = t.labels and bool(self.config.label_names)
        sums = torch.zeros(3, dtype=torch.float64, device=self.device)
        was_training = self.model.training
        self.model.eval()
        for b in range(0, len(keys), t.batch_size):
            items = [ds[k] for k in keys[b:b + t.batch_size]]
            x = torch.stack([i[0] for i in items]).to(self.device)
            labels = torch.stack([i[1] for i in items]).to(self.device) if labels_on else None
            for slot, model in ((0, self.ema), (1, self.model)):
                g = torch.Generator(self.device).manual_seed(mix_seed(t.seed, self.rank, b, 13))
                with torch.autocast(self.device.type, dtype=self.amp_dtype or torch.float32,
                                    enabled=self.amp_dtype is not None):
                    loss, _ = dsm_loss_per_sample(model, x, labels, weighting=t.weighting, generator=g, eps=t.eps)
                sums[slot] += loss.double().sum()
            sums[2] += x.shape[0]
        self.model.train(was_training)
        if self.world > 1:
            dist.all_reduce(sums)
        return {"loss_ema": (sums[0] / sums[2]).item(), "loss_raw": (sums[1] / sums[2]).item()}

    @torch.no_grad()
    def preview(self) -> list[Path]:
        """Sample train.preview_count clips with the EMA model into run_dir/previews (WAV + spectrogram PNG)."""
        from .audio import save
        from .sampling import sample

        s, t = self.config.sample, self.config.train
        out = self.run_dir / "previews"
        out.mkdir(parents=True, exist_ok=True)
        n = t.preview_count
        labels = (torch.arange(n, device=self.device) % len(self.config.label_names)
                  if self.config.label_names else None)
        shape = (n, self.frontend.channels, self.frontend.length(s.seconds or t.seconds))
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            self.ema.eval()
            x = sample(lambda x, tt: self.ema.score(x, tt, labels), self.ema.sde, shape, s.sampler, s.steps,
                       generator=torch.Generator(self.device).manual_seed(t.seed), device=self.device, eps=s.eps,
                       **s.options)
            wav = self.frontend.decode(x.float()).cpu()
        paths = []
        for i in range(n):
            stem = out / f"step{self.step:08d}_{i}"
            save(stem.with_suffix(".wav"), wav[i].clamp(-1, 1), self.frontend.sample_rate)
            name = f" ({self.config.label_names[int(labels[i])]})" if labels is not None else ""
            save_spectrogram(stem.with_suffix(".png"), wav[i], self.frontend.sample_rate,
                             title=f"step {self.step}, sample {i}{name}")
            paths.append(stem.with_suffix(".wav"))
        return paths


class _Window:
    """Running sums over one logging interval: loss, per-log-sigma-bucket loss, gradient norm."""

    def __init__(self, buckets: int, device: torch.device):
        self.device = device
        self.sums = torch.zeros(2 * buckets + 4, dtype=torch.float64)  # loss, count, grad, steps, buckets...
        self.buckets = buckets

    def add(self, loss: Tensor, log_sigma: Tensor, edges: Tensor, grad_norm: Tensor) -> None:
        loss = loss.double().cpu()
        idx = torch.bucketize(log_sigma, edges[1:-1].float())
        b = self.buckets
        self.sums[0] += loss.sum()
        self.sums[1] += loss.numel()
        self.sums[2] += float(grad_norm)
        self.sums[3] += 1
        self.sums[4:4 + b] += torch.zeros(b, dtype=torch.float64).index_add_(0, idx, loss)
        self.sums[4 + b:] += torch.bincount(idx, minlength=b).double()

    def reduce(self, world: int, seconds: float, lr: float, nonfinite: int) -> dict[str, float]:
        """Statistics over all ranks since the last call; resets the sums."""
        sums = self.sums.to(self.device)
        if world > 1:
            dist.all_reduce(sums)
        sums = sums.cpu()
        b, steps = self.buckets, max(sums[3].item() / world, 1.0)
        stats = {"loss": (sums[0] / sums[1].clamp_min(1)).item(), "lr": lr,
                 "grad_norm": sums[2].item() / world / steps,
                 "samples_per_s": sums[1].item() / max(seconds, 1e-9), "nonfinite": float(nonfinite)}
        for i in range(b):
            count = sums[4 + b + i].item()
            stats[f"bucket{i}"] = sums[4 + i].item() / count if count else float("nan")
        self.sums.zero_()
        return stats


class _Log:
    """A CSV on rank 0, one row per call. Rows past `step` (written by a killed run) are dropped on resume."""

    def __init__(self, path: Path, fields: list[str], step: int):
        self.path, self.fields = path, fields
        if path.exists():
            with open(path, newline="") as f:
                rows = [r for r in list(csv.reader(f))[1:] if r and int(r[0]) <= step]
            with open(path, "w", newline="") as f:
                csv.writer(f).writerows([fields, *rows])

    def write(self, values: list[float]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        new = not self.path.exists()
        with open(self.path, "a", newline="") as f:
            w = csv.writer(f)
            if new:
                w.writerow(self.fields)
            w.writerow([int(values[0]), *(f"{v:.6g}" for v in values[1:])])
