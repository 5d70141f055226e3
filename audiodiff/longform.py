"""Long-form generation and restoration by overlapping windows of the model's training length.

Window k starts `window - overlap` after window k-1 (the last one is moved back to end at the signal's end,
so every window has the same length). Its first samples, those already produced by earlier windows, are
known: each window is solved as an inpainting problem whose known part includes that overlap, so the
continuation is conditioned on it. The overlap is kept exactly (hard replacement, no cross-fade), so the
result is one continuous signal. The sampler only ever sees one window: memory is flat in duration.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor
from tqdm.auto import tqdm

from .operators import Compose, Mask, Operator
from .posterior import solve
from .sde import SDE, Score

# solve_window(start, end, prefix) -> [B, C, end - start]: the window's signal, whose first `prefix` samples
# must equal the output so far (pass the output through `out[..., start:start + prefix]`).
SolveWindow = Callable[[int, int, int, Tensor], Tensor]


def window_starts(length: int, *, window: int, overlap: int) -> list[tuple[int, int]]:
    """[(start, end), ...] covering [0, length) with windows of `window` samples overlapping >= `overlap`."""
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    if not 0 <= overlap < window:
        raise ValueError(f"overlap must lie in [0, window={window}), got {overlap}")
    if length < 1:
        raise ValueError(f"length must be >= 1, got {length}")
    if length <= window:
        return [(0, length)]
    hop = window - overlap
    spans, start = [], 0
    while start + window < length:
        spans.append((start, start + window))
        start += hop
    spans.append((length - window, length))
    return spans


def windowed(solve_window: SolveWindow, out: Tensor, *, window: int, overlap: int,
             progress: bool = False) -> Tensor:
    """Fill `out` [B, C, L] window by window; solve_window(start, end, prefix, context) returns the window,
    where `context` [B, C, end - start] holds the output so far in its first `prefix` samples (0 elsewhere)."""
    spans = window_starts(out.shape[-1], window=window, overlap=overlap)
    done = 0  # out[..., :done] is final
    for i, (start, end) in enumerate(tqdm(spans, desc="windows", disable=not progress, leave=False)):
        prefix = done - start if i else 0
        context = torch.zeros_like(out[..., start:end])
        context[..., :prefix] = out[..., start:done]
        result = solve_window(start, end, prefix, context)
        if result.shape != context.shape:
            raise ValueError(f"solve_window returned shape {tuple(result.shape)}, expected {tuple(context.shape)}")
        out[..., done:end] = result[..., prefix:]  # the overlap out[start:done] stays exactly as it was
        done = end
    return out


def prefix_mask(length: int, prefix: int) -> Tensor:
    """Boolean [length], True on the first `prefix` samples (the overlap already produced)."""
    known = torch.zeros(length, dtype=torch.bool)
    known[:prefix] = True
    return known


def generate_long(score: Score, sde: SDE, shape: tuple[int, int, int], *, window: int, overlap: int,
                  progress: bool = False, **options) -> Tensor:
    """Sample a signal [B, C, L] of any length L from a prior trained on `window`-long clips; options go to
    `posterior.solve` (strategy, sampler, steps, resample, generator, ...)."""
    out = torch.zeros(shape, dtype=options.pop("dtype", torch.float32), device=options.pop("device", None))

    def solve_window(start: int, end: int, prefix: int, context: Tensor) -> Tensor:
        return solve(score, sde, Mask(prefix_mask(end - start, prefix)), context, **options)

    return windowed(solve_window, out, window=window, overlap=overlap, progress=progress)


def restore_long(score: Score, sde: SDE, operator_for: Callable[[int, int], Operator], y: Tensor, *,
                 window: int, overlap: int, progress: bool = False, **options) -> Tensor:
    """Solve an inverse problem on a long observation y [B, C, L] window by window; operator_for(start, end)
    gives the window's operator, to which the overlap with the previous window is added as known samples.
    A warm start `x_init` [B, C, L] is cut into the same windows (its overlap replaced by the output so far).
    A window whose operator is a Mask with every sample known is copied, not sampled: inpainting a few gaps in a
    long recording costs the windows that hold them."""
    out = y.detach().clone()
    x_init = options.pop("x_init", None)

    def solve_window(start: int, end: int, prefix: int, context: Tensor) -> Tensor:
        y_window = y[..., start:end].clone()
        y_window[..., :prefix] = context[..., :prefix]
        window_op = operator_for(start, end)
        if isinstance(window_op, Mask) and bool(window_op.known.all()):
            return y_window  # nothing unknown in this window (a long file with a few gaps): it is the observation
        op = Compose(window_op, Mask(prefix_mask(end - start, prefix)))
        if x_init is None:
            return solve(score, sde, op, y_window, **options)
        init = x_init[..., start:end].clone()
        init[..., :prefix] = context[..., :prefix]
        return solve(score, sde, op, y_window, x_init=init, **options)

    return windowed(solve_window, out, window=window, overlap=overlap, progress=progress)
