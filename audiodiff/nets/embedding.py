"""Noise-level embedding: random Fourier features of c_noise (Tancik et al. 2020; Song et al. 2021, NCSN++)."""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class FourierFeatures(nn.Module):
    """[B] -> [B, dim]: cos/sin(2 pi f c) with fixed frequencies f ~ N(0, scale^2).

    The frequencies come from a seeded generator and are a non-persistent buffer, so a net rebuilt from
    its config has the same embedding and checkpoints hold only learned weights. `scale=16` suits
    c_noise = log(sigma) / 4 (EDM, Karras et al. 2022, table 1), which spans about [-3, 2].
    """

    def __init__(self, dim: int, *, scale: float = 16.0, seed: int = 0):
        super().__init__()
        if dim < 2 or dim % 2:
            raise ValueError(f"dim must be an even integer >= 2, got {dim}")
        g = torch.Generator().manual_seed(seed)
        self.register_buffer("freqs", torch.randn(dim // 2, generator=g) * scale, persistent=False)

    def forward(self, c: Tensor) -> Tensor:
        """c [B] -> features [B, dim]."""
        phase = torch.outer(c.to(self.freqs.dtype), (2 * math.pi) * self.freqs)
        return torch.cat([phase.cos(), phase.sin()], dim=1)
