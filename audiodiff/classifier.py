"""A small clip classifier on log-mel features, and the classifier-based scores of a class-conditional model.

`ClipClassifier` (any label names) is a 2-D CNN over a level-normalised log-mel image: four blocks of
conv3x3-BN-ReLU + 2x2 max-pool, global mean and max pooling, dropout, linear. It judges what a listener gets:
waveforms, so generated log-mel clips are scored after Griffin-Lim, not on the model's own mel.
Generation is scored as in WaveGAN (Donahue et al. 2019, SC09): the accuracy of the classifier on clips
generated for a requested label, and the Inception Score (Salimans et al. 2016, sec. 4)
IS = exp(E_x KL(p(y|x) || p(y))), which is 1 for constant predictions and at most the number of labels.
Saved as data: classifier.safetensors + classifier.json (never pickled).
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from torch import Tensor, nn

from .checkpoint import CheckpointError, save_tensors, load_weights, read_json, read_tensors, write_json
from .data import AudioFolder
from .frontends import LogMel, Waveform

FORMAT, FORMAT_VERSION = "audiodiff-classifier", 1
WEIGHTS_FILE, CONFIG_FILE = "classifier.safetensors", "classifier.json"


class ClipClassifier(nn.Module):
    """Clip -> label logits: wav [B, 1, n] at `sample_rate` (any n >= n_fft // 2 + 1) -> [B, len(label_names)]."""

    def __init__(self, label_names: Sequence[str], *, sample_rate: int = 16000, n_fft: int = 1024,
                 hop_length: int = 256, n_mels: int = 64, channels: Sequence[int] = (16, 32, 64, 128),
                 dropout: float = 0.2):
        super().__init__()
        self.label_names = [str(name) for name in label_names]
        if len(self.label_names) < 2 or len(set(self.label_names)) != len(self.label_names):
            raise ValueError(f"label_names must hold at least 2 distinct names, got {self.label_names}")
        if not channels or any(int(c) != c or c < 1 for c in channels):
            raise ValueError(f"channels must be positive integers, got {channels!r}")
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must lie in [0, 1), got {dropout!r}")
        self.frontend = LogMel(sample_rate, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels, griffin_lim_iters=0)
        self.channels, self.dropout = [int(c) for c in channels], float(dropout)
        blocks, c_in = [], 1
        for c in self.channels:
            blocks += [nn.Conv2d(c_in, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True),
                       nn.MaxPool2d(2, ceil_mode=True)]
            c_in = c
        self.body = nn.Sequential(*blocks)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(2 * c_in, len(self.label_names)))

    @property
    def sample_rate(self) -> int:
        return self.frontend.sample_rate

    def features(self, wav: Tensor) -> Tensor:
        """Log-mel image [B, 1, n_mels, L] of wav [B, 1, n], shifted so each clip's loudest bin is 0:
        level-invariant (the sets span -12..-1 dBFS peaks; generated levels differ again)."""
        x = self.frontend.encode(wav)
        return (x - x.amax(dim=(1, 2), keepdim=True))[:, None]

    def classify(self, features: Tensor) -> Tensor:
        """Logits [B, K] of log-mel images [B, 1, n_mels, L] from `features`."""
        h = self.body(features)
        return self.head(torch.cat([h.mean(dim=(2, 3)), h.amax(dim=(2, 3))], dim=1))

    def forward(self, wav: Tensor) -> Tensor:
        return self.classify(self.features(wav))

    @torch.no_grad()
    def probs(self, wav: Tensor, *, batch_size: int = 64) -> Tensor:
        """p(y | x) [B, K] of wav [B, 1, n], in eval mode, in batches."""
        was_training = self.training
        self.eval()
        try:
            return torch.cat([self(chunk).softmax(dim=-1) for chunk in wav.split(batch_size)])
        finally:
            self.train(was_training)

    def config(self) -> dict:
        f = self.frontend
        return {"label_names": list(self.label_names), "sample_rate": f.sample_rate, "n_fft": f.n_fft,
                "hop_length": f.hop_length, "n_mels": f.n_mels, "channels": list(self.channels),
                "dropout": self.dropout}


