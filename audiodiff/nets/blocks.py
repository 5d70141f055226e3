"""U-Net building blocks on [B, C, L]: FiLM residual block, multi-head self-attention, resampling convs."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

SKIP_SCALE = math.sqrt(0.5)  # residual sums (x + branch) / sqrt(2) keep unit variance


def _scale_init(layer: nn.Module, factor: float) -> None:
    """Multiply a freshly initialised layer's weight and bias by `factor`."""
    with torch.no_grad():
        layer.weight.mul_(factor)
        layer.bias.mul_(factor)


def norm_groups(channels: int, *, max_groups: int = 32, min_group: int = 4) -> int:
    """Largest divisor of `channels` that is <= max_groups and leaves >= min_group channels per group."""
    return max((g for g in range(1, max_groups + 1) if channels % g == 0 and channels // g >= min_group),
               default=1)


def group_norm(channels: int) -> nn.GroupNorm:
    """GroupNorm (Wu & He 2018) with the group count of `norm_groups`."""
    return nn.GroupNorm(norm_groups(channels), channels)


def resample_kernel(factor: int) -> tuple[int, int]:
    """(kernel, padding) of a stride-`factor` conv whose windows overlap by half a stride on each side.

    kernel = factor + 2 (factor // 2), padding = factor // 2: a strided conv maps length L*factor to L and
    the matching transposed conv maps L back to L*factor exactly, for every factor >= 1.
    """
    return factor + 2 * (factor // 2), factor // 2


def down_conv(c_in: int, c_out: int, factor: int) -> nn.Conv1d:
    """Strided conv: [B, c_in, L*factor] -> [B, c_out, L]."""
    k, p = resample_kernel(factor)
    return nn.Conv1d(c_in, c_out, k, stride=factor, padding=p)


def up_conv(c_in: int, c_out: int, factor: int) -> nn.ConvTranspose1d:
    """Transposed strided conv: [B, c_in, L] -> [B, c_out, L*factor]."""
    k, p = resample_kernel(factor)
    return nn.ConvTranspose1d(c_in, c_out, k, stride=factor, padding=p)


class ResBlock(nn.Module):
    """GroupNorm-SiLU-conv twice, FiLM scale/shift from the embedding (Perez et al. 2018; Ho et al. 2020).

    out = (x + conv2(silu(FiLM(norm2(conv1(silu(norm1(x)))))))) / sqrt(2), the sum scaled to keep unit
    variance through a deep stack; the 1/sqrt(2) on the branch is folded into conv2's initial weights so
    the sum is one fused pass (add with alpha).
    """

    def __init__(self, channels: int, emb_channels: int, *, kernel_size: int = 3, dropout: float = 0.0):
        super().__init__()
        self.norm1 = group_norm(channels)
        self.conv1 = nn.Conv1d(channels, channels, kernel_size, padding=kernel_size // 2)
        self.film = nn.Linear(emb_channels, 2 * channels)
        self.norm2 = group_norm(channels)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.conv2 = nn.Conv1d(channels, channels, kernel_size, padding=kernel_size // 2)
        _scale_init(self.conv2, SKIP_SCALE)

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        """x [B, C, L], emb [B, E] (already through SiLU) -> [B, C, L]."""
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = self.film(emb).unsqueeze(-1).chunk(2, dim=1)
        h = torch.addcmul(shift, self.norm2(h), scale + 1)
        h = self.conv2(self.dropout(F.silu(h)))
        return torch.add(h, x, alpha=SKIP_SCALE)


class SelfAttention(nn.Module):
    """Pre-norm multi-head self-attention over time (Vaswani et al. 2017) with a residual connection.

    Projections are Linear layers on [B, L, C] (one GEMM each); the residual sum is scaled by 1/sqrt(2),
    folded into proj's initial weights as in ResBlock.
    """

    def __init__(self, channels: int, *, head_channels: int = 64):
        super().__init__()
        if channels % head_channels:
            raise ValueError(f"head_channels={head_channels} must divide the channels ({channels}) "
                             "of an attention level")
        self.heads = channels // head_channels
        self.norm = group_norm(channels)
        self.qkv = nn.Linear(channels, 3 * channels)
        self.proj = nn.Linear(channels, channels)
        _scale_init(self.proj, SKIP_SCALE)

    def forward(self, x: Tensor) -> Tensor:
        """x [B, C, L] -> [B, C, L]."""
        B, C, L = x.shape
        # [B, L, 3C] -> 3 x [B, heads, L, head_channels]
        q, k, v = self.qkv(self.norm(x).transpose(1, 2)).reshape(B, L, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        h = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(B, L, C)
        return torch.add(self.proj(h).transpose(1, 2), x, alpha=SKIP_SCALE)
