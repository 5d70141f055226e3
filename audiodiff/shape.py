"""Broadcasting of per-sample scalars: the one place where `[B] -> [B, 1, ..., 1]` happens."""
from __future__ import annotations

import torch
from torch import Tensor


def per_sample(v: Tensor | float, x: Tensor) -> Tensor:
    """Reshape a per-sample value `v` ([B], [] or float) to broadcast against `x` ([B, ...])."""
    v = torch.as_tensor(v, dtype=x.dtype, device=x.device)
    if v.ndim == 0:
        return v
    return v.reshape(v.shape[0], *([1] * (x.ndim - 1)))


def batch_times(t: Tensor | float, x: Tensor) -> Tensor:
    """A time `t` (float, [] or [B]) as a [B] tensor matching `x`'s batch, dtype and device."""
    t = torch.as_tensor(t, dtype=x.dtype, device=x.device)
    if t.ndim == 0:
        t = t.expand(x.shape[0])
    return t
