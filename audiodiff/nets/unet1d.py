"""UNet1d: a 1D U-Net denoiser for waveforms and spectrogram frames, built for CPU speed.

Layout (level i runs at length L / prod(factors[:i+1]) with channels[i]):

    stem: strided conv by factors[0] -> level 0 blocks -> strided conv by factors[1] -> level 1 blocks -> ...
    ... deepest level, then back up: transposed conv by the factor, add the level's skip, blocks
    head: GroupNorm-SiLU-transposed conv by factors[0] to out_channels, initialised to zero.

Nothing runs at the input resolution but the stem and the head, so a large first factor (4 or 8) puts
almost all FLOPs into wide channels at low temporal resolution, where convs are big matmuls (oneDNN reaches
the fp32 matmul peak there) rather than memory-bound elementwise passes. The presets go further and give
level 0 no blocks (blocks[0] = 0: stem, skip and head only): a 3-tap conv on 32-64 channels runs at a
third of the rate of one on 128+, so at equal FLOPs (3.1 GFLOP) and about equal parameters (7.7-7.8M),
moving level-0 blocks to level 1 made a training step about 15% faster on a 2-core Xeon. For the same
reason "small" feeds a stride-8 stem into 128 channels: 51% of the fp32 matmul rate on 2 threads against
39% for its earlier stride-4 layout (channels (32, 64, 128, 192), factors (4, 4, 4, 2), blocks (0, 2, 2, 1),
1.93M parameters, which the shipped waveform models and the waveform recipes keep), and it denoised held-out
speech better after 2,500 equal training steps (bench/layout_quality.py), though a speech model of it
trained for 21,500 steps did not inpaint long gaps better (recipes/README.md).

Skips are added (scaled by 1/sqrt 2), one per level, not concatenated. Conditioning: random Fourier
features of c_noise through an MLP, plus a class embedding, drive a FiLM scale/shift in every residual
block. Attention levels add multi-head self-attention (torch's scaled_dot_product_attention) after each
block.

Any length: the input is padded on the right to a multiple of prod(factors) by reflection (zeros when the
input is shorter than the pad) and the output is cropped back.

Presets (parameters for in_channels=1; forward FLOPs per 16384-sample clip; see PRESETS):
    "tiny":     398,177 parameters   0.15 GFLOP   (tests and smoke runs)
    "small":  2,137,985 parameters   1.05 GFLOP   (also the constructor's defaults)
    "base":   8,251,713 parameters   2.05 GFLOP   (audio-diffusion-pytorch UNetV0 at 8.13M: 2.03)
    "large": 31,541,697 parameters   5.09 GFLOP   (UNetV0 at 32.3M: 7.94; base at 2x width, 33.0M: 8.16)

The presets suit waveforms (C = 1 or 2). For log-mel frames (C = n_mels) the stem must not squeeze
C * factors[0] inputs into few channels: use a first factor of 1, channels[0] >= n_mels and blocks at
level 0, e.g. UNet1d.preset("small", 80, channels=(128, 192, 256, 384), factors=(1, 2, 2, 2),
blocks=(1, 2, 2, 1)) (7.8M parameters).
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .blocks import SKIP_SCALE, ResBlock, SelfAttention, down_conv, group_norm, up_conv
from .embedding import FourierFeatures

PRESETS: dict[str, dict[str, Any]] = {
    "tiny": dict(channels=(16, 32, 64, 96), factors=(4, 4, 4, 2), blocks=(0, 1, 1, 1),
                 attention=(False, False, False, True), head_channels=32, emb_channels=64),
    "small": dict(channels=(32, 128, 160, 192), factors=(8, 2, 4, 2), blocks=(0, 1, 1, 1),
                  attention=(False, False, False, True), head_channels=64, emb_channels=128),
    "base": dict(channels=(64, 128, 256, 320), factors=(4, 4, 4, 4), blocks=(0, 1, 1, 2),
                 attention=(False, False, False, True), head_channels=64, emb_channels=256),
    # widest at the deepest level (L / 256): 73% of the parameters, 30% of the FLOPs
    "large": dict(channels=(64, 128, 384, 704), factors=(4, 4, 4, 4), blocks=(0, 1, 1, 2),
                  attention=(False, False, False, True), head_channels=64, emb_channels=512),
}


def _tuple(name: str, value: Sequence, kind: type, levels: int | None) -> tuple:
    """Validate a per-level tuple argument: its length and element type."""
    try:
        out = tuple(kind(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a sequence of {kind.__name__}, got {value!r}") from None
    if not out:
        raise ValueError(f"{name} must not be empty")
    if levels is not None and len(out) != levels:
        raise ValueError(f"{name} has {len(out)} entries but channels has {levels}: give one per level")
    return out


class UNet1d(nn.Module):
    """1D U-Net D(x, c_noise, labels) on [B, C, L] (Ronneberger et al. 2015; Ho et al. 2020; Karras et al. 2022)."""

    def __init__(self, in_channels: int, out_channels: int | None = None, *,
                 channels: Sequence[int] = (32, 128, 160, 192), factors: Sequence[int] = (8, 2, 4, 2),
                 blocks: Sequence[int] = (0, 1, 1, 1), attention: Sequence[bool] = (False, False, False, True),
                 num_classes: int | None = None, dropout: float = 0.0, kernel_size: int = 3,
                 head_channels: int = 64, emb_channels: int | None = None, fourier_scale: float = 16.0):
        super().__init__()
        if int(in_channels) < 1:
            raise ValueError(f"in_channels must be >= 1, got {in_channels}")
        if out_channels is not None and int(out_channels) < 1:
            raise ValueError(f"out_channels must be >= 1, got {out_channels}")
        channels = _tuple("channels", channels, int, None)
        levels = len(channels)
        factors = _tuple("factors", factors, int, levels)
        blocks = _tuple("blocks", blocks, int, levels)
        attention = _tuple("attention", attention, bool, levels)
        if min(channels) < 1:
            raise ValueError(f"channels must all be >= 1, got {channels}")
        if min(factors) < 1:
            raise ValueError(f"factors must all be >= 1, got {factors}")
        if min(blocks) < 0:
            raise ValueError(f"blocks must all be >= 0, got {blocks}")
        if num_classes is not None and int(num_classes) < 1:
            raise ValueError(f"num_classes must be None or >= 1, got {num_classes}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd and >= 1, got {kernel_size}")
        if head_channels < 1:
            raise ValueError(f"head_channels must be >= 1, got {head_channels}")
        emb_channels = int(emb_channels) if emb_channels is not None else 4 * channels[0]
        if emb_channels < 2 or emb_channels % 2:
            raise ValueError(f"emb_channels must be even and >= 2, got {emb_channels}")
        self._config = dict(
            in_channels=int(in_channels), out_channels=int(out_channels or in_channels), channels=list(channels),
            factors=list(factors), blocks=list(blocks), attention=list(attention),
            num_classes=None if num_classes is None else int(num_classes), dropout=float(dropout),
            kernel_size=int(kernel_size), head_channels=int(head_channels), emb_channels=emb_channels,
            fourier_scale=float(fourier_scale))
        self.in_channels, self.out_channels = self._config["in_channels"], self._config["out_channels"]
        self.num_classes = self._config["num_classes"]
        self.total_factor = math.prod(factors)

        # noise (and class) embedding -> FiLM input of every block
        self.fourier = FourierFeatures(emb_channels, scale=fourier_scale)
        self.emb_mlp = nn.Sequential(nn.Linear(emb_channels, emb_channels), nn.SiLU(),
                                     nn.Linear(emb_channels, emb_channels))
        # row num_classes is the null class of classifier-free guidance (Ho & Salimans 2022)
        self.class_emb = nn.Embedding(self.num_classes + 1, emb_channels) if self.num_classes else None

        def level(c: int, n: int, attn: bool) -> nn.ModuleList:
            layers = []
            for _ in range(n):
                layers.append(ResBlock(c, emb_channels, kernel_size=kernel_size, dropout=dropout))
                if attn:
                    layers.append(SelfAttention(c, head_channels=head_channels))
            return nn.ModuleList(layers)

        c_prev = [self.in_channels, *channels[:-1]]
        self.down = nn.ModuleList(down_conv(ci, c, f) for ci, c, f in zip(c_prev, channels, factors))
        self.encoder = nn.ModuleList(level(c, n, a) for c, n, a in zip(channels, blocks, attention))
        self.decoder = nn.ModuleList(level(c, n, a) for c, n, a in zip(channels, blocks, attention))
        # up[i] maps level i+1 to level i; the head maps level 0 to the output
        self.up = nn.ModuleList(up_conv(c, ci, f) for ci, c, f in zip(c_prev[1:], channels[1:], factors[1:]))
        self.out_norm = group_norm(channels[0])
        self.out_conv = up_conv(channels[0], self.out_channels, factors[0])
        nn.init.zeros_(self.out_conv.weight)
        nn.init.zeros_(self.out_conv.bias)

    @classmethod
    def preset(cls, name: str, in_channels: int, **overrides: Any) -> "UNet1d":
        """A net from PRESETS[name] ("tiny", "small", "base"), any argument overridable."""
        if name not in PRESETS:
            raise ValueError(f"preset name must be one of {sorted(PRESETS)}, got {name!r}")
        return cls(in_channels, **{**PRESETS[name], **overrides})

    def config(self) -> dict[str, Any]:
        """JSON-able constructor arguments: UNet1d(**net.config()) rebuilds this architecture."""
        return {k: (list(v) if isinstance(v, list) else v) for k, v in self._config.items()}

    def _embedding(self, c_noise: Tensor, labels: Tensor | None, batch: int, like: Tensor) -> Tensor:
        """SiLU(MLP(Fourier(c_noise)) + class embedding), [B, emb_channels]."""
        c_noise = torch.as_tensor(c_noise, device=like.device, dtype=torch.float32)
        if c_noise.ndim == 0:
            c_noise = c_noise.expand(batch)
        if c_noise.shape != (batch,):
            raise ValueError(f"c_noise must have shape [{batch}] (one per sample), got {tuple(c_noise.shape)}")
        emb = self.emb_mlp(self.fourier(c_noise))
        if self.class_emb is None:
            if labels is not None:
                raise ValueError("labels given to an unconditional net (num_classes=None)")
        else:
            if labels is None:
                index = torch.full((batch,), self.num_classes, dtype=torch.long, device=like.device)
            else:
                labels = torch.as_tensor(labels, device=like.device)
                if labels.shape != (batch,) or labels.dtype.is_floating_point:
                    raise ValueError(f"labels must be an integer tensor of shape [{batch}], got "
                                     f"{labels.dtype} {tuple(labels.shape)}")
                if bool(((labels < -1) | (labels >= self.num_classes)).any()):
                    raise ValueError(f"labels must lie in [-1, {self.num_classes}) (-1 = null class)")
                index = torch.where(labels < 0, self.num_classes, labels).long()
            emb = emb + self.class_emb(index)
        return F.silu(emb)

    def forward(self, x: Tensor, c_noise: Tensor, labels: Tensor | None = None) -> Tensor:
        """x [B, in_channels, L], c_noise [B], labels [B] long or None (-1 = null) -> [B, out_channels, L]."""
        if x.ndim != 3 or x.shape[1] != self.in_channels:
            raise ValueError(f"x must have shape [B, {self.in_channels}, L], got {tuple(x.shape)}")
        batch, length = x.shape[0], x.shape[2]
        emb = self._embedding(c_noise, labels, batch, x)
        pad = -length % self.total_factor
        if pad:
            x = F.pad(x, (0, pad), mode="reflect" if pad < length else "constant")

        h, skips = x, []
        for down, layers in zip(self.down, self.encoder):
            h = self._run(layers, down(h), emb)
            skips.append(h)
        skips.pop()  # the deepest level runs straight on into its decoder blocks
        h = self._run(self.decoder[-1], h, emb)
        for i in reversed(range(len(self.up))):
            h = self._run(self.decoder[i], torch.add(self.up[i](h), skips.pop()).mul_(SKIP_SCALE), emb)
        h = self.out_conv(F.silu(self.out_norm(h)))
        return h[..., :length]

    @staticmethod
    def _run(layers: nn.ModuleList, h: Tensor, emb: Tensor) -> Tensor:
        """Apply a level's residual blocks (with emb) and attention layers in order."""
        for layer in layers:
            h = layer(h, emb) if isinstance(layer, ResBlock) else layer(h)
        return h