# --- data -------------------------------------------------------------------------------------------------
def load_clips(folder: str | os.PathLike, *, sample_rate: int = 16000, seconds: float = 1.0,
               label_names: Sequence[str] | None = None) -> tuple[Tensor, Tensor, list[str]]:
    """Labelled clips of folder/LABEL/*.wav -> (wav [N, 1, n], labels [N], label_names), n = seconds at
    sample_rate (longer files: a fixed crop; shorter: zero-padded), each at a -1 dBFS peak (`AudioFolder`).
    `label_names` fixes the name -> index map (a test split uses the training set's)."""
    data = AudioFolder(folder, Waveform(sample_rate), seconds, labels=True, split="all", encode=False,
                       label_names=list(label_names) if label_names is not None else None)
    wavs, labels = zip(*(data[i] for i in range(len(data))))
    return torch.stack(wavs), torch.stack(labels), list(data.label_names)


def augment(wav: Tensor, *, generator: torch.Generator, max_shift: int) -> Tensor:
    """Shift each clip of wav [B, 1, n] in time by a random -max_shift..max_shift samples (zeros shifted in)."""
    n = wav.shape[-1]
    shifts = torch.randint(-max_shift, max_shift + 1, (wav.shape[0],), generator=generator)
    idx = torch.arange(n)[None, :] - shifts[:, None]  # out[i] = wav[i - shift]
    valid = (idx >= 0) & (idx < n)
    out = wav.gather(-1, idx.clamp(0, n - 1)[:, None, :].expand_as(wav))
    return out * valid[:, None, :].to(wav)


def mask_features(x: Tensor, *, generator: torch.Generator, max_bins: int, max_frames: int) -> Tensor:
    """SpecAugment (Park et al. 2019): one random band of <= max_bins mels and one span of <= max_frames
    frames per clip of x [B, 1, M, L] set to the clip's minimum (its silence level)."""
    b, _, m, length = x.shape
    floor = x.amin(dim=(1, 2, 3), keepdim=True)

    def span(size: int, most: int) -> Tensor:  # [B, size] bool: a random run of 0..most positions
        width = torch.randint(0, most + 1, (b, 1), generator=generator)
        start = (torch.rand(b, 1, generator=generator) * (size - width + 1)).long()
        pos = torch.arange(size)[None]
        return (pos >= start) & (pos < start + width)

    masked = span(m, max_bins)[:, None, :, None] | span(length, max_frames)[:, None, None, :]
    return torch.where(masked, floor, x)


# --- training and scores ------------------------------------------------------------------------------------
def train_classifier(wav: Tensor, labels: Tensor, label_names: Sequence[str], *, epochs: int = 20,
                     batch_size: int = 32, lr: float = 3e-3, weight_decay: float = 1e-2, seed: int = 0,
                     max_shift: float = 0.1, mask_bins: int = 8, mask_frames: int = 8,
                     callback: Callable[[int, float], None] | None = None, **options: Any) -> ClipClassifier:
    """Fit a ClipClassifier(label_names, **options) to wav [N, 1, n] with labels [N] (cross-entropy, AdamW,
    one-cycle learning rate; shifts of up to max_shift seconds and SpecAugment masks); callback(epoch, loss)."""
    if wav.ndim != 3 or wav.shape[1] != 1 or labels.shape != (wav.shape[0],):
        raise ValueError(f"wav must be [N, 1, n] with labels [N], got {tuple(wav.shape)} and {tuple(labels.shape)}")
    if int(epochs) != epochs or epochs < 1 or int(batch_size) != batch_size or batch_size < 1:
        raise ValueError(f"epochs and batch_size must be positive integers, got {epochs}, {batch_size}")
    if labels.numel() and not 0 <= int(labels.min()) <= int(labels.max()) < len(label_names):
        raise ValueError(f"labels must lie in [0, {len(label_names)}) (label_names), got "
                         f"{int(labels.min())}..{int(labels.max())}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # initial weights and dropout depend only on the seed
        model = ClipClassifier(label_names, **options)
        gen = torch.Generator().manual_seed(seed)
        opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
        per_epoch = math.ceil(wav.shape[0] / batch_size)
        schedule = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * per_epoch,
                                                       pct_start=0.2)
        shift = int(max_shift * model.sample_rate)
        model.train()
        for epoch in range(epochs):
            total = 0.0
            for batch in torch.randperm(wav.shape[0], generator=gen).split(batch_size):
                x = model.features(augment(wav[batch], generator=gen, max_shift=shift))
                x = mask_features(x, generator=gen, max_bins=mask_bins, max_frames=mask_frames)
                loss = nn.functional.cross_entropy(model.classify(x), labels[batch])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                schedule.step()
                total += float(loss.detach()) * len(batch)
            if callback is not None:
                callback(epoch, total / wav.shape[0])
    return model.eval()


