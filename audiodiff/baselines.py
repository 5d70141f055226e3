"""Classical gap-filling baselines that a diffusion inpainter must beat: zeros, linear interpolation and
linear-prediction (LPC) extrapolation from both sides with a cross-fade (Etter 1996; Burg 1975).

All take `wav` [..., n] and a boolean `known` of the same shape (True = observed sample) and return a
tensor like `wav` whose known samples are bit-identical to the input.
"""
from __future__ import annotations

import numpy as np
import scipy.linalg
import torch
from torch import Tensor


def check_known(wav: Tensor, known: Tensor) -> Tensor:
    """Broadcast `known` to `wav` as a bool tensor, or raise ValueError."""
    known = torch.as_tensor(known, device=wav.device)
    if known.dtype != torch.bool:
        raise ValueError(f"known must be a boolean mask, got dtype {known.dtype}")
    try:
        return known.expand_as(wav)
    except RuntimeError:
        raise ValueError(f"known of shape {tuple(known.shape)} does not broadcast to {tuple(wav.shape)}") from None


def gaps_of(known_row: np.ndarray) -> list[tuple[int, int]]:
    """Contiguous runs [start, end) of False in a 1-D boolean array."""
    d = np.diff(np.concatenate([[1], known_row.astype(np.int8), [1]]))
    return list(zip(np.flatnonzero(d == -1).tolist(), np.flatnonzero(d == 1).tolist()))


def zeros_fill(wav: Tensor, known: Tensor) -> Tensor:
    """Fill every unknown sample with silence."""
    return torch.where(check_known(wav, known), wav, torch.zeros_like(wav))


def linear_fill(wav: Tensor, known: Tensor) -> Tensor:
    """Fill each gap by the straight line between the known samples on its two sides (held at the edges)."""
    known = check_known(wav, known)
    out = wav.detach().cpu().numpy().reshape(-1, wav.shape[-1]).copy()
    mask = known.cpu().numpy().reshape(out.shape)
    idx = np.arange(out.shape[-1])
    for row, k in zip(out, mask):
        if k.any() and not k.all():
            row[~k] = np.interp(idx[~k], idx[k], row[k])
    return torch.where(known, wav, torch.from_numpy(out).reshape(wav.shape).to(wav))


def lpc_burg(x: np.ndarray, order: int) -> np.ndarray:
    """Prediction coefficients a [order] with x[n] ~ sum_k a[k] x[n-1-k], by Burg's method (Burg 1975)."""
    f, b = x[1:].astype(np.float64).copy(), x[:-1].astype(np.float64).copy()
    a = np.zeros(0)
    for _ in range(order):
        den = np.dot(f, f) + np.dot(b, b)
        if den <= 0:
            break
        k = 2 * np.dot(f, b) / den  # reflection coefficient minimising forward + backward error
        a = np.concatenate([a - k * a[::-1], [k]])
        f, b = f[1:] - k * b[1:], b[:-1] - k * f[:-1]
    return np.pad(a, (0, order - a.size))


def lpc_autocorrelation(x: np.ndarray, order: int) -> np.ndarray:
    """Prediction coefficients by the autocorrelation method (Yule-Walker, Levinson-Durbin solve)."""
    x = x.astype(np.float64)
    r = np.array([np.dot(x[: x.size - k], x[k:]) for k in range(order + 1)]) / x.size  # biased, lags 0..order
    if r[0] <= 0:
        return np.zeros(order)
    r[0] *= 1 + 1e-9  # white-noise correction keeps the Toeplitz system positive definite
    return scipy.linalg.solve_toeplitz(r[:order], r[1: order + 1])


LPC_METHODS = {"burg": lpc_burg, "autocorrelation": lpc_autocorrelation}


def extrapolate(context: np.ndarray, n: int, a: np.ndarray) -> np.ndarray:
    """Run the all-pole predictor `a` forward n samples past the end of `context`."""
    p = a.size
    buf = np.concatenate([context[-p:], np.zeros(n)])
    for i in range(n):
        buf[p + i] = np.dot(a, buf[p + i - 1::-1][:p]) if p else 0.0
    return buf[p:]


def lpc_fill(wav: Tensor, known: Tensor, *, order: int = 32, context: int | None = None,
             method: str = "burg") -> Tensor:
    """Fill each gap by LPC extrapolation forward from the left context and backward from the right
    context, cross-faded with a raised-cosine ramp over the gap (Etter 1996). `context` samples per side
    (default 8 * order) fit the predictor; a side with fewer than order + 1 samples is not used."""
    if method not in LPC_METHODS:
        raise ValueError(f"method must be one of {sorted(LPC_METHODS)}, got {method!r}")
    if order < 1:
        raise ValueError(f"order must be >= 1, got {order}")
    context = 8 * order if context is None else int(context)
    if context <= order:
        raise ValueError(f"context must exceed order ({order}), got {context}")
    fit = LPC_METHODS[method]
    known = check_known(wav, known)
    out = wav.detach().cpu().double().numpy().reshape(-1, wav.shape[-1]).copy()
    mask = known.cpu().numpy().reshape(out.shape)
    for row, k in zip(out, mask):
        for start, end in gaps_of(k):
            n = end - start
            left = row[max(0, start - context): start]
            right = row[end: end + context][::-1]  # the right side, time-reversed: predict backwards
            w = 0.5 - 0.5 * np.cos(np.pi * (np.arange(n) + 1) / (n + 1))  # 0 -> 1 across the gap
            fwd = extrapolate(left, n, fit(left, order)) if left.size > order else None
            bwd = extrapolate(right, n, fit(right, order))[::-1] if right.size > order else None
            if fwd is not None and bwd is not None:
                row[start:end] = (1 - w) * fwd + w * bwd
            else:
                row[start:end] = fwd if fwd is not None else bwd if bwd is not None else 0.0
    filled = torch.from_numpy(out).reshape(wav.shape).to(wav)
    return torch.where(known, wav, filled)


LONG_ORDER = 1024  # 64 ms at 16 kHz: a predictor that spans a pitch period (bench/lpc_order.py)


def lpc_long_fill(wav: Tensor, known: Tensor) -> Tensor:
    """lpc_fill with a LONG_ORDER predictor (8 x LONG_ORDER samples of context per side, what there is of it):
    the strongest LPC on the recipes' test sets from 100 ms on, and on music from 50 ms (bench/lpc_order.py)."""
    return lpc_fill(wav, known, order=LONG_ORDER)


BASELINES = {"zeros": zeros_fill, "linear": linear_fill, "lpc": lpc_fill, "lpc_long": lpc_long_fill}