def accuracy(probs: Tensor, labels: Tensor) -> float:
    """Fraction of rows of probs [N, K] whose most likely label is labels [N]."""
    if probs.ndim != 2 or labels.shape != (probs.shape[0],) or probs.shape[0] == 0:
        raise ValueError(f"probs must be [N > 0, K] with labels [N], got {tuple(probs.shape)}, {tuple(labels.shape)}")
    return float((probs.argmax(dim=-1) == labels).double().mean())


def inception_score(probs: Tensor) -> float:
    """IS = exp(mean_x KL(p(y|x) || p(y))), p(y) = mean_x p(y|x) (Salimans et al. 2016) of probs [N, K]."""
    if probs.ndim != 2 or probs.shape[0] == 0:
        raise ValueError(f"probs must be [N > 0, K], got {tuple(probs.shape)}")
    p = probs.double()
    if (p < 0).any() or not torch.allclose(p.sum(-1), torch.ones_like(p[:, 0]), atol=1e-4):
        raise ValueError("probs rows must be probability vectors (non-negative, summing to 1)")
    marginal = p.mean(dim=0, keepdim=True)
    kl = torch.where(p > 0, p * (p.clamp_min(1e-300).log() - marginal.clamp_min(1e-300).log()), 0.0).sum(-1)
    return float(kl.mean().exp())


@torch.no_grad()
def score_generation(pipe, classifier: ClipClassifier, *, n: int = 10, seed: int = 0,
                     **generate_options: Any) -> dict:
    """Generate n clips per label of the conditional model `pipe` (AudioDiffusion) and classify them.

    Returns {"accuracy", "inception_score", "per_label": {name: accuracy}, "confusion": [[count]] (rows:
    requested, columns: named by the classifier, both in classifier.label_names order), "n"}. Labels are
    matched by name; clips for label i use seed + i.
    """
    missing = sorted(set(classifier.label_names) - set(pipe.label_names))
    if missing:
        raise ValueError(f"classifier labels {missing} are not labels of the model ({pipe.label_names})")
    if pipe.sample_rate != classifier.sample_rate:
        raise ValueError(f"model sample rate {pipe.sample_rate} != classifier sample rate {classifier.sample_rate}")
    probs, wanted = [], []
    for i, name in enumerate(classifier.label_names):
        wav = pipe.generate(n, labels=name, seed=seed + i, **generate_options)
        probs.append(classifier.probs(wav))
        wanted.append(torch.full((n,), i, dtype=torch.long))
    probs, wanted = torch.cat(probs), torch.cat(wanted)
    k = len(classifier.label_names)
    confusion = torch.zeros(k, k, dtype=torch.long).index_put_((wanted, probs.argmax(-1)), torch.tensor(1),
                                                               accumulate=True)
    return {"accuracy": accuracy(probs, wanted), "inception_score": inception_score(probs), "n": int(n),
            "per_label": {name: float(confusion[i, i]) / n for i, name in enumerate(classifier.label_names)},
            "confusion": confusion.tolist()}


# --- files ------------------------------------------------------------------------------------------------
def save_classifier(directory: str | os.PathLike, classifier: ClipClassifier, *,
                    info: dict[str, Any] | None = None) -> Path:
    """Write classifier.safetensors + classifier.json (config and provenance `info`) into `directory`."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    save_tensors(directory / WEIGHTS_FILE, dict(classifier.state_dict()), {"format": FORMAT})
    write_json(directory / CONFIG_FILE, {"format": FORMAT, "format_version": FORMAT_VERSION,
                                         "config": classifier.config(), "info": dict(info or {})})
    return directory


def load_classifier(directory: str | os.PathLike) -> ClipClassifier:
    """A ClipClassifier (eval mode, no grads) from `save_classifier`'s files; a one-line CheckpointError if
    a file is missing, corrupt or does not match."""
    directory = Path(directory)
    cfg_path, path = directory / CONFIG_FILE, directory / WEIGHTS_FILE
    doc = read_json(cfg_path)
    if doc.get("format") != FORMAT or int(doc.get("format_version", 0)) > FORMAT_VERSION:
        raise CheckpointError(f"{cfg_path}: not an audiodiff classifier config (format {doc.get('format')!r}, "
                              f"version {doc.get('format_version')!r})")
    try:
        model = ClipClassifier(**doc["config"])
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{cfg_path}: cannot rebuild the classifier ({e})") from None
    tensors, meta = read_tensors(path)
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an audiodiff classifier file")
    load_weights(model, tensors, path)
    return model.eval().requires_grad_(False)
